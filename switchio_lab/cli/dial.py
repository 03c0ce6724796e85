"""``switchio-lab dial``: a headless load test (the Originator) that stores its CDRs."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path

from .common import add_password, contact, describe_switches, load_app_spec, stop_on_signals

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


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number of seconds > 0")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dial", help="run a headless load test (the Originator) and store its CDRs",
        description="Offer calls at --rate, holding at most --limit at once, from every HOST "
                    "to --dest; record one CDR row per leg into a run directory and print a "
                    "summary. Stops after --max-offered calls or --seconds, or on Ctrl-C.")
    p.add_argument("hosts", nargs="+", metavar="HOST", type=contact,
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
    p.add_argument("--flush-interval", type=seconds, default=None, metavar="SECONDS",
                   help="write the buffered CDR rows to the run directory this often "
                        f"(default {DIAL_FLUSH_INTERVAL:g} s); a crash of dial (kill -9) loses at "
                        "most the rows of one interval")
    add_password(p)
    p.add_argument("--runs-dir", default=None, help="where run directories go (default ./runs)")
    p.add_argument("--name", default="dial", help="name of the run directory")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


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




def _bar(done: int, total: float, width: int = 24) -> str:
    if total == float("inf") or total <= 0:
        return ""
    filled = min(width, int(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + f"] {100 * done / total:5.1f}% "


def status_line(stats: dict, max_offered: float) -> str:
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

    from ..apps import players
    from ..apps.cdr import CDR
    from ..apps.originator import Originator
    from ..core import Service
    from ..measure import RunWriter, load
    from ..measure.analysis import failures_by_cause, summary

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
        stop = stop_on_signals()
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
            line = status_line(stats, max_offered)
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
        print(("\r" if tty else "") + status_line(final, max_offered), flush=True)
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


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise SystemExit("switchio-lab dial: --rate must be > 0")
    if args.limit < 1:
        raise SystemExit("switchio-lab dial: --limit must be at least 1")
    if args.cdr_timeout < 0:
        raise SystemExit("switchio-lab dial: --cdr-timeout must be >= 0")
    asyncio.run(_run_dial(args))
    return 0

