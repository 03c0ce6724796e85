"""Mutated real captures for the fuzz tests (tests/esl, tests/connection) and
``bench/bench_fuzz.py``: the hypothesis strategies and the check of one example.

Not a conftest: ``from fuzz_inputs import ...``. The strategies draw from the golden captures
(every byte a real FreeSWITCH sent) and mutate them: byte flips, truncation, inserted and
deleted bytes, duplicated stretches, garbage header values, ``Content-Length`` lies, and a
random chunking of the result. The checks raise :class:`AssertionError` (or let an
undocumented exception through) when the codec or the client misbehaves; each returns what it
saw (the documented errors by type) so that the bench can count them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fake_server import AdHocServer, Peer, plain_event
from hypothesis import strategies as st

from switchio_lab.connection import (
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    InboundClient,
    NotConnected,
)
from switchio_lab.esl import (
    FORMATS,
    Command,
    EventDecodeError,
    Frame,
    Parser,
    ProtocolError,
)
from switchio_lab.testing import UntilTimeout, scaled, until

#: captures of server -> client bytes the fuzzers mutate (plain, JSON and XML events,
#: api bodies, log data, the outbound socket's connect reply)
SERVER_CAPTURES = ["call_basic.esl", "call_json.esl", "call_xml.esl", "commands.esl",
                   "call_media.esl", "myevents_linger.esl", "outbound_socket.esl",
                   "call_bridge_xheaders.esl"]
#: conversations whose client -> server bytes feed the CommandParser fuzzer
CLIENT_CONVERSATIONS = ["commands", "call_basic", "myevents_linger", "outbound_socket"]

TOKENS = [b"\n", b"\n\n", b"\r\n", b"\r\n\r\n", b"[" * 3000, b"{" * 50, b"\\ud800", b"\xff",
          b"\xed\xa0\x80", b"Content-Length: 99\n", b"Content-Length: 99999999999\n",
          b"Content-Type: text/event-json\n", b"Content-Type: api/response\n", b"%", b"%zz",
          b"%00", b"<", b"</", b'"', b":", b": ", b"\x00", b"\xc2\xb2", b"<!DOCTYPE x [",
          b'<!ENTITY a "aaaaaaaaaa">', b"&a;"]
LIES = [b"0", b"1", b"-1", b"", b" ", b"99999999999", b"16777217", b"1e3", b"0x10", b"+5",
        b"\xc2\xb2", b"007", b"12 34"]
GARBAGE = st.one_of(st.binary(max_size=40), st.sampled_from(TOKENS),
                    st.lists(st.sampled_from(TOKENS), max_size=5).map(b"".join))

_LENGTH = re.compile(rb"Content-Length: ?(\d*)")
_VALUE = re.compile(rb": ([^\n]*)\n")

#: the documented errors of the codec and of the client
CODEC_ERRORS = (ProtocolError,)  # FrameTooLarge and EventDecodeError are ProtocolErrors
CLIENT_ERRORS = (CommandTimeout, ConnectionLost, NotConnected)


# --- the mutations ----------------------------------------------------------------------------


@st.composite
def mutation(draw: st.DrawFn, size: int) -> tuple:
    """One edit of a ``size``-byte buffer (positions drawn now, applied modulo the size then)."""
    op = draw(st.sampled_from(["flip", "insert", "delete", "digit", "truncate", "dup",
                               "value", "length", "length"]))
    at = draw(st.integers(0, max(size - 1, 0)))
    if op == "flip":
        return op, at, draw(st.integers(0, 255))
    if op == "insert":
        return op, at, draw(GARBAGE)
    if op in ("delete", "dup"):
        return op, at, draw(st.integers(1, 200))
    if op == "digit":
        return op, at, draw(st.sampled_from(b"0123456789"))
    if op == "truncate":
        return op, at, None
    if op == "value":
        return op, at, draw(GARBAGE)
    lie = draw(st.one_of(st.sampled_from(LIES), st.integers(-50, 50)))
    return op, at, lie


def apply(raw: bytes, ops: list[tuple]) -> bytes:
    """``raw`` with ``ops`` (from :func:`mutation`) applied in order."""
    buf = bytearray(raw)
    for op, at, arg in ops:
        if not buf:
            break
        at %= len(buf)
        if op == "flip":
            buf[at] = arg
        elif op == "insert":
            buf[at:at] = arg
        elif op == "delete":
            del buf[at:at + arg]
        elif op == "digit":
            buf[at] = arg
        elif op == "truncate":
            del buf[at:]
        elif op == "dup":
            buf[at:at] = buf[at:at + arg]
        elif op == "value":  # the next header value from ``at`` becomes garbage
            m = _VALUE.search(buf, at)
            if m:
                buf[m.start(1):m.end(1)] = arg.replace(b"\n", b"")
        else:  # "length": the next Content-Length from ``at`` lies
            m = _LENGTH.search(buf, at) or _LENGTH.search(buf)
            if m:
                if isinstance(arg, int):
                    n = int(m.group(1) or 0) + arg
                    arg = str(n).encode()
                buf[m.start(1):m.end(1)] = arg
    return bytes(buf)


@st.composite
def chunking(draw: st.DrawFn) -> list[int]:
    """Read sizes, cycled over the stream (tiny reads, odd sizes, whole buffers)."""
    return draw(st.lists(st.one_of(st.integers(1, 16), st.integers(17, 70_000)),
                         min_size=1, max_size=8))


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        yield data[i:i + n]
        i += n
        k += 1


class Sample:
    """One drawn example: where it came from, the mutated bytes and their chunking."""

    def __init__(self, source: str, data: bytes, sizes: list[int],
                 ops: list[tuple] | None = None) -> None:
        self.source = source
        self.data = data
        self.sizes = sizes
        self.ops = ops or []

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"Sample({self.source!r}, {len(self.data)} bytes, sizes={self.sizes}, "
                f"ops={self.ops!r})")


def server_stream(load: Callable[[str], bytes], limit: int = 20_000,
                  max_ops: int = 12) -> st.SearchStrategy[Sample]:
    """A mutated stretch (``limit`` bytes at most) of a server -> client capture."""

    @st.composite
    def draw_it(draw: st.DrawFn) -> Sample:
        name = draw(st.sampled_from(SERVER_CAPTURES))
        raw = load(name)
        start = draw(st.sampled_from([0, 0, len(raw) // 3, len(raw) // 2]))
        raw = raw[start:start + limit]
        ops = draw(st.lists(mutation(len(raw)), min_size=1, max_size=max_ops))
        return Sample(f"{name}@{start}", apply(raw, ops), draw(chunking()), ops)

    return draw_it()


def client_stream(load_sent: Callable[[str], bytes],
                  max_ops: int = 12) -> st.SearchStrategy[Sample]:
    """A mutated copy of what a real client sent in a conversation (for CommandParser)."""

    @st.composite
    def draw_it(draw: st.DrawFn) -> Sample:
        name = draw(st.sampled_from(CLIENT_CONVERSATIONS))
        raw = load_sent(name)
        ops = draw(st.lists(mutation(len(raw)), min_size=1, max_size=max_ops))
        return Sample(name, apply(raw, ops), draw(chunking()), ops)

    return draw_it()


def after_auth(capture: bytes) -> bytes:
    """The part of a server capture after its ``auth/request`` and auth reply (a fake server
    authenticates the client itself, then sends the rest)."""
    i = capture.find(b"Reply-Text: +OK accepted\n\n")
    return capture[i + 27:] if i >= 0 else capture


# --- the codec check --------------------------------------------------------------------------


class StepLimit(AssertionError):
    """The parser ran more Python calls than its input can justify: it loops."""


def bounded(fn: Callable[[], object], steps: int) -> object:
    """``fn()``, failing with :class:`StepLimit` past ``steps`` profiled calls (a loop that
    makes no progress is caught however fast or slow the machine: no wall clock)."""
    count = 0

    def prof(frame: object, event: str, arg: object) -> None:
        nonlocal count
        count += 1
        if count > steps:
            raise StepLimit(f"more than {steps} calls: the parser does not terminate")

    old = sys.getprofile()
    sys.setprofile(prof)
    try:
        return fn()
    finally:
        sys.setprofile(old)


def exercise_frame(frame: Frame) -> None:
    """Every accessor of a decoded frame and its event: only EventDecodeError may come out,
    and ``repr`` never raises."""
    assert repr(frame)
    _ = frame.text, frame.reply_text, frame.ok, frame.is_event, frame.content_type
    if frame.content_type == "command/reply":
        repr(frame.channel_data())
    ev = frame.event
    if ev is None:
        return
    assert repr(ev)
    try:
        _ = ev.key, ev.name, ev.subclass, ev.uuid, ev.job_uuid, ev.get("Unique-ID"), ev.raw
        _ = ev.headers, ev.body, len(ev), list(ev), ev == ev, "Event-Name" in ev
        for fmt in FORMATS:
            out = ev.to_frame(fmt)
            back = Parser().feed(out)  # what the codec writes, it reads back
            assert len(back) == 1 and back[0].is_event, (fmt, out[:200])
    except EventDecodeError:
        pass
    assert repr(ev)


def exercise_command(command: Command) -> None:
    assert repr(command)
    _ = command.name, command.args, command.line, command.headers, command.body


def codec_example(sample: Sample, parser_class: type = Parser) -> list[str]:
    """Feed ``sample`` to a parser in its chunking, then exercise every message.

    Returns the names of the documented errors raised (``ProtocolError`` on the stream,
    ``EventDecodeError`` of events); anything else propagates. The parser is bounded by
    steps (see :func:`bounded`) in proportion to the input.
    """
    errors: list[str] = []
    parser = parser_class()
    messages: list = []

    def run() -> None:
        try:
            for piece in chunks(sample.data, sample.sizes):
                messages.extend(parser.feed(piece))
                assert 0 <= parser.buffered <= len(sample.data)
            parser.feed_eof()
        except ProtocolError as exc:
            errors.append(type(exc).__name__)
            messages.extend(exc.messages)
            assert repr(exc) and str(exc)
            try:  # the error is sticky
                parser.feed(b"Content-Type: command/reply\n\n")
            except ProtocolError:
                pass
            else:
                raise AssertionError("a parser that failed accepted more bytes") from None

    # a few dozen calls per read and per frame is all the parser needs; a loop that makes
    # no progress shows as millions
    feeds = sum(1 for _ in chunks(sample.data, sample.sizes))
    bounded(run, 100 * (feeds + len(sample.data) // 16 + 1000))
    exercise = exercise_frame if parser_class is Parser else exercise_command
    for message in messages:
        if parser_class is Parser:
            ev = message.event
            try:
                if ev is not None:
                    ev.key  # noqa: B018
            except EventDecodeError:
                errors.append("EventDecodeError")
        exercise(message)
    return errors


# --- the client check -------------------------------------------------------------------------

MARKER = plain_event("CUSTOM", Event_Subclass="fuzz::done").to_frame()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def expected_bad_events(data: bytes) -> tuple[int, bool]:
    """(undecodable events the framing lets through, whether the whole stream frames
    cleanly) for ``data`` read by the client's parser."""
    parser = Parser()
    clean = True
    try:
        frames = parser.feed(data)
        clean = parser.buffered == 0
    except ProtocolError as exc:
        frames, clean = exc.messages, False
    bad = 0
    for frame in frames:
        if frame.is_event:
            try:
                frame.event.key  # noqa: B018
            except EventDecodeError:
                bad += 1
    return bad, clean


@dataclass
class ClientOutcome:
    errors: Counter = field(default_factory=Counter)  # documented errors of the canary, by type
    wrong_answers: int = 0  # canary answers that were a stale frame of the mutated stream
    reconnects: int = 0
    bad_events: int = 0
    marker_seen: bool = False


async def client_example(sample: Sample, *, deadline: float = 10.0) -> ClientOutcome:
    """A loopback server authenticates an InboundClient (reconnecting), then sends it
    ``sample`` (a mutated capture) in its chunking and a healthy marker event; later
    connections are healthy. The client must answer a canary ``api`` call within
    ``scaled(deadline)`` (after the typed errors of a broken or wedged stream and a
    reconnect, if the stream broke), never raise another error, never raise
    :class:`NotConnected` while it says it is connected, and count (and log) every
    undecodable event the framing let through."""
    outcome = ClientOutcome()
    records = _Records()
    logger = logging.getLogger("switchio_lab.connection")
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.INFO)

    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        if len(server.peers) == 1:
            for piece in chunks(sample.data, sample.sizes):
                peer.write(piece)
                await peer.writer.drain()
            peer.write(MARKER)
        await peer.serve()

    client = None
    try:
        async with AdHocServer(handler) as server:
            client = InboundClient("127.0.0.1", server.port, reconnect=True,
                                   timeout=scaled(0.25), connect_timeout=scaled(2.0),
                                   backoff=(0.01, 0.05), healthy_after=scaled(30))

            def on_event(ev: object) -> None:
                if getattr(ev, "key", None) == "fuzz::done":
                    outcome.marker_seen = True

            client.on_event(on_event)
            try:
                await client.connect()
            except ConnectError as exc:  # the stream broke in the read with "+OK accepted"
                outcome.errors[type(exc).__name__] += 1
                assert not client.connected
                await client.connect()  # the next connection is healthy
            try:  # the mutated stream goes by (the marker may be swallowed by a lie)
                await until(lambda: outcome.marker_seen or not client.connected,
                            timeout=scaled(0.2))
            except UntilTimeout:
                pass
            loop = asyncio.get_running_loop()
            end = loop.time() + scaled(deadline)
            while True:
                said_connected = client.connected
                try:
                    answer = await client.api("canary", timeout=scaled(0.25))
                except CLIENT_ERRORS as exc:
                    outcome.errors[type(exc).__name__] += 1
                    if isinstance(exc, NotConnected):
                        assert not said_connected, f"NotConnected while connected: {exc}"
                    await asyncio.sleep(scaled(0.01))  # (NotConnected comes at once)
                else:
                    if answer == "api:canary":
                        break
                    outcome.wrong_answers += 1
                assert loop.time() < end, (
                    f"no canary answer within {scaled(deadline):g} s: {outcome}, "
                    f"connected={client.connected}, last error={client.last_error!r}")
            assert client.connected
            outcome.reconnects = client.stats.reconnects
            outcome.bad_events = client.stats.bad_events
            bad, clean = expected_bad_events(sample.data)
            if clean:
                assert outcome.bad_events == bad, (outcome.bad_events, bad)
            else:  # the events before the break, at least (a frame cut at the end of the
                # stream takes in the bytes after it)
                assert outcome.bad_events >= bad, (outcome.bad_events, bad)
            if outcome.bad_events:
                assert any("undecodable event skipped" in m for m in records.messages)
            assert await client.api("canary") == "api:canary"
    finally:
        if client is not None:
            await client.close()
        logger.removeHandler(records)
        logger.setLevel(level)
    return outcome
