"""The ``switchio-lab`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
from pathlib import Path


def _stop_on_signals() -> asyncio.Event:
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


def _port(text: str) -> int:
    """An argparse type: a TCP port (1-65535), refused with a clear message otherwise."""
    if not (text.isdigit() and 0 < int(text) < 65536):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _contact(text: str) -> str:
    """An argparse type: ``host`` or ``host:port`` (checked here, not at connect time)."""
    from .core.pool import split_contact

    try:
        split_contact(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_password(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password", default=None,
                   help=f"Event Socket password (visible to other users in `ps`: prefer "
                        f"${PASSWORD_ENV} or --password-file); default {DEFAULT_PASSWORD}")
    g.add_argument("--password-file", metavar="PATH", type=Path, default=None,
                   help="read the Event Socket password from the first line of PATH")


def _resolve_password(args: argparse.Namespace) -> str:
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


def _sim_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="run the embedded FreeSWITCH-compatible switch",
        description="Run N embedded nodes until interrupted. Node i listens on 127.0.0.(i+1) "
                    "(or --host with shifted ports) and speaks the real Event Socket protocol.")
    p.add_argument("--nodes", type=int, default=1, help="how many nodes (default 1)")
    p.add_argument("--host", default=None,
                   help="one address for all nodes (ports then shift by 1 per node); "
                        "default: 127.0.0.1, 127.0.0.2, ...")
    p.add_argument("--esl-port", type=_port, default=8021, help="Event Socket port (default 8021)")
    _add_password(p)
    p.add_argument("--internal-port", type=_port, default=5060, help="SIP profile 'internal'")
    p.add_argument("--external-port", type=_port, default=5080, help="SIP profile 'external'")
    p.add_argument("--max-sessions", type=int, default=10000)
    p.add_argument("--sps", type=int, default=10000, help="sessions per second limit")
    p.add_argument("--context", default="switchio", help="context of inbound calls")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the nodes do")
    p.set_defaults(func=_sim)


#: the destination user ``switchio-lab sim`` answers by its dialplan (answer, then echo until
#: the caller hangs up), so a load test has something to call without an app on the callee
SIM_LOAD_USER = "load"


def _sim_dialplan():
    """``sim``'s dialplan: ``load`` is answered and echoed; every other call parks (for apps)."""
    from .sim import PARK_ALL, Rule

    return [Rule(rf"^{SIM_LOAD_USER}$", [("answer", ""), ("echo", "")]), *PARK_ALL]


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
            context=args.context, dialplan=_sim_dialplan()))
    return configs


def _exposure_warning(host: str | None) -> str | None:
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
    from .sim import Cluster

    warning = _exposure_warning(args.host)
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
    stop = _stop_on_signals()
    try:
        await stop.wait()
    finally:
        await cluster.stop()
        print("stopped", flush=True)


def _sim(args: argparse.Namespace) -> int:
    asyncio.run(_run_sim(args))
    return 0


# -- serve ----------------------------------------------------------------------------------
def load_app_spec(spec: str, command: str = "serve") -> list[tuple[str, object]]:
    """``path.py:Name``, ``package.module:Name`` or ``path.py`` (every app in it) ->
    ``[(name, app)]``; raises SystemExit with a clear message (``switchio-lab <command>:
    --app ...``) when it cannot."""
    where = f"switchio-lab {command}: --app {spec}"
    import importlib
    import importlib.util
    from pathlib import Path

    from .marks import has_callbacks

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


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run apps as a service on FreeSWITCH hosts",
        description="Connect to each HOST[:PORT] Event Socket, load the apps on every node and "
                    "run until interrupted.")
    p.add_argument("hosts", nargs="+", metavar="HOST", type=_contact,
                   help="host or host:port (ESL, 8021)")
    p.add_argument("--app", action="append", required=True, metavar="FILE.py[:NAME]",
                   help="an app to load: path.py:Class, module:Class, or path.py (all apps); "
                        "repeatable")
    p.add_argument("--id", dest="app_id", default=None,
                   help="app id for a single --app (default: 'default' for the first app, "
                        "then the class name)")
    _add_password(p)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_serve)


async def _run_serve(args: argparse.Namespace) -> None:
    from .api import AppError
    from .connection import ConnectError
    from .service import Service

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
        await _stop_on_signals().wait()
    finally:
        await service.stop()


def _serve(args: argparse.Namespace) -> int:
    asyncio.run(_run_serve(args))
    return 0


# -- dial -----------------------------------------------------------------------------------
#: the default call duration holds this share of --limit in progress at --rate, so the rate,
#: not the limit, is what holds (the rest covers call setup and teardown)
DIAL_LOAD = 0.8
#: below this a derived duration is reported as short
DIAL_SHORT_CALL = 0.5
#: how long dial waits, once the calls are over, for the last legs' CDR rows (default)
DIAL_CDR_TIMEOUT = 10.0


def dial_duration(rate: float, limit: int, duration: float | None = None
                  ) -> tuple[float, list[str]]:
    """The call duration ``dial`` uses, and warnings about what it means for the rate.

    Without ``duration`` it is derived so that ``rate`` holds: each call holds a slot from
    its offer until its calling leg is gone, so the calls in progress are about
    ``rate * duration`` (plus setup and teardown), and ``limit`` must stay above that.
    The default keeps ``rate * duration`` at :data:`DIAL_LOAD` of ``limit``. A duration
    given that needs more than 90% of ``limit`` is warned about: the limit, not the rate,
    then sets how many calls are offered per second (about ``limit / duration``).
    """
    warnings = []
    if duration is None:
        duration = DIAL_LOAD * limit / rate
        if duration < DIAL_SHORT_CALL:
            warnings.append(
                f"calls are held only {duration:.3g} s: at --rate {rate:g} the --limit "
                f"{limit} allows no longer (rate x duration must stay below the limit); "
                f"raise --limit to {math.ceil(rate * DIAL_SHORT_CALL / DIAL_LOAD)} or more "
                "for longer calls")
    elif rate * duration > 0.9 * limit:
        need = math.ceil(rate * duration / DIAL_LOAD)
        warnings.append(
            f"--rate {rate:g} cannot be reached: --rate x --duration = "
            f"{rate * duration:.3g} calls in progress, but --limit is {limit}, so at most "
            f"about {limit / duration:.3g} calls/s are offered; raise --limit to {need} or "
            f"more, or lower --duration to {DIAL_LOAD * limit / rate:.3g} s or less")
    return duration, warnings


#: seconds between dial's CDR flushes (RunWriter's default; dial --flush-interval)
DIAL_FLUSH_INTERVAL = 1.0


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number of seconds > 0")
    return value


def _dial_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dial", help="run a headless load test (the Originator) and store its CDRs",
        description="Offer calls at --rate, holding at most --limit at once, from every HOST "
                    "to --dest; record one CDR row per leg into a run directory and print a "
                    "summary. Stops after --max-offered calls or --seconds, or on Ctrl-C.")
    p.add_argument("hosts", nargs="+", metavar="HOST", type=_contact,
                   help="host or host:port (ESL, 8021)")
    p.add_argument("--dest", default=None,
                   help="where calls go: user@host:port (default: dial@<first host>:5080)")
    p.add_argument("--profile", default="external", help="SIP profile to call out on")
    p.add_argument("--proxy", default=None, help="send the INVITEs via this host:port")
    p.add_argument("--rate", type=float, default=10.0, help="calls per second (default 10)")
    p.add_argument("--limit", type=int, default=10, help="max concurrent calls (default 10)")
    p.add_argument("--duration", type=float, default=None,
                   help=f"seconds each call is held (default: {DIAL_LOAD:g} x limit / rate, "
                        "so that the rate holds)")
    p.add_argument("--max-offered", type=int, default=None, help="stop after this many calls")
    p.add_argument("--seconds", type=float, default=None, help="stop offering after this long")
    p.add_argument("--cdr-timeout", type=float, default=DIAL_CDR_TIMEOUT,
                   help="once the calls are over, wait this long for the last legs' CDR rows "
                        f"(default {DIAL_CDR_TIMEOUT:g} s); legs still missing are reported "
                        "and written as lost")
    p.add_argument("--app", action="append", default=[], metavar="FILE.py[:NAME]",
                   help="app(s) for the calls (default: the built-in TonePlay)")
    p.add_argument("--reconnect", action=argparse.BooleanOptionalAction, default=True,
                   help="when a switch goes away (a restart, a crash): reconnect with "
                        "back-off and go on, the calls falling due meanwhile skipped and the "
                        "calls it held counted as lost (default); --no-reconnect stops the "
                        "run at once with a one-line message and a non-zero exit status")
    p.add_argument("--flush-interval", type=_seconds, default=None, metavar="SECONDS",
                   help="write the buffered CDR rows to the run directory this often "
                        f"(default {DIAL_FLUSH_INTERVAL:g} s); a crash of dial (kill -9) loses at "
                        "most the rows of one interval")
    _add_password(p)
    p.add_argument("--runs-dir", default=None, help="where run directories go (default ./runs)")
    p.add_argument("--name", default="dial", help="name of the run directory")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_dial)


#: dial warns when none of its first this many calls was answered (all failed) ...
DIAL_EARLY_CALLS = 10
#: ... or when nothing was answered this many seconds after the first offer (calls ringing)
DIAL_EARLY_SECONDS = 5.0


def unanswered_warning(stats: dict, since_first_offer: float, dest: str) -> str | None:
    """What ``dial`` says when its calls are not being answered, or None while all is well.

    It speaks once the first :data:`DIAL_EARLY_CALLS` calls have all failed, or nothing is
    answered :data:`DIAL_EARLY_SECONDS` after the first offer (calls ring until the
    originate timeout, 60 s by default, so a run with no answering side would otherwise
    look busy for minutes)."""
    if stats["answered"] or not stats["offered"]:
        return None
    failed = stats["failed_total"]
    if failed < DIAL_EARLY_CALLS and since_first_offer < DIAL_EARLY_SECONDS:
        return None
    causes = ", ".join(f"{c} x{n}" for c, n in sorted(stats["failed"].items(),
                                                       key=lambda kv: -kv[1])[:3])
    user, _, where = dest.rpartition("@")
    return (f"no call answered yet: {stats['offered']} offered in "
            f"{since_first_offer:.0f} s, {failed} failed"
            + (f" ({causes})" if causes else "")
            + f", {stats['active']} still ringing. Is something answering {dest}? On a "
              f"switch nobody controls, a call parks and rings until it times out (60 s). "
              f"Call a destination its dialplan answers (switchio-lab sim answers "
              f"'load@{where or '<node>:5080'}'), run an app there (switchio-lab serve "
              f"<its ESL host> --app ...), or give dial that switch's ESL host too so "
              f"dial's apps answer there. Ctrl-C stops the run.")


#: the Originator's settings as dial's options
_OPTION_NAMES = {"max_offered": "--max-offered", "dest_url": "--dest", "rate": "--rate",
                 "limit": "--limit", "duration": "--duration", "profile": "--profile",
                 "proxy": "--proxy"}


def as_options(message: str) -> str:
    """An Originator's message in dial's words: ``max_offered`` -> ``--max-offered``."""
    import re

    return re.sub(r"(?<![-\w])(" + "|".join(_OPTION_NAMES) + r")(?![-\w])",
                  lambda m: _OPTION_NAMES[m.group(1)], message)


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


def _bar(done: int, total: float, width: int = 24) -> str:
    if total == float("inf") or total <= 0:
        return ""
    filled = min(width, int(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + f"] {100 * done / total:5.1f}% "


def _status(stats: dict, max_offered: float) -> str:
    failed = stats["failed_total"]
    lost = f"  lost {stats['lost']:>4}" if stats.get("lost") else ""
    return (f"{_bar(stats['offered'], max_offered)}{stats['state'].lower():11s} "
            f"offered {stats['offered']:>6}  answered {stats['answered']:>6}  "
            f"failed {failed:>5}{lost}  up {stats['up']:>5}  ringing {stats['active']:>4}  "
            f"{stats['cps']:6.1f} cps")


#: --no-reconnect: how long dial gives the calls in flight to settle once a switch went away
DIAL_GONE_SETTLE = 1.0


async def _went_away(orig, gone: list[str], run_dir) -> str:
    """--no-reconnect and a switch went away: the one line dial stops with. Calls whose
    outcome was still unknown (the switch took them along) are counted as lost."""
    try:
        await orig.waitwhile(timeout=DIAL_GONE_SETTLE)
    except TimeoutError:
        pass
    s = orig.stats()
    lost = s["lost"] + s["active"]
    return (f"switchio-lab dial: the switch went away ({', '.join(gone)}: connection lost) "
            f"and --no-reconnect stops the run: offered {s['offered']}, answered "
            f"{s['answered']}, failed {s['failed_total']}, lost {lost}"
            + (f", cancelled {s['cancelled']}" if s["cancelled"] else "")
            + f"; CDR rows so far in {run_dir}")


#: the rows of dial's summary table that count calls: the Originator's counters
DIAL_COUNTS = {"offered": "offered", "answered": "answered", "failed": "failed_total",
               "lost": "lost", "cancelled": "cancelled", "lost_after_answer": "lost_after_answer"}


def dial_table(table, final: dict):
    """dial's summary table: the CDR analysis (``measure.analysis.summary``) with its call
    counts taken from the Originator's final ``stats()``, the snapshot the last progress
    line and the summary line print, so the three never disagree. (The CDR rows count a
    call answered by its answer stamp and the Originator by the originate's result; rows
    lost with a switch or a crash made them differ: 90 vs 105 answered.) Counts the CDR
    rows tell otherwise are kept as ``cdr_<name>`` rows, and ``asr`` is answered / offered
    of the same counts."""
    table = table.copy()
    for row, key in DIAL_COUNTS.items():
        if row in table.index and int(table[row]) != int(final[key]):
            table[f"cdr_{row}"] = table[row]
        table[row] = final[key]
    if "asr" in table.index:
        table["asr"] = final["answered"] / final["offered"] if final["offered"] else math.nan
    return table


async def _run_dial(args: argparse.Namespace) -> Path:
    import time

    from .apps import players
    from .apps.call_gen import Originator
    from .apps.measure import CDR
    from .measure import RunWriter, load
    from .measure.analysis import failures_by_cause, summary
    from .service import Service

    apps = [app for spec in args.app for app in load_app_spec(spec, "dial")] or [
        ("TonePlay", players.TonePlay)]
    duration, warnings = dial_duration(args.rate, args.limit, args.duration)
    # reconnecting: a switch that restarts mid-run loses the calls it held (their CDR rows
    # say so), not the run
    service = Service(args.hosts, auth=args.password, reconnect=args.reconnect)
    try:
        await service.run()
    except Exception as exc:
        raise SystemExit(f"switchio-lab dial: {exc}") from None
    for line in await describe_switches(service):
        print(line, flush=True)
    writer = RunWriter(root=args.runs_dir, name=args.name,
                       flush_interval=args.flush_interval or DIAL_FLUSH_INTERVAL)
    writer.start()
    cdr = CDR()
    tty = sys.stdout.isatty()
    try:
        await service.apps.load_app(cdr, "cdr", observe=True, sink=writer.table("cdr"))
        host = service.pool.clients[0].host
        dest = args.dest or f"dial@{host}:5080"
        try:
            orig = Originator(service.pool, rate=args.rate, limit=args.limit,
                              duration=duration, dest_url=dest, profile=args.profile,
                              proxy=args.proxy,
                              max_offered=args.max_offered if args.max_offered else math.inf)
        except ValueError as exc:
            raise SystemExit(f"switchio-lab dial: {as_options(str(exc))}") from None
        cdr.follow(orig)  # calls that never had a leg get their row too
        app_ids = [await orig.load_app(app, name) for name, app in apps]
        print(f"run directory: {writer.path}", flush=True)
        print(f"dialing {dest} from {', '.join(service.pool.names)}: rate {orig.rate:g}/s, "
              f"limit {orig.limit}, duration {orig.duration:.3g} s"
              + ("" if args.duration is not None else " (derived: the rate holds)"),
              flush=True)
        for warning in warnings:
            print(f"switchio-lab dial: warning: {warning}", file=sys.stderr, flush=True)
        stop = _stop_on_signals()
        orig.start()
        started = time.monotonic()
        last_line = 0.0
        max_offered = orig.max_offered
        first_offer: float | None = None
        warned = False
        # the last calls are watched (status, warning) until they end, or for at most
        # this long once offering is over; then they are hung up
        settle = max(10.0, 2 * orig.duration)
        settle_until: float | None = None
        gone: list[str] = []  # --no-reconnect: the switches that went away
        while not stop.is_set():
            now = time.monotonic()
            gone = [] if args.reconnect else [
                f"{c.host}:{c.port}" for c in service.pool.clients if not c.connected]
            if gone:
                break
            if args.seconds is not None and now - started >= args.seconds:
                break
            stats = orig.stats()
            if orig.state != "ORIGINATING":
                settle_until = settle_until or now + settle
                if not (stats["active"] or stats["up"]) or now >= settle_until:
                    break
            if first_offer is None and stats["offered"]:
                first_offer = time.monotonic()
            if not warned and first_offer is not None:
                warning = unanswered_warning(stats, time.monotonic() - first_offer, dest)
                if warning:
                    warned = True
                    print(("\n" if tty else "") + f"switchio-lab dial: warning: {warning}",
                          file=sys.stderr, flush=True)
            line = _status(stats, max_offered)
            if tty:
                print("\r" + line, end="", flush=True)
            elif time.monotonic() - last_line >= 2.0:
                print(line, flush=True)
                last_line = time.monotonic()
            await asyncio.sleep(0.5)
        orig.stop()
        if gone:
            raise SystemExit(await _went_away(orig, gone, writer.path))
        try:
            left = settle if settle_until is None else max(0.0, settle_until - time.monotonic())
            await orig.waitwhile(timeout=left)
        except TimeoutError:
            await orig.hupall()
            try:
                await orig.waitwhile(timeout=10.0)
            except TimeoutError:  # calls whose end never came: counted as they stand
                pass
        # the one snapshot the last progress line, the summary line and the table all show
        final = orig.stats()
        print(("\r" if tty else "") + _status(final, max_offered), flush=True)
        # the calling legs are gone; the far legs' rows may come later still
        missing = await cdr.drain(args.cdr_timeout, app_ids=app_ids,
                                  clients=service.pool.clients)
        if missing:
            print(f"switchio-lab dial: {len(missing)} leg(s) had no CDR row "
                  f"{args.cdr_timeout:g} s after the calls ended; written as lost:",
                  file=sys.stderr, flush=True)
            for leg in missing[:20]:
                print(f"  {leg['uuid']} on {leg['node']} ({leg['direction']}, {leg['state']}, "
                      f"call {leg['call_uuid']})", file=sys.stderr, flush=True)
            if len(missing) > 20:
                print(f"  ... and {len(missing) - 20} more", file=sys.stderr, flush=True)
    finally:
        cdr.close()  # rows that still come are counted, never handed to a closed writer
        await writer.aclose()
        await service.stop()
    frame = load(writer.path).get("cdr")
    print("\nsummary")
    print(f"  offered {final['offered']}, answered {final['answered']}, "
          f"failed {final['failed_total']}, lost {final['lost']}, "
          + (f"cancelled at the end {final['cancelled']}, " if final["cancelled"] else "")
          + f"peak concurrent {final['peak_concurrent']}"
          + (f", not offered (fell due in a stall or while no switch was connected) "
             f"{final['skipped']}" if final["skipped"] else ""))
    print(f"  {cdr.count} CDR rows ({cdr.lost} of lost legs)"
          + (f", {cdr.late} too late" if cdr.late else ""))
    if frame is not None and len(frame):
        print(dial_table(summary(frame, offered=final["offered"]), final).to_string())
        causes = failures_by_cause(frame)
        if len(causes):
            print("failures by cause:")
            print(causes.to_string())
    print(f"\nrun directory: {writer.path}")
    return Path(writer.path)


def _dial(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise SystemExit("switchio-lab dial: --rate must be > 0")
    if args.limit < 1:
        raise SystemExit("switchio-lab dial: --limit must be at least 1")
    if args.cdr_timeout < 0:
        raise SystemExit("switchio-lab dial: --cdr-timeout must be >= 0")
    asyncio.run(_run_dial(args))
    return 0


# -- lab ----------------------------------------------------------------------------------------
def _lab_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="start JupyterLab on the notebooks",
                       description="Start JupyterLab on ./notebooks (or the given directory), "
                                   "bound to 127.0.0.1 unless --ip says otherwise.")
    p.add_argument("directory", nargs="?", default=None)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("extra", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    p.set_defaults(func=_lab)


def lab_command(args: argparse.Namespace) -> list[str]:
    """The ``jupyter lab`` command line ``switchio-lab lab`` runs."""
    import shutil

    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    if not Path(jupyter).exists():
        raise SystemExit("switchio-lab lab: JupyterLab is not installed; "
                         "pip install 'switchio-lab[lab]' (or run 'make lab')")
    directory = Path(args.directory or ("notebooks" if Path("notebooks").is_dir() else "."))
    cmd = [jupyter, "lab", f"--ServerApp.root_dir={directory}", f"--ip={args.ip}"]
    if args.port:
        cmd.append(f"--port={args.port}")
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    cmd += [a for a in args.extra if a != "--"]
    return cmd


def _lab(args: argparse.Namespace) -> int:
    import subprocess

    return subprocess.call(lab_command(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchio-lab",
                                     description="An interactive FreeSWITCH telephony lab.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _sim_parser(sub)
    _serve_parser(sub)
    _dial_parser(sub)
    _lab_parser(sub)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, parsed; ``lab`` passes the options it does not know on to
    JupyterLab (``switchio-lab lab --port 8898 --no-browser``)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "lab":
            parser.parse_args(argv)  # the usual error, with its usage line
        args.extra = [*unknown, *args.extra]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if hasattr(args, "password"):
        args.password = _resolve_password(args)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
