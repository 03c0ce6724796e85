"""Outbound mode: FreeSWITCH's ``socket`` dialplan application connects to us.

>>> async def handle(session):
...     await session.myevents()
...     await session.execute("answer", event_lock=True)
...     await session.execute("playback", "tone_stream://%(200,0,1004)")
>>> server = await OutboundServer(handle, "127.0.0.1", 8084).start()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..esl import Event, commands
from .connection import DEFAULT_QUEUE, DEFAULT_TIMEOUT, Connection, _Wire
from .errors import ConnectError, ESLError

log = logging.getLogger("switchio_lab.connection")

Handler = Callable[["OutboundSession"], Awaitable[Any]]


class OutboundSession(Connection):
    """One call's outbound connection, with the same command helpers as the client.

    After :meth:`start`, :attr:`channel` holds the channel data of the ``connect``
    reply (an :class:`~switchio_lab.esl.Event`: ``session.channel["Caller-Caller-ID-Number"]``).
    Commands without a uuid (``execute``, ``hangup``, ``myevents``) act on this call.
    """

    def __init__(self, peer: str = "", *, timeout: float = DEFAULT_TIMEOUT,
                 queue_size: int = DEFAULT_QUEUE) -> None:
        super().__init__(timeout=timeout, queue_size=queue_size, inbound=False)
        self.peer = peer
        self.channel: Event | None = None
        self.socket_mode = ""  # "async" or "static", from the connect reply
        self.control = ""  # "full" or "single-channel"
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __str__(self) -> str:
        uuid = self.uuid or "?"
        return f"outbound {uuid} from {self.peer}"

    @property
    def uuid(self) -> str | None:
        """The call's ``Unique-ID`` (from the channel data)."""
        return self.channel.get("Unique-ID") if self.channel is not None else None

    def _attach(self, wire: _Wire) -> None:
        super()._attach(wire)
        self._connected.set()
        if wire.transport is not None:
            peer = wire.transport.get_extra_info("peername")
            if peer:
                self.peer = f"{peer[0]}:{peer[1]}"

    async def start(self) -> Event:
        """Send ``connect`` and keep the channel data it returns."""
        frame = await self.send(commands.connect())
        if not frame.reply_text.startswith("+OK"):
            raise ConnectError(f"{self}: connect was refused: {frame.reply_text}")
        self.channel = frame.channel_data()
        self.socket_mode = frame.headers.get("Socket-Mode", "")
        self.control = frame.headers.get("Control", "")
        return self.channel

    async def getvar(self, name: str) -> str:
        """A channel variable's value (outbound ``getvar``; '' when unset)."""
        return await self.command(commands.getvar(name))

    async def resume(self) -> str:
        """``resume``: let the dialplan continue when the socket closes."""
        return await self.command(commands.resume())

    async def close(self) -> None:
        """Close the socket (the call goes on only if ``resume`` was sent)."""
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.close()
            self._connection_lost(wire, None)

    def _on_lost(self, reason: str) -> None:
        super()._on_lost(reason)
        if not self.closed.done():
            self.closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until FreeSWITCH closes the socket (after hangup, and linger if set)."""
        await asyncio.shield(self.closed)


class OutboundServer:
    """Accept outbound connections and run ``handler(session)`` for each of them.

    Each session is started (``connect`` sent, channel data read) before the handler
    runs; an exception in a handler is logged with the call's uuid and does not stop
    the server. When the handler returns, the socket is left to FreeSWITCH to close
    (it does on hangup); :meth:`stop` closes everything.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 8084, *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sessions: set[OutboundSession] = set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> OutboundServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._wire, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _wire(self) -> _Wire:
        session = OutboundSession(timeout=self.timeout)
        # a session is live until its socket closes, whether or not its handler returned
        self.sessions.add(session)
        session.closed.add_done_callback(lambda _: self.sessions.discard(session))
        task = asyncio.get_running_loop().create_task(self._run(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _Wire(session)

    async def _run(self, session: OutboundSession) -> None:
        await asyncio.sleep(0)  # let connection_made attach the wire
        try:
            await session.start()
            await self.handler(session)
        except asyncio.CancelledError:
            raise
        except ESLError as exc:
            log.warning("%s: %s", session, exc)
        except Exception:
            log.exception("%s: outbound handler %r failed", session, self.handler)

    async def stop(self) -> None:
        """Stop accepting, close every session and cancel their handlers."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            await session.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> OutboundServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
