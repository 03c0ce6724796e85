"""``switchio-lab sim``: run embedded nodes until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .common import add_password, port_number, stop_on_signals


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="run the embedded FreeSWITCH-compatible switch",
        description="Run N embedded nodes until interrupted. Node i listens on 127.0.0.(i+1) "
                    "(or --host with shifted ports) and speaks the real Event Socket protocol.")
    p.add_argument("--nodes", type=int, default=1, help="how many nodes (default 1)")
    p.add_argument("--host", default=None,
                   help="one address for all nodes (ports then shift by 1 per node); "
                        "default: 127.0.0.1, 127.0.0.2, ...")
    p.add_argument("--esl-port", type=port_number, default=8021,
                   help="Event Socket port (default 8021)")
    add_password(p)
    p.add_argument("--internal-port", type=port_number, default=5060, help="SIP profile 'internal'")
    p.add_argument("--external-port", type=port_number, default=5080, help="SIP profile 'external'")
    p.add_argument("--max-sessions", type=int, default=10000)
    p.add_argument("--sps", type=int, default=10000, help="sessions per second limit")
    p.add_argument("--context", default="switchio", help="context of inbound calls")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the nodes do")
    p.set_defaults(func=run)


#: the destination user ``switchio-lab sim`` answers by its dialplan (answer, then echo until
#: the caller hangs up), so a load test has something to call without an app on the callee
SIM_LOAD_USER = "load"


def _sim_dialplan():
    """``sim``'s dialplan: ``load`` is answered and echoed; every other call parks (for apps)."""
    from ..sim import PARK_ALL, Rule

    return [Rule(rf"^{SIM_LOAD_USER}$", [("answer", ""), ("echo", "")]), *PARK_ALL]


def _sim_configs(args: argparse.Namespace):
    from ..sim import NodeConfig

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
            context=args.context, dialplan=_sim_dialplan()))
    return configs


def exposure_warning(host: str | None) -> str | None:
    """A warning when the Event Socket would be reachable from other machines."""
    import ipaddress

    if host is None:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a host name
        if host == "localhost":
            return None
    return (f"switchio-lab sim: warning: --host {host} makes the Event Socket reachable from "
            f"the network; anyone who can reach it and guesses the password controls the "
            f"switch, and the password travels in plain TCP. Use 127.0.0.1 unless you mean it.")


async def _run_sim(args: argparse.Namespace) -> None:
    from ..sim import Cluster

    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        cluster = await Cluster.start(configs=_sim_configs(args))
    except OSError as exc:
        import errno

        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = (f"; port {args.esl_port} is taken (a FreeSWITCH, or another sim?): "
                    f"choose another with --esl-port, e.g. --esl-port {args.esl_port + 100}")
        raise SystemExit(f"switchio-lab sim: cannot listen: {exc}{hint}") from None
    for node in cluster:
        sip = ", ".join(f"{p} sip:{node.config.host}:{port}" for p, port in node.config.sip.items())
        print(f"{node.config.hostname}: ESL {node.config.host}:{node.esl_port} "
              f"(password {'set' if args.password != 'ClueCon' else 'ClueCon'}); {sip}",
              flush=True)
    print(f"calls to {SIM_LOAD_USER}@<node>:<port> are answered (answer, echo) by the dialplan; "
          "every other call parks for your apps", flush=True)
    print("running; Ctrl-C to stop", flush=True)
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        await cluster.stop()
        print("stopped", flush=True)


def run(args: argparse.Namespace) -> int:
    asyncio.run(_run_sim(args))
    return 0

