"""The codec against golden captures of a real FreeSWITCH (``NAME.esl`` / ``NAME.jsonl``)."""

from __future__ import annotations

from collections import Counter

import pytest

from switchio_lab.esl import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_JSON,
    EVENT_PLAIN,
    EVENT_XML,
    LOG_DATA,
    Event,
    Frame,
    Parser,
    url_decode,
    url_encode,
)
from switchio_lab.esl.replies import GOODBYE

LOAD = "load_200calls_20cps.esl.gz"
MEDIA_LOAD = "call_media_load.esl.gz"

#: Frames per content type in each capture (measured, and checked against the README).
COUNTS: dict[str, dict[str, int]] = {
    "commands.esl": {API_RESPONSE: 32, COMMAND_REPLY: 30, EVENT_PLAIN: 4, AUTH_REQUEST: 1,
                     DISCONNECT_NOTICE: 1},
    "call_basic.esl": {EVENT_PLAIN: 48, COMMAND_REPLY: 4, API_RESPONSE: 2, AUTH_REQUEST: 1,
                       DISCONNECT_NOTICE: 1},
    "call_json.esl": {EVENT_JSON: 48, COMMAND_REPLY: 4, API_RESPONSE: 2, AUTH_REQUEST: 1,
                      DISCONNECT_NOTICE: 1},
    "call_xml.esl": {EVENT_XML: 48, COMMAND_REPLY: 4, API_RESPONSE: 2, AUTH_REQUEST: 1,
                     DISCONNECT_NOTICE: 1},
    "call_media.esl": {LOG_DATA: 109, EVENT_PLAIN: 80, COMMAND_REPLY: 10, API_RESPONSE: 9,
                       AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
    "myevents_linger.esl": {EVENT_PLAIN: 7, COMMAND_REPLY: 4, DISCONNECT_NOTICE: 2,
                            AUTH_REQUEST: 1},
    "outbound_socket.esl": {EVENT_PLAIN: 11, COMMAND_REPLY: 7, API_RESPONSE: 1,
                            DISCONNECT_NOTICE: 1},
    "auth_rejected.esl": {AUTH_REQUEST: 1, COMMAND_REPLY: 1, DISCONNECT_NOTICE: 1},
    "before_auth.esl": {AUTH_REQUEST: 1, COMMAND_REPLY: 4, API_RESPONSE: 1, DISCONNECT_NOTICE: 1},
    "call_bridge.esl": {EVENT_PLAIN: 96, COMMAND_REPLY: 5, API_RESPONSE: 3, AUTH_REQUEST: 1,
                        DISCONNECT_NOTICE: 1},
    "call_failures.esl": {EVENT_PLAIN: 124, COMMAND_REPLY: 9, API_RESPONSE: 1, AUTH_REQUEST: 1,
                          DISCONNECT_NOTICE: 1},
    "call_xheaders.esl": {EVENT_PLAIN: 48, COMMAND_REPLY: 4, API_RESPONSE: 2, AUTH_REQUEST: 1,
                          DISCONNECT_NOTICE: 1},
    LOAD: {EVENT_PLAIN: 10001, COMMAND_REPLY: 603, API_RESPONSE: 1, AUTH_REQUEST: 1,
           DISCONNECT_NOTICE: 1},
    # the captures of 2026-12-02 (verbose_events off)
    "call_answer_race.esl": {EVENT_PLAIN: 1046, COMMAND_REPLY: 43, API_RESPONSE: 40,
                             AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
    "call_bridge_xheaders.esl": {EVENT_PLAIN: 95, COMMAND_REPLY: 5, API_RESPONSE: 2,
                                 AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
    "call_internal_profile.esl": {EVENT_PLAIN: 48, COMMAND_REPLY: 4, API_RESPONSE: 2,
                                  AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
    MEDIA_LOAD: {EVENT_PLAIN: 2320, COMMAND_REPLY: 203, AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
    "call_playrec.esl": {EVENT_PLAIN: 63, COMMAND_REPLY: 7, API_RESPONSE: 2, AUTH_REQUEST: 1,
                         DISCONNECT_NOTICE: 1},
    "show_channels_lag.esl": {API_RESPONSE: 144, EVENT_PLAIN: 40, COMMAND_REPLY: 8,
                              AUTH_REQUEST: 1, DISCONNECT_NOTICE: 1},
}
TOTALS = {
    "commands.esl": 68, "call_basic.esl": 56, "call_json.esl": 56, "call_xml.esl": 56,
    "call_media.esl": 210, "myevents_linger.esl": 14, "outbound_socket.esl": 20,
    "auth_rejected.esl": 3, "before_auth.esl": 7, "call_bridge.esl": 106,
    "call_failures.esl": 136, "call_xheaders.esl": 56, LOAD: 10607,
    "call_answer_race.esl": 1131, "call_bridge_xheaders.esl": 104,
    "call_internal_profile.esl": 56, MEDIA_LOAD: 2525, "call_playrec.esl": 74,
    "show_channels_lag.esl": 194,
}
SCENARIOS = sorted(name.removesuffix(".esl") for name in COUNTS if name.endswith(".esl"))

_parsed: dict[str, list[Frame]] = {}


@pytest.fixture(scope="module")
def frames(fixture_bytes):
    """``frames("call_basic.esl")``: the capture parsed in one feed (cached per module)."""

    def parse(name: str) -> list[Frame]:
        if name not in _parsed:
            _parsed[name] = Parser().feed(fixture_bytes(name))
        return _parsed[name]

    return parse


def events(frame_list: list[Frame]) -> list[Event]:
    return [f.event for f in frame_list if f.is_event]


def sends(transcript, name: str) -> list[bytes]:
    return [data for _, d, data in transcript(name) if d == "send"]


# --- whole captures ----------------------------------------------------------------------


def test_every_capture_is_covered(fixtures_dir):
    """A new capture must be added to COUNTS (and so to every test here)."""
    on_disk = {p.name for p in fixtures_dir.iterdir() if p.name.endswith((".esl", ".esl.gz"))}
    assert on_disk == set(COUNTS)
    for name in SCENARIOS:
        assert (fixtures_dir / f"{name}.jsonl").is_file()


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_capture_parses_completely(name, fixture_bytes):
    data = fixture_bytes(name)
    parser = Parser()
    out = parser.feed(data)
    assert parser.buffered == 0
    parser.feed_eof()  # must not raise: the capture ends on a frame boundary
    assert len(out) == TOTALS[name]
    assert Counter(f.content_type for f in out) == COUNTS[name]
    # frames tile the stream: each body ends where the next frame starts
    assert out[0].position == 0
    ends = [f.position for f in out[1:]] + [len(data)]
    for frame, end in zip(out, ends, strict=True):
        assert frame.position < end
        assert data[end - len(frame.body) : end] == frame.body
        assert data.startswith(b"Content-", frame.position) or frame is out[0]
        if "Content-Length" in frame.headers:
            assert int(frame.headers["Content-Length"]) == len(frame.body)


@pytest.mark.parametrize("name", SCENARIOS)
def test_transcript_recv_side_is_the_capture(name, fixture_bytes, transcript):
    """The jsonl's recv chunks are the .esl bytes, and the real chunking parses the same."""
    chunks = [data for _, d, data in transcript(name) if d == "recv"]
    assert b"".join(chunks) == fixture_bytes(f"{name}.esl")
    parser = Parser()
    got = [f for chunk in chunks for f in parser.feed(chunk)]
    assert parser.buffered == 0
    want = Parser().feed(fixture_bytes(f"{name}.esl"))
    assert [(f.position, f.headers, f.body) for f in got] == [
        (f.position, f.headers, f.body) for f in want
    ]


# --- commands: reply texts and api bodies ------------------------------------------------

COMMAND_REPLIES = [
    "+OK accepted",
    "+OK event listener enabled plain",
    "+OK event listener enabled json",
    "+OK event listener enabled xml",
    "-ERR no keywords supplied",
    "+OK events nixed",
    "+OK no longer listening for events",
    "-ERR not listening for events",
    "+OK filter added. [Unique-ID]=[4ab8b3ea-0000-4000-8000-000000000000]",
    "+OK filter deleted. [Unique-ID][4ab8b3ea-0000-4000-8000-000000000000]",
    "-ERR command not found",  # bare "filter"
    "-ERR command not found",  # "myevents" with no uuid on an inbound connection
    "-ERR not controlling a session",  # linger
    "-ERR not controlling a session",  # linger 5
    "-ERR not controlling a session",  # nolinger
    "-ERR not controlling a session.",  # divert_events on (sic, with a full stop)
    "-ERR not loging",  # nolog before any log (sic)
    "-ERR command not found",  # bare "api"
    "-ERR invalid session id [00000000-0000-0000-0000-000000000000]",
    "+OK 0d0c5320-8dc9-42b0-bdaf-aaa2e4f92c3c",  # sendevent CUSTOM
    "-ERR command not found",  # bogus_esl_command
    "+OK event listener enabled plain",
    "+OK Job-UUID: 7b24e9ac-4d46-44cb-ac17-47f398514a81",
    "+OK Job-UUID: 7b2e0d1c-0000-4000-8000-000000000001",  # client-chosen Job-UUID
    "+OK Job-UUID: ea214b0c-a2c5-476d-b7d9-c59945acf5c2",
    "+OK Job-UUID: 49a1164a-abb6-452a-bb7e-55bf6d8379c5",
    "+OK log level 7 [7]",
    "+OK no longer logging",
    "-ERR not loging",
    "+OK bye",
]


def test_commands_reply_texts(frames):
    replies = [f for f in frames("commands.esl") if f.content_type == COMMAND_REPLY]
    assert [f.reply_text for f in replies] == COMMAND_REPLIES
    for f in replies:
        assert f.ok == f.reply_text.startswith("+OK")
        if f.reply_text.startswith("+OK Job-UUID: "):
            assert f.headers["Job-UUID"] == f.reply_text.removeprefix("+OK Job-UUID: ")
            assert list(f.headers) == ["Content-Type", "Reply-Text", "Job-UUID"]
        else:
            assert list(f.headers) == ["Content-Type", "Reply-Text"]


def test_commands_api_bodies(frames, transcript):
    api_sends = [s for s in sends(transcript, "commands") if s.startswith(b"api ")]
    responses = [f for f in frames("commands.esl") if f.content_type == API_RESPONSE]
    assert len(api_sends) == len(responses) == 32
    body = {s[4:-2].decode(): f.body for s, f in zip(api_sends, responses, strict=True)}
    assert body["hostname"] == b"vm"  # no newline
    assert body["eval ${hostname}"] == b"vm"
    assert body["echo hello world"] == b"hello world"
    assert body["uptime"] == b"253\n"
    assert body["show channels"] == b"\n0 total.\n"  # starts with a blank line
    assert body["show calls as json"] == b'{"row_count": 0}\n'
    assert body["uuid_exists 00000000-0000-0000-0000-000000000000"] == b"false"
    assert body["uuid_kill 00000000-0000-0000-0000-000000000000"] == b"-ERR No such channel!\n"
    assert body["uuid_answer 00000000-0000-0000-0000-000000000000"] == b"-ERROR\n"
    assert body["bogus_command_xyz arg"] == b"-ERR bogus_command_xyz Command not found!\n"
    assert body["originate error/USER_BUSY &park()"] == b"-ERR USER_BUSY\n"
    assert body["originate"].startswith(b"-USAGE: <call url> <exten>|&<application_name>")
    assert body["reloadxml"] == b"+OK [Success]\n"
    assert len(body["create_uuid"]) == 36
    assert body["status"].startswith(b"UP 0 years, 0 days, 0 hours, 4 minutes, 12 seconds")
    assert body["status"].count(b"\n") == 8
    assert b"\tprofile\t" in body["sofia status"]
    assert body["sofia status profile external"].startswith(b"=" * 97 + b"\nName")
    for cmd, data in body.items():  # ok: not -ERR / -USAGE
        assert next(f for f in responses if f.body is data).ok == (
            not data.startswith((b"-ERR", b"-USAGE"))
        ), cmd


def test_commands_background_jobs(frames):
    out = frames("commands.esl")
    jobs = [(i, f.event) for i, f in enumerate(out) if f.is_event]
    assert [ev.name for _, ev in jobs] == ["BACKGROUND_JOB"] * 4
    for i, ev in jobs:  # each job follows its bgapi reply, and carries its Job-UUID
        reply = out[i - 1]
        assert reply.content_type == COMMAND_REPLY
        assert ev.job_uuid == reply.headers["Job-UUID"]
    by_uuid = {ev.job_uuid: ev for _, ev in jobs}
    mine = by_uuid["7b2e0d1c-0000-4000-8000-000000000001"]
    assert mine["Job-Command"] == "status"
    assert "Job-Command-Arg" not in mine
    assert mine.body.startswith("UP 0 years") and mine.body.endswith("240K/8192K\n")
    failed = by_uuid["ea214b0c-a2c5-476d-b7d9-c59945acf5c2"]
    assert failed["Job-Command"] == "originate"
    assert failed["Job-Command-Arg"] == "error/NO_ROUTE_DESTINATION &park()"
    assert failed.body == "-ERR NO_ROUTE_DESTINATION\n"
    bogus = by_uuid["49a1164a-abb6-452a-bb7e-55bf6d8379c5"]
    assert bogus["Job-Command"] == "bogus_command_xyz"
    assert bogus.body == "-ERR bogus_command_xyz Command not found!\n"


def test_commands_final_disconnect_notice(frames):
    notice = frames("commands.esl")[-1]
    assert notice.content_type == DISCONNECT_NOTICE
    assert notice.headers == {"Content-Type": DISCONNECT_NOTICE, "Content-Length": "67"}
    assert notice.body == GOODBYE.encode() and len(notice.body) == 67


def test_auth_rejected_and_before_auth(frames):
    rejected = frames("auth_rejected.esl")
    assert [f.content_type for f in rejected] == [AUTH_REQUEST, COMMAND_REPLY, DISCONNECT_NOTICE]
    assert rejected[1].reply_text == "-ERR invalid" and not rejected[1].ok
    assert rejected[2].body == GOODBYE.encode()
    before = frames("before_auth.esl")
    assert [f.reply_text for f in before if f.content_type == COMMAND_REPLY] == [
        "-ERR command not found", "-ERR command not found", "+OK accepted", "+OK bye"]
    assert before[4].content_type == API_RESPONSE and before[4].body.startswith(b"UP ")


# --- one call in plain, JSON and XML ------------------------------------------------------

CALL_EVENTS = [
    "CHANNEL_OUTGOING", "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_STATE",
    "CHANNEL_STATE", "CHANNEL_STATE", "CODEC", "CODEC", "CHANNEL_STATE", "CHANNEL_CREATE",
    "CHANNEL_CALLSTATE", "CHANNEL_STATE", "CHANNEL_STATE", "CHANNEL_EXECUTE", "CHANNEL_PARK",
    "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "API", "CODEC", "CODEC", "CHANNEL_ANSWER",
    "CHANNEL_CALLSTATE", "CALL_UPDATE", "API", "BACKGROUND_JOB", "CHANNEL_STATE",
    "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_HANGUP", "API", "CHANNEL_UNPARK",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_HANGUP",
    "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_STATE",
]
CALL_FORMATS = {"call_basic": "plain", "call_json": "json", "call_xml": "xml"}


@pytest.mark.parametrize("name", sorted(CALL_FORMATS))
def test_call_event_names(name, frames):
    evs = events(frames(f"{name}.esl"))
    assert {ev.format for ev in evs} == {CALL_FORMATS[name]}
    assert [ev.name for ev in evs] == CALL_EVENTS


def test_call_formats_carry_the_same_header_names(frames):
    """Per position, the plain, JSON and XML encodings of the call have the same header names."""
    plain, js, xml = (events(frames(f"{n}.esl")) for n in ("call_basic", "call_json", "call_xml"))
    for p, j, x in zip(plain, js, xml, strict=True):
        assert p.name == j.name == x.name
        assert set(j) == set(x), j.name
        assert set(p) == set(j), p.name
        # values that do not depend on the call are equal in all three
        for key in ("Event-Name", "FreeSWITCH-IPv6", "Call-Direction", "Channel-Read-Codec-Name",
                    "Answer-State", "variable_DP_MATCH", "variable_switchio_app"):
            assert p.get(key) == j.get(key) == x.get(key), (p.name, key)


@pytest.mark.parametrize("name", sorted(CALL_FORMATS))
def test_call_background_job(name, frames, transcript):
    bgapi = next(s for s in sends(transcript, name) if s.startswith(b"bgapi "))
    line, job_header = bgapi[:-2].decode().split("\n")
    args = line.removeprefix("bgapi originate ")
    origination_uuid = args.split("origination_uuid=")[1].split(",")[0]
    (job,) = [ev for ev in events(frames(f"{name}.esl")) if ev.name == "BACKGROUND_JOB"]
    assert job.body == f"+OK {origination_uuid}\n"
    assert job["Content-Length"] == "41"
    assert job.job_uuid == job_header.removeprefix("Job-UUID: ")
    assert job["Job-Command"] == "originate"
    assert job["Job-Command-Arg"] == args
    assert args.startswith("{origination_uuid=") and args.endswith(
        ",switchio_app=default}sofia/external/doggy@127.0.0.1:5080 &park()")


def test_call_failures_background_jobs(frames, transcript):
    results = {ev.job_uuid: ev.body for ev in events(frames("call_failures.esl"))
               if ev.name == "BACKGROUND_JOB"}
    job_uuids = [s.split(b"Job-UUID: ")[1][:36].decode()
                 for s in sends(transcript, "call_failures") if s.startswith(b"bgapi ")]
    assert [results[u] for u in job_uuids] == [
        "-ERR USER_BUSY\n", "-ERR NO_ANSWER\n", "-ERR USER_NOT_REGISTERED\n",
        "-ERR NORMAL_TEMPORARY_FAILURE\n", "-ERR ORIGINATOR_CANCEL\n"]
    causes = Counter(ev["Hangup-Cause"] for ev in events(frames("call_failures.esl"))
                     if ev.name == "CHANNEL_HANGUP_COMPLETE")
    assert causes == {"USER_BUSY": 2, "NO_ANSWER": 1, "ORIGINATOR_CANCEL": 3,
                      "NORMAL_TEMPORARY_FAILURE": 1}


def test_call_bridge_legs(frames):
    evs = events(frames("call_bridge.esl"))
    bridges = [ev for ev in evs if ev.name == "CHANNEL_BRIDGE"]
    assert bridges and all(ev["Other-Leg-Unique-ID"] != ev.uuid for ev in bridges)
    hangups = [ev for ev in evs if ev.name == "CHANNEL_HANGUP_COMPLETE"]
    assert len({ev.uuid for ev in hangups}) == 4  # four channels


# --- outbound socket, myevents and linger --------------------------------------------------


def test_outbound_connect_reply(frames, fixture_bytes):
    out = frames("outbound_socket.esl")
    connect = out[0]
    assert connect.content_type == COMMAND_REPLY
    assert connect.headers["Reply-Text"] == "%2BOK%0A"  # outer values stay as sent
    assert connect.reply_text == "+OK" and connect.ok
    assert connect.event is None
    assert connect.headers["Socket-Mode"] == "async" and connect.headers["Control"] == "full"
    data = connect.channel_data()
    assert data.name == "CHANNEL_DATA"
    assert data["Channel-Unique-ID"] == "5b9fb40a-6fcf-42fb-858e-2a2613590510"
    assert data["variable_sip_from_user"] == "0000000000"
    assert data["Channel-Name"] == "sofia/external/0000000000@127.0.0.1"  # %40 decoded
    assert data["variable_DP_MATCH"] == "ARRAY::outbound|:outbound"
    assert data["variable_current_application_data"] == "127.0.0.1:8084 async full"
    assert len(connect.headers) == 168
    assert fixture_bytes("outbound_socket.esl").startswith(b"Event-Name: CHANNEL_DATA\n")


def test_outbound_session(frames, transcript):
    out = frames("outbound_socket.esl")
    assert [f.reply_text for f in out if f.content_type == COMMAND_REPLY][1:] == [
        "+OK Events Enabled", "+OK will linger", "0000000000", "+OK", "+OK", "+OK"]
    assert {ev.uuid for ev in events(out)} == {"5b9fb40a-6fcf-42fb-858e-2a2613590510"}
    assert [ev.name for ev in events(out)][-1] == "CHANNEL_HANGUP_COMPLETE"
    notice = out[-1]
    assert notice.content_type == DISCONNECT_NOTICE
    assert notice.headers["Content-Disposition"] == "linger"
    assert notice.headers["Linger-Time"] == "-1"  # "linger" with no time
    assert notice.body == b""
    assert sends(transcript, "outbound_socket")[0] == b"connect\n\n"


def test_myevents_linger(frames, transcript):
    out = frames("myevents_linger.esl")
    uuid = sends(transcript, "myevents_linger")[1].split()[1].decode()
    assert [f.reply_text for f in out if f.content_type == COMMAND_REPLY] == [
        "+OK accepted", "+OK Events Enabled", "-ERR aready enabled.", "+OK will linger 3 seconds"]
    assert {ev.uuid for ev in events(out)} == {uuid}  # only that channel's events
    linger, final = out[-2:]
    assert linger.headers == {
        "Content-Type": DISCONNECT_NOTICE, "Controlled-Session-UUID": uuid,
        "Content-Disposition": "linger", "Channel-Name": "sofia/external/0000000000@127.0.0.1",
        "Linger-Time": "3", "Content-Length": "0"}
    assert linger.body == b""
    assert final.headers == {
        "Content-Type": DISCONNECT_NOTICE, "Controlled-Session-UUID": uuid,
        "Content-Disposition": "disconnect", "Content-Length": "67"}
    assert final.body == GOODBYE.encode()


# --- call_media: log/data and uuid_dump ------------------------------------------------------

LOG_HEADERS = ["Content-Type", "Content-Length", "Log-Level", "Text-Channel", "Log-File",
               "Log-Func", "Log-Line", "User-Data"]


def test_log_data_frames(frames):
    logs = [f for f in frames("call_media.esl") if f.content_type == LOG_DATA]
    assert len(logs) == 109
    assert all(list(f.headers) == LOG_HEADERS for f in logs)
    assert Counter(f.headers["Log-Level"] for f in logs) == {"7": 102, "6": 7}
    assert all(f.body.endswith(b"\n") for f in logs)
    assert {f.headers["User-Data"] for f in logs} == {
        "b0e1ca18-85be-4625-8c07-91119135e337", "3df3a302-3acd-40ac-bfa3-7cf9284a0abd"}
    first = logs[0]
    assert first.headers["Log-File"] == "switch_ivr_async.c"
    assert first.headers["Log-Func"] == "record_callback"
    assert first.headers["Log-Line"] == "1505"
    assert first.headers["Text-Channel"] == "3"
    assert first.text == ("2026-11-26 09:20:46.004324 72.40% [DEBUG] switch_ivr_async.c:1505 "
                          "Record session sample rate: 8000 -> 8000\n")
    info = next(f for f in logs if f.headers["Log-Level"] == "6")
    assert info.text == ("EXECUTE [depth=1] sofia/external/0000000000@127.0.0.1 "
                         "playback(tone_stream://%(300,100,1004);loops=3)\n")


def test_uuid_dump_body_verbatim(frames, fixture_bytes, transcript):
    out = frames("call_media.esl")
    api_sends = [s for s in sends(transcript, "call_media") if s.startswith(b"api ")]
    responses = [f for f in out if f.content_type == API_RESPONSE]
    assert len(api_sends) == len(responses)
    i = next(i for i, s in enumerate(api_sends) if s.startswith(b"api uuid_dump "))
    dump = responses[i]
    assert dump.headers == {"Content-Type": API_RESPONSE, "Content-Length": "6425"}
    data = fixture_bytes("call_media.esl")
    end = out[out.index(dump) + 1].position
    assert dump.body == data[end - 6425 : end]
    assert dump.body.startswith(b"Event-Name: CHANNEL_DATA\nCore-UUID: ")
    assert dump.body.endswith(b"\nvariable_lab_var: hello\n\n")
    assert dump.body.count(b"\n") == 149
    assert dump.ok
    # the body is the channel's data as a plain event; decoding it is the caller's choice
    channel = Event(dump.body)
    assert channel["Unique-ID"] == "3df3a302-3acd-40ac-bfa3-7cf9284a0abd"
    assert channel["variable_lab_var"] == "hello"
    # the other api bodies of the scenario
    body = {s[4:-2].decode().split()[0]: f.body
            for s, f in zip(api_sends, responses, strict=True)}
    assert body["uuid_getvar"] == b"hello"
    assert body["uuid_setvar"] == b"+OK\n"
    assert body["uuid_broadcast"] == b"+OK Message sent\n"


# --- X-headers: how each leg of a call carries them -----------------------------------------


def test_call_xheaders_legs(frames):
    evs = [ev for ev in events(frames("call_xheaders.esl")) if ev.uuid]
    caller = [ev for ev in evs if ev["Call-Direction"] == "outbound"]
    callee = [ev for ev in evs if ev["Call-Direction"] == "inbound"]
    assert {ev.uuid for ev in caller} == {"1db9708a-e8b0-40f6-80c9-70247425f188"}
    assert len({ev.uuid for ev in callee}) == 1
    assert len(caller) + len(callee) == len(evs)
    # the first event of each leg comes before the tags are set on the channel
    tags = ("variable_switchio_app", "variable_sip_h_X-switchio_app", "variable_sip_h_X-Lab-Trace")
    assert (caller[0].name, callee[0].name) == ("CHANNEL_OUTGOING", "CHANNEL_STATE")
    assert not any(tag in caller[0] or tag in callee[0] for tag in tags)
    for ev in caller[1:]:
        assert ev["variable_switchio_app"] == "lab", ev.name
        assert ev["variable_sip_h_X-switchio_app"] == "lab"
        assert ev["variable_sip_h_X-Lab-Trace"] == "t-42"
    for ev in callee[1:]:
        assert "variable_switchio_app" not in ev, ev.name  # channel vars do not cross SIP
        assert ev["variable_sip_h_X-switchio_app"] == "lab"
        assert ev["variable_sip_h_X-Lab-Trace"] == "t-42"


# --- plain events: the exact bytes come back --------------------------------------------------


def _header_lines(raw: bytes) -> tuple[list[bytes], bytes]:
    """A plain event's header lines and the rest (from the Content-Length line or the end)."""
    i = raw.find(b"\nContent-Length: ")
    if i < 0:
        i = raw.index(b"\n\n")
    return raw[:i].split(b"\n"), raw[i:]


#: (event name, header) pairs FreeSWITCH writes twice in one plain event (first one wins).
KNOWN_DUPLICATES = {
    ("CODEC", "Channel-Write-Codec-Name"), ("CODEC", "Channel-Write-Codec-Rate"),
    ("CHANNEL_HANGUP_COMPLETE", "Hangup-Cause"),
    # PRIVATE_COMMAND from uuid_broadcast: the queued COMMAND event's core headers, then its own
    *(("COMMAND", h) for h in (
        "Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname",
        "FreeSWITCH-IPv4", "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT",
        "Event-Date-Timestamp", "Event-Calling-File", "Event-Calling-Function",
        "Event-Calling-Line-Number", "Event-Sequence")),
}


@pytest.mark.parametrize("name", sorted(n for n, c in COUNTS.items() if EVENT_PLAIN in c))
def test_plain_events_serialize_back_to_the_same_bytes(name, frames):
    """``Event(raw).serialize("plain") == raw``, except for repeated header names.

    FreeSWITCH sometimes writes a header twice (CODEC repeats Channel-Write-Codec-Name/Rate,
    CHANNEL_HANGUP_COMPLETE repeats Hangup-Cause, a PRIVATE_COMMAND carries the core headers
    of the COMMAND it wraps). Lookups see the first one, as FreeSWITCH's own
    ``switch_event_get_header`` does, so those events serialize without the later copies.
    """
    exact = dup_events = 0
    for frame in frames(name):
        if frame.content_type != EVENT_PLAIN:
            continue
        raw = frame.body
        ev = Event(raw)
        assert ev.raw is raw
        out = ev.serialize("plain")
        if out == raw:  # (a repeated header would be missing from out)
            exact += 1
            continue
        lines, rest = _header_lines(raw)
        seen: dict[str, bytes] = {}
        kept = []
        for line in lines:
            key, _, value = line.partition(b": ")
            if key.decode() in seen:
                assert (ev.name, key.decode()) in KNOWN_DUPLICATES
                continue
            seen[key.decode()] = value
            kept.append(line)
        assert len(kept) < len(lines), "a mismatch without a repeated header"
        dup_events += 1
        assert out == b"\n".join(kept) + rest
        for key, value in seen.items():  # the first occurrence wins
            assert ev[key] == url_decode(value)
    assert exact > 0
    if name == LOAD:
        assert (exact, dup_events) == (9201, 800)


def test_url_encoding_matches_freeswitch(frames):
    """``url_encode(url_decode(v)) == v`` for every raw value FreeSWITCH URL-encoded."""
    values: set[bytes] = set()
    for name in COUNTS:
        for frame in frames(name):
            if frame.content_type == EVENT_PLAIN:
                lines, _ = _header_lines(frame.body)
                values.update(line.partition(b": ")[2] for line in lines)
    # the outbound connect reply's channel data is URL-encoded the same way
    values.update(v.encode() for v in frames("outbound_socket.esl")[0].headers.values())
    assert len(values) > 15000
    mismatched = {v for v in values if url_encode(url_decode(v)).encode("utf-8") != v}
    assert mismatched == set()
    # and every escape FreeSWITCH used is one url_encode produces
    escapes = {v[i : i + 3] for v in values for i in range(len(v)) if v[i : i + 1] == b"%"}
    assert escapes >= {b"%20", b"%3A", b"%40", b"%3D", b"%7B", b"%7D", b"%0A", b"%0D", b"%25",
                       b"%2B", b"%26", b"%3B", b"%7C", b"%22", b"%3C", b"%3E", b"%23"}
