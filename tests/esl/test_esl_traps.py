"""One regression test per trap of ``shared/notes/esl-protocol.md`` ("Traps other libraries
fell into"). Trap 10's client half (re-subscribing, waiters) is tested with the client."""

from __future__ import annotations

from switchio_lab.esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_PLAIN,
    CommandParser,
    Event,
    Parser,
    commands,
    replies,
)


def plain_frame(raw: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(raw) + raw


def api_frame(body: bytes) -> bytes:
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body


REPLY = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
UNICODE = "h\u00e9llo \u260e \U0001d11e \u4e2d\u6587"  # 2-, 3- and 4-byte UTF-8


def test_trap_01_content_length_counts_bytes():
    """1. Slicing a decoded string by Content-Length (bytes) → next frame corrupted by any
    non-ASCII byte."""
    body = (UNICODE + "\n").encode()
    assert len(body) > len(UNICODE) + 1
    job = Event.from_headers({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j-1"},
                             f"+OK {UNICODE}\n")
    stream = api_frame(body) + job.to_plain() + REPLY
    frames = Parser().feed(stream)
    assert [f.content_type for f in frames] == [API_RESPONSE, EVENT_PLAIN, COMMAND_REPLY]
    assert frames[0].body == body
    assert frames[0].text == UNICODE + "\n"
    assert frames[1].event.body == f"+OK {UNICODE}\n"  # nested Content-Length is bytes too
    assert frames[1].event["Job-UUID"] == "j-1"
    assert frames[2].reply_text == "+OK"
    assert frames[2].position == len(stream) - len(REPLY)


def test_trap_02_utf8_character_split_across_reads():
    """2. A UTF-8 character split across two reads → decode error."""
    ev = Event.from_headers({"Event-Name": "CUSTOM", "Caller-Caller-ID-Name": UNICODE},
                            UNICODE)
    json_ev = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(
        ev.serialize("json")) + ev.serialize("json")
    log = replies.log_data(UNICODE + "\n", 7, user_data=UNICODE)  # raw UTF-8 in a header
    stream = api_frame(UNICODE.encode()) + json_ev + log + ev.to_plain()
    expected = Parser().feed(stream)
    assert len(expected) == 4
    for cut in range(1, len(stream)):  # every split point, inside every character
        parser = Parser()
        got = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert [(f.headers, f.body) for f in got] == [(f.headers, f.body) for f in expected]
    frames = expected
    assert frames[0].text == UNICODE
    assert frames[1].event["Caller-Caller-ID-Name"] == UNICODE
    assert frames[1].event.body == UNICODE
    assert frames[2].headers["User-Data"] == UNICODE
    assert frames[3].event == ev


def test_trap_03_invalid_utf8_is_replaced_not_fatal():
    """3. Strict UTF-8 decode of values → the reader task dies on one bad byte."""
    raw = (b"Event-Name: CUSTOM\nCaller-Caller-ID-Name: Jos%E9\nX-Bytes: %FF%FEok\n"
           b"Content-Length: 5\n\nJos\xe9\n")
    json_body = (b'{"Event-Name":"CUSTOM","Caller-Caller-ID-Name":"Jos\xe9",'
                 b'"Content-Length":"5","_body":"Jos\xe9\\n"}')  # cJSON copies bytes as they are
    stream = (plain_frame(raw)
              + b"Content-Type: command/reply\nReply-Text: +OK caf\xe9\n\n"
              + api_frame(b"\xff\xfe bad bytes\n")
              + b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(json_body)
              + json_body
              + REPLY)
    frames = Parser().feed(stream)
    assert len(frames) == 5  # the parser kept going
    plain = frames[0].event
    assert plain["Caller-Caller-ID-Name"] == "Jos\ufffd"
    assert plain["X-Bytes"] == "\ufffd\ufffdok"
    assert plain.body == "Jos\ufffd\n"
    assert frames[1].reply_text == "+OK caf\ufffd"
    assert frames[2].body == b"\xff\xfe bad bytes\n"  # the raw bytes stay available
    assert frames[2].text == "\ufffd\ufffd bad bytes\n"
    js = frames[3].event
    assert js["Caller-Caller-ID-Name"] == "Jos\ufffd"
    assert js.body == "Jos\ufffd\n"  # nested Content-Length still counts the raw bytes
    assert js.headers == {k: v for k, v in plain.headers.items() if k != "X-Bytes"}
    assert frames[4].reply_text == "+OK"


def test_trap_04_encoded_newline_does_not_invent_headers():
    """4. URL-decoding before splitting lines → an encoded newline or `: ` invents headers."""
    raw = (b"Event-Name: CUSTOM\n"
           b"variable_sdp: v%3D0%0D%0AEvil-Header%3A%20injected%0AUnique-ID%3A%20fake\n"
           b"Unique-ID: real\n\n")
    for first in ("Evil-Header", "Unique-ID", "variable_sdp", None):
        ev = Event(raw)  # fresh: the lazy lookup and the full table must agree
        if first:
            ev.get(first)
        assert "Evil-Header" not in ev
        assert ev.get("Evil-Header") is None
        assert ev["Unique-ID"] == "real"
        assert ev["variable_sdp"] == "v=0\r\nEvil-Header: injected\nUnique-ID: fake"
        assert list(ev) == ["Event-Name", "variable_sdp", "Unique-ID"]
    assert Event(raw).serialize() == raw


def test_trap_05_nested_content_length(fixture_bytes):
    """5. Ignoring the nested Content-Length in BACKGROUND_JOB → result glued into a header;
    missing header → crash."""
    head = b"Event-Name: BACKGROUND_JOB\nJob-UUID: j-1\nJob-Command: uuid_dump\n"
    body = b"+OK done\nFake-Header: yes\nJob-UUID: not-this-one\n\n"
    raw = head + b"Content-Length: %d\n\n" % len(body) + body
    for first in ("Fake-Header", "Job-UUID", None):
        ev = Event(raw)
        if first:
            ev.get(first)
        assert ev.get("Fake-Header") is None  # only in the body
        assert "Fake-Header" not in ev.headers
        assert ev.job_uuid == "j-1"
        assert ev.body == body.decode()
    # the nested Content-Length bounds the body even if more bytes follow it
    assert Event(raw + b"trailing").body == body.decode()
    # a real uuid_dump as a bgapi result: its Event-Name/Unique-ID lines are not headers
    dump = Parser().feed(fixture_bytes("call_media.esl"))
    dump_body = next(f.body for f in dump if f.body.startswith(b"Event-Name: CHANNEL_DATA"))
    job = Event(head + b"Content-Length: %d\n\n" % len(dump_body) + dump_body)
    assert job.name == "BACKGROUND_JOB"
    assert job.uuid is None and job.get("variable_lab_var") is None
    assert job.body.encode() == dump_body
    # a missing nested Content-Length does not crash
    broken = Event(head + b"\n+OK but no Content-Length\n")
    assert broken.name == "BACKGROUND_JOB" and broken.job_uuid == "j-1"
    assert isinstance(broken.body, str)
    assert dict(broken)["Job-Command"] == "uuid_dump"
    frames = Parser().feed(plain_frame(head + b"\n+OK x\n") + REPLY)
    assert frames[0].event.job_uuid == "j-1" and frames[1].reply_text == "+OK"


def test_trap_06_api_response_body_is_never_parsed():
    """6. Parsing api/response bodies as headers → `uuid_dump` output lost."""
    body = (b"Event-Name: CHANNEL_DATA\nUnique-ID: abc\n\nContent-Type: text/event-plain\n"
            b"Content-Length: 999\n\n\nvariable_x: y\n\n")
    frames = Parser().feed(api_frame(body) + REPLY)
    assert len(frames) == 2
    assert frames[0].headers == {"Content-Type": API_RESPONSE, "Content-Length": str(len(body))}
    assert frames[0].body == body
    assert frames[0].event is None and not frames[0].is_event
    assert frames[1].reply_text == "+OK"


def test_trap_07_frames_after_a_disconnect_notice(fixture_bytes):
    """7. Dropping the rest of a read after a disconnect-notice."""
    data = fixture_bytes("myevents_linger.esl")
    all_frames = Parser().feed(data)
    linger = next(f for f in all_frames if f.content_type == DISCONNECT_NOTICE)
    ev = Event.from_headers({"Event-Name": "CHANNEL_DESTROY", "Unique-ID": "u"})
    stream = data[linger.position :] + ev.to_plain() + REPLY + replies.disconnect_notice()
    parser = Parser()
    frames = parser.feed(stream)  # one read
    assert [f.content_type for f in frames] == [
        DISCONNECT_NOTICE, DISCONNECT_NOTICE, EVENT_PLAIN, COMMAND_REPLY, DISCONNECT_NOTICE]
    assert frames[0].headers["Content-Disposition"] == "linger"
    assert frames[2].event.name == "CHANNEL_DESTROY"
    assert parser.buffered == 0


def test_trap_08_unknown_content_type_is_a_frame():
    """8. Treating unknown content types as fatal."""
    stream = (b"Content-Type: text/x-from-the-future\nContent-Length: 5\nX-New: 1\n\nhello"
              + b"X-No-Content-Type: at all\n\n"
              + replies.rude_rejection()
              + REPLY)
    frames = Parser().feed(stream)
    assert [f.content_type for f in frames] == [
        "text/x-from-the-future", "", "text/rude-rejection", COMMAND_REPLY]
    assert frames[0].body == b"hello" and frames[0].headers["X-New"] == "1"
    assert frames[0].event is None and not frames[0].is_event and not frames[0].ok
    assert frames[1].headers == {"X-No-Content-Type": "at all"}
    assert frames[2].text == "Access Denied, go away.\n"
    assert all(repr(f) for f in frames)


def test_trap_09_big_frames_in_small_reads_and_whole_commands():
    """9. `send` instead of `sendall` → long commands truncated; re-concatenating the buffer
    on each read → quadratic time on big events."""
    body = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # 8 MiB
    head = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body)
    stream = head + body + REPLY
    parser = Parser()
    chunk = 64 * 1024
    frames, fed = [], 0
    for i in range(0, len(stream), chunk):
        piece = stream[i : i + chunk]
        frames.extend(parser.feed(piece))
        fed += len(piece)
        if not frames:  # everything so far belongs to the big frame (headers included)
            assert parser.buffered == fed
        else:
            assert parser.buffered == fed - len(head) - len(body) - len(frames[1:]) * len(REPLY)
    assert parser.buffered == 0
    assert [f.content_type for f in frames] == [API_RESPONSE, COMMAND_REPLY]
    assert frames[0].body == body
    parser.feed_eof()
    # codec side of sendall: every serializer returns one whole frame, however long
    arg = "x" * (1024 * 1024)  # in a body
    line = "y" * (64 * 1024)  # on the command line
    for data in (commands.execute("playback", arg, "u-1"), commands.api("echo", line),
                 commands.sendevent("CUSTOM", {"Event-Subclass": "a::b"}, arg)):
        assert isinstance(data, bytes)
        cp = CommandParser()
        (cmd,) = cp.feed(data)
        assert cp.buffered == 0
        assert cmd.body == arg.encode() or cmd.line == f"api echo {line}"


def test_trap_10_bgapi_job_uuid_is_chosen_before_sending(transcript):
    """10. Re-connecting without re-subscribing events and filters; bgapi waiters registered
    after the reply.

    (Codec side: ``commands.bgapi(..., job_uuid=...)`` carries the Job-UUID, so the waiter can
    be registered before the command is written; FreeSWITCH echoes it in the reply and the
    BACKGROUND_JOB.)"""
    job_uuid = "b7996245-8cb3-42ec-a88e-5a67812ac81a"
    args = ("{origination_uuid=9e4776b2-75c9-4a16-8ca0-bdadeb3e381f,switchio_app=default}"
            "sofia/external/doggy@127.0.0.1:5080 &park()")
    data = commands.bgapi("originate", args, job_uuid=job_uuid)
    conversation = transcript("call_basic")
    assert data in [d for _, way, d in conversation if way == "send"]
    (cmd,) = CommandParser().feed(data)
    assert cmd.line == f"bgapi originate {args}" and cmd.headers == {"Job-UUID": job_uuid}
    frames = Parser().feed(b"".join(d for _, way, d in conversation if way == "recv"))
    reply = next(f for f in frames if f.headers.get("Job-UUID"))
    assert reply.headers["Job-UUID"] == job_uuid
    assert reply.reply_text == f"+OK Job-UUID: {job_uuid}"
    job = next(f.event for f in frames if f.is_event and f.event.name == "BACKGROUND_JOB")
    assert job.job_uuid == job_uuid
    assert b"Job-UUID" not in commands.bgapi("status")  # without one, FreeSWITCH picks it
