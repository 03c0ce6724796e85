"""Conformance of an Event Socket server with the golden FreeSWITCH captures.

For one scenario of ``fixtures/freeswitch`` (``NAME.jsonl``), the harness plays the
``send`` side of the recorded conversation against a live server (the embedded switch,
or any FreeSWITCH) and compares what comes back with the ``recv`` side:

(a) **lanes** -- per channel, the event names in order (channels are matched by the
    order in which they first appear with the same ``Call-Direction``: the k-th new
    outbound channel of the recording is the k-th new outbound channel of the live run),
    plus one lane of channel-less events (``API:<command>``, ``BACKGROUND_JOB:<command>``,
    ``CUSTOM:<subclass>``). Timer events (``HEARTBEAT``, ``RE_SCHEDULE``) are left out;
(b) **header names** -- for each matched pair of events (same lane, aligned by name), the
    share of FreeSWITCH's header names that the live event has, aggregated over the
    scenario, with the most common missing and extra names; ``Answer-State``,
    ``Channel-State``, ``Channel-Call-State`` and ``Hangup-Cause`` values are compared too;
(c) **replies** -- the ``Reply-Text`` of every ``command/reply`` (reply *i* answers
    command *i*) and the server's notices (``auth/request``, ``disconnect-notice`` with its
    disposition and linger time), UUIDs normalised;
(d) **api bodies** -- every ``api/response`` body and ``BACKGROUND_JOB`` result,
    normalised: channel UUIDs become lane labels (``<inbound#1>``), other UUIDs
    ``<uuidN>``, dates, epochs, IP addresses and the hostname placeholders, numbers of
    ``status``/``uptime`` and ``sofia status`` counters ``N``, ``show`` rows sorted;
    ``uuid_dump`` is reduced to its sorted key names (its values are volatile).

Replay: each recorded command is sent once the live side has caught up with what the
recording had received before it (as many replies and notices; on every lane, at least
the events of each name), bounded by the recorded pacing plus :data:`SLACK`. Channel
UUIDs learned from events are rewritten to the live ones (waiting up to
:data:`MAP_WAIT` for the channel to appear); UUIDs the client chose (given as ``origination_uuid=``,
``Job-UUID:`` or ``Event-UUID:``) are sent as they are.

Two scenarios need a second actor: ``myevents_linger`` (a side connection originates the
call, the transcript's ``myevents``/``linger`` run on the main one, then the side answers
the callee and kills the caller) and ``outbound_socket`` (the harness is the outbound ESL
*server*: the node's dialplan sends ``outbound`` to the ``socket`` application, a side
connection places the call, and the transcript is replayed on the connection the node
opens).

Run it: ``python -m switchio_lab.sim.conformance [--scenario NAME ...] [--fixtures DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import logging
import os
import re
import sys
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    LOG_DATA,
    Command,
    CommandParser,
    Event,
    Frame,
    Parser,
    ProtocolError,
)

log = logging.getLogger("switchio_lab.sim.conformance")

#: every scenario of the golden captures that the harness can replay, in run order
SCENARIOS = (
    "commands", "auth_rejected", "before_auth", "call_basic", "call_json", "call_xml",
    "call_media", "call_bridge", "call_failures", "call_xheaders", "myevents_linger",
    "outbound_socket",
)
#: events fired by timers, not by what the client did: not compared
IGNORED_EVENTS = frozenset({"HEARTBEAT", "RE_SCHEDULE"})
#: header values compared for each matched pair of events ("state values")
STATE_HEADERS = ("Answer-State", "Channel-State", "Channel-Call-State", "Hangup-Cause")
#: api commands whose bodies depend on volatile state (reported, not part of the target)
VOLATILE_API = frozenset({"uuid_dump"})
#: the lane of channel-less events
GLOBAL = "no-channel"
#: the share of FreeSWITCH's header names an event must have (percent)
TARGET_HEADER_PCT = 95.0

#: extra time allowed over the recorded pacing before a command is sent anyway (s)
SLACK = 0.5
#: how long to wait for a channel a command refers to (s)
MAP_WAIT = 3.0
#: no new frame for this long before sending the next command (s)
QUIET = 0.02
#: after the last command: extra time allowed, and the silence that ends the run (s)
END_SLACK = 1.0
END_QUIET = 0.3

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: UUIDs the client chooses (a new channel's, a job's, an application's): sent as they are
_CHOSEN_RE = re.compile(r"(?:origination_uuid|Job-UUID|Event-UUID)\s*[=:]\s*(" + UUID_RE.pattern
                        + ")", re.IGNORECASE)
_REPLIES = (COMMAND_REPLY, API_RESPONSE)
_SIP_TARGET = "127.0.0.1:5080"  # where the captured FreeSWITCH called itself


def fixtures_path() -> Path:
    """Where the golden captures are: ``$SWITCHIO_LAB_FIXTURES``, else ``../shared/...``."""
    env = os.environ.get("SWITCHIO_LAB_FIXTURES")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "fixtures" / "freeswitch"


# -- channels and lanes -----------------------------------------------------------------------
class ChannelMap:
    """Labels channels ``<direction>#<k>`` by the order they first appear per direction."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}  # uuid -> label
        self.uuids: dict[str, str] = {}  # label -> uuid
        self.names: dict[str, str] = {}  # label -> channel name
        self._counts: Counter[str] = Counter()

    def observe(self, uuid: str, direction: str | None, name: str | None = None) -> str:
        label = self.labels.get(uuid)
        if label is None:
            d = direction or "unknown"
            self._counts[d] += 1
            label = f"{d}#{self._counts[d]}"
            self.labels[uuid] = label
            self.uuids[label] = uuid
            if name:
                self.names[label] = name
        return label

    def observe_frame(self, frame: Frame) -> str | None:
        ch = frame_channel(frame)
        return self.observe(*ch) if ch else None


def frame_channel(frame: Frame) -> tuple[str, str | None, str | None] | None:
    """(Unique-ID, Call-Direction, Channel-Name) of an event or ``connect`` reply."""
    if frame.is_event:
        ev = frame.event
        if ev is None:
            return None
        uuid = ev.get("Unique-ID")
        return (uuid, ev.get("Call-Direction"), ev.get("Channel-Name")) if uuid else None
    if frame.content_type == COMMAND_REPLY and "Unique-ID" in frame.headers:
        data = frame.channel_data()
        return data["Unique-ID"], data.get("Call-Direction"), data.get("Channel-Name")
    return None


def event_label(ev: Event, channel: bool) -> str:
    """The name an event is compared by: its name, qualified where it is ambiguous."""
    name = ev.name
    if name == "CUSTOM":
        return f"CUSTOM:{ev.get('Event-Subclass') or ''}"
    if not channel:
        if name == "API":
            return f"API:{ev.get('API-Command') or ''}"
        if name == "BACKGROUND_JOB":
            return f"BACKGROUND_JOB:{ev.get('Job-Command') or ''}"
    return name


def _lane_of(frame: Frame, chmap: ChannelMap) -> tuple[str, str] | None:
    """(lane, event label) of an event frame; None for ignored events and non-events."""
    if not frame.is_event or frame.event is None:
        return None
    ev = frame.event
    if ev.name in IGNORED_EVENTS:
        return None
    ch = frame_channel(frame)
    if ch is None:
        return GLOBAL, event_label(ev, False)
    return chmap.observe(*ch), event_label(ev, True)


def _is_notice(frame: Frame) -> bool:
    return not frame.is_event and frame.content_type not in (*_REPLIES, LOG_DATA)


# -- scenarios ----------------------------------------------------------------------------------
@dataclass
class Send:
    """One recorded command and what the recording had received before it was sent."""

    index: int
    t: float
    data: bytes
    command: Command
    replies_before: int
    notices_before: int
    events_before: Counter[tuple[str, str]]
    #: recorded channel UUIDs in the command that must be rewritten to live ones
    channel_uuids: tuple[str, ...]


@dataclass
class Capture:
    """What one side said on the scenario's connection: frames with arrival times."""

    frames: list[tuple[float, Frame]]
    #: channels seen on any connection in order of appearance, as Unique-ID,
    #: Call-Direction and Channel-Name triples; None: taken from the frames
    observations: list[tuple[str, str | None, str | None]] | None = None
    #: harness notes (timeouts, unmapped channels, errors)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def channel_map(self) -> ChannelMap:
        chmap = ChannelMap()
        if self.observations is not None:
            for obs in self.observations:
                chmap.observe(*obs)
        for _, frame in self.frames:  # anything not observed elsewhere, in frame order
            chmap.observe_frame(frame)
        return chmap


class Scenario:
    """One golden capture: the conversation and what the harness needs to replay it."""

    def __init__(self, name: str, entries: list[tuple[float, str, bytes]]) -> None:
        self.name = name
        self.entries = entries
        self._recorded: Capture | None = None
        self._sends: list[Send] | None = None

    @classmethod
    def load(cls, name: str, fixtures_dir: str | Path | None = None) -> Scenario:
        path = Path(fixtures_dir) if fixtures_dir is not None else fixtures_path()
        file = path / f"{name}.jsonl"
        entries = []
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    o = json.loads(line)
                    entries.append((float(o["t"]), o["dir"], o["data"].encode("latin-1")))
        return cls(name, entries)

    @property
    def kind(self) -> str:
        """``inbound`` (one client connection), ``myevents`` or ``outbound``."""
        if self.name == "outbound_socket" or (self.sends and self.sends[0].command.name
                                              == "connect"):
            return "outbound"
        if self.name == "myevents_linger":
            return "myevents"
        return "inbound"

    @property
    def duration(self) -> float:
        return self.entries[-1][0] if self.entries else 0.0

    @property
    def password(self) -> str:
        for s in self.sends:
            if s.command.name == "auth":
                return s.command.args.strip()
        return "ClueCon"

    @property
    def recorded(self) -> Capture:
        """The ``recv`` side as a capture (frame times: the chunk that completed them)."""
        if self._recorded is None:
            parser = Parser()
            frames: list[tuple[float, Frame]] = []
            for t, direction, data in self.entries:
                if direction == "recv":
                    frames.extend((t, f) for f in parser.feed(data))
            self._recorded = Capture(frames, seconds=self.duration)
        return self._recorded

    @property
    def channels(self) -> ChannelMap:
        return self.recorded.channel_map()

    @property
    def sends(self) -> list[Send]:
        if self._sends is None:
            self._sends = self._build_sends()
        return self._sends

    def _build_sends(self) -> list[Send]:
        chmap = self.channels
        parser = Parser()
        replies = notices = 0
        lanes: Counter[tuple[str, str]] = Counter()
        out: list[Send] = []
        for t, direction, data in self.entries:
            if direction == "recv":
                for frame in parser.feed(data):
                    if frame.content_type in _REPLIES:
                        replies += 1
                    elif _is_notice(frame):
                        notices += 1
                    key = _lane_of(frame, chmap)
                    if key is not None:
                        lanes[key] += 1
                continue
            text = data.decode("latin-1")
            chosen = {m.group(1).lower() for m in _CHOSEN_RE.finditer(text)}
            uuids = tuple(dict.fromkeys(
                u for u in UUID_RE.findall(text) if u in chmap.labels and u.lower() not in chosen))
            for k, cmd in enumerate(CommandParser().feed(data)):  # one per send, as recorded
                out.append(Send(len(out), t, data if k == 0 else b"", cmd, replies, notices,
                                Counter(lanes), uuids))
        return out

    def final(self) -> tuple[int, int, Counter[tuple[str, str]]]:
        """(replies, notices, lane counts) of the whole recording."""
        cap = self.recorded
        chmap = self.channels
        replies = sum(f.content_type in _REPLIES for _, f in cap.frames)
        notices = sum(_is_notice(f) for _, f in cap.frames)
        lanes: Counter[tuple[str, str]] = Counter()
        for _, f in cap.frames:
            key = _lane_of(f, chmap)
            if key is not None:
                lanes[key] += 1
        return replies, notices, lanes

    def first_event_time(self, name: str) -> float | None:
        for t, f in self.recorded.frames:
            if f.is_event and f.event is not None and f.event.name == name:
                return t
        return None

    def __repr__(self) -> str:
        return f"<Scenario {self.name} {len(self.sends)} commands {self.duration:.1f}s>"


# -- the live side ------------------------------------------------------------------------------
class _Stream:
    """One ESL connection the harness reads: frames with times, lane counts, change signal."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 chmap: ChannelMap, observations: list, t0: float) -> None:
        self.reader = reader
        self.writer = writer
        self.chmap = chmap
        self.observations = observations
        self.t0 = t0
        self.parser = Parser()
        self.frames: list[tuple[float, Frame]] = []
        self.replies = 0
        self.notices = 0
        self.lanes: Counter[tuple[str, str]] = Counter()
        self.eof = False
        self.error: str | None = None
        self.changed = asyncio.Event()
        self.last_activity = time.monotonic()
        self.on_frame: Callable[[Frame], None] | None = None
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for frame in self.parser.feed(data):
                    self._frame(frame)
        except ProtocolError as exc:
            self.error = f"unparseable output: {exc}"
        except (ConnectionError, OSError) as exc:
            self.error = f"connection error: {exc!r}"
        finally:
            self.eof = True
            self.changed.set()

    def _frame(self, frame: Frame) -> None:
        now = time.monotonic()
        self.frames.append((now - self.t0, frame))
        ch = frame_channel(frame)
        if ch is not None and ch[0] not in self.chmap.labels:
            self.observations.append(ch)
        key = _lane_of(frame, self.chmap)
        if key is not None:
            self.lanes[key] += 1
        if frame.content_type in _REPLIES:
            self.replies += 1
        elif _is_notice(frame):
            self.notices += 1
        if frame.content_type != LOG_DATA:
            self.last_activity = now
        if self.on_frame is not None:
            self.on_frame(frame)
        self.changed.set()

    def caught_up(self, replies: int, notices: int, lanes: Counter[tuple[str, str]]) -> bool:
        return (self.replies >= replies and self.notices >= notices
                and all(self.lanes[k] >= n for k, n in lanes.items()))

    async def until(self, pred: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``pred()`` holds (True) or the monotonic ``deadline`` / EOF (pred())."""
        while not pred():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                return pred()
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return True

    async def quiet(self, period: float, deadline: float) -> None:
        """Wait until nothing (but log lines) arrived for ``period``, at most until deadline."""
        while not self.eof:
            now = time.monotonic()
            idle = now - self.last_activity
            if idle >= period or now >= deadline:
                return
            await asyncio.sleep(min(period - idle, deadline - now))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


class _Side:
    """A plain ESL client for the side actions of the two-actor scenarios."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.events: list[Event] = []
        self._replies: asyncio.Queue[Frame] = asyncio.Queue()
        stream.on_frame = self._frame

    def _frame(self, frame: Frame) -> None:
        if frame.content_type in _REPLIES:
            self._replies.put_nowait(frame)
        elif frame.is_event and frame.event is not None:
            self.events.append(frame.event)

    @classmethod
    async def open(cls, host: str, port: int, password: str, chmap: ChannelMap,
                   observations: list) -> _Side:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        side = cls(_Stream(reader, writer, chmap, observations, time.monotonic()))
        await side.command(f"auth {password}")
        return side

    async def command(self, line: str, timeout: float = 5.0) -> Frame:
        self.stream.writer.write(line.encode("utf-8") + b"\n\n")
        await self.stream.writer.drain()
        return await asyncio.wait_for(self._replies.get(), timeout)

    async def wait_event(self, pred: Callable[[Event], bool], timeout: float) -> Event | None:
        deadline = time.monotonic() + timeout
        found: list[Event] = []

        def check() -> bool:
            found[:] = [e for e in self.events if pred(e)][:1]
            return bool(found)

        await self.stream.until(check, deadline)
        return found[0] if found else None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.writer.write(b"exit\n\n")
            await asyncio.wait_for(self.stream.writer.drain(), 1.0)
        await self.stream.close()


class _Replay:
    """Plays a scenario's commands on one connection; ``capture()`` works at any time."""

    def __init__(self, scenario: Scenario, chmap: ChannelMap | None = None,
                 observations: list | None = None) -> None:
        self.scenario = scenario
        self.rec = scenario.channels
        self.chmap = chmap or ChannelMap()
        self.observations = observations if observations is not None else []
        self.stream: _Stream | None = None
        self.notes: list[str] = []
        self.t0 = time.monotonic()
        self.last_send = self.t0
        self.last_send_rec = 0.0

    def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.t0 = self.last_send = time.monotonic()
        self.stream = _Stream(reader, writer, self.chmap, self.observations, self.t0)

    def capture(self) -> Capture:
        frames = list(self.stream.frames) if self.stream else []
        notes = list(self.notes)
        if self.stream is not None and self.stream.error:
            notes.append(self.stream.error)
        return Capture(frames, list(self.observations), notes, time.monotonic() - self.t0)

    def _rewrite(self, send: Send) -> bytes:
        if not send.channel_uuids:
            return send.data
        text = send.data.decode("latin-1")

        def sub(m: re.Match[str]) -> str:
            u = m.group(0)
            if u not in send.channel_uuids:
                return u
            return self.chmap.uuids.get(self.rec.labels[u], u)

        return UUID_RE.sub(sub, text).encode("latin-1")

    def _deadline(self, t_rec: float) -> float:
        return max(self.t0 + t_rec, self.last_send + (t_rec - self.last_send_rec)) + SLACK

    async def send_all(self, sends: Sequence[Send]) -> None:
        stream = self.stream
        assert stream is not None
        for send in sends:
            if stream.eof:
                self.notes.append(f"connection closed before command #{send.index} "
                                  f"{_short(send.command.line)!r}")
                return
            if send.channel_uuids:
                labels = [self.rec.labels[u] for u in send.channel_uuids]
                mapped = await stream.until(lambda ls=labels: all(x in self.chmap.uuids
                                                                  for x in ls),
                                            time.monotonic() + MAP_WAIT)
                if not mapped:
                    missing = [x for x in labels if x not in self.chmap.uuids]
                    self.notes.append(f"command #{send.index} {_short(send.command.line)!r}: "
                                      f"channel {', '.join(missing)} never appeared; sent with "
                                      "the recorded uuid")
            deadline = self._deadline(send.t)
            ok = await stream.until(lambda s=send: stream.caught_up(
                s.replies_before, s.notices_before, s.events_before), deadline)
            if not ok:
                self.notes.append(f"command #{send.index} {_short(send.command.line)!r} sent "
                                  "before the live side caught up with the recording")
            await stream.quiet(QUIET, deadline)
            if send.data:
                stream.writer.write(self._rewrite(send))
            with contextlib.suppress(ConnectionError):
                await stream.writer.drain()
            self.last_send = time.monotonic()
            self.last_send_rec = send.t

    async def finish(self) -> None:
        """Wait for the rest of the conversation: EOF, or everything recorded then silence."""
        stream = self.stream
        assert stream is not None
        replies, notices, lanes = self.scenario.final()
        deadline = self._deadline(self.scenario.duration) - SLACK + END_SLACK
        done = await stream.until(lambda: stream.caught_up(replies, notices, lanes), deadline)
        if not stream.eof:
            await stream.quiet(END_QUIET, time.monotonic() + END_QUIET + END_SLACK)
        if not done and not stream.caught_up(replies, notices, lanes):
            self.notes.append("the live side said less than the recording by the end")

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()


def _short(text: str, n: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 3] + "..."


async def _run_bounded(replay: _Replay, coro, limit: float) -> None:
    try:
        await asyncio.wait_for(coro, limit)
    except asyncio.TimeoutError:
        replay.notes.append(f"scenario cut off after {limit:.0f} s")
    except Exception as exc:  # a harness run must always end in a report
        log.exception("replay of %s failed", replay.scenario.name)
        replay.notes.append(f"harness error: {exc!r}")


async def replay(scenario: Scenario, host: str, port: int) -> Capture:
    """Play an inbound scenario (one client, or ``myevents_linger`` with its side client)."""
    if scenario.kind == "outbound":
        raise ValueError("outbound scenarios need an OutboundServer: use replay_outbound()")
    rp = _Replay(scenario)
    limit = scenario.duration + 10 + len(scenario.sends) * SLACK
    if scenario.kind == "myevents":
        await _run_bounded(rp, _myevents(rp, host, port), limit)
    else:
        await _run_bounded(rp, _inbound(rp, host, port), limit)
    await rp.close()
    return rp.capture()


async def _inbound(rp: _Replay, host: str, port: int) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    rp.attach(reader, writer)
    await rp.send_all(rp.scenario.sends)
    await rp.finish()


async def _myevents(rp: _Replay, host: str, port: int) -> None:
    """A side connection places the call and later answers/kills it (see the README)."""
    sc = rp.scenario
    # the channel the transcript watches, and where it was called
    first = next((f.event for _, f in sc.recorded.frames if f.is_event), None)
    dest = (first.get("Caller-Destination-Number") if first is not None else None) or "doggy"
    side = await _Side.open(host, port, sc.password, rp.chmap, rp.observations)
    try:
        await side.command("event plain CHANNEL_CREATE CHANNEL_PARK")
        caller = str(uuidlib.uuid4())
        await side.command(f"bgapi originate {{origination_uuid={caller}}}"
                           f"sofia/external/{dest}@{_SIP_TARGET} &park()")
        parked = await side.wait_event(
            lambda e: e.name == "CHANNEL_PARK" and e.get("Call-Direction") == "inbound", MAP_WAIT)
        if parked is None:
            rp.notes.append("side client: the callee never parked")
        callee = parked.get("Unique-ID") if parked is not None else None
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        rp.attach(reader, writer)
        await rp.send_all(sc.sends)
        # the side answers the callee and kills the caller when the recording's did
        t_answer = sc.first_event_time("CHANNEL_ANSWER")
        t_hangup = sc.first_event_time("CHANNEL_HANGUP")
        last = sc.sends[-1].t if sc.sends else 0.0
        answer_after = (t_answer - last) if t_answer is not None else 0.05
        kill_after = (t_hangup - t_answer) if t_hangup and t_answer else 1.0

        async def act() -> None:
            await asyncio.sleep(max(0.0, answer_after - 0.01))
            if callee:
                await side.command(f"api uuid_answer {callee}")
            await asyncio.sleep(max(0.0, kill_after - 0.01))
            await side.command(f"api uuid_kill {caller}")

        actor = asyncio.get_running_loop().create_task(act())
        try:
            await rp.finish()
        finally:
            try:
                await asyncio.wait_for(actor, 5.0)
            except Exception as exc:
                rp.notes.append(f"side client failed: {exc!r}")
    finally:
        await side.close()


class OutboundServer:
    """The harness's outbound ESL server: the node's ``socket`` application dials it."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue())
        self.host = "127.0.0.1"
        self.port = 0

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> OutboundServer:
        self = cls()
        self.host = host
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._conns.put((reader, writer))

    async def accept(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(self._conns.get(), timeout)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        while not self._conns.empty():
            _, writer = self._conns.get_nowait()
            writer.close()


async def replay_outbound(scenario: Scenario, host: str, port: int,
                          server: OutboundServer) -> Capture:
    """Place the call from a side connection and serve the connection the switch opens.

    The switch at ``host:port`` must route the recorded destination (``outbound``) to
    ``socket <server.address> async full``.
    """
    rp = _Replay(scenario)
    limit = scenario.duration + 10 + len(scenario.sends) * SLACK
    await _run_bounded(rp, _outbound(rp, host, port, server), limit)
    await rp.close()
    return rp.capture()


async def _outbound(rp: _Replay, host: str, port: int, server: OutboundServer) -> None:
    sc = rp.scenario
    dest = "outbound"
    for _, f in sc.recorded.frames:
        if f.content_type == COMMAND_REPLY and "Unique-ID" in f.headers:
            dest = f.channel_data().get("Caller-Destination-Number") or dest
            break
    side = await _Side.open(host, port, "ClueCon", rp.chmap, rp.observations)
    try:
        await side.command(f"bgapi originate sofia/external/{dest}@{_SIP_TARGET} &park()")
        try:
            reader, writer = await server.accept(5.0)
        except asyncio.TimeoutError:
            rp.notes.append("the switch never connected to the outbound server")
            return
        rp.attach(reader, writer)
        await rp.send_all(sc.sends)
        await rp.finish()
    finally:
        await side.close()


# -- normalisation ------------------------------------------------------------------------------
class _Norm:
    """Per side: channel UUIDs -> lane labels, host facts -> placeholders."""

    def __init__(self, chmap: ChannelMap, known_labels: Iterable[str],
                 hosts: Iterable[str]) -> None:
        known = set(known_labels)
        self.labels = {u.lower(): (lab if lab in known else f"extra:{lab}")
                       for u, lab in chmap.labels.items()}
        self.hosts = sorted({h for h in hosts if h}, key=len, reverse=True)

    def uuids(self, text: str) -> str:
        others: dict[str, str] = {}

        def sub(m: re.Match[str]) -> str:
            u = m.group(0).lower()
            label = self.labels.get(u)
            if label is not None:
                return f"<{label}>"
            return others.setdefault(u, f"<uuid{len(others) + 1}>")

        return UUID_RE.sub(sub, text)

    def text(self, text: str) -> str:
        t = self.uuids(text)
        t = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "<date>", t)
        t = re.sub(r"\b[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b", "<date>", t)
        t = re.sub(r"(?<![\d.])\d{16}(?![\d.])", "<usec>", t)
        t = re.sub(r"(?<![\d.])1\d{9}(?![\d.])", "<epoch>", t)
        t = re.sub(r"(?<![\d.])\d{1,3}(\.\d{1,3}){3}(?![\d.])", "<ip>", t)
        for h in self.hosts:
            t = re.sub(rf"(?<![\w.-]){re.escape(h)}(?![\w-])", "<hostname>", t)
        return t


def _host_facts(frames: Iterable[tuple[float, Frame]]) -> set[str]:
    out: set[str] = set()
    events = (f.event for _, f in frames if f.is_event and f.event is not None)
    for ev in list(events)[:20]:
        out.update(v for v in (ev.get("FreeSWITCH-Hostname"), ev.get("FreeSWITCH-Switchname"))
                   if v)
    return out


def _api_name(line: str) -> tuple[str, str]:
    """(command, args) of an ``api``/``bgapi`` command line."""
    words = line.split(None, 2)
    if len(words) >= 2 and words[0] in ("api", "bgapi"):
        return words[1], words[2] if len(words) > 2 else ""
    return "", ""


def normalise_body(command: str, args: str, body: str, norm: _Norm) -> str:
    """An api body with what may differ between two correct runs normalised away."""
    if command == "uuid_dump":
        keys = sorted({line.split(":", 1)[0] for line in body.splitlines() if ": " in line})
        return "\n".join(keys)
    t = norm.text(body)
    if command in ("status", "uptime"):
        # FreeSWITCH says "1 second" but "2 seconds": the plural follows the number
        t = re.sub(r"\d+ (year|day|hour|minute|second|millisecond|microsecond)s?\b",
                   r"N \1(s)", t)
        t = re.sub(r"\d+", "N", t)
    elif command == "sofia":
        t = re.sub(r"RUNNING \(\d+\)", "RUNNING (N)", t)
        t = re.sub(r"(?m)^((?:FAILED-)?CALLS-(?:IN|OUT)|REGISTRATIONS)(\s+)\d+", r"\1\2N", t)
    elif command == "show":
        t = _normalise_table(t)
    return t


def _normalise_table(t: str) -> str:
    s = t.strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except ValueError:
            return t
        if isinstance(obj, dict) and isinstance(obj.get("rows"), list):
            obj["rows"] = sorted(obj["rows"], key=lambda r: json.dumps(r, sort_keys=True))
        return json.dumps(obj, indent=1)
    lines = t.split("\n")
    if not lines or "," not in lines[0]:
        return t
    rows = sorted(x for x in lines[1:] if "," in x)
    rest = [x for x in lines[1:] if "," not in x]
    return "\n".join([lines[0], *rows, *rest])


def _reply_text(frame: Frame | None, norm: _Norm) -> str:
    if frame is None:
        return "<nothing>"
    if frame.content_type == COMMAND_REPLY:
        text = norm.uuids(frame.reply_text)
        if "Unique-ID" not in frame.headers:  # the connect reply's headers are an event
            extra = sorted(set(frame.headers) - {"Content-Type", "Reply-Text", "Content-Length"})
            if extra:
                text += " {" + ",".join(extra) + "}"
        return text
    if frame.content_type == API_RESPONSE:
        return "<api/response> " + _short(norm.uuids(frame.text), 50)
    return f"<{frame.content_type}>"


def _notice_text(frame: Frame | None, norm: _Norm) -> str:
    if frame is None:
        return "<nothing>"
    h = frame.headers
    parts = [frame.content_type]
    if "Content-Disposition" in h:
        parts.append(f"disposition={h['Content-Disposition']}")
    if "Linger-Time" in h:
        parts.append(f"linger={h['Linger-Time']}")
    names = sorted(set(h) - {"Content-Type", "Content-Length"})
    if names:
        parts.append("headers=" + ",".join(names))
    if frame.body:
        parts.append("body=" + repr(norm.uuids(frame.text)))
    return " ".join(parts)


# -- the report ---------------------------------------------------------------------------------
@dataclass
class Lane:
    label: str
    title: str
    recorded: list[str]
    live: list[str]
    diff: list[str]

    @property
    def ok(self) -> bool:
        return self.recorded == self.live


@dataclass
class Item:
    """One compared reply or body: the command it answers, both normalised texts."""

    index: int
    command: str
    recorded: str
    live: str
    volatile: bool = False
    kind: str = "api"

    @property
    def ok(self) -> bool:
        return self.recorded == self.live

    def diff(self, n: int = 8) -> list[str]:
        table = _table_diff(self.recorded, self.live)
        if table is not None:
            return table[:n] + ([f"... {len(table) - n} more cells"] if len(table) > n else [])
        lines = list(difflib.unified_diff(self.recorded.splitlines(), self.live.splitlines(),
                                          "freeswitch", "live", n=0, lineterm=""))[2:]
        lines = [x for x in lines if not x.startswith("@@")]
        if not lines:  # only line ends or trailing whitespace differ
            lines = [f"-{self.recorded!r}", f"+{self.live!r}"]
        return lines[:n] + ([f"... {len(lines) - n} more lines"] if len(lines) > n else [])


def _top(counter: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` most common names, ties by name (stable from run to run)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _csv_rows(text: str) -> tuple[list[str], dict[str, list[str]]] | None:
    lines = text.split("\n")
    if not lines or lines[0].count(",") < 3:
        return None
    header = lines[0].split(",")
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        cells = line.split(",")
        extra = len(cells) - len(header)
        if extra > 0 and "application_data" in header:  # FreeSWITCH does not quote commas
            k = header.index("application_data")
            cells[k: k + extra + 1] = [",".join(cells[k: k + extra + 1])]
        if len(cells) == len(header):
            rows[cells[0]] = cells
    return header, rows


def _table_diff(recorded: str, live: str) -> list[str] | None:
    """Cell by cell differences of two ``show`` tables with the same columns (else None)."""
    a, b = _csv_rows(recorded), _csv_rows(live)
    if a is None or b is None or a[0] != b[0]:
        return None
    header = a[0]
    out: list[str] = []
    for key, cells in a[1].items():
        other = b[1].get(key)
        if other is None:
            out.append(f"row {key} missing")
            continue
        out.extend(f"row {key} {col}: FreeSWITCH {x!r}, live {y!r}"
                   for col, x, y in zip(header, cells, other, strict=True) if x != y)
    out.extend(f"extra row {key}" for key in b[1] if key not in a[1])
    if not out:
        tail_a = [x for x in recorded.split("\n")[1:] if "," not in x]
        tail_b = [x for x in live.split("\n")[1:] if "," not in x]
        if tail_a != tail_b:
            out.append(f"FreeSWITCH ends {tail_a!r}, live {tail_b!r}")
    return out


@dataclass
class ScenarioReport:
    """How one scenario's live run compares with the recording."""

    name: str
    lanes: list[Lane] = field(default_factory=list)
    pairs: int = 0
    recorded_events: int = 0
    header_total: int = 0
    header_present: int = 0
    missing: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)
    #: header name -> the first event (lane, name, index) where it was missing / extra
    first_missing: dict[str, str] = field(default_factory=dict)
    first_extra: dict[str, str] = field(default_factory=dict)
    state_total: int = 0
    state_matched: int = 0
    state_mismatches: list[str] = field(default_factory=list)
    replies: list[Item] = field(default_factory=list)
    bodies: list[Item] = field(default_factory=list)
    ignored: dict[str, tuple[int, int]] = field(default_factory=dict)
    logs: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # -- scores -------------------------------------------------------------------------------
    @property
    def lanes_ok(self) -> bool:
        return all(lane.ok for lane in self.lanes)

    @property
    def header_pct(self) -> float | None:
        if not self.header_total:
            return None
        return 100.0 * self.header_present / self.header_total

    @property
    def headers_ok(self) -> bool:
        pct = self.header_pct
        return pct is None or pct >= TARGET_HEADER_PCT

    @property
    def replies_matched(self) -> tuple[int, int]:
        return sum(i.ok for i in self.replies), len(self.replies)

    @property
    def replies_ok(self) -> bool:
        return all(i.ok for i in self.replies)

    @property
    def bodies_matched(self) -> tuple[int, int]:
        return sum(i.ok for i in self.bodies), len(self.bodies)

    @property
    def stable_bodies_ok(self) -> bool:
        return all(i.ok for i in self.bodies if not i.volatile)

    @property
    def ok(self) -> bool:
        return self.lanes_ok and self.headers_ok and self.replies_ok and self.stable_bodies_ok

    # -- text ---------------------------------------------------------------------------------
    def divergences(self, limit: int | None = None) -> list[str]:
        """What differs, most important first, one line each."""
        out: list[str] = []
        for lane in self.lanes:
            if not lane.ok:
                out.extend(f"lane {lane.title}: {d}" for d in lane.diff)
        for item in self.replies:
            if not item.ok:
                out.append(f"reply #{item.index} to {item.command!r}: FreeSWITCH "
                           f"{item.recorded!r}, live {item.live!r}")
        for item in self.bodies:
            if not item.ok:
                tag = " (volatile)" if item.volatile else ""
                out.append(f"{item.kind} body #{item.index} of {item.command!r}{tag}: "
                           + " | ".join(item.diff(6)))
        if self.missing:
            top = ", ".join(f"{k} (x{n}, from {self.first_missing[k]})"
                            for k, n in _top(self.missing, 8))
            out.append(f"header names missing in {sum(self.missing.values())} places: {top}")
        if self.extra:
            top = ", ".join(f"{k} (x{n}, from {self.first_extra[k]})"
                            for k, n in _top(self.extra, 8))
            out.append(f"extra header names in {sum(self.extra.values())} places: {top}")
        if self.state_mismatches:
            out.append(f"state values differ ({self.state_total - self.state_matched}): "
                       + "; ".join(self.state_mismatches[:4]))
        rec_logs, live_logs = self.logs
        if rec_logs and not live_logs:
            out.append(f"no log/data frames (FreeSWITCH sent {rec_logs})")
        out.extend(f"harness: {n}" for n in self.notes)
        return out[:limit] if limit is not None else out

    def summary(self) -> dict[str, str]:
        n_ok = sum(lane.ok for lane in self.lanes)
        pct = self.header_pct
        r, rn = self.replies_matched
        b, bn = self.bodies_matched
        return {
            "scenario": self.name,
            "lanes in order": f"{n_ok}/{len(self.lanes)} {'ok' if self.lanes_ok else 'FAIL'}",
            "header names %": "-" if pct is None else
            f"{pct:5.1f} {'ok' if self.headers_ok else 'FAIL'}",
            "replies matched": f"{r}/{rn} {'ok' if self.replies_ok else 'FAIL'}",
            "api bodies matched": f"{b}/{bn} {'ok' if self.stable_bodies_ok else 'FAIL'}",
            "states": f"{self.state_matched}/{self.state_total}",
            "secs": f"{self.seconds:.1f}",
        }


@dataclass
class Report:
    scenarios: list[ScenarioReport]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenarios)

    def table(self) -> str:
        rows = [s.summary() for s in self.scenarios]
        if not rows:
            return "(no scenarios)"
        cols = list(rows[0])
        widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
        line = " | ".join(c.ljust(widths[c]) for c in cols)
        sep = "-+-".join("-" * widths[c] for c in cols)
        body = [" | ".join(r[c].ljust(widths[c]) for c in cols) for r in rows]
        return "\n".join([line, sep, *body])

    def render(self, per_scenario: int = 8) -> str:
        parts = [self.table(), ""]
        for s in self.scenarios:
            divs = s.divergences()
            if not divs:
                continue
            parts.append(f"{s.name}: {len(divs)} divergences")
            parts.extend(f"  - {d}" for d in divs[:per_scenario])
            if len(divs) > per_scenario:
                parts.append(f"  ... {len(divs) - per_scenario} more")
        return "\n".join(parts)


# -- comparison ---------------------------------------------------------------------------------
def _lanes(capture: Capture, chmap: ChannelMap) -> dict[str, list[tuple[str, Event]]]:
    lanes: dict[str, list[tuple[str, Event]]] = {}
    for _, f in capture.frames:
        key = _lane_of(f, chmap)
        if key is not None:
            lanes.setdefault(key[0], []).append((key[1], f.event))  # type: ignore[arg-type]
    return lanes


def _lane_diff(rec: list[str], live: list[str], limit: int = 12) -> tuple[list[str], list]:
    sm = difflib.SequenceMatcher(None, rec, live, autojunk=False)
    diff: list[str] = []
    pairs: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            pairs.extend(zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        where = f"after {rec[i1 - 1]} (#{i1 - 1})" if i1 > 0 else "at the start"
        if op == "delete":
            diff.append(f"missing {', '.join(rec[i1:i2])} {where}")
        elif op == "insert":
            diff.append(f"extra {', '.join(live[j1:j2])} {where}")
        else:
            diff.append(f"expected {', '.join(rec[i1:i2])} {where}, got "
                        f"{', '.join(live[j1:j2])}")
    if len(diff) > limit:
        diff = diff[:limit] + [f"... {len(diff) - limit} more differences"]
    return diff, pairs


def _names(ev: Event) -> set[str]:
    return set(ev.headers)


def compare(scenario: Scenario, live: Capture) -> ScenarioReport:
    """Compare a live capture of ``scenario`` with its recording."""
    recorded = scenario.recorded
    rec_map = recorded.channel_map()
    live_map = live.channel_map()
    report = ScenarioReport(scenario.name, notes=list(live.notes), seconds=live.seconds)

    # (a) lanes, (b) header names and state values of aligned pairs
    rec_lanes = _lanes(recorded, rec_map)
    live_lanes = _lanes(live, live_map)
    _add_connect(rec_lanes, recorded, rec_map)
    _add_connect(live_lanes, live, live_map)
    order = list(rec_lanes) + [k for k in live_lanes if k not in rec_lanes]
    for label in order:
        r = rec_lanes.get(label, [])
        lv = live_lanes.get(label, [])
        rn = [n for n, _ in r]
        ln = [n for n, _ in lv]
        diff, pairs = _lane_diff(rn, ln)
        if not r:
            diff = [f"extra lane ({len(lv)} events: {', '.join(ln[:4])}...)"]
        elif not lv:
            diff = [f"missing lane ({len(r)} events)"]
        name = rec_map.names.get(label) or live_map.names.get(label)
        title = label if label in (GLOBAL, "connect") or not name else f"{label} {name}"
        report.lanes.append(Lane(label, title, rn, ln, diff))
        report.recorded_events += len(r)
        for i, j in pairs:
            rev, lev = r[i][1], lv[j][1]
            a, b = _names(rev), _names(lev)
            report.pairs += 1
            report.header_total += len(a)
            report.header_present += len(a & b)
            report.missing.update(a - b)
            report.extra.update(b - a)
            where = f"{label} {r[i][0]} #{i}"
            for h in a - b:
                report.first_missing.setdefault(h, where)
            for h in b - a:
                report.first_extra.setdefault(h, where)
            for h in STATE_HEADERS:
                want = rev.get(h)
                if want is None:
                    continue
                report.state_total += 1
                got = lev.get(h)
                if got == want:
                    report.state_matched += 1
                else:
                    report.state_mismatches.append(
                        f"{label} {r[i][0]} #{i} {h}: FreeSWITCH {want}, live {got}")

    # ignored timer events, log lines
    for name in sorted(IGNORED_EVENTS):
        counts = (_count_events(recorded, name), _count_events(live, name))
        if any(counts):
            report.ignored[name] = counts
    report.logs = (sum(f.content_type == LOG_DATA for _, f in recorded.frames),
                   sum(f.content_type == LOG_DATA for _, f in live.frames))

    # (c) replies and notices, (d) api bodies; reply i answers command i
    known = set(rec_map.uuids)
    rnorm = _Norm(rec_map, known, _host_facts(recorded.frames))
    lnorm = _Norm(live_map, known, _host_facts(live.frames))
    # a live channel matched to a recorded one speaks under the recorded label
    rec_replies = [f for _, f in recorded.frames if f.content_type in _REPLIES]
    live_replies = [f for _, f in live.frames if f.content_type in _REPLIES]
    sends = scenario.sends
    for i in range(max(len(rec_replies), len(live_replies))):
        rf = rec_replies[i] if i < len(rec_replies) else None
        lf = live_replies[i] if i < len(live_replies) else None
        line = sends[i].command.line if i < len(sends) else "(no command)"
        shown = rnorm.uuids(_short(line, 80))
        if rf is not None and rf.content_type == API_RESPONSE:
            cmd, args = _api_name(line)
            want = normalise_body(cmd, args, rf.text, rnorm)
            if lf is not None and lf.content_type == API_RESPONSE:
                got = normalise_body(cmd, args, lf.text, lnorm)
            else:
                got = _reply_text(lf, lnorm)
            report.bodies.append(Item(i, shown, want, got, cmd in VOLATILE_API))
        else:
            report.replies.append(Item(i, shown, _reply_text(rf, rnorm),
                                       _reply_text(lf, lnorm), kind="reply"))
    rec_notices = [f for _, f in recorded.frames if _is_notice(f)]
    live_notices = [f for _, f in live.frames if _is_notice(f)]
    for i in range(max(len(rec_notices), len(live_notices))):
        rf = rec_notices[i] if i < len(rec_notices) else None
        lf = live_notices[i] if i < len(live_notices) else None
        report.replies.append(Item(i, "(server notice)", _notice_text(rf, rnorm),
                                   _notice_text(lf, lnorm), kind="notice"))

    # BACKGROUND_JOB results, paired along the channel-less lane
    r = rec_lanes.get(GLOBAL, [])
    lv = live_lanes.get(GLOBAL, [])
    _, pairs = _lane_diff([n for n, _ in r], [n for n, _ in lv])
    paired = dict(pairs)
    k = 0
    for i, (name, ev) in enumerate(r):
        if not name.startswith("BACKGROUND_JOB"):
            continue
        cmd = ev.get("Job-Command") or ""
        args = ev.get("Job-Command-Arg") or ""
        want = normalise_body(cmd, args, ev.body, rnorm)
        j = paired.get(i)
        got = normalise_body(cmd, args, lv[j][1].body, lnorm) if j is not None else "<nothing>"
        shown = rnorm.uuids(_short(f"bgapi {cmd} {args}".strip(), 80))
        report.bodies.append(Item(k, shown, want, got, cmd in VOLATILE_API,
                                  kind="BACKGROUND_JOB"))
        k += 1
    return report


def _add_connect(lanes: dict[str, list[tuple[str, Event]]], capture: Capture,
                 chmap: ChannelMap) -> None:
    """The outbound ``connect`` reply carries the channel's data: its own lane."""
    for _, f in capture.frames:
        if f.content_type == COMMAND_REPLY and "Unique-ID" in f.headers:
            data = f.channel_data()
            headers = {k: v for k, v in data.items() if k not in ("Content-Type",
                                                                  "Reply-Text")}
            lanes["connect"] = [(data.get("Event-Name") or "?",
                                 Event.from_headers(headers))]
            return


def _count_events(capture: Capture, name: str) -> int:
    return sum(1 for _, f in capture.frames
               if f.is_event and f.event is not None and f.event.name == name)


# -- running against the embedded switch ------------------------------------------------------
async def _start_node(extra_rules: list | None = None):
    from .config import PARK_ALL, NodeConfig
    from .node import Node

    cfg = NodeConfig(host="127.0.0.1", esl_port=0, hostname="vm",
                     sip={"internal": 5060, "external": 5080},
                     dialplan=[*(extra_rules or []), *PARK_ALL])
    return await Node(cfg).start()


async def _stop_node(node, notes: list[str]) -> None:
    try:
        await asyncio.wait_for(node.stop(), 3.0)
    except asyncio.TimeoutError:
        notes.append("node.stop() did not finish in 3 s (channels never destroyed)")
    except Exception as exc:
        notes.append(f"node.stop() failed: {exc!r}")


async def run_scenario(scenario: str | Scenario,
                       fixtures_dir: str | Path | None = None) -> ScenarioReport:
    """Start a fresh embedded node, replay ``scenario`` on it, stop it, compare."""
    from .config import Rule

    sc = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario, fixtures_dir)
    started = time.monotonic()
    notes: list[str] = []
    if sc.kind == "outbound":
        server = await OutboundServer.start()
        rule = Rule(r"^outbound$", [("socket", f"{server.address} async full")])
        node = await _start_node([rule])
        try:
            capture = await replay_outbound(sc, node.host, node.esl_port, server)
        finally:
            await server.close()
            await _stop_node(node, notes)
    else:
        node = await _start_node()
        try:
            capture = await replay(sc, node.host, node.esl_port)
        finally:
            await _stop_node(node, notes)
    capture.notes.extend(notes)
    report = compare(sc, capture)
    report.seconds = time.monotonic() - started
    return report


async def run(names: Iterable[str] | None = None,
              fixtures_dir: str | Path | None = None) -> Report:
    """Run scenarios one after another, each on its own node."""
    out = []
    for name in names or SCENARIOS:
        out.append(await run_scenario(name, fixtures_dir))
    return Report(out)


def self_check(names: Iterable[str] | None = None,
               fixtures_dir: str | Path | None = None) -> Report:
    """Each recording compared with itself: must be 100% everywhere (the comparator's proof)."""
    out = []
    for name in names or SCENARIOS:
        sc = Scenario.load(name, fixtures_dir)
        out.append(compare(sc, sc.recorded))
    return Report(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchio_lab.sim.conformance",
        description="Replay the golden FreeSWITCH captures against the embedded switch and "
                    "compare what it says.")
    parser.add_argument("--scenario", "-s", action="append", choices=SCENARIOS,
                        metavar="NAME", help="a scenario to run (repeatable; default: all)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="directory of NAME.jsonl captures (default: $SWITCHIO_LAB_FIXTURES "
                             "or ../shared/fixtures/freeswitch)")
    parser.add_argument("--divergences", "-n", type=int, default=8,
                        help="divergences listed per scenario (default 8)")
    parser.add_argument("--self-check", action="store_true",
                        help="compare each recording with itself instead (must be 100%%)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any scenario is below target")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the switch's logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    fixtures = args.fixtures or fixtures_path()
    if not fixtures.is_dir():
        print(f"golden captures not found at {fixtures} (set $SWITCHIO_LAB_FIXTURES or "
              "--fixtures)", file=sys.stderr)
        return 2
    if args.self_check:
        report = self_check(args.scenario, fixtures)
    else:
        report = asyncio.run(run(args.scenario, fixtures))
    print(report.render(args.divergences))
    return 1 if args.strict and not report.ok else 0


__all__ = [
    "GLOBAL", "IGNORED_EVENTS", "SCENARIOS", "STATE_HEADERS", "TARGET_HEADER_PCT",
    "VOLATILE_API", "Capture", "ChannelMap", "Item", "Lane", "OutboundServer", "Report",
    "Scenario", "ScenarioReport", "Send", "compare", "fixtures_path", "main",
    "normalise_body", "replay", "replay_outbound", "run", "run_scenario", "self_check",
]

if __name__ == "__main__":
    sys.exit(main())
