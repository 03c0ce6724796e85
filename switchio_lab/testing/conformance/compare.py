"""Comparing a live capture with the recorded one, lane by lane."""

from __future__ import annotations

import difflib

from ...esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    LOG_DATA,
    Event,
)
from .normalise import _api_name, _host_facts, _Norm, _notice_text, _reply_text, normalise_body
from .replay import _short
from .report import Item, Lane, ScenarioReport
from .scenario import (
    _REPLIES,
    GLOBAL,
    IGNORED_EVENTS,
    STATE_HEADERS,
    VOLATILE_API,
    Capture,
    ChannelMap,
    Scenario,
    _is_notice,
    _lane_of,
)


# -- comparison ---------------------------------------------------------------------------------
def _lanes(capture: Capture, chmap: ChannelMap) -> dict[str, list[tuple[str, Event]]]:
    lanes: dict[str, list[tuple[str, Event]]] = {}
    for _, f in capture.frames:
        key = _lane_of(f, chmap)
        if key is not None:
            lanes.setdefault(key[0], []).append((key[1], f.event))  # type: ignore[arg-type]
    return lanes


def _lane_diff(rec: list[str], live: list[str], limit: int = 12) -> tuple[list[str], list]:
    sm = difflib.SequenceMatcher(None, rec, live, autojunk=False)
    diff: list[str] = []
    pairs: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            pairs.extend(zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        where = f"after {rec[i1 - 1]} (#{i1 - 1})" if i1 > 0 else "at the start"
        if op == "delete":
            diff.append(f"missing {', '.join(rec[i1:i2])} {where}")
        elif op == "insert":
            diff.append(f"extra {', '.join(live[j1:j2])} {where}")
        else:
            diff.append(f"expected {', '.join(rec[i1:i2])} {where}, got "
                        f"{', '.join(live[j1:j2])}")
    if len(diff) > limit:
        diff = diff[:limit] + [f"... {len(diff) - limit} more differences"]
    return diff, pairs


def _names(ev: Event) -> set[str]:
    return set(ev.headers)


def compare(scenario: Scenario, live: Capture) -> ScenarioReport:
    """Compare a live capture of ``scenario`` with its recording."""
    recorded = scenario.recorded
    rec_map = recorded.channel_map()
    live_map = live.channel_map()
    report = ScenarioReport(scenario.name, notes=list(live.notes), seconds=live.seconds)

    # (a) lanes, (b) header names and state values of aligned pairs
    rec_lanes = _lanes(recorded, rec_map)
    live_lanes = _lanes(live, live_map)
    _add_connect(rec_lanes, recorded, rec_map)
    _add_connect(live_lanes, live, live_map)
    order = list(rec_lanes) + [k for k in live_lanes if k not in rec_lanes]
    for label in order:
        r = rec_lanes.get(label, [])
        lv = live_lanes.get(label, [])
        rn = [n for n, _ in r]
        ln = [n for n, _ in lv]
        diff, pairs = _lane_diff(rn, ln)
        if not r:
            diff = [f"extra lane ({len(lv)} events: {', '.join(ln[:4])}...)"]
        elif not lv:
            diff = [f"missing lane ({len(r)} events)"]
        name = rec_map.names.get(label) or live_map.names.get(label)
        title = label if label in (GLOBAL, "connect") or not name else f"{label} {name}"
        report.lanes.append(Lane(label, title, rn, ln, diff))
        report.recorded_events += len(r)
        for i, j in pairs:
            rev, lev = r[i][1], lv[j][1]
            a, b = _names(rev), _names(lev)
            report.pairs += 1
            report.header_total += len(a)
            report.header_present += len(a & b)
            report.missing.update(a - b)
            report.extra.update(b - a)
            where = f"{label} {r[i][0]} #{i}"
            for h in a - b:
                report.first_missing.setdefault(h, where)
            for h in b - a:
                report.first_extra.setdefault(h, where)
            for h in STATE_HEADERS:
                want = rev.get(h)
                if want is None:
                    continue
                report.state_total += 1
                got = lev.get(h)
                if got == want:
                    report.state_matched += 1
                else:
                    report.state_mismatches.append(
                        f"{label} {r[i][0]} #{i} {h}: FreeSWITCH {want}, live {got}")

    # ignored timer events, log lines
    for name in sorted(IGNORED_EVENTS):
        counts = (_count_events(recorded, name), _count_events(live, name))
        if any(counts):
            report.ignored[name] = counts
    report.logs = (sum(f.content_type == LOG_DATA for _, f in recorded.frames),
                   sum(f.content_type == LOG_DATA for _, f in live.frames))

    # (c) replies and notices, (d) api bodies; reply i answers command i
    known = set(rec_map.uuids)
    rnorm = _Norm(rec_map, known, _host_facts(recorded.frames))
    lnorm = _Norm(live_map, known, _host_facts(live.frames))
    # a live channel matched to a recorded one speaks under the recorded label
    rec_replies = [f for _, f in recorded.frames if f.content_type in _REPLIES]
    live_replies = [f for _, f in live.frames if f.content_type in _REPLIES]
    sends = scenario.sends
    for i in range(max(len(rec_replies), len(live_replies))):
        rf = rec_replies[i] if i < len(rec_replies) else None
        lf = live_replies[i] if i < len(live_replies) else None
        line = sends[i].command.line if i < len(sends) else "(no command)"
        shown = rnorm.uuids(_short(line, 80))
        if rf is not None and rf.content_type == API_RESPONSE:
            cmd, args = _api_name(line)
            want = normalise_body(cmd, args, rf.text, rnorm)
            if lf is not None and lf.content_type == API_RESPONSE:
                got = normalise_body(cmd, args, lf.text, lnorm)
            else:
                got = _reply_text(lf, lnorm)
            report.bodies.append(Item(i, shown, want, got, cmd in VOLATILE_API))
        else:
            report.replies.append(Item(i, shown, _reply_text(rf, rnorm),
                                       _reply_text(lf, lnorm), kind="reply"))
    rec_notices = [f for _, f in recorded.frames if _is_notice(f)]
    live_notices = [f for _, f in live.frames if _is_notice(f)]
    for i in range(max(len(rec_notices), len(live_notices))):
        rf = rec_notices[i] if i < len(rec_notices) else None
        lf = live_notices[i] if i < len(live_notices) else None
        report.replies.append(Item(i, "(server notice)", _notice_text(rf, rnorm),
                                   _notice_text(lf, lnorm), kind="notice"))

    # BACKGROUND_JOB results, paired along the channel-less lane
    r = rec_lanes.get(GLOBAL, [])
    lv = live_lanes.get(GLOBAL, [])
    _, pairs = _lane_diff([n for n, _ in r], [n for n, _ in lv])
    paired = dict(pairs)
    k = 0
    for i, (name, ev) in enumerate(r):
        if not name.startswith("BACKGROUND_JOB"):
            continue
        cmd = ev.get("Job-Command") or ""
        args = ev.get("Job-Command-Arg") or ""
        want = normalise_body(cmd, args, ev.body, rnorm)
        j = paired.get(i)
        got = normalise_body(cmd, args, lv[j][1].body, lnorm) if j is not None else "<nothing>"
        shown = rnorm.uuids(_short(f"bgapi {cmd} {args}".strip(), 80))
        report.bodies.append(Item(k, shown, want, got, cmd in VOLATILE_API,
                                  kind="BACKGROUND_JOB"))
        k += 1
    return report


def _add_connect(lanes: dict[str, list[tuple[str, Event]]], capture: Capture,
                 chmap: ChannelMap) -> None:
    """The outbound ``connect`` reply carries the channel's data: its own lane."""
    for _, f in capture.frames:
        if f.content_type == COMMAND_REPLY and "Unique-ID" in f.headers:
            data = f.channel_data()
            headers = {k: v for k, v in data.items() if k not in ("Content-Type",
                                                                  "Reply-Text")}
            lanes["connect"] = [(data.get("Event-Name") or "?",
                                 Event.from_headers(headers))]
            return


def _count_events(capture: Capture, name: str) -> int:
    return sum(1 for _, f in capture.frames
               if f.is_event and f.event is not None and f.event.name == name)
