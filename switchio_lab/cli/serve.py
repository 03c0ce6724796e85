"""``switchio-lab serve``: run apps as a service on FreeSWITCH hosts."""

from __future__ import annotations

import argparse
import asyncio

from .common import add_password, contact, describe_switches, load_app_spec, stop_on_signals


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run apps as a service on FreeSWITCH hosts",
        description="Connect to each HOST[:PORT] Event Socket, load the apps on every node and "
                    "run until interrupted.")
    p.add_argument("hosts", nargs="+", metavar="HOST", type=contact,
                   help="host or host:port (ESL, 8021)")
    p.add_argument("--app", action="append", required=True, metavar="FILE.py[:NAME]",
                   help="an app to load: path.py:Class, module:Class, or path.py (all apps); "
                        "repeatable")
    p.add_argument("--id", dest="app_id", default=None,
                   help="app id for a single --app (default: 'default' for the first app, "
                        "then the class name)")
    add_password(p)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


async def _run_serve(args: argparse.Namespace) -> None:
    from ..connection import ConnectError
    from ..core import AppError, Service

    apps = [app for spec in args.app for app in load_app_spec(spec, "serve")]
    if args.app_id is not None and len(apps) != 1:
        names = ", ".join(name for name, _ in apps)
        raise SystemExit(f"switchio-lab serve: --id {args.app_id} names one app, but "
                         f"{len(apps)} were given ({names}); drop --id (the first app is "
                         f"then 'default', the others go by class name) or serve one --app")
    service = Service(args.hosts, auth=args.password, reconnect=True)
    try:
        await service.run()
    except (ConnectError, OSError) as exc:
        raise SystemExit(f"switchio-lab serve: {exc}") from None
    except Exception as exc:  # PoolError wraps per-node failures
        raise SystemExit(f"switchio-lab serve: {exc}") from None
    try:
        for line in await describe_switches(service):
            print(line, flush=True)
        for i, (name, app) in enumerate(apps):
            app_id = args.app_id if args.app_id is not None else (
                "default" if i == 0 else name)
            try:
                await service.apps.load_app(app, app_id)
            except AppError as exc:
                raise SystemExit(f"switchio-lab serve: {exc}") from None
            print(f"loaded {name} as {app_id!r} on {', '.join(service.pool.names)}", flush=True)
        print("serving; Ctrl-C to stop", flush=True)
        await stop_on_signals().wait()
    finally:
        await service.stop()


def run(args: argparse.Namespace) -> int:
    asyncio.run(_run_serve(args))
    return 0


