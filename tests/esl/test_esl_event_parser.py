"""``Parser(events=True)``, the client's parser: event frames come out as the same Events
(headers, body, key) a ``Parser()`` frame carries, however the bytes are split, and every
other frame as the same Frame (or what ``on_frame`` makes of it)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchio_lab.esl import Event, Frame, FrameTooLarge, Parser

SMALL = ["call_basic.esl", "call_bridge.esl", "call_failures.esl", "call_json.esl",
         "call_xml.esl", "commands.esl", "myevents_linger.esl", "outbound_socket.esl"]
LOAD = "load_200calls_20cps.esl.gz"
PREFIX = 2_500_000
CHUNKING = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_single: dict[str, list[Frame]] = {}


def single(name: str, data: bytes) -> list[Frame]:
    if name not in _single:
        _single[name] = Parser().feed(data)
    return _single[name]


@st.composite
def split_points(draw, n: int, boundaries: list[int]) -> list[int]:
    """Cuts anywhere, and near frame boundaries (inside the Content-Length line, the
    blank line, the end of a body)."""
    cuts = set(draw(st.lists(st.integers(0, n), max_size=150)))
    near = draw(st.lists(st.tuples(st.sampled_from(boundaries), st.integers(-60, 60)),
                         max_size=40))
    cuts.update(b + d for b, d in near)
    return sorted(c for c in cuts if 0 < c < n)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    return [data[a:b] for a, b in pairwise([0, *cuts, len(data)])]


def item_key(x):
    if isinstance(x, Event):
        return ("event", x.format, x.key, x.name, x.uuid, x.headers, x.body)
    return ("frame", x.content_type, x.headers, x.body, x.position)


def expected_items(frames: list[Frame]) -> list:
    return [item_key(f.event if f.event is not None else f) for f in frames]


@pytest.mark.parametrize("name", [*SMALL, "load-prefix"])
@CHUNKING
@given(data=st.data())
def test_events_straight_from_the_parser_do_not_depend_on_chunking(name, data, fixture_bytes,
                                                                    load_prefix):
    stream = load_prefix if name == "load-prefix" else fixture_bytes(name)
    frames = single(name, stream)
    boundaries = [f.position for f in frames] + [len(stream)]
    cuts = data.draw(split_points(len(stream), boundaries), label="cuts")
    parser = Parser(events=True)
    got = []
    for chunk in pieces(stream, cuts):
        got.extend(parser.feed(chunk))
    parser.feed_eof()
    assert [item_key(x) for x in got] == expected_items(frames)


@pytest.fixture(scope="module")
def load_prefix(fixture_bytes) -> bytes:
    data = fixture_bytes(LOAD)
    cut = next(f.position for f in single(LOAD, data) if f.position >= PREFIX)
    return data[:cut]


def test_on_frame_turns_other_frames_into_items_in_stream_order():
    event = Event.from_headers({"Event-Name": "HEARTBEAT", "Unique-ID": "u1"}).to_plain()
    reply = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    got = Parser(events=True, on_frame=lambda f: ("item", f.reply_text)).feed(
        reply + event + reply)
    assert got[0] == ("item", "+OK") and got[2] == ("item", "+OK")
    assert type(got[1]) is Event and got[1].key == "HEARTBEAT" and got[1].uuid == "u1"


def test_custom_key_and_missing_headers_from_the_wire():
    ev = Event.from_wire(Event.from_headers(
        {"Event-Name": "CUSTOM", "Event-Subclass": "mod_bert::lost_sync"}).serialize())
    assert ev.key == "mod_bert::lost_sync" and ev.name == "CUSTOM"
    for _ in range(2):  # the second lookup answers from the event's record of misses
        assert ev.get("No-Such-Header") is None
        assert "No-Such-Header" not in ev
    assert "No-Such-Header" not in ev.decoded()
    body = Event.from_headers({"Event-Name": "BACKGROUND_JOB"}, "Fake-Header: x\n").serialize()
    ev = Event.from_wire(body)
    assert ev.get("Fake-Header") is None and ev.body == "Fake-Header: x\n"


def test_the_fast_path_keeps_the_frame_cap():
    event = Event.from_headers({"Event-Name": "HEARTBEAT"}, "x" * 5000).to_plain()
    parser = Parser(max_frame=1000, events=True)
    with pytest.raises(FrameTooLarge):
        parser.feed(event)
