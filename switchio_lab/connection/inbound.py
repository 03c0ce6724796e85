"""The inbound client: connect to FreeSWITCH's Event Socket (port 8021) and control it."""

from __future__ import annotations

import asyncio
import logging
import random

from ..esl import RUDE_REJECTION, commands
from .connection import DEFAULT_QUEUE, DEFAULT_TIMEOUT, Connection, _Wire
from .errors import AuthenticationError, CommandError, ConnectError, ESLError, NotConnected

log = logging.getLogger("switchio_lab.connection")


class InboundClient(Connection):
    """An authenticated Event Socket connection to one FreeSWITCH (or embedded) host.

    >>> async with InboundClient("127.0.0.1", 8021, password="ClueCon") as client:
    ...     print(await client.api("status"))

    With ``reconnect=True`` (the default) a dropped connection is re-opened with
    exponential back-off, re-authenticated, and its subscriptions, filters, myevents,
    linger and log level restored; commands in flight when it dropped fail with
    :class:`ConnectionLost`, commands sent while it is down wait (up to their timeout)
    for it to come back. State callbacks (:meth:`on_state`) hear ``disconnected`` and
    ``reconnected``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8021, password: str = "ClueCon",
                 *, timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = 5.0,
                 reconnect: bool = True, backoff: tuple[float, float] = (0.05, 5.0),
                 healthy_after: float = 10.0, queue_size: int = DEFAULT_QUEUE) -> None:
        super().__init__(timeout=timeout, queue_size=queue_size)
        self.host = host
        self.port = int(port)
        self._password = password
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self.backoff = backoff
        #: a connection must stay up this long (seconds) before the back-off starts over
        self.healthy_after = healthy_after
        self._delay = backoff[0]  # the next reconnect's delay
        self._up_since: float | None = None  # loop time of the last (re)connect
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle --------------------------------------------------------------------
    @classmethod
    async def connect_to(cls, host: str = "127.0.0.1", port: int = 8021,
                         password: str = "ClueCon", **kwargs) -> InboundClient:
        """Create a client and connect it."""
        client = cls(host, port, password, **kwargs)
        await client.connect()
        return client

    async def connect(self) -> InboundClient:
        """Open the TCP connection and authenticate.

        Raises :class:`ConnectError` (host down, timeout, not an ESL server, access
        denied) or :class:`AuthenticationError` (wrong password).
        """
        self._closing = False
        await self._open()
        self._connected.set()
        self._up_since = asyncio.get_running_loop().time()
        self._notify("connected")
        return self

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._auth_waiter = loop.create_future()
        self._handshaking = True
        self._handshaker = asyncio.current_task()  # it authenticates (and restores) alone
        try:
            transport, wire = await asyncio.wait_for(
                loop.create_connection(lambda: _Wire(self), self.host, self.port),
                self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectError(f"cannot connect to {self}: no answer within "
                               f"{self.connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self}: {exc.strerror or exc}") from None
        finally:
            self._handshaking = False
        self._handshaking = True
        try:
            try:
                frame = await asyncio.wait_for(self._auth_waiter, self.connect_timeout)
            except asyncio.TimeoutError:
                raise ConnectError(f"{self} did not ask for authentication within "
                                   f"{self.connect_timeout:g} s: is it an Event Socket?") from None
            except ESLError as exc:
                raise ConnectError(f"{self} closed the connection before authentication "
                                   f"({exc})") from None
            if frame.content_type == RUDE_REJECTION:
                raise ConnectError(f"{self} refused the connection: {frame.text.strip()}")
            try:
                text = await self.command(commands.auth(self._password),
                                          timeout=self.connect_timeout)
            except CommandError as exc:
                raise AuthenticationError(f"{self} rejected the password ({exc.reply})") from None
            except ESLError as exc:
                raise ConnectError(f"{self}: authentication failed: {exc}") from None
            if not text.startswith("+OK"):
                raise AuthenticationError(f"{self} rejected the password ({text})")
            if self._wire is not wire:  # bad bytes right after "+OK accepted" broke it (the
                # loss came while handshaking, so no reconnect started): not connected
                raise ConnectError(f"{self}: connection lost right after authentication "
                                   f"({self._loss_reason(self.last_error)})")
        except BaseException:
            transport.abort()
            # detach now, while still handshaking: the transport's own connection_lost
            # comes later and would otherwise start a reconnect loop for an attempt
            # that failed (and was reported to its caller)
            self._connection_lost(wire, None)
            raise
        finally:
            self._auth_waiter = None
            self._handshaking = False

    async def close(self) -> None:
        """Say ``exit`` (briefly), then close; no reconnect after this. Idempotent."""
        self._closing = True
        reconnecting = self._reconnect_task is not None and not self._reconnect_task.done()
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
            self._handshaking = False  # a reconnect attempt in progress is abandoned
        if reconnecting and self._wire is None:  # between attempts: nothing else will say it
            self._end_streams()
            self._notify("closed")
        wire = self._wire
        if wire is not None and self.connected:
            try:
                await self.command(commands.exit(), timeout=1.0)
            except ESLError:
                pass
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.close()
            self._connection_lost(wire, None)
        self._end_streams()

    async def exit(self) -> None:
        """Alias of :meth:`close` (FreeSWITCH's ``exit`` command)."""
        await self.close()

    async def __aenter__(self) -> InboundClient:
        if not self.connected:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reconnecting ---------------------------------------------------------------------
    def _on_lost(self, reason: str) -> None:
        if self._handshaking:  # a failed connect or reconnect attempt: its caller handles it
            return
        if self._closing or not self.reconnect:
            self._end_streams()
            self._notify("closed")
            return
        now = asyncio.get_running_loop().time()
        if self._up_since is None or now - self._up_since >= self.healthy_after:
            self._delay = self.backoff[0]  # it had been healthy: start the back-off over
        self._up_since = None
        log.warning("%s: connection lost (%s); reconnecting", self, reason)
        self._notify("disconnected")
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        ceiling = self.backoff[1]
        attempt = 0
        while not self._closing:
            attempt += 1
            delay = self._delay
            # the next attempt (or the next loss, if this connection does not stay healthy
            # for healthy_after seconds) waits twice as long, up to the ceiling
            self._delay = min(delay * 2, ceiling)
            await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: no thundering herd
            try:
                await self._open()
                self._handshaking = True
                try:
                    await self._restore()
                finally:
                    self._handshaking = False
            except AuthenticationError as exc:
                log.error("%s: reconnect refused, giving up: %s", self, exc)
                self.last_error = exc
                self._closing = True
                self._end_streams()
                self._notify("closed")
                return
            except (ESLError, OSError) as exc:
                log.info("%s: reconnect attempt %d failed: %s", self, attempt, exc)
                wire = self._wire
                if wire is not None and wire.transport is not None:
                    wire.transport.abort()
                continue
            if self._wire is None:  # lost again during the restore: not connected, retry
                log.info("%s: reconnect attempt %d lost the connection while restoring",
                         self, attempt)
                continue
            self.stats.reconnects += 1
            self._up_since = asyncio.get_running_loop().time()
            self._connected.set()
            log.warning("%s: reconnected after %d attempt(s)", self, attempt)
            self._notify("reconnected")
            return

    async def _restore(self) -> None:
        """Tell the new connection everything the old one had been told."""
        subs = self.subscriptions
        todo = [(data, False) for data in subs.restore()]
        todo += [(data, True) for data in subs.restore_own()]  # the client's own, as its own
        for data, own in todo:
            try:
                await self.command(data, own=own)
            except CommandError as exc:
                # e.g. the myevents session is gone: reconnecting again would not change
                # that, so it is reported and the rest is restored
                log.warning("%s: not restored after reconnecting: %s", self, exc)

    async def _wait_connected(self, timeout: float) -> None:
        task = self._reconnect_task
        if self._closing or not self.reconnect or task is None or task.done():
            raise NotConnected(f"{self}: not connected")
        # the reconnect task ends when connected again, when it gives up, or on close()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            raise NotConnected(f"{self}: not connected, and reconnecting did not succeed "
                               f"within {timeout:g} s")
        if not self.connected:
            raise NotConnected(f"{self}: not connected (reconnecting stopped)")
