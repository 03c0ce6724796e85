"""Conformance of the embedded switch with the golden FreeSWITCH captures.

``test_scenario_conforms`` replays each capture's commands against a fresh embedded node
(:mod:`switchio_lab.testing.conformance`) and asserts the fidelity targets: every lane's
event names in order, at least 95 % of FreeSWITCH's header names, every reply text, and
every api body that does not depend on volatile state. A failure lists what differs:
it is the embedded switch's to-do list, not a flaky test.

The other tests prove the harness sound: each recording compared with itself scores
100 % everywhere (also when replayed over TCP by the harness itself, and when the live
side's channels have other UUIDs), and deliberate alterations are caught.
"""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import pytest
from fake_server import ReplayServer

from switchio_lab.esl import API_RESPONSE, COMMAND_REPLY, Frame
from switchio_lab.testing.conformance import (
    GLOBAL,
    SCENARIOS,
    TARGET_HEADER_PCT,
    Capture,
    Scenario,
    ScenarioReport,
    compare,
    replay,
    run_scenario,
)

INBOUND = [s for s in SCENARIOS if s not in ("myevents_linger", "outbound_socket")]


def _explain(report: ScenarioReport) -> str:
    return "\n".join(f"  - {d}" for d in report.divergences()) or "  (no divergences)"


def assert_perfect(report: ScenarioReport) -> None:
    """Everything matched: lanes, all header names, states, replies, every body."""
    assert report.lanes_ok, _explain(report)
    assert report.header_pct in (None, 100.0), _explain(report)
    assert report.state_matched == report.state_total, _explain(report)
    assert report.replies and report.replies_ok, _explain(report)
    assert all(item.ok for item in report.bodies), _explain(report)
    assert not report.missing and not report.extra
    assert not report.divergences(), _explain(report)


# -- the embedded switch against FreeSWITCH -------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIOS)
async def test_scenario_conforms(name: str, fixtures_dir: Path) -> None:
    report = await run_scenario(name, fixtures_dir)
    failed = []
    if not report.lanes_ok:
        bad = [lane.title for lane in report.lanes if not lane.ok]
        failed.append(f"event names out of order on {len(bad)} lane(s): {', '.join(bad)}")
    if not report.headers_ok:
        failed.append(f"header names {report.header_pct:.1f}% of FreeSWITCH's "
                      f"(target {TARGET_HEADER_PCT:.0f}%)")
    if not report.replies_ok:
        n, m = report.replies_matched
        failed.append(f"reply texts {n}/{m}")
    if not report.stable_bodies_ok:
        bad = [i for i in report.bodies if not i.ok and not i.volatile]
        failed.append(f"api bodies: {len(bad)} differ")
    assert not failed, f"{name}: " + "; ".join(failed) + "\n" + _explain(report)


# -- the comparator is sound ----------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_recording_matches_itself(name: str, fixtures_dir: Path) -> None:
    sc = Scenario.load(name, fixtures_dir)
    report = compare(sc, sc.recorded)
    assert_perfect(report)
    # every reply of the recording is compared, one per command, plus the notices
    assert len([i for i in report.replies if i.kind == "reply"]) + len(
        [i for i in report.bodies if i.kind == "api"]) == len(sc.sends)


@pytest.mark.parametrize("name", INBOUND)
async def test_harness_replay_of_a_recording_matches_it(name: str, fixtures_dir: Path) -> None:
    """The whole harness (pacing, UUID rewriting, capture) against a server that plays the
    recording back: the capture is the recording again and the commands are the recorded ones."""
    sc = Scenario.load(name, fixtures_dir)
    async with ReplayServer(sc.entries) as server:
        capture = await replay(sc, server.host, server.port)
    assert not capture.notes
    assert_perfect(compare(sc, capture))
    sent = [(c.line, c.headers, c.body) for c in server.commands]
    assert sent == [(s.command.line, s.command.headers, s.command.body) for s in sc.sends]
    assert capture.seconds < sc.duration + 2


def test_other_uuids_for_the_same_channels_still_match(fixtures_dir: Path) -> None:
    """Live channels have their own UUIDs: matched by order of appearance per direction."""
    sc = Scenario.load("call_bridge", fixtures_dir)
    rec = sc.channels
    entries = sc.entries
    for label in ("inbound#1", "outbound#2", "inbound#2"):  # not the client's origination_uuid
        old, new = rec.uuids[label].encode(), str(uuidlib.uuid4()).encode()
        entries = [(t, d, data.replace(old, new) if d == "recv" else data)
                   for t, d, data in entries]
    live = Scenario(sc.name, entries).recorded
    assert {f.event.get("Unique-ID") for _, f in live.frames if f.is_event} != {
        f.event.get("Unique-ID") for _, f in sc.recorded.frames if f.is_event}
    assert_perfect(compare(sc, live))


def test_volatile_values_are_normalised(fixtures_dir: Path) -> None:
    """Uptime, session counts and generated UUIDs change from run to run: not divergences."""
    sc = Scenario.load("commands", fixtures_dir)
    frames = []
    for t, f in sc.recorded.frames:
        if f.content_type == API_RESPONSE:
            body = f.body
            if body.startswith(b"UP 0 years"):  # status: other numbers, "1 second"
                body = body.replace(b"12 seconds", b"1 second").replace(b"16 session", b"3 session")
            elif body.strip().isdigit():  # uptime
                body = b"7\n"
            elif len(body) == 36:  # create_uuid
                body = str(uuidlib.uuid4()).encode()
            f = Frame(dict(f.headers), body)
        frames.append((t, f))
    assert_perfect(compare(sc, Capture(frames)))


# -- alterations are detected ---------------------------------------------------------------------
def _without_first(capture: Capture, pred) -> Capture:
    frames = list(capture.frames)
    i = next(i for i, (_, f) in enumerate(frames) if pred(f))
    del frames[i]
    return Capture(frames)


def test_a_dropped_event_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("call_basic", fixtures_dir)
    live = _without_first(sc.recorded, lambda f: f.is_event and f.event.name == "CHANNEL_PARK")
    report = compare(sc, live)
    assert not report.lanes_ok and not report.ok
    bad = [lane for lane in report.lanes if not lane.ok]
    assert [lane.label for lane in bad] == ["inbound#1"]
    assert bad[0].diff == ["missing CHANNEL_PARK after CHANNEL_EXECUTE (#8)"]
    assert any("missing CHANNEL_PARK" in d for d in report.divergences())


def test_a_dropped_channel_less_event_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("call_basic", fixtures_dir)
    live = _without_first(sc.recorded, lambda f: f.is_event and f.event.name == "BACKGROUND_JOB")
    report = compare(sc, live)
    bad = [lane for lane in report.lanes if not lane.ok]
    assert [lane.label for lane in bad] == [GLOBAL]
    assert "missing BACKGROUND_JOB:originate" in bad[0].diff[0]
    assert [i.live for i in report.bodies if i.kind == "BACKGROUND_JOB"] == ["<nothing>"]


def test_a_renamed_header_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("call_basic", fixtures_dir)
    frames = list(sc.recorded.frames)
    i = next(i for i, (_, f) in enumerate(frames)
             if f.is_event and f.event.name == "CHANNEL_ANSWER")
    t, f = frames[i]
    assert b"\nChannel-Call-State: " in f.body
    frames[i] = (t, Frame(dict(f.headers), f.body.replace(b"\nChannel-Call-State: ",
                                                          b"\nChannel-Call-Status: ")))
    report = compare(sc, Capture(frames))
    assert report.lanes_ok
    assert report.header_pct is not None and report.header_pct < 100.0
    assert report.missing == {"Channel-Call-State": 1}
    assert report.extra == {"Channel-Call-Status": 1}
    assert report.state_matched == report.state_total - 1
    assert report.first_missing == {"Channel-Call-State": "inbound#1 CHANNEL_ANSWER #10"}
    assert any("Channel-Call-State (x1, from inbound#1 CHANNEL_ANSWER #10)" in d
               for d in report.divergences())


def test_a_changed_reply_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("commands", fixtures_dir)
    frames = list(sc.recorded.frames)
    i = next(i for i, (_, f) in enumerate(frames)
             if f.content_type == COMMAND_REPLY and f.reply_text == "-ERR not loging")
    frames[i] = (frames[i][0], Frame({"Content-Type": COMMAND_REPLY,
                                      "Reply-Text": "-ERR not logging"}))
    report = compare(sc, Capture(frames))
    assert not report.replies_ok and not report.ok
    bad = [item for item in report.replies if not item.ok]
    assert [(b.command, b.recorded, b.live) for b in bad] == [
        ("nolog", "-ERR not loging", "-ERR not logging")]


def test_a_changed_api_body_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("commands", fixtures_dir)
    frames = list(sc.recorded.frames)
    i = next(i for i, (_, f) in enumerate(frames)
             if f.content_type == API_RESPONSE and f.body == b"-ERR No such channel!\n")
    frames[i] = (frames[i][0], Frame(dict(frames[i][1].headers), b"-ERR no such channel\n"))
    report = compare(sc, Capture(frames))
    assert not report.stable_bodies_ok
    bad = [item for item in report.bodies if not item.ok]
    assert len(bad) == 1 and bad[0].command.startswith("api uuid_kill")
    assert bad[0].diff() == ["--ERR No such channel!", "+-ERR no such channel"]


def test_a_missing_reply_is_detected(fixtures_dir: Path) -> None:
    sc = Scenario.load("before_auth", fixtures_dir)
    live = _without_first(sc.recorded, lambda f: f.content_type == API_RESPONSE)
    report = compare(sc, live)
    assert not report.ok
    # reply i answers command i: everything after the gap is out of step, and reported
    assert [(i.command, i.live) for i in report.bodies] == [("api status", "+OK bye")]
    assert [(i.command, i.live) for i in report.replies if not i.ok] == [("exit", "<nothing>")]


# -- replay plumbing ------------------------------------------------------------------------------
def test_commands_wait_for_channels_not_for_uuids_the_client_chose(fixtures_dir: Path) -> None:
    sc = Scenario.load("call_basic", fixtures_dir)
    rec = sc.channels
    by_name = {s.command.line.split()[1] if s.command.name == "api" else s.command.name: s
               for s in sc.sends}
    assert by_name["bgapi"].channel_uuids == ()  # origination_uuid, Job-UUID: the client's
    assert by_name["uuid_answer"].channel_uuids == (rec.uuids["inbound#1"],)
    assert by_name["uuid_kill"].channel_uuids == (rec.uuids["outbound#1"],)
    # the answer waited for the callee's CHANNEL_PARK
    assert by_name["uuid_answer"].events_before[("inbound#1", "CHANNEL_PARK")] == 1
    # a channel learned from another connection (myevents) is waited for too
    my = Scenario.load("myevents_linger", fixtures_dir)
    assert my.sends[1].channel_uuids == (my.channels.uuids["inbound#1"],)
    assert [s.kind for s in (sc, my, Scenario.load("outbound_socket", fixtures_dir))] == [
        "inbound", "myevents", "outbound"]


def test_each_recording_tells_how_its_freeswitch_was_set(fixtures_dir: Path) -> None:
    """verbose_events: on for the captures of 2026-11-26, off for those of 2026-12-02; the
    runner starts each scenario's node that way."""
    verbose = {name: Scenario.load(name, fixtures_dir).verbose_events for name in SCENARIOS}
    assert verbose == {
        "commands": None, "auth_rejected": None, "before_auth": None,  # no channel events
        **{name: True for name in ("call_basic", "call_json", "call_xml", "call_media",
                                   "call_bridge", "call_failures", "call_xheaders",
                                   "myevents_linger", "outbound_socket")},
        **{name: False for name in ("call_bridge_xheaders", "call_internal_profile",
                                    "call_playrec")},
    }
