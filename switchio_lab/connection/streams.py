"""Async iterators over a connection's events, each with its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from ..esl import Event
from .errors import ConnectionLost

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger("switchio_lab.connection")


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
