"""Replaying a scenario against a live switch: inbound, myevents and outbound sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Sequence

from ...esl import (
    COMMAND_REPLY,
    LOG_DATA,
    Event,
    Frame,
    Parser,
    ProtocolError,
)
from .scenario import (
    _REPLIES,
    _SIP_TARGET,
    END_QUIET,
    END_SLACK,
    MAP_WAIT,
    QUIET,
    SLACK,
    UUID_RE,
    Capture,
    ChannelMap,
    Scenario,
    Send,
    _is_notice,
    _lane_of,
    frame_channel,
)

log = logging.getLogger("switchio_lab.testing.conformance")

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
        raise ValueError("outbound scenarios need an SocketAppServer: use replay_outbound()")
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


class SocketAppServer:
    """The harness's end of the node's ``socket`` application (an outbound ESL server)."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue())
        self.host = "127.0.0.1"
        self.port = 0

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> SocketAppServer:
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
                          server: SocketAppServer) -> Capture:
    """Place the call from a side connection and serve the connection the switch opens.

    The switch at ``host:port`` must route the recorded destination (``outbound``) to
    ``socket <server.address> async full``.
    """
    rp = _Replay(scenario)
    limit = scenario.duration + 10 + len(scenario.sends) * SLACK
    await _run_bounded(rp, _outbound(rp, host, port, server), limit)
    await rp.close()
    return rp.capture()


async def _outbound(rp: _Replay, host: str, port: int, server: SocketAppServer) -> None:
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
