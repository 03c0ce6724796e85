"""The same bytes give the same messages however they are split across reads."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchio_lab.esl import CommandParser, Parser, commands

SCENARIOS = [
    "auth_rejected", "before_auth", "call_basic", "call_bridge", "call_failures", "call_json",
    "call_media", "call_xheaders", "call_xml", "commands", "myevents_linger", "outbound_socket",
]
SMALL = [f"{name}.esl" for name in SCENARIOS]
LOAD = "load_200calls_20cps.esl.gz"
PREFIX = 2_500_000  # bytes of the load capture used under hypothesis (cut at a frame boundary)

CHUNKING = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def frame_key(f):
    return (f.content_type, f.headers, f.body, f.position)


def command_key(c):
    return (c.line, c.headers, c.body, c.position)


_single: dict[str, list] = {}


def single(key: str, data: bytes, parser_class: type = Parser) -> list:
    """The messages of ``data`` fed in one piece (cached under ``key``)."""
    if key not in _single:
        parser = parser_class()
        _single[key] = parser.feed(data)
        assert parser.buffered == 0
        parser.feed_eof()
    return _single[key]


@st.composite
def split_points(draw, n: int, boundaries: list[int]) -> list[int]:
    """Offsets where a stream of ``n`` bytes is cut.

    Anywhere at all; near message boundaries (inside the ``Content-Length`` line, the empty
    line, the last bytes of a body); and runs of one-byte chunks.
    """
    cuts = set(draw(st.lists(st.integers(0, n), max_size=150)))
    near = draw(st.lists(st.tuples(st.sampled_from(boundaries), st.integers(-80, 80)),
                         max_size=40))
    cuts.update(b + d for b, d in near)
    for start, length in draw(st.lists(st.tuples(st.integers(0, n), st.integers(1, 400)),
                                       max_size=3)):
        cuts.update(range(start, start + length))  # one byte at a time
    return sorted(c for c in cuts if 0 < c < n)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def feed_all(parser, chunks: list[bytes], expected: list) -> list:
    """Feed ``chunks``; check ``buffered`` after each read; return all messages."""
    out: list = []
    fed = 0
    starts = [m.position for m in expected]
    for chunk in chunks:
        out.extend(parser.feed(chunk))
        fed += len(chunk)
        # everything after the last complete message is buffered (captures have no gaps)
        end = starts[len(out)] if len(out) < len(starts) else fed
        assert parser.buffered == fed - end
    parser.feed_eof()
    return out


# --- server side (frames) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def load_prefix(fixture_bytes) -> bytes:
    data = fixture_bytes(LOAD)
    frames = single(LOAD, data)
    cut = next(f.position for f in frames if f.position >= PREFIX)
    return data[:cut]


@pytest.mark.parametrize("name", [*SMALL, "load-prefix"])
@CHUNKING
@given(data=st.data())
def test_frames_do_not_depend_on_chunking(name, data, fixture_bytes, load_prefix):
    stream = load_prefix if name == "load-prefix" else fixture_bytes(name)
    expected = single(name, stream)
    boundaries = [f.position for f in expected] + [len(stream)]
    cuts = data.draw(split_points(len(stream), boundaries), label="cuts")
    got = feed_all(Parser(), pieces(stream, cuts), expected)
    assert [frame_key(f) for f in got] == [frame_key(f) for f in expected]


@pytest.mark.parametrize("size", [4096, 1 << 20])
def test_whole_load_capture_in_fixed_chunks(size, fixture_bytes):
    stream = fixture_bytes(LOAD)
    expected = single(LOAD, stream)
    assert len(expected) == 10607
    parser = Parser()
    got = []
    for i in range(0, len(stream), size):
        got.extend(parser.feed(stream[i : i + size]))
    assert parser.buffered == 0
    parser.feed_eof()
    assert [frame_key(f) for f in got] == [frame_key(f) for f in expected]


@pytest.mark.parametrize("name", ["commands.esl", "call_media.esl", "outbound_socket.esl"])
def test_one_byte_at_a_time(name, fixture_bytes):
    stream = fixture_bytes(name)
    expected = single(name, stream)
    parser = Parser()
    got = [f for i in range(len(stream)) for f in parser.feed(stream[i : i + 1])]
    assert [frame_key(f) for f in got] == [frame_key(f) for f in expected]


@settings(max_examples=100, deadline=None)
@given(chunk_sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=30))
def test_cyclic_chunk_sizes(chunk_sizes, fixture_bytes):
    """Chunk sizes (including 1) repeated over a whole capture."""
    stream = fixture_bytes("call_media.esl")
    expected = single("call_media.esl", stream)
    chunks, i, k = [], 0, 0
    while i < len(stream):
        size = chunk_sizes[k % len(chunk_sizes)]
        chunks.append(stream[i : i + size])
        i, k = i + size, k + 1
    got = feed_all(Parser(), chunks, expected)
    assert [frame_key(f) for f in got] == [frame_key(f) for f in expected]


# --- client side (commands) -----------------------------------------------------------------

EXTRA_COMMANDS = [  # commands with bodies (the captures have none)
    commands.sendevent("CUSTOM", {"Event-Subclass": "lab::x"}, "body\nwith lines\n\nand more"),
    commands.execute("playback", "x" * 3000, "3df3a302-3acd-40ac-bfa3-7cf9284a0abd"),
    commands.execute("set", "a=1\nb=2"),
    commands.api("status"),
]


@pytest.fixture(scope="module")
def send_stream(transcript) -> bytes:
    """Every command the clients sent in all captures, in one stream, plus some with bodies."""
    sent = [data for name in SCENARIOS for _, d, data in transcript(name) if d == "send"]
    assert len(sent) == 141
    return b"".join(sent + EXTRA_COMMANDS)


@pytest.fixture(scope="module")
def crlf_stream(transcript) -> bytes:
    """The captured commands as a telnet user types them (CRLF; stray empty lines)."""
    sent = [data for name in SCENARIOS for _, d, data in transcript(name) if d == "send"]
    out = []
    for i, data in enumerate(sent):
        out.append(data.replace(b"\n", b"\r\n"))
        out.append([b"", b"\n", b"\r\n", b"\n\n"][i % 4])
    return b"".join(out)


@CHUNKING
@given(data=st.data())
def test_commands_do_not_depend_on_chunking(data, send_stream):
    expected = single("send", send_stream, CommandParser)
    assert len(expected) == 141 + len(EXTRA_COMMANDS)
    assert expected[-3].body == b"x" * 3000
    boundaries = [c.position for c in expected] + [len(send_stream)]
    cuts = data.draw(split_points(len(send_stream), boundaries), label="cuts")
    got = []
    parser = CommandParser()
    for chunk in pieces(send_stream, cuts):
        got.extend(parser.feed(chunk))
    assert parser.buffered == 0
    parser.feed_eof()
    assert [command_key(c) for c in got] == [command_key(c) for c in expected]


@CHUNKING
@given(data=st.data())
def test_crlf_commands_do_not_depend_on_chunking(data, crlf_stream, send_stream):
    expected = single("send-crlf", crlf_stream, CommandParser)
    lf = single("send", send_stream, CommandParser)[:141]
    assert [(c.line, c.headers, c.body) for c in expected] == [
        (c.line, c.headers, c.body) for c in lf]
    boundaries = [c.position for c in expected] + [len(crlf_stream)]
    cuts = data.draw(split_points(len(crlf_stream), boundaries), label="cuts")
    got = []
    parser = CommandParser()
    for chunk in pieces(crlf_stream, cuts):
        got.extend(parser.feed(chunk))
    parser.feed_eof()
    assert [command_key(c) for c in got] == [command_key(c) for c in expected]
