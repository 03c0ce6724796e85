"""The ``switchio-lab`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys


def _sim_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="run the embedded FreeSWITCH-compatible switch",
        description="Run N embedded nodes until interrupted. Node i listens on 127.0.0.(i+1) "
                    "(or --host with shifted ports) and speaks the real Event Socket protocol.")
    p.add_argument("--nodes", type=int, default=1, help="how many nodes (default 1)")
    p.add_argument("--host", default=None,
                   help="one address for all nodes (ports then shift by 1 per node); "
                        "default: 127.0.0.1, 127.0.0.2, ...")
    p.add_argument("--esl-port", type=int, default=8021, help="Event Socket port (default 8021)")
    p.add_argument("--password", default="ClueCon", help="Event Socket password")
    p.add_argument("--internal-port", type=int, default=5060, help="SIP profile 'internal'")
    p.add_argument("--external-port", type=int, default=5080, help="SIP profile 'external'")
    p.add_argument("--max-sessions", type=int, default=10000)
    p.add_argument("--sps", type=int, default=10000, help="sessions per second limit")
    p.add_argument("--context", default="switchio", help="context of inbound calls")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the nodes do")
    p.set_defaults(func=_sim)


def _sim_configs(args: argparse.Namespace):
    from .sim import NodeConfig

    if args.nodes < 1:
        raise SystemExit("switchio-lab sim: --nodes must be at least 1")
    configs = []
    for i in range(args.nodes):
        shift = i if args.host else 0
        configs.append(NodeConfig(
            host=args.host or f"127.0.0.{i + 1}", esl_port=args.esl_port + shift,
            password=args.password,
            sip={"internal": args.internal_port + 10 * shift,
                 "external": args.external_port + 10 * shift},
            hostname=f"switchio-lab-{i + 1}", max_sessions=args.max_sessions, sps=args.sps,
            context=args.context))
    return configs


async def _run_sim(args: argparse.Namespace) -> None:
    from .sim import Cluster

    try:
        cluster = await Cluster.start(configs=_sim_configs(args))
    except OSError as exc:
        raise SystemExit(f"switchio-lab sim: cannot listen: {exc}") from None
    for node in cluster:
        sip = ", ".join(f"{p} sip:{node.config.host}:{port}" for p, port in node.config.sip.items())
        print(f"{node.config.hostname}: ESL {node.config.host}:{node.esl_port} "
              f"(password {'set' if args.password != 'ClueCon' else 'ClueCon'}); {sip}",
              flush=True)
    print("running; Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - non-Unix
            pass
    try:
        await stop.wait()
    finally:
        await cluster.stop()
        print("stopped", flush=True)


def _sim(args: argparse.Namespace) -> int:
    asyncio.run(_run_sim(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchio-lab",
                                     description="An interactive FreeSWITCH telephony lab.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _sim_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
