"""What inbound clients and outbound sessions share: framing, replies, events, commands.

A :class:`Connection` owns a :class:`~switchio_lab.esl.Parser` and an asyncio transport.
Every read is parsed at once; replies are matched to commands in the order they were
sent; events go to plain callbacks (called inline: keep them quick) and to async
:class:`EventStream` iterators (each with its own bounded queue, so a slow consumer
never stops the socket from being read).
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..esl import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    LOG_DATA,
    RUDE_REJECTION,
    Event,
    Frame,
    Parser,
    ProtocolError,
    commands,
)
from ..esl.frames import EVENT_FORMATS
from .errors import (
    ApiError,
    CommandError,
    CommandTimeout,
    ConnectionLost,
    NotConnected,
    is_error,
)
from .jobs import Job

log = logging.getLogger("switchio_lab.connection")

EventCallback = Callable[[Event], Any]
FrameCallback = Callable[[Frame], Any]
StateCallback = Callable[[str, "Connection"], Any]
CommandCallback = Callable[[bytes, "Frame | None"], Any]

DEFAULT_TIMEOUT = 30.0
DEFAULT_QUEUE = 100_000  # FreeSWITCH's own per-listener queue


@dataclass
class Stats:
    """Counters of one connection (kept across reconnects)."""

    bytes_in: int = 0
    frames_in: int = 0
    events_in: int = 0
    commands_out: int = 0
    dropped: int = 0  # events a full EventStream queue had to drop
    callback_errors: int = 0
    reconnects: int = 0


class _Wire(asyncio.Protocol):
    """The asyncio side of one TCP connection; forwards to its :class:`Connection`."""

    def __init__(self, owner: Connection) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner._attach(self)

    def data_received(self, data: bytes) -> None:
        self.owner._data_received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._connection_lost(self, exc)


class EventStream:
    """``async for event in stream``: the events of some names, through a bounded queue.

    When the queue is full the newest event is dropped and counted in :attr:`dropped`
    (and in the connection's ``stats.dropped``), with a warning; a warning also comes
    when the queue passes half full. Use ``async with`` or :meth:`close` to detach.
    """

    def __init__(self, conn: Connection, names: Iterable[str], maxsize: int) -> None:
        self._conn = conn
        self.names = frozenset(names) or None
        self.maxsize = maxsize
        self._queue: deque[Event | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self._warned_high = False
        self.closed = False

    def _put(self, event: Event | None) -> None:
        q = self._queue
        if event is not None and len(q) >= self.maxsize:
            self.dropped += 1
            self._conn.stats.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8, ...: never a log flood
                log.warning("%s: event stream full (%d queued): dropped %d event(s) so far",
                            self._conn, len(q), self.dropped)
            return
        q.append(event)
        if not self._warned_high and len(q) * 2 >= self.maxsize:
            self._warned_high = True
            log.warning("%s: event stream consumer is falling behind: %d events queued "
                        "(limit %d)", self._conn, len(q), self.maxsize)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __len__(self) -> int:
        """The events queued (not the end-of-stream marker that close() adds)."""
        q = self._queue
        return len(q) - 1 if q and q[-1] is None else len(q)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._queue.popleft()
        if event is None:
            self.closed = True
            raise StopAsyncIteration
        if self._warned_high and len(self._queue) * 4 < self.maxsize:
            self._warned_high = False
        return event

    async def get(self, timeout: float | None = None) -> Event:
        """The next event; raises :class:`asyncio.TimeoutError` after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise ConnectionLost(f"{self._conn}: event stream closed") from None

    def close(self) -> None:
        """Detach from the connection; iteration ends once the queue is drained."""
        if not self.closed and self in self._conn._streams:  # once: one end marker
            self._conn._streams.discard(self)
            self._put(None)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Connection:
    """Commands and event delivery over one Event Socket connection (inbound or outbound)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, queue_size: int = DEFAULT_QUEUE):
        self.timeout = timeout
        self.queue_size = queue_size
        self.stats = Stats()
        self._wire: _Wire | None = None
        self._parser = Parser()
        self._replies: deque[tuple[bytes, asyncio.Future[Frame]]] = deque()
        self._jobs: dict[str, Job] = {}
        self._callbacks: list[tuple[frozenset[str] | None, EventCallback]] = []
        self._frame_callbacks: list[FrameCallback] = []
        self._command_callbacks: list[CommandCallback] = []
        self._state_callbacks: list[StateCallback] = []
        self._streams: set[EventStream] = set()
        self._auth_waiter: asyncio.Future[Frame] | None = None
        self._connected = asyncio.Event()
        self._handshaking = False  # commands may go out before "connected" (auth, restore)
        self._ended = False  # streams were ended for good (closed, not reconnecting)
        self._handshaker: asyncio.Task[Any] | None = None  # ... but only the handshake's own
        self.last_error: BaseException | None = None
        self._fatal: ProtocolError | None = None  # what broke the current wire, if anything
        self.disconnect_notice: Frame | None = None
        self.lingering = False
        # what the server has been told, to restore after a reconnect
        self.event_format = "plain"
        self.event_names: set[str] = set()
        self._subclasses: set[str] = set()  # the names that followed CUSTOM
        self.filters: list[tuple[str, str]] = []
        self._myevents: tuple[str | None, str | None] | None = None
        self._linger: int | bool | None = None
        self._log_level: int | str | bool | None = None

    # -- state ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._wire is not None and self._connected.is_set()

    def on_state(self, callback: StateCallback) -> StateCallback:
        """Call ``callback(state, connection)`` on connected/disconnected/reconnected/closed/
        linger."""
        self._state_callbacks.append(callback)
        return callback

    def _notify(self, state: str) -> None:
        for cb in list(self._state_callbacks):
            try:
                cb(state, self)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: state callback %r failed", self, cb)

    # -- wire events ------------------------------------------------------------------
    def _attach(self, wire: _Wire) -> None:
        self._ended = False
        self._wire = wire
        self._parser = Parser()
        self._fatal = None
        self.disconnect_notice = None
        self.lingering = False

    def _data_received(self, wire: _Wire, data: bytes) -> None:
        if wire is not self._wire:
            return
        self.stats.bytes_in += len(data)
        try:
            frames = self._parser.feed(data)
        except ProtocolError as exc:
            log.error("%s: protocol error, closing the connection: %s", self, exc)
            self.last_error = self._fatal = exc
            if wire.transport is not None:
                wire.transport.abort()
            return
        self.stats.frames_in += len(frames)
        for frame in frames:
            self._dispatch(frame)

    def _dispatch(self, frame: Frame) -> None:
        ctype = frame.content_type
        fmt = EVENT_FORMATS.get(ctype)
        if fmt is not None:
            self._deliver(Event(frame.body, fmt))
            return
        if ctype == COMMAND_REPLY or ctype == API_RESPONSE:
            if self._replies:
                data, fut = self._replies.popleft()
                if self._command_callbacks:
                    self._observe(data, frame)
                if not fut.done():
                    fut.set_result(frame)
                else:  # a timed-out (or cancelled) command's slot absorbs its late reply
                    log.info("%s: late reply to %r dropped: %r", self, _label(data), frame)
            else:
                log.warning("%s: reply with no command waiting: %r", self, frame)
        elif ctype == AUTH_REQUEST:
            if self._auth_waiter is not None and not self._auth_waiter.done():
                self._auth_waiter.set_result(frame)
        elif ctype == DISCONNECT_NOTICE:
            if frame.headers.get("Content-Disposition") == "linger":
                self.lingering = True
                self._notify("linger")
            else:
                self.disconnect_notice = frame
        elif ctype == RUDE_REJECTION:
            self.disconnect_notice = frame
            if self._auth_waiter is not None and not self._auth_waiter.done():
                self._auth_waiter.set_result(frame)
        elif ctype != LOG_DATA:
            log.debug("%s: frame of unknown type kept: %r", self, frame)
        for cb in self._frame_callbacks:
            try:
                cb(frame)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: frame callback %r failed", self, cb)

    def _deliver(self, event: Event) -> None:
        self.stats.events_in += 1
        try:
            name = event.key
        except ProtocolError as exc:  # a JSON/XML event that does not decode
            log.error("%s: undecodable event skipped: %s", self, exc)
            return
        if name == "BACKGROUND_JOB":
            job = self._jobs.pop(event.get("Job-UUID", ""), None)
            if job is not None:
                job._resolve(event)
        for names, cb in self._callbacks:
            if names is None or name in names or event.name in names:
                try:
                    cb(event)
                except Exception:
                    self.stats.callback_errors += 1
                    log.exception("%s: event callback %r failed on %s", self, cb, name)
        for stream in self._streams:
            if stream.names is None or name in stream.names or event.name in stream.names:
                stream._put(event)

    def _connection_lost(self, wire: _Wire, exc: Exception | None) -> None:
        if wire is not self._wire:
            return
        self._wire = None
        self._connected.clear()
        if exc is not None:
            self.last_error = exc
        reason = self._loss_reason(exc)
        lost = ConnectionLost(f"{self}: connection lost ({reason})")
        while self._replies:
            data, fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(ConnectionLost(f"{self}: connection lost ({reason}) before "
                                                 f"the reply to {_label(data)!r}"))
        for job in self._jobs.values():
            job._fail(ConnectionLost(f"{self}: connection lost ({reason}) before the result of "
                                     f"job {job.uuid} ({job.command!r})"))
        self._jobs.clear()
        if self._auth_waiter is not None and not self._auth_waiter.done():
            self._auth_waiter.set_exception(lost)
        self._on_lost(reason)

    def _loss_reason(self, exc: BaseException | None) -> str:
        if self._fatal is not None:
            return f"protocol error: {self._fatal.message}"
        if self.disconnect_notice is not None:
            return "the server said goodbye"
        return str(exc) if exc else "closed by the server"

    def _on_lost(self, reason: str) -> None:
        """Subclasses decide: reconnect, or end for good."""
        self._end_streams()
        self._notify("closed")

    def _end_streams(self) -> None:
        self._ended = True
        for stream in list(self._streams):
            stream.close()

    # -- sending -------------------------------------------------------------------
    async def send(self, data: bytes, *, timeout: float | None = None) -> Frame:
        """Write one serialized command and return its reply frame (``command/reply`` or
        ``api/response``). Replies are matched to commands in the order they were sent."""
        timeout = self.timeout if timeout is None else timeout
        if not self.connected and not (self._handshaking and self._wire is not None
                                       and asyncio.current_task() is self._handshaker):
            await self._wait_connected(timeout)
        wire = self._wire
        if wire is None or wire.transport is None:
            raise NotConnected(f"{self}: not connected")
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        if self._command_callbacks:
            self._observe(data, None)
        self._replies.append((data, fut))
        wire.transport.write(data)
        self.stats.commands_out += 1
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise CommandTimeout(f"{self}: no reply to {_label(data)!r} within {timeout:g} s"
                                 ) from None

    def on_command(self, callback: CommandCallback) -> CommandCallback:
        """Call ``callback(data, None)`` with each command just before it is written, and
        ``callback(data, reply)`` when its reply frame arrives (in wire order, before the
        frame callbacks see it). ``data`` is the serialized command (an ``auth`` password
        is masked). Callbacks run inline: keep them quick."""
        self._command_callbacks.append(callback)
        return callback

    def _observe(self, data: bytes, reply: Frame | None) -> None:
        if data.startswith((b"auth ", b"userauth ")):
            data = data.split(b" ", 1)[0] + b" ********\n\n"
        for cb in list(self._command_callbacks):
            try:
                cb(data, reply)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: command callback %r failed", self, cb)

    async def _wait_connected(self, timeout: float) -> None:
        raise NotConnected(f"{self}: not connected")

    async def command(self, data: bytes, *, timeout: float | None = None) -> str:
        """Send a command; return its reply text; ``-ERR`` raises :class:`CommandError`."""
        frame = await self.send(data, timeout=timeout)
        text = frame.reply_text if frame.content_type == COMMAND_REPLY else frame.text
        if text.startswith("-ERR"):
            raise CommandError(_label(data), text)
        return text

    # -- events --------------------------------------------------------------------
    def on_event(self, callback: EventCallback | str | None = None, *names: str) -> Any:
        """Call ``callback(event)`` for events of ``names`` (all events if none given).

        Also a decorator: ``@client.on_event("CHANNEL_ANSWER")`` (or bare
        ``@client.on_event``). CUSTOM events match their subclass name too. Callbacks run
        inside the read loop: keep them quick (hand slow work to a task or use
        :meth:`events`).
        """
        if callback is None or isinstance(callback, str):
            wanted = names if callback is None else (callback, *names)

            def register(func: EventCallback) -> EventCallback:
                self._callbacks.append((_names(wanted), func))
                return func
            return register
        self._callbacks.append((_names(names), callback))
        return callback

    def remove_callback(self, callback: Callable[..., Any]) -> None:
        """Forget ``callback`` (an event, frame, command or state callback)."""
        self._callbacks = [(n, cb) for n, cb in self._callbacks if cb is not callback]
        self._frame_callbacks = [cb for cb in self._frame_callbacks if cb is not callback]
        self._command_callbacks = [cb for cb in self._command_callbacks if cb is not callback]
        self._state_callbacks = [cb for cb in self._state_callbacks if cb is not callback]

    def on_frame(self, callback: FrameCallback) -> FrameCallback:
        """Call ``callback(frame)`` for every non-event frame (log/data, notices, replies)."""
        self._frame_callbacks.append(callback)
        return callback

    def events(self, *names: str, maxsize: int | None = None) -> EventStream:
        """An async iterator over events of ``names`` (all if none), with its own queue."""
        stream = EventStream(self, _names(names) or (), maxsize or self.queue_size)
        self._streams.add(stream)
        if self._ended:  # a closed connection delivers nothing more: end at once
            stream.close()
        return stream

    # -- subscriptions -----------------------------------------------------------------
    async def subscribe(self, *names: str, format: str | None = None) -> str:
        """``event <format> <names>``; FreeSWITCH keeps one format per connection."""
        fmt = format or self.event_format
        wanted = [n for name in names for n in name.split()]
        text = await self.command(commands.event(*wanted, format=fmt))
        self.event_format = fmt
        self.event_names.update(wanted)
        if "CUSTOM" in wanted:  # FreeSWITCH reads every word after CUSTOM as a subclass
            self._subclasses.update(wanted[wanted.index("CUSTOM") + 1:])
        return text

    async def unsubscribe(self, *names: str) -> str:
        """``nixevent <names>``."""
        wanted = [n for name in names for n in name.split()]
        text = await self.command(commands.nixevent(*wanted))
        self.event_names.difference_update(wanted)
        self._subclasses.difference_update(wanted)
        return text

    async def noevents(self) -> str:
        """``noevents``: stop all event delivery."""
        text = await self.command(commands.noevents())
        self.event_names.clear()
        self._subclasses.clear()
        return text

    async def filter(self, header: str, value: str) -> str:
        """``filter <header> <value>``: only matching events are delivered."""
        text = await self.command(commands.filter(header, value))
        self.filters.append((header, value))
        return text

    async def filter_delete(self, header: str, value: str | None = None) -> str:
        """``filter delete <header> [<value>]`` (``header="all"`` removes every filter)."""
        text = await self.command(commands.filter_delete(header, value))
        if header == "all":
            self.filters.clear()
        else:
            self.filters = [(h, v) for h, v in self.filters
                            if not (h == header and (value is None or v == value))]
        return text

    def _subscribed(self, name: str) -> bool:
        return "ALL" in self.event_names or name in self.event_names

    # -- api / bgapi -----------------------------------------------------------------------
    async def api(self, command: str, *, timeout: float | None = None, check: bool = False) -> str:
        """Run ``api <command>`` and return its output verbatim.

        FreeSWITCH answers failures in the body (``-ERR ...``, ``-USAGE: ...``); test with
        :func:`~switchio_lab.connection.is_error`, or pass ``check=True`` to raise
        :class:`ApiError`. The connection waits for the answer (FreeSWITCH runs api
        commands inline), so a slow command delays later replies on this connection.
        """
        data = commands.api(command)
        frame = await self.send(data, timeout=timeout)
        if frame.content_type != API_RESPONSE:  # e.g. "-ERR command not found" before auth
            raise CommandError(_label(data), frame.reply_text or frame.text)
        text = frame.text
        if check and is_error(text):
            raise ApiError(_label(data), text.strip())
        return text

    async def bgapi(self, command: str, *, job_uuid: str | None = None,
                    timeout: float | None = None) -> Job:
        """Run ``bgapi <command>``; return a :class:`Job` whose result comes later.

        The Job-UUID is chosen here and the job registered before the command is sent,
        so a fast BACKGROUND_JOB is never missed. The connection subscribes to
        BACKGROUND_JOB (and lets it through any filters) if it was not already.
        """
        job = Job(job_uuid or str(uuidlib.uuid4()), command)
        data = commands.bgapi(command, job_uuid=job.uuid)  # a bad argument: nothing is sent
        await self._ensure_job_events()
        self._jobs[job.uuid] = job
        try:
            await self.command(data, timeout=timeout)
        except BaseException:
            self._jobs.pop(job.uuid, None)
            raise
        return job

    async def _ensure_job_events(self) -> None:
        if not self._subscribed("BACKGROUND_JOB"):
            await self.subscribe("BACKGROUND_JOB")
        if self.filters and ("Event-Name", "BACKGROUND_JOB") not in self.filters:
            await self.filter("Event-Name", "BACKGROUND_JOB")

    # -- session control -------------------------------------------------------------------
    async def sendmsg(self, uuid: str | None = None, call_command: str = "execute",
                      headers: dict[str, object] | None = None, body: str = "",
                      *, timeout: float | None = None) -> str:
        """``sendmsg [<uuid>]`` with ``call-command`` and its headers."""
        return await self.command(commands.sendmsg(uuid, call_command, headers, body),
                                  timeout=timeout)

    async def execute(self, app: str, arg: str = "", uuid: str | None = None, *,
                      event_lock: bool = False, async_: bool = False, loops: int | None = None,
                      event_uuid: str | None = None, timeout: float | None = None) -> str:
        """Execute dialplan application ``app`` on a session (``sendmsg`` execute).

        The reply only says the message was queued; the application's own progress is
        told by CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE (tag them with ``event_uuid``).
        """
        return await self.command(
            commands.execute(app, arg, uuid, event_lock=event_lock, async_=async_, loops=loops,
                             event_uuid=event_uuid), timeout=timeout)

    async def hangup(self, uuid: str | None = None, cause: str = "NORMAL_CLEARING", *,
                     timeout: float | None = None) -> str:
        """Hang a session up (``sendmsg`` with ``call-command: hangup``)."""
        return await self.command(commands.hangup(uuid, cause), timeout=timeout)

    async def sendevent(self, name: str, headers: dict[str, object] | None = None,
                        body: str = "", *, timeout: float | None = None) -> str:
        """Fire an event into the switch (``sendevent <NAME>``)."""
        return await self.command(commands.sendevent(name, headers, body), timeout=timeout)

    async def myevents(self, uuid: str | None = None, format: str | None = None) -> str:
        """``myevents [<uuid>]``: receive only that session's events."""
        text = await self.command(commands.myevents(uuid, format))
        self._myevents = (uuid, format)
        return text

    async def linger(self, seconds: int | None = None) -> str:
        """``linger [seconds]``: keep the socket open after the session hangs up."""
        text = await self.command(commands.linger(seconds))
        self._linger = seconds if seconds is not None else True
        return text

    async def nolinger(self) -> str:
        text = await self.command(commands.nolinger())
        self._linger = None
        return text

    async def log(self, level: int | str | None = None) -> str:
        """``log [level]``: receive log/data frames (see :meth:`on_frame`)."""
        text = await self.command(commands.log(level))
        self._log_level = level if level is not None else True
        return text

    async def nolog(self) -> str:
        text = await self.command(commands.nolog())
        self._log_level = None
        return text

    async def divert_events(self, on: bool = True) -> str:
        return await self.command(commands.divert_events(on))

    def __str__(self) -> str:
        return "esl"

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{type(self).__name__} {self} {state}>"


def _names(names: Iterable[str]) -> frozenset[str] | None:
    flat = {n for name in names for n in name.split()}
    if not flat or "ALL" in flat:
        return None
    return frozenset(flat)


def _label(data: bytes) -> str:
    """The command line of a serialized command, for error messages."""
    line = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    if line.startswith("auth "):
        return "auth ********"
    return line if len(line) <= 120 else line[:117] + "..."
