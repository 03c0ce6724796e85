"""The ``switchio`` command, as switchio installed it: ``serve``, ``dial``, ``list-apps``
and ``plot``, with switchio's options, over :mod:`switchio_lab.compat`.

``switchio-lab`` stays the richer command (run directories, progress, ``sim``, ``lab``).
"""

from __future__ import annotations

import argparse
import code
import csv
import importlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from .. import apps as builtin_apps
from . import Service, get_originator
from .bert import Bert

log = logging.getLogger("switchio_lab")

#: the built-in apps switchio's names give (the compat Bert loads without mod_bert)
_COMPAT_APPS = {"Bert": Bert}


def _registered() -> dict[str, Any]:
    return {**builtin_apps.registry, **_COMPAT_APPS}


def get_apps(specs: Sequence[str]) -> list[tuple[Any, dict[str, str]]]:
    """switchio's app specs: ``Name``, ``Name/k=v,k2=v2``, ``pkg.mod:Name``, ``path.py:Name``."""
    out = []
    for spec in specs:
        name, sep, argspec = spec.rpartition("/")
        if not sep or "=" not in argspec:  # no k=v part (a path's slashes stay)
            name, argspec = spec, ""
        args = dict(v.split("=", 1) for v in argspec.split(",")) if argspec else {}
        path, _, attr = name.partition(":")
        if os.path.isfile(path):
            if not attr:
                raise SystemExit(f"switchio: `{name}` does not name an app: use {name}:AppName")
            sys.path.append(os.path.dirname(os.path.abspath(path)))
            mod = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
            cls = getattr(mod, attr, None)
        elif "." in path or attr:
            if not attr:
                path, _, attr = path.rpartition(".")
            cls = getattr(importlib.import_module(path), attr, None)
        else:
            cls = _registered().get(name)
        if cls is None:
            raise SystemExit(f"switchio: unknown app '{name}'; the list-apps command lists "
                             "the built-in ones")
        out.append((cls, args))
    return out


def _log(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
                        stream=sys.stderr)


def list_apps(args: argparse.Namespace) -> int:
    apps = _registered()
    mods: dict[str, list[tuple[str, Any]]] = {}
    for name, cls in sorted(apps.items()):
        mods.setdefault(getattr(cls, "__module__", "?"), []).append((name, cls))
    print(f"Collected {len(apps)} built-in apps from {len(mods)} modules:\n")
    for mod, items in mods.items():
        print(f"{mod}:\n")
        for name, cls in items:
            doc = (cls.__doc__ or f"(No help for app {name})").strip().splitlines()[0]
            print(f" - {name}: {doc}")
        print()
    return 0


def plot(args: argparse.Namespace) -> int:
    if not os.path.exists(args.file_name):
        print(f"switchio: no such file {args.file_name}", file=sys.stderr)
        return 2
    try:
        import matplotlib.pyplot as plt
        import pandas as pd
    except ImportError as exc:
        print(f"switchio: plot needs pandas and matplotlib ({exc.name} is missing): "
              "pip install pandas matplotlib", file=sys.stderr)
        return 1
    df = pd.read_csv(args.file_name)
    print(f"Plotting {args.file_name} ...\n")
    times = [c for c in df.columns if c.endswith(("_create", "_answer", "_hangup"))]
    df[times].plot(subplots=True)
    plt.show(block=True)
    return 0


def _sip_address(client: Any, profile: str) -> tuple[str, str]:
    status = client.api(f"sofia status profile {profile}")
    m = re.match(r".+?BIND-URL\s+?.+?@(.+?):(\d+)", status, re.IGNORECASE | re.DOTALL)
    if not m:
        raise SystemExit(f"switchio: slave {client.host} has no profile named '{profile}' "
                         "running")
    return m.group(1), m.group(2)


def dial(args: argparse.Namespace) -> int:
    _log("DEBUG" if args.debug else args.loglevel)
    dialer = get_originator(
        args.hosts, rate=float(args.rate) if args.rate else None,
        limit=int(args.limit) if args.limit else None,
        max_offered=int(args.max_offered) if args.max_offered else None,
        duration=float(args.duration) if args.duration else None,
        auto_duration=not args.duration, auth=args.password, debug=args.debug)
    try:
        for cls, ppkwargs in get_apps(args.app or ["Bert"]):
            dialer.load_app(cls, ppkwargs=ppkwargs)
        dest_url, proxy = args.dest_url, args.proxy
        for client in dialer.pool.clients:
            ip, port = _sip_address(client, args.profile)
            dest = dest_url or f"switchio@{ip}:{port}"
            log.info("Slave %s SIP address is at %s:%s", client.host, ip, port)
            kwargs: dict[str, Any] = {"profile": args.profile, "app_name": "park"}
            if proxy or not dest_url:
                kwargs["proxy"] = proxy or dest.rpartition("@")[2]  # via itself
            client.set_orig_cmd(dest, **kwargs)
        print(dialer, flush=True)
        if args.interactive:
            shell = code.InteractiveConsole({"dialer": dialer, "switchio": sys.modules[
                "switchio_lab.compat"]})
            shell.interact(banner="switchio interactive: `dialer` is the Originator "
                                  "(dialer.start(), dialer.rate = 50, ...)", exitmsg="")
        else:
            dialer.start()
            while dialer.state != "STOPPED":
                time.sleep(1 if not args.report_interval else args.report_interval)
                print(dialer, flush=True)
        while dialer.count_calls() > 0:
            print(f"Waiting on {dialer.count_calls()} active calls to finish", flush=True)
            time.sleep(0.5)
        if args.metrics_file:
            _store(dialer, args.metrics_file)
    except KeyboardInterrupt:
        pass
    finally:
        dialer.shutdown()
        print(dialer, flush=True)
    print("Dialing session completed!")
    return 0


def _store(dialer: Any, path: str) -> None:
    cdr = dialer.measurers.CDR
    print(f"Storing test metrics at {path}")
    deadline = time.monotonic() + 10
    while cdr.open and time.monotonic() < deadline:  # the far legs' rows still coming
        time.sleep(0.05)
    rows = cdr.calls
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else list(cdr.fields))
        writer.writeheader()
        writer.writerows(rows)


def serve(args: argparse.Namespace) -> int:
    _log(args.loglevel)
    service = Service(args.hosts, auth=args.password)
    apps = get_apps(args.app)

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        for cls, _ in apps:
            service.apps.load_app(cls, app_id=args.app_header)
        service.run(block=False)
        print(f"serving {args.hosts} with apps {[_name(c) for c, _ in apps]}", flush=True)
        while service.is_alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    return 0


def _name(ns: Any) -> str:
    return getattr(ns, "__name__", None) or type(ns).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchio", description="switchio's command, on "
                                     "switchio-lab (see also switchio-lab --help)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list-apps", help="list the built-in apps")
    p.add_argument("module", nargs="?", default=None)
    p.set_defaults(func=list_apps)
    p = sub.add_parser("plot", help="plot a metrics file (needs matplotlib)")
    p.add_argument("file_name")
    p.set_defaults(func=plot)
    p = sub.add_parser("dial", help="spin up an auto-dialer")
    p.add_argument("hosts", nargs="+")
    p.add_argument("--proxy", default=None, help="the device under test (host:port)")
    p.add_argument("--dest-url", default=None, help="Request-URI")
    p.add_argument("--profile", default="internal", help="profile to originate calls on")
    p.add_argument("--gateway", default=None)
    p.add_argument("--rate", default=None, help="call rate")
    p.add_argument("--limit", default=None, help="maximum number of concurrent calls")
    p.add_argument("--max-offered", default=None, help="calls to place before stopping")
    p.add_argument("--duration", default=None, help="duration of calls in seconds")
    p.add_argument("--interactive", dest="interactive", action="store_true", default=False)
    p.add_argument("--non-interactive", dest="interactive", action="store_false")
    p.add_argument("--debug", action="store_true", help="debug logging")
    p.add_argument("--app", action="append", default=None,
                   help="app to load (repeatable; Name/k=v,k2=v2 passes prepost args; "
                        "default Bert)")
    p.add_argument("--password", default="ClueCon")
    p.add_argument("--metrics-file", default=None, help="store per-call metrics (CSV) here")
    p.add_argument("--report-interval", type=float, default=None)
    p.add_argument("-l", "--loglevel", default="INFO")
    p.set_defaults(func=dial)
    p = sub.add_parser("serve", help="start a switchio service and block forever")
    p.add_argument("hosts", nargs="+")
    p.add_argument("--app", action="append", default=[])
    p.add_argument("--password", default="ClueCon")
    p.add_argument("-l", "--loglevel", default="INFO")
    p.add_argument("--app-header", default="default",
                   help="the app id calls carry to activate the apps")
    p.add_argument("--profile", default="internal")
    p.set_defaults(func=serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
