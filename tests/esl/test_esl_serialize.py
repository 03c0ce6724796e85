"""Serializers: client commands, server replies and events, against FreeSWITCH's bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchio_lab.esl import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_PLAIN,
    FORMATS,
    LOG_DATA,
    RUDE_REJECTION,
    CommandParser,
    Event,
    Parser,
    commands,
    replies,
    url_decode,
    url_encode,
)
from switchio_lab.esl.commands import LONG_ARG

SCENARIOS = [
    "auth_rejected", "before_auth", "call_basic", "call_bridge", "call_failures", "call_json",
    "call_media", "call_xheaders", "call_xml", "commands", "myevents_linger", "outbound_socket",
]
NIL = "00000000-0000-0000-0000-000000000000"
A_LEG = "3df3a302-3acd-40ac-bfa3-7cf9284a0abd"  # call_media's callee
FILTER_UUID = "4ab8b3ea-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def sent(transcript) -> list[bytes]:
    """Everything the clients wrote in the captures (141 commands)."""
    return [data for name in SCENARIOS for _, d, data in transcript(name) if d == "send"]


def frame_bytes(data: bytes, frames: list, i: int) -> bytes:
    end = frames[i + 1].position if i + 1 < len(frames) else len(data)
    return data[frames[i].position : end]


# --- client commands ---------------------------------------------------------------------------

#: Serializer calls and the command FreeSWITCH's peers wrote in the captures.
CAPTURED = [
    (commands.auth("ClueCon"), b"auth ClueCon\n\n"),
    (commands.auth("wrong-password"), b"auth wrong-password\n\n"),
    (commands.event("ALL"), b"event plain ALL\n\n"),
    (commands.event("ALL", format="json"), b"event json ALL\n\n"),
    (commands.event("ALL", format="xml"), b"event xml ALL\n\n"),
    (commands.event("CHANNEL_CREATE", "CHANNEL_ANSWER"),
     b"event plain CHANNEL_CREATE CHANNEL_ANSWER\n\n"),
    (commands.event("CHANNEL_CREATE CHANNEL_ANSWER"),
     b"event plain CHANNEL_CREATE CHANNEL_ANSWER\n\n"),
    (commands.event("HEARTBEAT", format="json"), b"event json HEARTBEAT\n\n"),
    (commands.event("BACKGROUND_JOB", format="xml"), b"event xml BACKGROUND_JOB\n\n"),
    (commands.event("BACKGROUND_JOB"), b"event plain BACKGROUND_JOB\n\n"),
    (commands.event(), b"event plain\n\n"),
    (commands.nixevent("HEARTBEAT"), b"nixevent HEARTBEAT\n\n"),
    (commands.noevents(), b"noevents\n\n"),
    (commands.filter("Unique-ID", FILTER_UUID), b"filter Unique-ID %s\n\n" % FILTER_UUID.encode()),
    (commands.filter_delete("Unique-ID", FILTER_UUID),
     b"filter delete Unique-ID %s\n\n" % FILTER_UUID.encode()),
    (commands.command("filter"), b"filter\n\n"),
    (commands.myevents(), b"myevents\n\n"),
    (commands.myevents("0b4d2e87-92ec-41b3-bc5c-93a456c2da3d"),
     b"myevents 0b4d2e87-92ec-41b3-bc5c-93a456c2da3d\n\n"),
    (commands.linger(), b"linger\n\n"),
    (commands.linger(5), b"linger 5\n\n"),
    (commands.linger(3), b"linger 3\n\n"),
    (commands.nolinger(), b"nolinger\n\n"),
    (commands.divert_events(), b"divert_events on\n\n"),
    (commands.log(7), b"log 7\n\n"),
    (commands.nolog(), b"nolog\n\n"),
    (commands.exit(), b"exit\n\n"),
    (commands.connect(), b"connect\n\n"),
    (commands.getvar("sip_from_user"), b"getvar sip_from_user\n\n"),
    (commands.command("api"), b"api\n\n"),
    (commands.command("bogus_esl_command"), b"bogus_esl_command\n\n"),
    (commands.api("status"), b"api status\n\n"),
    (commands.api("uuid_kill", "9e4776b2-75c9-4a16-8ca0-bdadeb3e381f NORMAL_CLEARING"),
     b"api uuid_kill 9e4776b2-75c9-4a16-8ca0-bdadeb3e381f NORMAL_CLEARING\n\n"),
    (commands.api("eval", "${hostname}"), b"api eval ${hostname}\n\n"),
    (commands.bgapi("status"), b"bgapi status\n\n"),
    (commands.bgapi("status", job_uuid="7b2e0d1c-0000-4000-8000-000000000001"),
     b"bgapi status\nJob-UUID: 7b2e0d1c-0000-4000-8000-000000000001\n\n"),
    (commands.bgapi("originate", "error/USER_NOT_REGISTERED &park()",
                    job_uuid="22222222-0000-4000-8000-000000000003"),
     b"bgapi originate error/USER_NOT_REGISTERED &park()\n"
     b"Job-UUID: 22222222-0000-4000-8000-000000000003\n\n"),
    (commands.sendevent("CUSTOM", {"Event-Subclass": "switchio_lab::test", "X-Test": 1}),
     b"sendevent CUSTOM\nEvent-Subclass: switchio_lab::test\nX-Test: 1\n\n"),
    (commands.sendmsg(NIL, "execute", {"execute-app-name": "answer"}),
     b"sendmsg %s\ncall-command: execute\nexecute-app-name: answer\n\n" % NIL.encode()),
    (commands.execute("answer", uuid=NIL),
     b"sendmsg %s\ncall-command: execute\nexecute-app-name: answer\n\n" % NIL.encode()),
    (commands.execute("answer", uuid=A_LEG, event_lock=True),
     b"sendmsg %s\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n"
     % A_LEG.encode()),
    (commands.execute("playback", "tone_stream://%(300,100,1004);loops=3", A_LEG,
                      event_lock=True, event_uuid="11111111-0000-4000-8000-000000000001"),
     b"sendmsg %s\ncall-command: execute\nexecute-app-name: playback\n"
     b"execute-app-arg: tone_stream://%%(300,100,1004);loops=3\nevent-lock: true\n"
     b"Event-UUID: 11111111-0000-4000-8000-000000000001\n\n" % A_LEG.encode()),
    (commands.execute("send_dtmf", "9*", A_LEG),
     b"sendmsg %s\ncall-command: execute\nexecute-app-name: send_dtmf\nexecute-app-arg: 9*\n\n"
     % A_LEG.encode()),
    (commands.execute("bridge", "{switchio_app=default}sofia/external/target@127.0.0.1:5080",
                      "3073c114-ff73-4a93-813b-c9f85dfe508b"),
     b"sendmsg 3073c114-ff73-4a93-813b-c9f85dfe508b\ncall-command: execute\n"
     b"execute-app-name: bridge\n"
     b"execute-app-arg: {switchio_app=default}sofia/external/target@127.0.0.1:5080\n\n"),
    (commands.execute("respond", "486", "ec6b50e0-ce10-4710-a3db-2cdaafcda619"),
     b"sendmsg ec6b50e0-ce10-4710-a3db-2cdaafcda619\ncall-command: execute\n"
     b"execute-app-name: respond\nexecute-app-arg: 486\n\n"),
    (commands.execute("answer", event_lock=True),  # outbound: no uuid
     b"sendmsg\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n"),
    (commands.execute("playback", "tone_stream://%(200,0,1004)"),
     b"sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
     b"execute-app-arg: tone_stream://%(200,0,1004)\n\n"),
    (commands.hangup(), b"sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n"),
    (commands.hangup(A_LEG),
     b"sendmsg %s\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n" % A_LEG.encode()),
]


@pytest.mark.parametrize(("data", "expected"), CAPTURED,
                         ids=[e.split(b"\n")[0][:40].decode() for _, e in CAPTURED])
def test_commands_match_the_captures(data, expected, sent):
    assert expected in sent  # the expectation is a real capture ...
    assert data == expected  # ... and the serializer writes exactly that


def _rebuild(data: bytes) -> bytes | None:
    """The serializer call for a captured api/bgapi command, from its own text."""
    line, *headers = data[:-2].decode().split("\n")
    name, _, rest = line.partition(" ")
    cmd, _, args = rest.partition(" ")
    if name == "api" and cmd and not headers:
        return commands.api(cmd, args)
    if name == "bgapi" and cmd:
        job = dict(h.split(": ", 1) for h in headers).pop("Job-UUID", None)
        return commands.bgapi(cmd, args, job_uuid=job)
    return None


def test_every_captured_command_has_a_serializer(sent):
    """All 141 commands in the captures are reproduced byte for byte."""
    covered = {expected for _, expected in CAPTURED}
    for data in sent:
        if data not in covered:
            assert _rebuild(data) == data, data


# sendmsg/execute/sendevent bodies and headers without a capture --------------------------------

def test_execute_options_and_long_arguments():
    assert commands.execute("playback", "x.wav", "u", loops=3, async_=True) == (
        b"sendmsg u\ncall-command: execute\nexecute-app-name: playback\n"
        b"execute-app-arg: x.wav\nloops: 3\nasync: true\n\n")
    assert commands.execute("playback", "a" * LONG_ARG).count(b"execute-app-arg: ") == 1
    long_arg = "\u00e9" * (LONG_ARG // 2 + 1)  # fewer characters than LONG_ARG, more bytes
    data = commands.execute("playback", long_arg, "u", event_lock=True)
    assert data == (b"sendmsg u\ncall-command: execute\nexecute-app-name: playback\n"
                    b"event-lock: true\ncontent-type: text/plain\nContent-Length: %d\n\n"
                    % len(long_arg.encode()) + long_arg.encode())
    multi = commands.execute("set", "a=1\nb=2")
    assert multi.endswith(b"content-type: text/plain\nContent-Length: 7\n\na=1\nb=2")
    body = commands.sendevent("NOTIFY", {"profile": "internal"}, "line 1\nline 2\n")
    assert body == (b"sendevent NOTIFY\nprofile: internal\nContent-Length: 14\n\n"
                    b"line 1\nline 2\n")
    assert commands.sendmsg("u", "unicast", {"local-ip": "127.0.0.1"}) == (
        b"sendmsg u\ncall-command: unicast\nlocal-ip: 127.0.0.1\n\n")
    assert commands.filter_delete("all") == b"filter delete all\n\n"
    assert commands.myevents("u", "json") == b"myevents u json\n\n"
    assert commands.divert_events(False) == b"divert_events off\n\n"
    assert commands.resume() == b"resume\n\n"
    assert commands.log() == b"log\n\n" and commands.log("debug") == b"log debug\n\n"
    assert commands.hangup("u", "USER_BUSY").endswith(b"hangup-cause: USER_BUSY\n\n")


@pytest.mark.parametrize("call", [
    lambda: commands.api("status\n\nexit"),
    lambda: commands.api("echo", "a\rb"),
    lambda: commands.bgapi("status", "x\n"),
    lambda: commands.bgapi("status", job_uuid="j\nInjected: 1"),
    lambda: commands.auth("ClueCon\n\napi status"),
    lambda: commands.filter("Unique-ID", "x\ny"),
    lambda: commands.filter_delete("Unique-ID", "x\r\n"),
    lambda: commands.myevents("u\n"),
    lambda: commands.getvar("a\nb"),
    lambda: commands.log("7\n\nexit"),
    lambda: commands.command("api status\n"),
    lambda: commands.execute("answer\n"),
    lambda: commands.execute("playback", "x", "u\nv"),
    lambda: commands.execute("playback", "x", event_uuid="e\n"),
    lambda: commands.sendmsg("u", "hangup", {"hangup-cause": "A\nB"}),
    lambda: commands.sendmsg("u", "execute\nX: 1"),
    lambda: commands.sendevent("CUSTOM\n", {}),
    lambda: commands.sendevent("CUSTOM", {"X": "a\nb"}),
    lambda: commands.sendevent("CUSTOM", {"X\nY": "a"}),
    lambda: commands.event("ALL", format="yaml"),
])
def test_a_newline_in_a_one_line_argument_raises(call):
    with pytest.raises(ValueError):
        call()


#: (serialized command, line, headers, body) as CommandParser must read it back
ROUND_TRIP = [
    (commands.auth("ClueCon"), "auth ClueCon", {}, b""),
    (commands.api("show", "channels as json"), "api show channels as json", {}, b""),
    (commands.bgapi("status", job_uuid="j-1"), "bgapi status", {"Job-UUID": "j-1"}, b""),
    (commands.event("CUSTOM", "sofia::register", format="json"),
     "event json CUSTOM sofia::register", {}, b""),
    (commands.nixevent("HEARTBEAT", "RE_SCHEDULE"), "nixevent HEARTBEAT RE_SCHEDULE", {}, b""),
    (commands.noevents(), "noevents", {}, b""),
    (commands.filter("Event-Name", "CHANNEL_ANSWER"), "filter Event-Name CHANNEL_ANSWER", {}, b""),
    (commands.filter_delete("Event-Name"), "filter delete Event-Name", {}, b""),
    (commands.myevents("u", "plain"), "myevents u plain", {}, b""),
    (commands.divert_events(), "divert_events on", {}, b""),
    (commands.linger(10), "linger 10", {}, b""),
    (commands.nolinger(), "nolinger", {}, b""),
    (commands.log("7"), "log 7", {}, b""),
    (commands.nolog(), "nolog", {}, b""),
    (commands.exit(), "exit", {}, b""),
    (commands.connect(), "connect", {}, b""),
    (commands.getvar("uuid"), "getvar uuid", {}, b""),
    (commands.resume(), "resume", {}, b""),
    (commands.sendevent("CUSTOM", {"Event-Subclass": "a::b", "X": "\u00e9"}, "b\u00e9\n\nx"),
     "sendevent CUSTOM", {"Event-Subclass": "a::b", "X": "\u00e9", "Content-Length": "6"},
     "b\u00e9\n\nx".encode()),
    (commands.sendmsg("u", "nomedia", {"nomedia-uuid": "v"}), "sendmsg u",
     {"call-command": "nomedia", "nomedia-uuid": "v"}, b""),
    (commands.execute("playback", "y" * 3000, "u", event_lock=True, async_=True, loops=2,
                      event_uuid="e"), "sendmsg u",
     {"call-command": "execute", "execute-app-name": "playback", "loops": "2",
      "event-lock": "true", "async": "true", "Event-UUID": "e", "content-type": "text/plain",
      "Content-Length": "3000"}, b"y" * 3000),
    (commands.hangup("u", "CALL_REJECTED"), "sendmsg u",
     {"call-command": "hangup", "hangup-cause": "CALL_REJECTED"}, b""),
]


def test_command_parser_reads_serialized_commands_back():
    stream = b"".join(data for data, *_ in ROUND_TRIP)
    parser = CommandParser()
    got = parser.feed(stream)
    assert parser.buffered == 0
    assert [(c.line, c.headers, c.body) for c in got] == [tuple(r[1:]) for r in ROUND_TRIP]
    assert got[1].name == "api" and got[1].args == "show channels as json"
    assert got[5].name == "noevents" and got[5].args == ""
    positions = [0]
    for data, *_ in ROUND_TRIP[:-1]:
        positions.append(positions[-1] + len(data))
    assert [c.position for c in got] == positions


# --- server replies -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capture(fixture_bytes):
    """``capture("commands")`` -> (bytes, frames)."""
    cache: dict[str, tuple[bytes, list]] = {}

    def get(name: str):
        if name not in cache:
            data = fixture_bytes(f"{name}.esl")
            cache[name] = (data, Parser().feed(data))
        return cache[name]

    return get


def test_replies_match_the_captures(capture):
    data, frames = capture("commands")
    raw = [frame_bytes(data, frames, i) for i in range(len(frames))]
    assert replies.auth_request() == raw[0]
    assert replies.command_reply("+OK accepted") == raw[1]
    job = next(i for i, f in enumerate(frames) if "Job-UUID" in f.headers)
    uuid = frames[job].headers["Job-UUID"]
    assert replies.command_reply(f"+OK Job-UUID: {uuid}", {"Job-UUID": uuid}) == raw[job]
    assert replies.disconnect_notice() == raw[-1]
    assert len(replies.GOODBYE.encode()) == 67
    for i, frame in enumerate(frames):
        if frame.content_type == API_RESPONSE:
            assert replies.api_response(frame.text) == raw[i]
        elif frame.content_type == COMMAND_REPLY and len(frame.headers) == 2:
            assert replies.command_reply(frame.reply_text) == raw[i]


def test_notices_match_the_captures(capture):
    data, frames = capture("myevents_linger")
    uuid = frames[-1].headers["Controlled-Session-UUID"]
    channel = "sofia/external/0000000000@127.0.0.1"
    assert replies.linger_notice(uuid, channel, 3) == frame_bytes(data, frames, len(frames) - 2)
    assert replies.disconnect_notice(uuid) == frame_bytes(data, frames, len(frames) - 1)
    data, frames = capture("outbound_socket")
    uuid = frames[-1].headers["Controlled-Session-UUID"]
    assert replies.linger_notice(uuid, channel, -1) == frame_bytes(data, frames, len(frames) - 1)


def test_log_data_matches_the_capture(capture):
    data, frames = capture("call_media")
    logs = [i for i, f in enumerate(frames) if f.content_type == LOG_DATA]
    for i in logs:
        h = frames[i].headers
        out = replies.log_data(frames[i].text, int(h["Log-Level"]), int(h["Text-Channel"]),
                               h["Log-File"], h["Log-Func"], int(h["Log-Line"]), h["User-Data"])
        assert out == frame_bytes(data, frames, i)


def test_connect_reply_matches_the_capture(capture):
    data, frames = capture("outbound_socket")
    reply_headers = ("Content-Type", "Reply-Text", "Socket-Mode", "Control")
    channel = Event.from_headers(
        {k: v for k, v in frames[0].channel_data().items() if k not in reply_headers})
    assert replies.connect_reply(channel) == frame_bytes(data, frames, 0)
    (back,) = Parser().feed(replies.connect_reply(channel, "static", "single-channel"))
    assert back.reply_text == "+OK"
    assert back.headers["Socket-Mode"] == "static"
    assert back.headers["Control"] == "single-channel"
    assert back.channel_data()["Unique-ID"] == "5b9fb40a-6fcf-42fb-858e-2a2613590510"


def test_replies_parse_back():
    ev = Event.from_headers({"Event-Name": "HEARTBEAT", "Up-Time": "0 years"})
    stream = (replies.auth_request() + replies.command_reply("+OK accepted")
              + replies.command_reply("+OK Job-UUID: j", {"Job-UUID": "j"})
              + replies.api_response("Key: value\n\nmore\n") + replies.event(ev, "json")
              + replies.log_data("hi \u00e9\n", 7, user_data="u") + replies.rude_rejection()
              + replies.linger_notice("u", "sofia/x", 5) + replies.disconnect_notice("u"))
    parser = Parser()
    f = parser.feed(stream)
    assert parser.buffered == 0
    assert [x.content_type for x in f] == [
        AUTH_REQUEST, COMMAND_REPLY, COMMAND_REPLY, API_RESPONSE, "text/event-json", LOG_DATA,
        RUDE_REJECTION, DISCONNECT_NOTICE, DISCONNECT_NOTICE]
    assert f[1].reply_text == "+OK accepted" and f[1].ok
    assert f[2].headers["Job-UUID"] == "j"
    assert f[3].body == b"Key: value\n\nmore\n"
    assert f[4].event == ev
    assert f[5].text == "hi \u00e9\n" and f[5].headers["Log-Level"] == "7"
    assert f[6].text == replies.ACCESS_DENIED
    assert f[7].headers["Linger-Time"] == "5" and f[7].body == b""
    assert f[8].headers["Content-Disposition"] == "disconnect"
    assert f[8].text == replies.GOODBYE


# --- events -------------------------------------------------------------------------------------


def _has_repeated_headers(ev: Event) -> bool:
    """Whether FreeSWITCH wrote some header twice (the table keeps the first)."""
    if ev.format == "json":
        pairs = json.loads(ev.raw, object_pairs_hook=lambda p: p)
        return len(pairs) != len(dict(pairs))
    if ev.format == "xml":
        from xml.etree import ElementTree

        tags = [c.tag for c in ElementTree.fromstring(ev.raw).find("headers")]
        groups = [t for i, t in enumerate(tags) if i == 0 or tags[i - 1] != t]  # arrays
        return len(groups) != len(set(groups))
    lines = ev.raw.split(b"\n\n", 1)[0].split(b"\n")
    return len(lines) != len({line.partition(b": ")[0] for line in lines})


@pytest.mark.parametrize(("name", "fmt"), [("call_basic", "plain"), ("call_json", "json"),
                                           ("call_xml", "xml")])
def test_event_framing_matches_freeswitch(name, fmt, capture):
    """``to_frame`` writes FreeSWITCH's bytes: outer headers, JSON layout, XML layout."""
    data, frames = capture(name)
    exact = 0
    for i, frame in enumerate(frames):
        if not frame.is_event:
            continue
        ev = frame.event
        assert list(frame.headers) == ["Content-Length", "Content-Type"]
        if _has_repeated_headers(ev):
            again = Event(ev.serialize(fmt), fmt)
            assert again == ev
        else:
            exact += 1
            assert ev.to_frame(fmt) == frame_bytes(data, frames, i)
            assert replies.event(ev, fmt) == frame_bytes(data, frames, i)
        for other in FORMATS:  # any format carries the same event
            assert Event(ev.serialize(other), other) == ev, (ev.name, other)
    assert exact == 44  # 4 CODEC / HANGUP_COMPLETE events repeat a header


def test_repeated_headers_read_the_same_in_every_format(capture):
    """A header FreeSWITCH writes twice reads as its first value in plain, JSON and XML.

    The PRIVATE_COMMAND event of uuid_broadcast repeats the whole core header set (its first
    Event-Name is COMMAND); JSON has the key twice, XML the element twice (not adjacently,
    unlike an array header).
    """
    _, frames = capture("call_media")
    (raw,) = [f.body for f in frames if f.is_event and f.body.startswith(b"Event-Name: COMMAND\n")]
    assert b"\nEvent-Name: PRIVATE_COMMAND\n" in raw
    plain = Event(raw)
    lines = [line.split(b": ", 1) for line in raw.rstrip(b"\n").split(b"\n")]
    pairs = [(k.decode(), url_decode(v)) for k, v in lines]
    assert len(pairs) > len(plain) and plain.name == "COMMAND"
    members = ",".join(
        f"{json.dumps(k)}:{json.dumps(v[7:].split('|:') if v.startswith('ARRAY::') else v)}"
        for k, v in pairs)
    as_json = "{" + members + "}"
    xml_headers = "".join(
        f"<{k}>{url_encode(item)}</{k}>"
        for k, v in pairs for item in (v[7:].split("|:") if v.startswith("ARRAY::") else [v]))
    as_xml = f"<event><headers>{xml_headers}</headers></event>"
    for fmt, text in (("json", as_json), ("xml", as_xml)):
        ev = Event(text.encode(), fmt)
        assert ev == plain, fmt
        assert ev.name == "COMMAND" and ev["Event-Sequence"] == plain["Event-Sequence"]
        assert list(ev) == list(plain)


def test_json_repeated_keys_first_wins():
    ev = Event(b'{"Event-Name":"COMMAND","X":"a\\":b","Event-Name":"PRIVATE_COMMAND"}', "json")
    assert ev.name == "COMMAND" and ev["X"] == 'a":b' and list(ev) == ["Event-Name", "X"]
    assert Event(b'{"Event-Name": "A", "Event-Name": "B"}', "json").name == "A"
    assert Event(b'{"X":"\\":","Event-Name":"A"}', "json").headers == {
        "X": '":', "Event-Name": "A"}


EXAMPLE = {
    "Event-Name": "CUSTOM",
    "Event-Subclass": "switchio_lab::test",
    "Unique-ID": "9e4776b2-75c9-4a16-8ca0-bdadeb3e381f",
    "X-Spaces": "a b  c ",
    "X-Percent": "100% %41 %%",
    "X-Colon": "sip:alice@example.com: yes",
    "X-Newlines": "line 1\nline 2\r\nEvil-Header: no",
    "X-Unicode": "caf\u00e9 \u260e \U0001d11e \u4e2d\u6587",
    "X-Plus": "+1 (555) 123-4567 & <tag> \"q\" 'a' #;=?[]{}|\\^`~",
    "X-Empty": "",
    "X-Undef": "_undef_",
    "variable_DP_MATCH": "ARRAY::doggy|:doggy|:a b",
    "Event-Date-Timestamp": "1795684767104332",
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("body", ["", "+OK done\n", "Key: value\n\n\u00e9\r\nlast", "\n"])
def test_event_round_trip(fmt, body):
    ev = Event.from_headers(EXAMPLE, body)
    (frame,) = Parser().feed(ev.to_frame(fmt))
    back = frame.event
    assert back.format == fmt
    assert back == ev
    assert back.body == body
    assert {k: back[k] for k in EXAMPLE} == EXAMPLE
    assert "Evil-Header" not in back
    assert ("Content-Length" in back) == bool(body)
    assert back.serialize(fmt) == ev.serialize(fmt)
    if fmt == "plain":
        assert b"%0A" in frame.body and b"\nEvil" not in frame.body


def test_xml_layout():
    ev = Event.from_headers({"Event-Name": "BACKGROUND_JOB", "Job-Command-Arg": "a b&c",
                             "variable_DP_MATCH": "ARRAY::x|:y"}, "+OK <done> & \"ok\"\r\n")
    assert ev.serialize("xml").decode() == (
        "<event>\n"
        "  <headers>\n"
        "    <Event-Name>BACKGROUND_JOB</Event-Name>\n"
        "    <Job-Command-Arg>a%20b%26c</Job-Command-Arg>\n"
        "    <variable_DP_MATCH>x</variable_DP_MATCH>\n"
        "    <variable_DP_MATCH>y</variable_DP_MATCH>\n"
        "  </headers>\n"
        "  <Content-Length>19</Content-Length>\n"
        "  <body>+OK &lt;done&gt; &amp; \"ok\"&#xD;\n  </body>\n"
        "</event>\n")
    assert ev.serialize("json").decode() == (
        '{"Event-Name":"BACKGROUND_JOB","Job-Command-Arg":"a b&c",'
        '"variable_DP_MATCH":["x","y"],"Content-Length":"19",'
        '"_body":"+OK <done> & \\"ok\\"\\r\\n"}')
    assert ev.to_frame("plain").startswith(b"Content-Length: ")
    assert Event(ev.serialize("xml"), "xml") == ev == Event(ev.serialize("json"), "json")


_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True).filter(
    lambda n: n.lower() != "content-length")
_VALUE = st.text(max_size=40).filter(lambda v: not v.startswith("ARRAY::"))
_XML_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20)


@settings(max_examples=60, deadline=None)
@given(headers=st.dictionaries(_NAME, _VALUE, min_size=1, max_size=12),
       body=st.text(_XML_CHAR, max_size=60),
       fmt=st.sampled_from(FORMATS))
def test_event_round_trip_any_values(headers, body, fmt):
    """Any header values (URL-encoded where the format needs it) and any body come back."""
    ev = Event.from_headers(headers, body)
    (frame,) = Parser().feed(ev.to_frame(fmt))
    assert frame.event == ev
    assert frame.event.body == body


def test_plain_event_exact_bytes():
    ev = Event.from_headers({"Event-Name": "API", "API-Command": "show calls",
                             "X": "a:b=c/d,e(f)*~_.-"}, "hi\n")
    assert ev.to_plain() == (
        b"Content-Length: 89\nContent-Type: text/event-plain\n\n"
        b"Event-Name: API\nAPI-Command: show%20calls\nX: a%3Ab%3Dc/d,e(f)*~_.-\n"
        b"Content-Length: 3\n\nhi\n")
    assert Event.from_headers({"Event-Name": "API"}).to_plain() == (
        b"Content-Length: 17\nContent-Type: text/event-plain\n\nEvent-Name: API\n\n")
    assert Parser().feed(ev.to_plain())[0].content_type == EVENT_PLAIN
