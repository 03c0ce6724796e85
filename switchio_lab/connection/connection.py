"""What inbound clients and outbound sessions share: an asyncio adapter for the protocol.

A :class:`Connection` drives one :class:`~switchio_lab.esl.protocol.ClientProtocol`
(which holds the parser, reply matching, auth, linger and subscription state) over an
asyncio transport: it writes the bytes the protocol gives it, feeds it every read, and
turns what comes out into resolved futures, jobs, callbacks (called inline: keep them
quick) and :class:`~switchio_lab.connection.streams.EventStream` queues (each bounded,
so a slow consumer never stops the socket from being read).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    Event,
    Frame,
    ProtocolError,
    commands,
)
from ..esl.protocol import (
    AuthRequested,
    ClientProtocol,
    FramingError,
    Lingering,
    Rejected,
    Reply,
    Subscriptions,
    Unsolicited,
    passes_filters,
)
from ..esl.requests import Request
from .errors import (
    ApiError,
    CommandError,
    CommandTimeout,
    ConnectionLost,
    NotConnected,
    is_error,
)
from .jobs import Job
from .streams import EventStream

log = logging.getLogger("switchio_lab.connection")

EventCallback = Callable[[Event], Any]
FrameCallback = Callable[[Frame], Any]
StateCallback = Callable[[str, "Connection"], Any]
CommandCallback = Callable[[Request, "Frame | None"], Any]

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
    bad_events: int = 0  # events that did not decode (skipped, never fatal)
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


class Connection:
    """Commands and event delivery over one Event Socket connection (inbound or outbound)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, queue_size: int = DEFAULT_QUEUE,
                 inbound: bool = True):
        self.timeout = timeout
        self.queue_size = queue_size
        self.stats = Stats()
        self.protocol = ClientProtocol(inbound=inbound)
        self._wire: _Wire | None = None
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
        self._last_state: str | None = None  # the last state told to on_state callbacks
        self._handshaker: asyncio.Task[Any] | None = None  # ... but only the handshake's own
        self.last_error: BaseException | None = None
        self._fatal: ProtocolError | None = None  # what broke the current wire, if anything
        self._last_rx = 0.0  # time.monotonic() of the last read

    # -- what the server has been told (the protocol's record of accepted commands) -------
    @property
    def subscriptions(self) -> Subscriptions:
        """Subscriptions, filters, myevents, linger and log level the server accepted."""
        return self.protocol.subscriptions

    @property
    def event_format(self) -> str:
        return self.protocol.subscriptions.format

    @property
    def event_names(self) -> set[str]:
        """The events the user subscribed to (not the client's own BACKGROUND_JOB)."""
        return self.protocol.subscriptions.names

    @property
    def filters(self) -> list[tuple[str, str]]:
        """The user's filters (not the one the client adds to let BACKGROUND_JOB through;
        the server's whole list is ``subscriptions.server_filters``)."""
        return self.protocol.subscriptions.filters

    def is_subscribed(self, name: str) -> bool:
        """True if the user subscribed to events called ``name`` (or CUSTOM subclass
        ``name``)."""
        return self.protocol.subscriptions.is_subscribed(name)

    @property
    def lingering(self) -> bool:
        """True once the server said it lingers (the session hung up, ``linger`` set)."""
        return self.protocol.lingering

    @property
    def disconnect_notice(self) -> Frame | None:
        """The server's goodbye (or rude rejection) frame on this connection, if any."""
        return self.protocol.disconnect_notice

    @property
    def pending_jobs(self) -> int:
        """Background jobs sent on this connection whose result has not arrived."""
        return len(self._jobs)

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
        if state == "closed" and self._last_state == "closed":
            return  # two paths (close() and the transport's loss) may both end it: say it once
        self._last_state = state
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
        self._fatal = None
        self.protocol.connection_made()

    def _data_received(self, wire: _Wire, data: bytes) -> None:
        if wire is not self._wire:
            return
        stats = self.stats
        stats.bytes_in += len(data)
        self._last_rx = time.monotonic()
        items = self.protocol.receive_data(data)
        stats.frames_in += len(items)
        # every event of one read is delivered here in one loop (in stream order, each to
        # every callback before the next): what does not change within a read is looked
        # up once
        subs = self.protocol.subscriptions
        own = bool(subs.own_names or subs.own_filters)
        jobs = self._jobs
        events = 0
        for item in items:
            if type(item) is not Event:
                try:
                    self._handle(item)
                except Exception:  # never let anything escape into the transport
                    stats.callback_errors += 1
                    log.exception("%s: handling %r failed", self, item)
                continue
            events += 1
            try:
                name = item.key
            except ProtocolError as exc:  # a JSON/XML event that does not decode
                self._bad_event(exc)
                continue
            if name == "BACKGROUND_JOB" and jobs:
                job = jobs.pop(item.get("Job-UUID", ""), None)
                if job is not None:
                    try:
                        job._resolve(item)
                    except Exception:
                        stats.callback_errors += 1
                        log.exception("%s: resolving job %s failed", self, job.uuid)
            if own and subs.only_own(item):
                continue  # it came for the client's own use (a job's result), not the user's
            ename = None
            for names, cb in self._callbacks:
                if names is None or name in names or (
                        name != (ename := ename or item.name) and ename in names):
                    try:
                        cb(item)
                    except Exception:
                        stats.callback_errors += 1
                        log.exception("%s: event callback %r failed on %s", self, cb, name)
            if self._streams:
                self._to_streams(item, name)
        stats.events_in += events

    def _broken(self, exc: ProtocolError) -> None:
        log.error("%s: protocol error, closing the connection: %s", self, exc)
        self.last_error = self._fatal = exc
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.abort()

    def _handle(self, item: Any) -> None:
        """A non-event frame: resolve its command, or note what the server said."""
        kind = type(item)
        if kind is Reply:
            if self._command_callbacks:
                self._observe(item.request, item.frame)
            fut = item.token
            if not fut.done():
                fut.set_result(item.frame)
            else:  # a timed-out (or cancelled) command's slot absorbs its late reply
                log.info("%s: late reply to %r dropped: %r", self, item.request.label,
                         item.frame)
        elif kind is Unsolicited:
            log.warning("%s: reply with no command waiting: %r", self, item.frame)
        elif kind is AuthRequested or kind is Rejected:
            if self._auth_waiter is not None and not self._auth_waiter.done():
                self._auth_waiter.set_result(item.frame)
        elif kind is Lingering:
            self._notify("linger")
        elif kind is FramingError:
            self._broken(item.error)
            return
        frame = item.frame
        for cb in self._frame_callbacks:
            try:
                cb(frame)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: frame callback %r failed", self, cb)

    def _bad_event(self, exc: ProtocolError) -> None:
        n = self.stats.bad_events = self.stats.bad_events + 1
        if n & (n - 1) == 0:  # the 1st, 2nd, 4th, 8th ...: never a log flood
            log.error("%s: undecodable event skipped (%d so far): %s", self, n, exc)

    def _to_streams(self, event: Event, name: str) -> None:
        for stream in self._streams:
            if stream.names is None or name in stream.names or event.name in stream.names:
                stream._put(event)

    def _deliver(self, event: Event) -> None:
        """Deliver one event as a read does (jobs, callbacks, streams)."""
        self.stats.events_in += 1
        try:
            name = event.key
        except ProtocolError as exc:  # a JSON/XML event that does not decode: it costs itself
            self._bad_event(exc)
            return
        if name == "BACKGROUND_JOB":
            job = self._jobs.pop(event.get("Job-UUID", ""), None)
            if job is not None:
                job._resolve(event)
        subs = self.protocol.subscriptions
        if (subs.own_names or subs.own_filters) and subs.only_own(event):
            return  # it came for the client's own use (a job's result), not the user's
        ename = None
        for names, cb in self._callbacks:
            if names is None or name in names or (
                    name != (ename := ename or event.name) and ename in names):
                try:
                    cb(event)
                except Exception:
                    self.stats.callback_errors += 1
                    log.exception("%s: event callback %r failed on %s", self, cb, name)
        if self._streams:
            self._to_streams(event, name)

    def _connection_lost(self, wire: _Wire, exc: Exception | None) -> None:
        if wire is not self._wire:
            return
        self._wire = None
        self._connected.clear()
        if exc is not None:
            self.last_error = exc
        reason = self._loss_reason(exc)
        lost = ConnectionLost(f"{self}: connection lost ({reason})")
        for request, fut in self.protocol.connection_lost():
            if not fut.done():
                fut.set_exception(ConnectionLost(f"{self}: connection lost ({reason}) before "
                                                 f"the reply to {request.label!r}"))
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
    async def send(self, data: bytes, *, timeout: float | None = None,
                   own: bool = False, max_reply: int | None = None) -> Frame:
        """Write one serialized command and return its reply frame (``command/reply`` or
        ``api/response``). Replies are matched to commands in the order they were sent.
        ``own``: the connection sends it for itself (a subscription or filter it needs),
        recorded apart from the user's (see :class:`~switchio_lab.esl.protocol.Subscriptions`).
        """
        timeout = self.timeout if timeout is None else timeout
        if not self.connected and not (self._handshaking and self._wire is not None
                                       and asyncio.current_task() is self._handshaker):
            await self._wait_connected(timeout)
        wire = self._wire
        if wire is None or wire.transport is None:
            raise NotConnected(f"{self}: not connected")
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        request = self.protocol.send(data, fut, own=own, max_reply=max_reply)
        if self._command_callbacks:
            self._observe(request, None)
        wire.transport.write(request)
        self.stats.commands_out += 1
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._check_stalled(wire, timeout)
            raise CommandTimeout(f"{self}: no reply to {request.label!r} within {timeout:g} s"
                                 ) from None

    def _check_stalled(self, wire: _Wire, timeout: float) -> None:
        """A command timed out while a frame sat half-received and no byte came for as
        long: the stream is wedged (every later reply would queue behind the missing
        bytes), so drop the connection; an inbound client with ``reconnect`` then opens
        a fresh one."""
        buffered = self.protocol.parser.buffered
        if (wire is self._wire and buffered
                and time.monotonic() - self._last_rx >= timeout * 0.9):
            self._broken(ProtocolError(f"stalled mid-frame: {buffered} bytes of an unfinished "
                                       f"frame and no progress within the command timeout"))

    def on_command(self, callback: CommandCallback) -> CommandCallback:
        """Call ``callback(request, None)`` with each command just before it is written, and
        ``callback(request, reply)`` when its reply frame arrives (in wire order, before the
        frame callbacks see it). ``request`` is a :class:`~switchio_lab.esl.requests.Request`:
        the command's bytes with its ``name``, ``uuid``, ``job_uuid`` and a ``text`` in
        which an ``auth`` password is masked. Callbacks run inline: keep them quick."""
        self._command_callbacks.append(callback)
        return callback

    def _observe(self, request: Request, reply: Frame | None) -> None:
        request = request.masked()  # no observer ever sees a password
        for cb in list(self._command_callbacks):
            try:
                cb(request, reply)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: command callback %r failed", self, cb)

    async def _wait_connected(self, timeout: float) -> None:
        raise NotConnected(f"{self}: not connected")

    async def command(self, data: bytes, *, timeout: float | None = None,
                      own: bool = False) -> str:
        """Send a command; return its reply text; ``-ERR`` raises :class:`CommandError`."""
        frame = await self.send(data, timeout=timeout, own=own)
        text = frame.reply_text if frame.content_type == COMMAND_REPLY else frame.text
        if text.startswith("-ERR"):
            raise CommandError(Request.parse(data).label, text)
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
        wanted = [n for name in names for n in name.split()]
        return await self.command(commands.event(*wanted, format=format or self.event_format))

    async def unsubscribe(self, *names: str) -> str:
        """``nixevent <names>``."""
        text = await self.command(commands.nixevent(*names))
        await self._own_after_user_change()
        return text

    async def noevents(self) -> str:
        """``noevents``: stop all event delivery."""
        text = await self.command(commands.noevents())
        await self._own_after_user_change()
        return text

    async def filter(self, header: str, value: str) -> str:
        """``filter <header> <value>``: only matching events are delivered (FreeSWITCH
        ORs filters: an event passes if any ``header value`` matches and no
        ``header -value`` does)."""
        text = await self.command(commands.filter(header, value))
        await self._own_after_user_change()
        return text

    async def filter_delete(self, header: str, value: str | None = None) -> str:
        """``filter delete <header> [<value>]`` (``header="all"`` removes every filter).

        When the user's last filter goes, so does the one the client added for
        BACKGROUND_JOB: the connection is unfiltered again, as the user asked."""
        text = await self.command(commands.filter_delete(header, value))
        await self._own_after_user_change()
        return text

    # -- api / bgapi -----------------------------------------------------------------------
    async def api(self, command: str, *, timeout: float | None = None, check: bool = False,
                  max_reply: int | None = None) -> str:
        """Run ``api <command>`` and return its output verbatim.

        ``max_reply`` raises the 16 MiB frame cap for this command's answer only (for
        commands whose output grows with the switch, e.g. ``show channels as json``).

        FreeSWITCH answers failures in the body (``-ERR ...``, ``-USAGE: ...``); test with
        :func:`~switchio_lab.connection.is_error`, or pass ``check=True`` to raise
        :class:`ApiError`. The connection waits for the answer (FreeSWITCH runs api
        commands inline), so a slow command delays later replies on this connection.
        """
        data = commands.api(command)
        frame = await self.send(data, timeout=timeout, max_reply=max_reply)
        if frame.content_type != API_RESPONSE:  # e.g. "-ERR command not found" before auth
            raise CommandError(data.label, frame.reply_text or frame.text)
        text = frame.text
        if check and is_error(text):
            raise ApiError(data.label, text.strip())
        return text

    async def bgapi(self, command: str, *, job_uuid: str | None = None,
                    timeout: float | None = None) -> Job:
        """Run ``bgapi <command>``; return a :class:`Job` whose result comes later.

        The Job-UUID is chosen here and the job registered before the command is sent,
        so a fast BACKGROUND_JOB is never missed. The connection subscribes to
        BACKGROUND_JOB (and lets it through the user's filters) if it was not already:
        for itself, so these subscriptions and filters are not the user's
        (:attr:`event_names` and :attr:`filters` do not show them) and events that come
        only because of them reach no callback or stream (only the job).
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
        """Make the server send BACKGROUND_JOB here: the client's own subscription, and
        its own filter while the user has filters that would stop it."""
        subs = self.subscriptions
        if not subs.delivered("BACKGROUND_JOB"):
            await self.command(commands.event("BACKGROUND_JOB", format=self.event_format),
                               own=True)
        if subs.filters and not passes_filters(subs.server_filters, _JOB_PROBE):
            await self.command(commands.filter(*JOB_FILTER), own=True)

    async def _own_after_user_change(self) -> None:
        """The user changed subscriptions or filters: the client's own follow.

        Without user filters the client's filter goes (the connection is unfiltered, as
        the user left it); with jobs still waiting, BACKGROUND_JOB is asked for again if
        the change stopped it."""
        subs = self.subscriptions
        if subs.own_filters and not subs.filters:
            for header, value in list(subs.own_filters):
                await self.command(commands.filter_delete(header, value), own=True)
        if self._jobs:
            await self._ensure_job_events()

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
        return await self.command(commands.myevents(uuid, format))

    async def linger(self, seconds: int | None = None) -> str:
        """``linger [seconds]``: keep the socket open after the session hangs up."""
        return await self.command(commands.linger(seconds))

    async def nolinger(self) -> str:
        return await self.command(commands.nolinger())

    async def log(self, level: int | str | None = None) -> str:
        """``log [level]``: receive log/data frames (see :meth:`on_frame`)."""
        return await self.command(commands.log(level))

    async def nolog(self) -> str:
        return await self.command(commands.nolog())

    async def divert_events(self, on: bool = True) -> str:
        return await self.command(commands.divert_events(on))

    def __str__(self) -> str:
        return "esl"

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{type(self).__name__} {self} {state}>"


#: the filter the client adds for its jobs' results, and an event it must let through
JOB_FILTER = ("Event-Name", "BACKGROUND_JOB")
_JOB_PROBE = Event.from_headers({"Event-Name": "BACKGROUND_JOB"})


def _names(names: Iterable[str]) -> frozenset[str] | None:
    flat = {n for name in names for n in name.split()}
    if not flat or "ALL" in flat:
        return None
    return frozenset(flat)
