"""The event inspector and the ladder diagram, on real records.

Records come from the golden captures (``call_basic``, ``call_bridge``: every byte a real
FreeSWITCH sent, and every command the client sent, replayed into an :class:`EventLog`)
and from a live call between two embedded nodes.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace

import pytest
from jupyter_bokeh import BokehModel

from switchio_lab.connection import InboundClient
from switchio_lab.esl import API_RESPONSE, COMMAND_REPLY, Event, Parser
from switchio_lab.lab.eventlog import EventLog, EventRecord, command_info
from switchio_lab.lab.inspector import (
    EchoSafeBokehModel,
    Inspector,
    Ladder,
    RecordFilter,
    ladder_text,
    record_label,
    summary,
)
from switchio_lab.sim import Cluster
from switchio_lab.testing import pause

T0 = 1_795_684_754.0  # the captures' wall clock (2026-11-26 09:19:14 UTC)
# call_basic: the caller (bgapi originate ... &park()) and the callee (parked, answered)
CALLER = "9e4776b2-75c9-4a16-8ca0-bdadeb3e381f"
CALLEE = "e806305f-255a-4c34-9c9b-280adf46bdfb"
# call_bridge: the parked callee bridges out to a far leg (tied by Other-Leg-Unique-ID)
BRIDGER = "3073c114-ff73-4a93-813b-c9f85dfe508b"
FAR = "91526ae3-49a2-4379-90f2-d6c09e240854"

Transcript = Callable[[str], list[tuple[float, str, bytes]]]


def replay(conversation: list[tuple[float, str, bytes]], node: str = "vm") -> list[EventRecord]:
    """The records an EventLog attached to the capturing client would have made."""
    parser = Parser()
    waiting: deque[tuple[str, str | None]] = deque()
    out = []
    for t, direction, data in conversation:
        t += T0
        if direction == "send":
            text = data.decode("utf-8").rstrip("\n")
            name, uuid = command_info(text)
            out.append(EventRecord(t, node, "command", name, uuid, None, text))
            waiting.append((name, uuid))
            continue
        for frame in parser.feed(data):
            if frame.is_event:
                ev = frame.event
                text = ev.body.strip() if ev.name == "BACKGROUND_JOB" else ""
                out.append(EventRecord(t, node, "event", ev.name, ev.uuid, ev, text))
            elif frame.content_type in (COMMAND_REPLY, API_RESPONSE) and waiting:
                name, uuid = waiting.popleft()
                text = (frame.reply_text if frame.content_type == COMMAND_REPLY
                        else frame.text.rstrip("\n"))
                out.append(EventRecord(t, node, "reply", name, uuid, None, text))
            else:
                out.append(EventRecord(t, node, "frame", frame.content_type, None, None,
                                       frame.text))
    return out


def log_of(records: list[EventRecord]) -> EventLog:
    log = EventLog()
    for rec in records:
        log.append(rec)
    return log


@pytest.fixture(scope="module")
def basic(transcript: Transcript) -> list[EventRecord]:
    return replay(transcript("call_basic"))


@pytest.fixture(scope="module")
def bridge(transcript: Transcript) -> list[EventRecord]:
    return replay(transcript("call_bridge"))


def spy_subscriptions(log: EventLog) -> list[str]:
    """Record 'sub'/'unsub' as ``log``'s subscribers come and go."""
    calls: list[str] = []
    subscribe = log.subscribe

    def spy(callback):
        calls.append("sub")
        unsubscribe = subscribe(callback)

        def unsub() -> None:
            calls.append("unsub")
            unsubscribe()
        return unsub

    log.subscribe = spy  # type: ignore[method-assign]
    return calls


# -- the inspector ---------------------------------------------------------------------------


def test_inspector_lists_every_record_newest_first(basic: list[EventRecord]) -> None:
    log = log_of(basic)
    insp = Inspector(log)
    assert list(insp.rows) == basic[::-1]
    labels = insp.list._options_labels
    assert len(labels) == len(basic)
    hangup = next(i for i, r in enumerate(insp.rows) if r.name == "CHANNEL_HANGUP_COMPLETE")
    row, rec = labels[hangup], insp.rows[hangup]
    assert rec.uuid == CALLEE  # the callee hung up last
    clock = datetime.fromtimestamp(rec.time).strftime("%H:%M:%S.%f")[:-3]
    assert row.split()[:4] == [clock, "vm", "CHANNEL_HANGUP_COMPLETE", CALLEE[:8]]
    assert row.endswith("Hangup-Cause=NORMAL_CLEARING")
    answer = next(r for r in basic if r.name == "api uuid_answer" and r.kind == "command")
    assert f"→ api uuid_answer {CALLEE[:8]}…" in labels[insp.rows.index(answer)]
    assert "Channel-State=CS_EXECUTE" in summary(
        next(r for r in basic if r.name == "CHANNEL_PARK"))
    # names seen are offered by the name filter
    assert {"CHANNEL_ANSWER", "BACKGROUND_JOB", "CHANNEL_PARK"} <= set(insp.name_filter.options)
    insp.close()


def test_inspector_filters_by_name_uuid_header_and_kind(basic: list[EventRecord]) -> None:
    log = log_of(basic)
    insp = Inspector(log, max_rows=1000)

    insp.name_filter.value = "CHANNEL_ANSWER"
    assert [r.uuid for r in insp.rows] == [CALLER, CALLEE]  # newest first
    assert list(insp.rows) == log.filter(name="CHANNEL_ANSWER")[::-1]

    insp.name_filter.value = "channel_hangup*"
    assert {r.name for r in insp.rows} == {"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"}
    assert len(insp.rows) == 4

    insp.name_filter.value = ""
    insp.uuid_filter.value = CALLEE[:8]  # a short uuid is enough
    assert insp.rows and all(r.uuid == CALLEE for r in insp.rows)
    assert {r.kind for r in insp.rows} == {"event", "command", "reply"}  # uuid_answer too
    assert len([r for r in insp.rows if r.kind == "event"]) == len(
        log.filter(uuid=CALLEE, kind="event"))

    insp.uuid_filter.value = ""
    insp.header_filter.value = "Hangup-Cause"
    insp.value_filter.value = "NORMAL_CLEARING"
    rows = insp.rows
    assert len(rows) == len(log.filter(header="Hangup-Cause", value="NORMAL_CLEARING"))
    assert rows and all(r.event["Hangup-Cause"] == "NORMAL_CLEARING" for r in rows)

    insp.set_filter(kind="command")
    assert [r.name for r in insp.rows][::-1] == [
        "auth", "event plain", "bgapi originate", "api uuid_answer", "api uuid_kill", "exit"]
    insp.set_filter(kind="command", uuid=CALLER)
    assert [r.name for r in insp.rows] == ["api uuid_kill", "bgapi originate"]
    insp.set_filter(name="CHANNEL_STATE", header="Channel-State", value="cs_park")
    assert not insp.rows  # a parked channel is in CS_EXECUTE, never "CS_PARK"
    insp.set_filter()
    assert len(insp.rows) == len(basic)
    insp.close()


def test_a_custom_event_goes_by_its_subclass_everywhere() -> None:
    """Event.key names a CUSTOM event by its subclass: the record, the log's filter, the
    inspector's list, name filter and name choices all read it from there."""
    ev = Event.from_headers({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register"})
    rec = EventRecord(T0, "vm", "event", "CUSTOM", None, ev, "sofia::register")
    plain = Event.from_headers({"Event-Name": "CUSTOM"})
    bare = EventRecord(T0 + 1, "vm", "event", "CUSTOM", None, plain, "")
    log = log_of([rec, bare])
    assert (rec.key, bare.key) == ("sofia::register", "CUSTOM")
    assert record_label(rec) == "sofia::register"
    assert log.filter(name="sofia::register") == [rec]
    assert log.filter(name="CUSTOM") == [rec, bare]
    assert RecordFilter(name="SOFIA::*")(rec) and RecordFilter(name="custom")(rec)
    assert not RecordFilter(name="sofia::*")(bare)
    insp = Inspector(log)
    assert insp.name_filter.options == ("CUSTOM", "sofia::register")
    insp.set_filter(name="sofia::register")
    assert insp.rows == (rec,)
    insp.close()


def test_selecting_a_row_shows_its_headers_variables_and_body(
        basic: list[EventRecord]) -> None:
    insp = Inspector(log_of(basic))
    complete = next(r for r in basic if r.name == "CHANNEL_HANGUP_COMPLETE")
    insp.select(complete)
    assert insp.selected is complete
    assert insp.list.index == insp.rows.index(complete)
    html = insp.details.value
    assert "<b>CHANNEL_HANGUP_COMPLETE</b>" in html
    assert ">Hangup-Cause</td><td>NORMAL_CLEARING<" in html
    assert f">Unique-ID</td><td>{complete.uuid}<" in html
    variables = [k for k in complete.event.headers if k.startswith("variable_")]
    assert f"<summary>channel variables ({len(variables)})</summary>" in html
    assert ">billsec</td>" in html  # variable_billsec, under the fold

    job = next(r for r in basic if r.name == "BACKGROUND_JOB")
    insp.select(job)
    assert "<b>body</b>" in insp.details.value and "+OK " + CALLER in insp.details.value

    insp.select(next(r for r in basic if r.kind == "command" and r.name == "api uuid_kill"))
    assert f"<pre>api uuid_kill {CALLER} NORMAL_CLEARING</pre>" in insp.details.value
    insp.list.index = 0  # a click in the browser
    assert insp.selected is basic[-1]
    insp.close()


async def test_live_updates_keep_the_selection(basic: list[EventRecord]) -> None:
    log = log_of(basic[:30])
    insp = Inspector(log, interval=0.05)
    chosen = basic[20]
    insp.select(chosen)
    for rec in basic[30:]:
        log.append(rec)
    await pause(0.1)
    assert insp.rows[0] is basic[-1] and len(insp.rows) == len(basic)
    assert insp.selected is chosen and insp.list.index == insp.rows.index(chosen)
    assert insp.list.value == insp.list.index
    insp.close()


async def test_a_burst_of_1000_records_makes_a_handful_of_updates(
        basic: list[EventRecord]) -> None:
    log = EventLog()
    insp = Inspector(log, max_rows=200, interval=0.1)
    options_changes = []
    insp.list.observe(options_changes.append, names="options")
    burst = (basic * 17)[:1000]
    for rec in burst:  # all at once, as a busy switch's socket read delivers them
        log.append(rec)
    assert not options_changes  # nothing drawn while the records arrive
    await pause(0.05)
    assert len(options_changes) == 1
    assert len(insp.rows) == 200 and list(insp.rows) == burst[::-1][:200]

    # the same over ~0.4 s in chunks: at most one update per interval (0.1 s)
    options_changes.clear()
    start = asyncio.get_running_loop().time()
    for i in range(0, 1000, 25):
        for rec in burst[i:i + 25]:
            log.append(rec)
        await pause(0.01)
    elapsed = asyncio.get_running_loop().time() - start
    await pause(0.15)
    assert 2 <= len(options_changes) <= elapsed / 0.1 + 2
    assert insp.rows[0] is burst[-1]
    insp.close()


async def test_filtered_live_updates_and_new_names(basic: list[EventRecord]) -> None:
    log = EventLog()
    insp = Inspector(log, interval=0.02)
    insp.set_filter(name="CHANNEL_PARK")
    for rec in basic:
        log.append(rec)
    await pause(0.05)
    assert [r.uuid for r in insp.rows] == [CALLER, CALLEE]
    assert "CHANNEL_DESTROY" in insp.name_filter.options
    insp.close()


async def test_pause_resume_and_close(basic: list[EventRecord]) -> None:
    log = EventLog()
    calls = spy_subscriptions(log)
    insp = Inspector(log, interval=0.02)
    assert calls == ["sub"]
    for rec in basic[:10]:
        log.append(rec)
    await pause(0.05)
    assert len(insp.rows) == 10

    insp.pause()
    assert insp.pause_button.value and insp.paused
    for rec in basic[10:]:
        log.append(rec)
    await pause(0.05)
    assert len(insp.rows) == 10  # frozen
    insp.pause_button.value = False  # the button resumes, catching up
    assert not insp.paused and len(insp.rows) == len(basic)

    insp.close()
    assert calls == ["sub", "unsub"]
    log.append(basic[0])
    await pause(0.05)
    assert len(insp.rows) == len(basic)
    insp.close()  # twice is fine
    assert calls == ["sub", "unsub"]


# -- the ladder ------------------------------------------------------------------------------


def call_records(records: list[EventRecord]) -> list[EventRecord]:
    """The events and commands of call_basic's two legs (what a ladder draws)."""
    legs = {CALLER, CALLEE}
    return [r for r in records if (r.kind == "event" and (r.uuid in legs or (
        r.name == "BACKGROUND_JOB"))) or (r.kind == "command" and r.uuid in legs)]


def arrows(ladder: Ladder, kind: str | None = None) -> list[tuple[int, int, str]]:
    """``(from lane, to lane, label)`` of the ladder's arrows (of one kind), top down."""
    a = ladder.sources["arrows"].data
    rows = sorted(zip(a["y"], a["kind"], a["x0"], a["x1"], a["label"], strict=True))
    return [(x0, x1, label) for _, k, x0, x1, label in rows if kind in (None, k)]


def test_ladder_from_a_capture_reads_like_a_call_flow(basic: list[EventRecord]) -> None:
    records = call_records(basic)
    ladder = Ladder.from_records(records)
    assert [lane.label for lane in ladder.lanes] == [
        "client", f"vm outbound {CALLER[:8]}", f"vm inbound {CALLEE[:8]}"]
    ev = ladder.sources["events"].data
    channel_events = [r for r in records if r.kind == "event" and r.uuid]
    assert len(ev["x"]) == len(channel_events) == 44
    lane_of = {CALLER: 1, CALLEE: 2}
    assert ev["x"] == [lane_of[r.uuid] for r in channel_events]
    assert ev["name"] == [r.name for r in channel_events]
    # commands: solid arrows from the client to the leg they act on, labelled
    (originate, answer, kill) = arrows(ladder, "command")
    assert originate[:2] == (0, 1)
    assert originate[2].startswith(f"bgapi originate {{origination_uuid={CALLER[:8]}…")
    assert answer == (0, 2, f"api uuid_answer {CALLEE[:8]}…")
    assert kill == (0, 1, f"api uuid_kill {CALLER[:8]}… NORMAL_CLEARING")
    # the bgapi's result comes back (dashed, open head) from the caller's lane
    assert arrows(ladder, "reply") == [(1, 0, f"BACKGROUND_JOB +OK {CALLER[:8]}…")]
    # what SIP did between the legs, inferred from their events, in order
    assert arrows(ladder, "sip") == [(1, 2, "INVITE"), (2, 1, "200 OK"), (1, 2, "BYE")]
    a = ladder.sources["arrows"].data
    style = {k: (d, n, o) for k, d, n, o in zip(a["kind"], a["dash"], a["normal_head"],
                                                 a["open_head"], strict=True)}
    assert style == {"command": ("solid", 8, 0), "reply": ("dashed", 0, 9),
                     "sip": ("dotted", 8, 0)}
    assert [c for c in a["caption"] if "inferred" in c] == [
        "INVITE (inferred)", "200 OK (inferred)", "BYE (inferred)"]
    sip = [i for i, k in enumerate(a["kind"]) if k == "sip"]
    assert [a["detail"][i] for i in sip] == [
        f"inferred from CHANNEL_CREATE of {CALLEE[:8]}",
        f"inferred from CHANNEL_ANSWER of {CALLEE[:8]}",
        f"inferred from CHANNEL_HANGUP of {CALLER[:8]} (NORMAL_CLEARING)"]
    # the hover shows a command whole (the label is cut to fit between two lanes)
    first = a["y"].index(0)
    assert a["detail"][first] == records[0].text and len(a["caption"][first]) <= 36
    # one row per record (and per SIP hop), time running downward
    assert sorted(ev["y"] + a["y"]) == list(range(len(records) + 3))
    steps = ladder.steps
    assert [s.record for s in steps if s.kind != "sip"] == records
    assert all(s.time <= t.time for s, t in zip(steps, steps[1:], strict=False))
    # the SIP rows sit beside the events they come from: an INVITE before the B-leg's
    # CHANNEL_CREATE, a 200 OK after its CHANNEL_ANSWER, a BYE after the CHANNEL_HANGUP
    for s in steps:
        if s.kind == "sip":
            near = steps[s.index + (1 if s.label == "INVITE" else -1)]
            assert near.kind == "event" and near.record is s.record
    fig = ladder.figure
    assert fig.xaxis[0].major_label_overrides == {
        0: "client", 1: f"vm outbound {CALLER[:8]}", 2: f"vm inbound {CALLEE[:8]}"}
    assert fig.y_range.flipped  # time runs downward
    assert fig.height >= 20 * len(steps)
    # Bokeh arrows with heads, labels and a hover per arrow
    from bokeh.models import Arrow, HoverTool, LabelSet, NormalHead, OpenHead
    heads = {type(a.end) for a in fig.select(Arrow)}
    assert heads == {NormalHead, OpenHead}
    assert fig.select_one(LabelSet).source is ladder.sources["arrows"]
    assert len(fig.select(HoverTool)) == 2
    # a static export works (no notebook needed)
    from bokeh.embed import file_html
    from bokeh.resources import CDN
    html = file_html(fig, CDN, "ladder")
    assert "CHANNEL_HANGUP_COMPLETE" in html and "200 OK (inferred)" in html


def test_ladder_of_a_bridged_call_from_the_log(bridge: list[EventRecord]) -> None:
    log = log_of(bridge)
    ladder = Ladder(log, BRIDGER)  # the far leg is found through Other-Leg-Unique-ID
    assert [lane.uuid for lane in ladder.lanes] == [None, BRIDGER, FAR]
    assert [lane.label for lane in ladder.lanes][1:] == [
        f"vm inbound {BRIDGER[:8]}", f"vm outbound {FAR[:8]}"]
    assert arrows(ladder, "command") == [
        (0, 1, "sendmsg execute bridge {switchio_app=default}"
               "sofia/external/target@127.0.0.1:5080")]
    assert arrows(ladder, "reply")[0] == (1, 0, "+OK")  # the sendmsg's reply
    # the bridge's B-leg: its CHANNEL_OUTGOING is the INVITE, its answer the 200 OK
    assert arrows(ladder, "sip") == [(1, 2, "INVITE"), (2, 1, "200 OK"), (1, 2, "BYE")]
    ev = ladder.sources["events"].data
    assert ev["marker"].count("circle") == len([r for r in log.for_call(BRIDGER)
                                                if r.kind == "event" and r.uuid])
    # a reply whose command is not in the ladder says which command it answers
    show = next(i for i, name in enumerate(ev["name"]) if name.startswith("api show: "))
    assert ev["marker"][show] == "triangle" and ev["x"][show] == 0
    bridged = ev["name"].index("CHANNEL_BRIDGE")
    assert ev["x"][bridged] == 1 and f"Other-Leg-Unique-ID={FAR[:8]}…" in ev["summary"][bridged]
    # a Call-like object (sessions with uuids) picks the same call
    call = SimpleNamespace(sessions=[SimpleNamespace(uuid=FAR)])
    assert Ladder(log, call).sources["events"].data == ev
    ladder.close()


def test_ladder_of_a_proxied_call_shows_the_sip_chain(bridge: list[EventRecord]) -> None:
    """call_bridge's caller, its callee and the B-leg the callee bridged to: the INVITE
    goes down the chain, the 200 OK comes back up it, the caller's BYE goes down."""
    log = log_of(bridge)
    caller = next(r.uuid for r in bridge if r.kind == "command"
                  and r.name == "bgapi originate")
    ladder = Ladder(log, [caller, BRIDGER])  # two SIP calls the log cannot tie together
    assert [lane.uuid for lane in ladder.lanes] == [None, caller, BRIDGER, FAR]
    assert arrows(ladder, "sip") == [
        (1, 2, "INVITE"), (2, 3, "INVITE"), (3, 2, "200 OK"), (2, 1, "200 OK"),
        (1, 2, "BYE"), (2, 3, "BYE")]
    assert [(a, b) for a, b, _ in arrows(ladder, "command")] == [(0, 1), (0, 2), (0, 1)]
    ladder.close()


def test_ladder_text(basic: list[EventRecord]) -> None:
    records = call_records(basic)
    text = ladder_text(records)
    lines = text.splitlines()
    assert lines[0].split() == ["ms", "client", "vm", "outbound", CALLER[:8], "vm",
                                "inbound", CALLEE[:8]]
    assert len(lines) == 1 + len(records) + 3  # a line per record and per SIP hop
    origin = records[0].time  # the bgapi originate
    rows = [line for line in lines[1:] if "(inferred)" not in line]
    for line, rec in zip(rows, records, strict=True):
        assert line.startswith(f"{(rec.time - origin) * 1000:.1f} ")
    a_leg, b_leg = lines[0].index("vm outbound"), lines[0].index("vm inbound")
    # a command: an arrow from the client to the callee's lane, the command inside it
    answer = next(line for line in lines if "uuid_answer" in line)
    assert f"|──api uuid_answer {CALLEE[:8]}…───" in answer
    assert answer.index("▶|") + 1 == b_leg
    # the originate's label is cut inside the arrow and written whole in the comment
    first = lines[1]
    assert first.index("▶|") + 1 == a_leg and "bgapi originate {origi…" in first
    assert first.endswith("sofia/external/doggy@127.0.0.1:5080 &park()")
    # the BACKGROUND_JOB comes back from the caller's lane, dashed
    job = next(line for line in lines if "BACKGROUND_JOB" in line)
    assert job.index("|◀╌") == a_leg - 28 and job.index("╌|") + 1 == a_leg
    # the SIP hops, inferred, in order and pointing the right way
    sip = [line for line in lines if "(inferred)" in line]
    assert [line.split("(inferred)")[0].split("┄")[-1].strip() for line in sip] == [
        "INVITE", "200 OK", "BYE"]
    assert [("▶" if "▶|" in line else "◀") for line in sip] == ["▶", "◀", "▶"]
    assert all(line.index("┄") > a_leg and line.rstrip().find("|", a_leg + 1) >= b_leg - 1
               for line in sip)
    parks = [line for line in lines if "* CHANNEL_PARK" in line]
    assert [p.index("*") for p in parks] == [b_leg, a_leg]
    assert "Hangup-Cause=NORMAL_CLEARING" in text  # the comment column: key headers


async def test_live_ladder_streams_a_few_times_and_matches_the_offline_one(
        basic: list[EventRecord]) -> None:
    log = EventLog()
    ladder = Ladder(log, [CALLER, CALLEE], interval=0.05)
    streams = []
    for name, source in ladder.sources.items():
        source.on_change("data", lambda attr, old, new, name=name: streams.append(name))
    assert ladder.steps == [] and [lane.label for lane in ladder.lanes] == ["client"]
    for rec in basic[:40]:  # a burst
        log.append(rec)
    await pause(0.02)
    assert 1 <= ladder.streams <= 3 and len(streams) == ladder.streams
    first = ladder.streams
    for rec in basic[40:]:
        log.append(rec)
        await pause(0.001)
    await pause(0.1)
    assert ladder.streams - first <= 3 * 3 and ladder.rebuilds == 0
    offline = Ladder(log_of(basic), [CALLER, CALLEE])
    for name in ("events", "arrows", "lanes"):
        assert ladder.sources[name].data == offline.sources[name].data, name
    records = ladder.records
    assert ladder.text() == ladder_text(records, legs=[CALLER, CALLEE]) == offline.text()
    assert "INVITE (inferred)" in ladder.text()
    offline.close()
    ladder.close()


async def test_a_leg_tied_to_the_call_late_redraws_the_ladder(
        basic: list[EventRecord]) -> None:
    """call_basic's legs are two SIP calls, not tied together, until (here) a
    ``uuid_bridge`` joins them: the CHANNEL_BRIDGE names the other leg, whose earlier
    events then join the caller's ladder, in their place."""
    log = EventLog()
    ladder = Ladder(log, CALLER, interval=0.01)
    for rec in basic:
        log.append(rec)
    await pause(0.03)
    assert [lane.uuid for lane in ladder.lanes] == [None, CALLER]
    park = next(r for r in basic if r.name == "CHANNEL_PARK" and r.uuid == CALLER)
    headers = {**park.event.headers, "Event-Name": "CHANNEL_BRIDGE",
               "Other-Leg-Unique-ID": CALLEE}
    bridged = EventRecord(basic[-1].time + 0.01, "vm", "event", "CHANNEL_BRIDGE", CALLER,
                          Event.from_headers(headers), "")
    log.append(bridged)
    await pause(0.03)
    assert ladder.rebuilds == 1
    assert [lane.uuid for lane in ladder.lanes] == [None, CALLER, CALLEE]
    offline = Ladder(log_of([*basic, bridged]), CALLER)
    for name in ("events", "arrows", "lanes"):
        assert ladder.sources[name].data == offline.sources[name].data, name
    # both legs' 44 events and the CHANNEL_BRIDGE (the BACKGROUND_JOB is a reply arrow)
    assert len(ladder.sources["events"].data["x"]) == 45
    assert [label for _, _, label in arrows(ladder, "sip")] == ["INVITE", "200 OK", "BYE"]
    ladder.close()


def _patch_events(sent: list[tuple[dict, list]]) -> list[dict]:
    """The document events in the PATCH-DOC messages a BokehModel sent to the browser."""
    payloads = [c["payload"] for c, _ in sent if c.get("msg") == "patch"]
    events = []
    for header, content in zip(payloads[0::3], payloads[2::3], strict=True):
        assert json.loads(header)["msgtype"] == "PATCH-DOC"
        events += json.loads(content)["events"]
    return events


async def test_the_browsers_echo_of_streamed_rows_is_not_applied_twice(
        basic: list[EventRecord]) -> None:
    """jupyter_bokeh's view sends every patch it applies back as a ``jsevent``; the stock
    BokehModel applies a ColumnsStreamed echo again (doubling the kernel's rows)."""
    log = EventLog()
    ladder = Ladder(log, [CALLER, CALLEE], interval=0.01)
    widget = ladder.widget
    assert isinstance(widget, EchoSafeBokehModel) and isinstance(widget, BokehModel)
    sent: list[tuple[dict, list]] = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    for rec in basic:
        log.append(rec)
    await pause(0.05)
    events = ladder.sources["events"]
    n = len(events.data["x"])
    streamed = [e for e in _patch_events(sent) if e["kind"] == "ColumnsStreamed"]
    assert len(streamed) == ladder.streams >= 2
    for echo in streamed:  # what the browser sends back, message by message
        widget._handle_custom_msg({**echo, "event": "jsevent"}, [])
    assert len(events.data["x"]) == n == 44  # the legs' events (BACKGROUND_JOB: an arrow)
    assert len(set(map(len, events.data.values()))) == 1
    assert widget.echoes_ignored == len(streamed)
    # other browser events still reach the kernel (a pan/zoom moves the range)
    change = {"kind": "ModelChanged", "model": {"id": ladder.figure.x_range.id},
              "attr": "start", "new": -3.0, "event": "jsevent"}
    widget._handle_custom_msg(change, [])
    assert ladder.figure.x_range.start == -3.0

    # the trap itself, with the stock BokehModel (the reason for EchoSafeBokehModel)
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    source = ColumnDataSource({"x": [], "y": []})
    fig = figure()
    fig.scatter("x", "y", source=source)
    stock = BokehModel(fig)
    sent.clear()
    stock.send = lambda content, buffers=None: sent.append((content, buffers))
    source.stream({"x": [1, 2], "y": [3, 4]})
    (echo,) = _patch_events(sent)
    stock._handle_custom_msg({**echo, "event": "jsevent"}, [])
    assert source.data["x"] == [1, 2, 1, 2]
    ladder.close()


def test_displaying_ladders_loads_bokehjs_once_and_offline(
        basic: list[EventRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    """BokehModel renders nothing unless BokehJS is in the page: the first Ladder shown
    loads it (INLINE: no CDN in a classroom or on Binder), the next ones don't."""
    import bokeh.io
    import IPython
    import IPython.display
    from bokeh.resources import INLINE

    from switchio_lab.lab import bokeh_support

    calls: list[tuple] = []
    monkeypatch.setattr(bokeh_support, "_bokehjs_loaded", False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=object()))
    monkeypatch.setattr(bokeh.io, "output_notebook",
                        lambda resources=None, **kw: calls.append(("load", resources, kw)))
    monkeypatch.setattr(IPython.display, "display", lambda obj: calls.append(("show", obj)))
    first = Ladder.from_records(call_records(basic))
    second = Ladder.from_records(call_records(basic)[:10])
    first._ipython_display_()
    second._ipython_display_()
    assert calls == [("load", INLINE, {"hide_banner": True}), ("show", first.widget),
                     ("show", second.widget)]
    assert isinstance(first.widget, EchoSafeBokehModel)
    first.close()
    second.close()


async def test_close_unsubscribes_the_ladder(basic: list[EventRecord]) -> None:
    log = EventLog()
    calls = spy_subscriptions(log)
    ladder = Ladder(log, CALLER, interval=0.01)
    assert calls == ["sub"]
    widget = ladder.widget
    ladder.close()
    assert calls == ["sub", "unsub"] and widget.comm is None
    for rec in basic:
        log.append(rec)
    await pause(0.03)
    assert ladder.steps == [] and ladder.streams == 0
    assert Ladder.from_records(basic[:5]).log is None  # offline ladders never subscribe


# -- a live call on the embedded switch ------------------------------------------------------


async def test_live_call_between_embedded_nodes(sim_cluster: Cluster) -> None:
    log = EventLog()
    clients = []
    for i, node in enumerate(sim_cluster, 1):
        client = InboundClient(node.host, node.esl_port, password=node.config.password,
                               reconnect=False)
        await client.connect()
        log.attach(client, f"node{i}")
        await client.subscribe("ALL")
        clients.append(client)
    caller, callee = clients
    try:
        inspector = Inspector(log, interval=0.05)
        ladder = Ladder(log, "lab-call-1", interval=0.05)
        start = asyncio.get_running_loop().time()
        assert ladder.steps == []  # drawn as the call happens
        parked = asyncio.get_running_loop().create_future()
        callee.on_event(lambda e: parked.done() or parked.set_result(e), "CHANNEL_PARK")
        job = await caller.bgapi(
            "originate {origination_uuid=lab-call-1,switchio_call=lab-call-1,"
            "sip_h_X-switchio_call=lab-call-1}"
            f"sofia/external/doggy@{sim_cluster[1].sip_address('external')} &park()")
        far = (await asyncio.wait_for(parked, 5)).uuid
        await callee.api(f"uuid_answer {far}")
        assert (await job.wait(5)).startswith("+OK")
        await pause(0.1)
        assert "CHANNEL_ANSWER" in ladder.sources["events"].data["name"]  # live, mid-call
        await caller.api("uuid_kill lab-call-1")
        for _ in range(100):
            if ladder.sources["events"].data["name"].count("CHANNEL_DESTROY") == 2:
                break
            await pause(0.02)

        assert [lane.label for lane in ladder.lanes] == [
            "client", "node1 outbound lab-call-1", f"node2 inbound {far[:8]}"]
        records = log.for_call("lab-call-1")
        assert ladder.records == records
        assert [s.record for s in ladder.steps if s.kind != "sip"] == records
        commands = arrows(ladder, "command")
        assert [(x0, x1) for x0, x1, _ in commands] == [(0, 1), (0, 2), (0, 1)]
        assert [label for _, _, label in commands][1:] == [
            f"api uuid_answer {far[:8]}…", "api uuid_kill lab-call-1"]
        assert arrows(ladder, "sip") == [(1, 2, "INVITE"), (2, 1, "200 OK"), (1, 2, "BYE")]
        elapsed = asyncio.get_running_loop().time() - start
        # throttled: at most one update per interval, each a stream per source at most
        assert 2 <= ladder.updates <= elapsed / 0.05 + 1
        assert ladder.streams <= 2 * ladder.updates + 2 and ladder.rebuilds == 0
        ev = ladder.sources["events"].data
        assert ev["name"][-1] == "CHANNEL_STATE" and "CHANNEL_HANGUP_COMPLETE" in ev["name"]

        await pause(0.1)
        assert inspector.rows[0] is log.records[-1]
        inspector.set_filter(name="CHANNEL_ANSWER")
        assert {r.node for r in inspector.rows} == {"node1", "node2"}
        inspector.close()
        ladder.close()
    finally:
        for client in clients:
            await client.close()
