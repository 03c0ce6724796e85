"""The codec under hostile bytes: only its own typed errors, never another exception, and
``repr`` never raises. Mutated real captures are fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchio_lab.esl import Event, EventDecodeError, Frame, Parser, ProtocolError

DEEP_JSON = b'{"Event-Name":"X","a":' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest.mark.parametrize("body", [
    DEEP_JSON,
    b'{"Event-Name":"X","a":' + b'{"b":' * 3000 + b"1" + b"}" * 3000 + b"}",
    b"<event>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</event>",
    b"[1, 2]", b"null", b"{", b"\xff\xfe",
])
@pytest.mark.parametrize("fmt", ["json", "xml", "plain"])
def test_undecodable_bodies_raise_the_codecs_error(body, fmt):
    ev = Event(body, fmt)
    try:
        _ = ev.name, ev.headers, ev.body, ev.key
        _ = ev.serialize("plain"), ev.serialize("json"), ev.serialize("xml")
    except EventDecodeError:
        pass
    assert repr(ev)  # never raises
    assert repr(Frame({"Content-Type": f"text/event-{fmt}"}, body, 0))


def test_lone_surrogates_become_replacement_characters():
    ev = Event(b'{"Event-Name":"X","v":"a\\ud800b","_body":"\\udfff"}', "json")
    assert ev["v"] == "a\ufffdb" and ev.body == "\ufffd"
    assert ev.serialize("plain").startswith(b"Event-Name: X\nv: a%EF%BF%BDb\n")
    made = Event.from_headers({"Event-Name": "X", "v": "\ud800"}, body="\udc00")
    for fmt in ("plain", "json", "xml"):
        assert "\ufffd".encode() in made.serialize(fmt) or b"%EF%BF%BD" in made.serialize(fmt)


def test_complete_frames_before_a_bad_one_are_handed_over():
    good = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    bad = b"Content-Type: api/response\nContent-Length: x\n\n"
    with pytest.raises(ProtocolError) as info:
        Parser().feed(good * 3 + bad)
    assert [f.reply_text for f in info.value.messages] == ["+OK"] * 3


def test_a_long_header_block_fed_in_tiny_reads_parses_once():
    block = b"Content-Type: api/response\nX-Long: " + b"a" * 200_000 + b"\n\n"
    p = Parser()
    frames = []
    for i in range(0, len(block), 10):
        frames += p.feed(block[i:i + 10])
    assert len(frames) == 1 and len(frames[0].headers["X-Long"]) == 200_000
    assert p.buffered == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_captures_only_raise_protocol_errors(fixture_bytes, data):
    name = data.draw(st.sampled_from(["call_basic.esl", "call_json.esl", "call_xml.esl",
                                      "commands.esl", "call_media.esl"]))
    raw = bytearray(fixture_bytes(name)[:20_000])
    for _ in range(data.draw(st.integers(1, 12))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "digit"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.sampled_from(
                [b"\n", b"\n\n", b"[" * 3000, b"\\ud800", b"\xff", b"Content-Length: 99\n",
                 b"%", b"%zz", b"<", b'"']))
        elif op == "delete":
            del raw[at:at + data.draw(st.integers(1, 50))]
        else:
            raw[at] = ord(data.draw(st.sampled_from("0123456789")))
    p = Parser()
    frames: list[Frame] = []
    size = data.draw(st.integers(1, 4096))
    try:
        for i in range(0, len(raw), size):
            frames += p.feed(bytes(raw[i:i + size]))
    except ProtocolError as exc:
        frames += exc.messages
    for frame in frames:
        assert repr(frame)
        ev = frame.event
        if ev is None:
            _ = frame.text, frame.reply_text
            continue
        assert repr(ev)
        try:
            _ = ev.key, ev.headers, ev.body, ev.uuid
            ev.serialize(ev.format)
        except EventDecodeError:
            pass
