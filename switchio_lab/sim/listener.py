"""The switch's side of one Event Socket connection (inbound, or outbound via ``socket``).

Replies use FreeSWITCH's exact texts (see the ``commands`` capture). Commands run one
at a time in arrival order, as in mod_event_socket: an ``api`` command holds the
connection until it finishes; ``bgapi`` answers at once and reports by BACKGROUND_JOB.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid as uuidlib
from collections import deque
from typing import TYPE_CHECKING

from ..esl import Command, CommandParser, ProtocolError, replies
from ..esl.events import FORMATS
from .events import SimEvent

if TYPE_CHECKING:
    from .channel import Channel
    from .node import Node

log = logging.getLogger("switchio_lab.sim")

#: what ``myevents`` (and an outbound socket) delivers: mod_event_socket's fixed list
MYEVENTS = frozenset({
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
    "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_PARK", "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK",
    "DETECTED_SPEECH", "DTMF", "CUSTOM", "RECORD_START", "RECORD_STOP", "CALL_UPDATE",
    "MEDIA_BUG_START", "MEDIA_BUG_STOP",
})

#: commands parsed but not yet run: past QUEUE_HIGH the connection stops reading the client
#: (TCP pushes back) until the worker is down to QUEUE_LOW, so a flood of commands, or commands
#: queued behind a blocking ``api``, costs bounded memory (FreeSWITCH reads one at a time)
QUEUE_HIGH = 256
QUEUE_LOW = 64
FEED_SLICE = 4096  # bytes parsed per step
#: what one connection writes is collected and written once per loop tick (one
#: ``transport.write`` for every event and reply of the tick), or as soon as this much is
#: waiting (so that the transport's buffer limits, and with them the backlog caps, still
#: hold within a tick that fires thousands of events)
WRITE_BATCH = 256 * 1024

LOG_LEVELS = {"console": 0, "emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3,
              "warning": 4, "notice": 5, "info": 6, "debug": 7}
LOG_NAMES = {0: "CONSOLE", 1: "ALERT", 2: "CRIT", 3: "ERR", 4: "WARNING", 5: "NOTICE", 6: "INFO",
             7: "DEBUG"}


class Listener(asyncio.Protocol):
    """One ESL connection. ``session`` is the controlled channel (outbound or myevents)."""

    def __init__(self, node: Node, session: Channel | None = None) -> None:
        self.node = node
        self.outbound = session is not None
        self.session = session
        self.authed = self.outbound
        self.transport: asyncio.Transport | None = None
        self.parser = CommandParser()
        self.queue: asyncio.Queue[Command | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.format: str | None = None  # None: not listening for events
        self.all_events = False
        self.names: set[str] = set()
        self.custom: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.myevents: str | None = None
        self.linger: int | None = None
        self.log_level: int | None = None
        self.lost = 0
        self.session_over = False  # the controlled session was reported: no more of its events
        self.backlog: deque[bytes] = deque()
        self.log_backlog: deque[bytes] = deque()  # log lines while the client is not reading
        self.lost_logs = 0
        self.paused = False
        self.reading_paused = False
        self._unfed = bytearray()  # read from the client, not yet parsed (see _feed)
        self._broken = False  # the client's framing broke: nothing more is parsed
        self._writable = asyncio.Event()
        self._writable.set()
        self._out: list[bytes] = []  # written this tick, not yet given to the transport
        self._out_size = 0
        self.closing = False
        self.connected_event: asyncio.Future[None] | None = None
        self._auth_timer: asyncio.TimerHandle | None = None

    # -- asyncio protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.node.connections.add(self)
        self.transport.set_write_buffer_limits(high=4 * 1024 * 1024)  # type: ignore[union-attr]
        self.worker = asyncio.get_running_loop().create_task(self._work())
        if self.outbound:
            self.node.listeners.add(self)
        else:
            self._write(replies.auth_request())
            self._auth_timer = asyncio.get_running_loop().call_later(
                self.node.config.auth_timeout, self._auth_expired)

    def _auth_expired(self) -> None:
        """No ``auth`` in time: drop the connection, as FreeSWITCH does after 25 s."""
        if not self.authed:
            log.info("%s: no authentication within %g s, closing", self,
                     self.node.config.auth_timeout)
            self.close()

    def data_received(self, data: bytes) -> None:
        self._unfed += data
        self._feed()

    def _feed(self) -> None:
        """Parse what the client sent, a slice at a time, while the command queue has room:
        a 256 KiB read of tiny commands is parsed in steps (never one long stall), and
        past QUEUE_HIGH the rest waits here, with reading paused, until the worker drains."""
        while self._unfed and self.queue.qsize() < QUEUE_HIGH and not self._broken:
            piece = bytes(self._unfed[:FEED_SLICE])
            del self._unfed[:FEED_SLICE]
            try:
                for cmd in self.parser.feed(piece):
                    self.queue.put_nowait(cmd)
            except ProtocolError as exc:
                self._broken = True
                self._unfed.clear()
                # the message and position only: the raw bytes may hold a password (auth ...)
                log.warning("%s: bad input from client at byte %d, closing: %s", self,
                            exc.position, exc.message)
                if exc.messages:  # the complete commands before the bad one run first
                    for cmd in exc.messages:
                        self.queue.put_nowait(cmd)
                    self.queue.put_nowait(exc)
                else:
                    self._refuse(exc)
        full = bool(self._unfed) or self.queue.qsize() >= QUEUE_HIGH
        if full != self.reading_paused and self.transport is not None \
                and not self.transport.is_closing():
            self.reading_paused = full
            if full:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _refuse(self, exc: ProtocolError) -> None:
        self._write(replies.command_reply(f"-ERR {exc.message}"))
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.node.listeners.discard(self)
        self.node.connections.discard(self)
        self.closing = True
        self._writable.set()  # a worker waiting for the client to read: let it end
        self.queue.put_nowait(None)
        if self.session is not None:
            self.session.listener_gone(self)

    def pause_writing(self) -> None:
        self.paused = True
        self._writable.clear()

    def resume_writing(self) -> None:
        self.paused = False
        self._flush()
        while (self.backlog or self.log_backlog) and not self.paused and self.transport:
            queue = self.backlog or self.log_backlog
            chunk, size = [], 0
            while queue and size < WRITE_BATCH:  # what was held back, in large writes
                data = queue.popleft()
                chunk.append(data)
                size += len(data)
            self.transport.write(b"".join(chunk))
        if not self.paused:
            self._writable.set()

    # -- output ---------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        """Write a reply (or notice) now: after the events batched before it, in order."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._out:
            self._out.append(data)
            self._flush()
        else:
            transport.write(data)

    def _write_event(self, data: bytes) -> None:
        """Batch an event frame: written with the others of this loop tick."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        out = self._out
        out.append(data)
        if len(out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out_size += len(data)
        if self._out_size >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        """Hand what was written since the last flush to the transport, in one write."""
        out = self._out
        if not out:
            return
        self._out = []
        self._out_size = 0
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _reply(self, text: str, **headers: str) -> None:
        self._write(replies.command_reply(text, headers or None))

    def close(self, notice: bool = True) -> None:
        """Say goodbye (disconnect-notice) and close."""
        if self.transport is None or self.transport.is_closing():
            return
        if notice:
            self._write(replies.disconnect_notice(self.session.uuid if self.session else None))
        self._flush()  # what was written before the goodbye goes out before the close
        self.node.listeners.discard(self)
        self.transport.close()

    def deliver(self, event: SimEvent) -> None:
        """Queue ``event`` if this connection listens for it (subscription, filters)."""
        fmt = self.format
        if fmt is None:
            return
        name = event.name
        if not self.all_events and name not in self.names:
            if name != "CUSTOM" or event.subclass not in self.custom:
                return
        if self.myevents is not None and (self.session_over
                                          or event.get("Unique-ID") != self.myevents):
            return
        if self.filters:
            for header, value in self.filters:
                if event.get(header) == value:
                    break
            else:
                return
        data = event.frame(fmt)
        if not self.paused:
            self._write_event(data)
        elif len(self.backlog) < self.node.config.listener_queue:
            self.backlog.append(data)
        else:
            self.lost += 1
            if self.lost > self.node.config.listener_max_lost:
                log.error("%s: killed listener because of lost events", self)
                self.backlog.clear()
                if self.transport is not None:
                    self.transport.abort()

    def log_line(self, level: int, text: str, uuid: str = "", file: str = "", func: str = "",
                 line: int = 0) -> None:
        if self.log_level is None or level > self.log_level:
            return
        if self.myevents is not None and uuid and uuid != self.myevents:
            return
        data = replies.log_data(text, level, file=file, func=func, line=line, user_data=uuid)
        if not self.paused:
            self._write(data)
        elif len(self.log_backlog) < self.node.config.listener_queue:
            self.log_backlog.append(data)  # a log queue capped like the event queue
        else:
            self.lost_logs += 1
            if self.lost_logs > self.node.config.listener_max_lost:
                log.error("%s: killed listener because of lost log lines", self)
                self.log_backlog.clear()
                if self.transport is not None:
                    self.transport.abort()

    def session_ended(self, channel: Channel) -> None:
        """The controlled session hung up: linger, or say goodbye and close."""
        self.session_over = True
        if self.linger is not None:
            self._write(replies.linger_notice(channel.uuid, channel.name, self.linger))
            if self.linger >= 0:
                asyncio.get_running_loop().call_later(self.linger, self.close)
        elif self.outbound or self.myevents == channel.uuid:
            self.close()

    # -- commands -------------------------------------------------------------------
    async def _work(self) -> None:
        ran = 0
        while True:
            cmd = await self.queue.get()
            ran += 1
            if ran % 64 == 0:  # a queue of commands that never suspend must not hold the loop
                await asyncio.sleep(0)
            if self.reading_paused and self.queue.qsize() <= QUEUE_LOW:
                self._feed()  # more of what was read, then reading again once it is all in
            if not self._writable.is_set():  # the client does not read its replies: wait
                await self._writable.wait()
            if cmd is None or self.transport is None or self.transport.is_closing():
                return
            if isinstance(cmd, ProtocolError):  # the bad block, after the commands before it
                self._refuse(cmd)
                return
            try:
                await self._handle(cmd)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: command %r failed", self, cmd.line)
                self._reply("-ERR internal error")

    async def _handle(self, cmd: Command) -> None:
        name, args = cmd.name, cmd.args.strip()
        if not self.authed:
            if name == "auth":
                if hmac.compare_digest(args.encode("utf-8", "surrogateescape"),
                                       self.node.config.password.encode("utf-8")):
                    self.authed = True
                    if self._auth_timer is not None:
                        self._auth_timer.cancel()
                    self.node.listeners.add(self)
                    self._reply("+OK accepted")
                else:
                    log.warning("%s: authentication failed", self)  # the password is never logged
                    self._reply("-ERR invalid")
                    self.close()
            else:
                self._reply("-ERR command not found")
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None or (self.outbound is False and name in ("connect", "getvar",
                                                                   "resume")):
            self._reply("-ERR command not found")
            return
        await handler(cmd, args)

    async def _cmd_exit(self, cmd: Command, args: str) -> None:
        self._reply("+OK bye")
        self.close()

    async def _cmd_event(self, cmd: Command, args: str) -> None:
        words = args.split()
        fmt = "plain"
        if words and words[0].lower() in FORMATS:
            fmt = words.pop(0).lower()
        if not words:
            self._reply("-ERR no keywords supplied")
            return
        custom = False
        for word in words:
            if custom:
                self.custom.add(word)
            elif word == "CUSTOM":
                custom = True
                self.names.add(word)
            elif word == "ALL":
                self.all_events = True
            else:
                self.names.add(word)
        self.format = fmt
        self._reply(f"+OK event listener enabled {fmt}")

    async def _cmd_nixevent(self, cmd: Command, args: str) -> None:
        words = args.split()
        if not words:
            self._reply("-ERR no keywords supplied")
            return
        for word in words:
            if word == "ALL":
                self.all_events = False
                self.names.clear()
                self.custom.clear()
            self.names.discard(word)
            self.custom.discard(word)
        self._reply("+OK events nixed")

    async def _cmd_noevents(self, cmd: Command, args: str) -> None:
        if self.format is None:
            self._reply("-ERR not listening for events")
            return
        self.format = None
        self.all_events = False
        self.names.clear()
        self.custom.clear()
        self._reply("+OK no longer listening for events")

    async def _cmd_filter(self, cmd: Command, args: str) -> None:
        words = args.split(None, 2)
        if words and words[0] == "delete":
            if len(words) < 2:
                self._reply("-ERR invalid syntax")
                return
            header = words[1]
            value = words[2] if len(words) > 2 else None
            if header == "all":
                self.filters.clear()
            else:
                self.filters = [(h, v) for h, v in self.filters
                                if not (h == header and (value is None or v == value))]
            self._reply(f"+OK filter deleted. [{header}][{value or ''}]")
            return
        if len(words) < 2:
            self._reply("-ERR command not found" if not words else "-ERR invalid syntax")
            return
        header, value = words[0], args.split(None, 1)[1]
        self.filters.append((header, value))
        self._reply(f"+OK filter added. [{header}]=[{value}]")

    async def _cmd_myevents(self, cmd: Command, args: str) -> None:
        words = args.split()
        uuid = None
        fmt = "plain"
        if self.outbound:
            uuid = self.session.uuid if self.session else None
            if words and words[0].lower() in FORMATS:
                fmt = words[0].lower()
        elif not words:
            self._reply("-ERR command not found")
            return
        else:
            uuid = words[0]
            if len(words) > 1 and words[1].lower() in FORMATS:
                fmt = words[1].lower()
        if self.myevents is not None:
            self._reply("-ERR aready enabled.")
            return
        channel = self.node.find(uuid) if uuid else None
        if channel is None:
            self._reply("-ERR invalid uuid")
            return
        self.myevents = uuid
        if not self.outbound:
            self.session = channel
        channel.watch(self)
        self.format = fmt
        self.names |= MYEVENTS
        self._reply("+OK Events Enabled")

    async def _cmd_linger(self, cmd: Command, args: str) -> None:
        if self.session is None:
            self._reply("-ERR not controlling a session")
            return
        if args:
            try:
                self.linger = int(args)
            except ValueError:
                self.linger = -1
            self._reply(f"+OK will linger {self.linger} seconds")
        else:
            self.linger = -1
            self._reply("+OK will linger")

    async def _cmd_nolinger(self, cmd: Command, args: str) -> None:
        if self.session is None:
            self._reply("-ERR not controlling a session")
            return
        self.linger = None
        self._reply("+OK will not linger")

    async def _cmd_divert_events(self, cmd: Command, args: str) -> None:
        if self.session is None:
            self._reply("-ERR not controlling a session.")
            return
        on = args.lower() in ("on", "true", "yes", "1")
        self._reply(f"+OK events {'diverted' if on else 'not diverted'}")

    async def _cmd_log(self, cmd: Command, args: str) -> None:
        level = 7
        if args:
            if args.isdigit():
                level = int(args)
            elif args.lower() in LOG_LEVELS:
                level = LOG_LEVELS[args.lower()]
            else:
                self._reply("-ERR invalid log level")
                return
        self.log_level = max(0, min(7, level))
        self._reply(f"+OK log level {args or level} [{self.log_level}]")

    async def _cmd_nolog(self, cmd: Command, args: str) -> None:
        if self.log_level is None:
            self._reply("-ERR not loging")
            return
        self.log_level = None
        self._reply("+OK no longer logging")

    async def _cmd_api(self, cmd: Command, args: str) -> None:
        if not args:
            self._reply("-ERR command not found")
            return
        body = await self.node.api.execute(args, listener=self)
        self._write(replies.api_response(body))

    async def _cmd_bgapi(self, cmd: Command, args: str) -> None:
        job = cmd.headers.get("Job-UUID") or str(uuidlib.uuid4())
        self._reply(f"+OK Job-UUID: {job}", **{"Job-UUID": job})
        asyncio.get_running_loop().create_task(self.node.api.background(args, job))

    async def _cmd_sendevent(self, cmd: Command, args: str) -> None:
        name = args.split()[0] if args else "CUSTOM"
        headers = {k: v for k, v in cmd.headers.items() if k.lower() != "content-length"}
        event_uuid = str(uuidlib.uuid4())
        headers.setdefault("Event-UUID", event_uuid)
        self.node.fire(name, headers, body=cmd.body.decode("utf-8", "replace"))
        self._reply(f"+OK {headers['Event-UUID']}")

    async def _cmd_sendmsg(self, cmd: Command, args: str) -> None:
        uuid = args.split()[0] if args else (self.session.uuid if self.session else "")
        channel = self.node.find(uuid) if uuid else None
        if channel is None:
            self._reply(f"-ERR invalid session id [{uuid}]")
            return
        headers = {k.lower(): v for k, v in cmd.headers.items()}
        body = cmd.body.decode("utf-8", "replace")
        error = await channel.sendmsg(headers, body, f"sendmsg {uuid}".strip())
        self._reply(error or "+OK")

    # -- outbound-only -------------------------------------------------------------------
    async def _cmd_connect(self, cmd: Command, args: str) -> None:
        assert self.session is not None
        self._write(replies.connect_reply(self.session.channel_data_event().to_event()))

    async def _cmd_getvar(self, cmd: Command, args: str) -> None:
        assert self.session is not None
        self._reply(self.session.getvar(args) or "")

    async def _cmd_resume(self, cmd: Command, args: str) -> None:
        assert self.session is not None
        self.session.resume_after_socket = True
        self._reply("+OK")

    def __repr__(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        kind = "outbound" if self.outbound else "inbound"
        return f"<Listener {kind} {self.node.config.hostname} peer={peer}>"
