"""The Originator's scheduler: one task offering calls on an absolute schedule."""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib

from ...core import Client
from .accounting import CallRecord
from .states import ORIGINATING, STOPPED

log = logging.getLogger("switchio_lab")


class OriginatorScheduler:
    """The scheduling of :class:`~switchio_lab.apps.originator.Originator` (see its doc,
    *Scheduling*)."""

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _pause(self, until: float | None) -> None:
        """Sleep until loop time ``until`` (None: until woken), or until woken."""
        loop = self._loop
        assert loop is not None
        fut = loop.create_future()
        self._waiter = fut
        handle = loop.call_at(until, _resolve, fut) if until is not None else None
        try:
            await fut
        finally:
            if self._waiter is fut:
                self._waiter = None
            if handle is not None:
                handle.cancel()

    async def _schedule(self, run_id: int) -> None:
        """The one task that offers calls (see the class doc, *Scheduling*)."""
        loop = self._loop
        assert loop is not None
        settings = self._settings
        in_a_row = 0  # calls offered without yielding to the loop
        try:
            while self._state == ORIGINATING and run_id == self._run_id:
                settings = self._settings
                if in_a_row >= 64:  # a long catch-up (a huge rate): let the loop breathe
                    in_a_row = 0
                    await asyncio.sleep(0)
                    continue
                if self._offered >= settings["max_offered"]:
                    log.info("originator: max_offered (%s) reached", settings["max_offered"])
                    self._set_state(STOPPED)
                    break
                now = loop.time()
                due = self._next_due
                if due > now:
                    in_a_row = 0
                    await self._pause(due)
                    continue
                if self.concurrent >= settings["limit"]:
                    in_a_row = 0
                    await self._pause(None)  # a call ending (or a setting) wakes us
                    continue
                bound = max(self.max_lag, self.max_burst / settings["rate"])
                if now - due > bound:  # a stall: drop the calls due long ago
                    self._skipped += int((now - due - bound) * settings["rate"])
                    due = now - bound
                client = self._next_client()
                if client is None:  # no node connected: the call is skipped, not queued
                    self._skip_disconnected()
                else:
                    self._offer(now, client)
                    self._disconnected_since = None
                in_a_row += 1
                self._next_due = due + 1.0 / settings["rate"]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("originator: the scheduler failed; stopping")
            self._set_state(STOPPED)

    def _next_client(self) -> Client | None:
        """The next connected client, round-robin; None if no node is connected."""
        clients = self.pool.clients
        n = len(clients)
        for _ in range(n):
            client = clients[self._node_index % n]
            self._node_index = (self._node_index + 1) % n
            if client.connected:
                return client
        return None

    def _skip_disconnected(self) -> None:
        """A call fell due while no node is connected: skipped and counted, never held
        back for the reconnect (which would release them all at once)."""
        self._skipped += 1
        self._skipped_disconnected += 1
        if self._disconnected_since is None:
            self._disconnected_since = self._loop.time()  # type: ignore[union-attr]
            log.warning("originator: no node of %s is connected: the calls falling due are "
                        "skipped until one is", self.pool.names)
        self._notify("stat", "skipped", self._skipped - 1, self._skipped, "disconnected")

    def _pick_app(self) -> str | None:
        ids = self._app_ids
        if len(ids) == 1:
            return ids[0]
        cum = self._app_cum
        x = self._random.random() * cum[-1]
        for app_id, edge in zip(ids, cum, strict=True):
            if x < edge:
                return app_id
        return ids[-1]

    def _offer(self, now: float, client: Client) -> None:
        app_id = self._pick_app()
        node = self.pool.name_of(client)
        rec = CallRecord(str(uuidlib.uuid4()), client, node, app_id, now)
        old = self._offered
        self._offered += 1
        self._active[rec.uuid] = rec
        self._last_offer = now
        self._recent.append(now)
        self._trim(now)
        self._by_app[app_id] += 1
        self._by_node[node] += 1
        concurrent = len(self._active) + len(self._up)
        if concurrent > self.peak_concurrent:
            self.peak_concurrent = concurrent
        rec.task = self._loop.create_task(self._place(rec))  # type: ignore[union-attr]
        self._notify("stat", "offered", old, self._offered, None, rec)



def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
