"""What the subcommands share: argparse types, the password, Ctrl-C, apps from ``--app``,
and the line that says which switch a command connected to."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM (the running loop's signal handlers)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - non-Unix
            pass
    return stop


PASSWORD_ENV = "SWITCHIO_LAB_PASSWORD"
DEFAULT_PASSWORD = "ClueCon"


def port_number(text: str) -> int:
    """An argparse type: a TCP port (1-65535), refused with a clear message otherwise."""
    if not (text.isdigit() and 0 < int(text) < 65536):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def contact(text: str) -> str:
    """An argparse type: ``host`` or ``host:port`` (checked here, not at connect time)."""
    from ..core.pool import split_contact

    try:
        split_contact(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_password(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password", default=None,
                   help=f"Event Socket password (visible to other users in `ps`: prefer "
                        f"${PASSWORD_ENV} or --password-file); default {DEFAULT_PASSWORD}")
    g.add_argument("--password-file", metavar="PATH", type=Path, default=None,
                   help="read the Event Socket password from the first line of PATH")


def resolve_password(args: argparse.Namespace) -> str:
    """--password-file, else --password, else $SWITCHIO_LAB_PASSWORD, else ClueCon."""
    path = getattr(args, "password_file", None)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"switchio-lab {args.command}: cannot read --password-file "
                             f"{path}: {exc.strerror or exc}") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise SystemExit(f"switchio-lab {args.command}: --password-file {path} is empty")
        return lines[0]
    if args.password is not None:
        return args.password
    return os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD


def load_app_spec(spec: str, command: str = "serve") -> list[tuple[str, object]]:
    """``path.py:Name``, ``package.module:Name`` or ``path.py`` (every app in it) ->
    ``[(name, app)]``; raises SystemExit with a clear message (``switchio-lab <command>:
    --app ...``) when it cannot."""
    where = f"switchio-lab {command}: --app {spec}"
    import importlib
    import importlib.util
    from pathlib import Path

    from ..core.marks import has_callbacks

    target, _, attr = spec.partition(":")
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise SystemExit(f"{where}: no such file {path}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        if mod_spec is None or mod_spec.loader is None:
            raise SystemExit(f"{where}: cannot import {path}")
        module = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:
            raise SystemExit(f"{where}: importing {path} failed: {exc!r}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise SystemExit(f"{where}: {exc}") from None
    if attr:
        if not hasattr(module, attr):
            raise SystemExit(f"{where}: {target} has no {attr!r}")
        obj = getattr(module, attr)
        if not has_callbacks(obj):
            raise SystemExit(f"{where}: {attr} has no marked callbacks; not an app")
        return [(attr, obj)]
    found = [(name, obj) for name, obj in vars(module).items()
             if isinstance(obj, type) and obj.__module__ == module.__name__ and has_callbacks(obj)]
    if not found:
        raise SystemExit(f"{where}: no app (a class with marked callbacks) in {target}")
    return found



async def describe_switches(service) -> list[str]:
    """One line per node: which switch this is (``api hostname``, ``api version``), so a
    user sees at once when ``host`` (port 8021 by default) is not the switch meant."""
    lines = []
    for client in service.pool.clients:
        try:
            hostname = (await client.api("hostname")).strip()
            version = (await client.api("version")).strip()
        except Exception as exc:  # an ESL tool that does not answer these: say so
            lines.append(f"connected to {client.host}:{client.port} ({exc})")
            continue
        lines.append(f"connected to {client.host}:{client.port}: {hostname}, {version}")
    return lines
