"""Malformed input: ProtocolError with the right stream position, and nothing else."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchio_lab.esl import (
    CommandParser,
    Event,
    EventDecodeError,
    FrameTooLarge,
    Parser,
    ProtocolError,
)

GOOD = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
API = b"Content-Type: api/response\nContent-Length: 5\n\nhello"


def fail(parser, chunks: list[bytes]) -> ProtocolError:
    """Feed ``chunks``; the last one must raise; return the error."""
    for chunk in chunks[:-1]:
        parser.feed(chunk)
    with pytest.raises(ProtocolError) as info:
        parser.feed(chunks[-1])
    return info.value


def check_located(err: ProtocolError, stream: bytes) -> None:
    """``position`` is an absolute stream offset and ``data`` the bytes found there."""
    assert 0 <= err.position < len(stream)
    assert stream[err.position : err.position + len(err.data)] == err.data


# --- bad framing -----------------------------------------------------------------------------


@pytest.mark.parametrize("split", [0, 5, 30, 45, 51])
def test_header_line_without_colon(split):
    bad = b"Content-Type: command/reply\nThis line has no colon\n\n"
    stream = GOOD + API + bad + GOOD
    cut = len(GOOD) + len(API) + split  # the bad frame straddles two reads
    err = fail(Parser(), [stream[:cut], stream[cut:]])
    assert type(err) is ProtocolError
    assert err.data == b"This line has no colon"
    assert err.position == stream.index(b"This line")
    check_located(err, stream)


def test_header_line_without_colon_in_a_command():
    stream = b"api status\n\nsendmsg\ncall-command: execute\nno colon here\n\n"
    err = fail(CommandParser(), [stream[:20], stream[20:]])
    assert err.data == b"no colon here"
    assert err.position == stream.index(b"no colon")
    check_located(err, stream)


@pytest.mark.parametrize("value", [b"abc", b"-5", b"+5", b"5 5", b"0x10", b"\xc2\xb2", b"",
                                   b"\xd9\xa3"])
def test_bad_content_length(value):
    """Not a non-negative decimal: ProtocolError (``"²".isdigit()`` is no excuse)."""
    frame = b"Content-Type: api/response\nContent-Length: " + value + b"\n\nbody"
    stream = GOOD + frame
    err = fail(Parser(), [GOOD, frame])
    assert type(err) is ProtocolError
    assert err.position == len(GOOD)  # the frame that carries it
    assert err.data.startswith(b"Content-Type: api/response\nContent-Length: ")
    check_located(err, stream)
    with pytest.raises(ProtocolError):
        CommandParser().feed(b"sendevent CUSTOM\nContent-Length: " + value + b"\n\nbody")


@pytest.mark.parametrize("fast_path", [True, False])
def test_content_length_above_max_frame(fast_path):
    head = (b"Content-Length: %d\nContent-Type: api/response\n\n" if fast_path
            else b"Content-Type: api/response\nContent-Length: %d\n\n")
    ok = Parser(max_frame=1000).feed(head % 1000 + b"x" * 1000)
    assert len(ok) == 1 and len(ok[0].body) == 1000
    stream = GOOD + head % 1001
    with pytest.raises(FrameTooLarge) as info:
        Parser(max_frame=1000).feed(stream)
    assert info.value.position == len(GOOD)
    check_located(info.value, stream)
    with pytest.raises(FrameTooLarge):
        Parser(max_frame=1000).feed(b"Content-Length: 99999999999999999999999\n\n")
    with pytest.raises(FrameTooLarge):
        CommandParser(max_frame=1000).feed(b"sendevent X\nContent-Length: 1001\n\n")


@pytest.mark.parametrize("chunk", [1, 100, 7000, 1 << 20])
def test_header_block_above_max_header(chunk):
    """No empty line: the parser gives up at max_header instead of buffering forever."""
    max_header = 5000
    stream = GOOD + b"".join(b"X-Header-%d: %s\n" % (i, b"v" * 50) for i in range(20000))
    parser = Parser(max_header=max_header)
    with pytest.raises(FrameTooLarge) as info:
        for i in range(0, len(stream), chunk):
            parser.feed(stream[i : i + chunk])
            assert parser.buffered <= max_header  # bounded memory
    assert i < max_header + len(GOOD) + chunk  # it stopped as soon as it could tell
    assert info.value.position == len(GOOD)
    check_located(info.value, stream)
    # a long block that does end is fine below the cap, refused above it
    block = b"Content-Type: command/reply\n" + b"X: y\n" * 900 + b"\n"
    assert len(Parser(max_header=5000).feed(block)) == 1
    with pytest.raises(FrameTooLarge):
        Parser(max_header=4000).feed(block)


def test_error_is_sticky():
    bad = b"Content-Type: api/response\nContent-Length: nope\n\n"
    parser = Parser()
    assert len(parser.feed(GOOD)) == 1
    err = fail(parser, [bad])
    for more in (GOOD, b"", API):
        with pytest.raises(ProtocolError) as again:
            parser.feed(more)
        assert again.value is err
    assert err.position == len(GOOD)


def test_feed_eof_inside_a_frame():
    # inside a body
    parser = Parser()
    parser.feed(GOOD + API[:-2])
    with pytest.raises(ProtocolError) as info:
        parser.feed_eof()
    assert info.value.position == len(GOOD)
    # inside a header block
    parser = Parser()
    parser.feed(GOOD + b"Content-Type: comm")
    with pytest.raises(ProtocolError) as info:
        parser.feed_eof()
    assert info.value.position == len(GOOD) and info.value.data == b"Content-Type: comm"
    # after a complete frame (and stray blank lines) the end is fine; data after it is not
    parser = Parser()
    parser.feed(GOOD + b"\n\n")
    parser.feed_eof()
    with pytest.raises(ProtocolError):
        parser.feed(GOOD)
    cp = CommandParser()
    cp.feed(b"api sta")
    with pytest.raises(ProtocolError):
        cp.feed_eof()


# --- events that do not decode ------------------------------------------------------------------


@pytest.mark.parametrize(("ctype", "body"), [
    ("text/event-json", b'{"Event-Name": "CUSTOM", '),
    ("text/event-json", b'["not", "an", "object"]'),
    ("text/event-json", b"\x00\x01 not json"),
    ("text/event-xml", b"<event><headers><Event-Name>CUSTOM</Event-Name>"),
    ("text/event-xml", b"not xml at all"),
])
def test_undecodable_event_raises_on_access(ctype, body):
    """The parser hands the frame over; only reading the event raises EventDecodeError."""
    frame = b"Content-Length: %d\nContent-Type: %s\n\n" % (len(body), ctype.encode()) + body
    parser = Parser()
    frames = parser.feed(frame + GOOD)
    assert len(frames) == 2 and frames[1].reply_text == "+OK"
    assert frames[0].is_event and frames[0].body == body
    ev = frames[0].event
    assert isinstance(ev, Event)
    with pytest.raises(EventDecodeError) as info:
        ev.name  # noqa: B018
    assert isinstance(info.value, ProtocolError)
    with pytest.raises(EventDecodeError):
        ev.headers  # noqa: B018
    assert repr(frames[1])


# --- garbage -------------------------------------------------------------------------------------

TOKENS = [b"Content-Length: ", b"Content-Type: ", b"api/response", b"text/event-plain",
          b"command/reply", b"Reply-Text: +OK", b"\n", b"\n\n", b"\r\n", b":", b": ", b" ",
          b"0", b"5", b"12", b"-", b"99999999999", b"\xc2\xb2", b"\xff", b"%", b"x"]
garbage = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), max_size=60).map(
        b"".join),
)


@settings(max_examples=300, deadline=None)
@given(data=garbage, cuts=st.lists(st.integers(0, 400), max_size=8))
@pytest.mark.parametrize("parser_class", [Parser, CommandParser])
def test_garbage_raises_only_protocol_error(parser_class, data, cuts):
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    parser = parser_class(max_frame=1000, max_header=200)
    fed = 0
    got = []
    try:
        for a, b in pairwise(bounds):
            out = parser.feed(data[a:b])
            fed += b - a
            assert 0 <= parser.buffered <= fed
            for message in out:
                assert 0 <= message.position < fed
            got.extend(out)
        parser.feed_eof()
    except ProtocolError as exc:
        assert 0 <= exc.position <= len(data)
        assert data[exc.position : exc.position + len(exc.data)] == exc.data
        with pytest.raises(ProtocolError):
            parser.feed(b"Content-Type: command/reply\n\n")
    else:
        for message in got:  # whatever parsed must be readable
            repr(message)
            if parser_class is Parser and message.is_event and message.content_type.endswith(
                    "plain"):
                dict(message.event)
