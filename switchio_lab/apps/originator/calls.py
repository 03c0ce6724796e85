"""One offered call's life: originate, outcome, hangup ``duration`` after its offer."""

from __future__ import annotations

import asyncio
import logging
import math

from ...connection.errors import ESLError, NotConnected
from ...models import SessionEnded
from .accounting import CallRecord
from .failures import client_cause
from .states import ORIGINATOR_VAR

log = logging.getLogger("switchio_lab")


class OriginatorCalls:
    """The per-call part of :class:`~switchio_lab.apps.originator.Originator`."""

    async def _place(self, rec: CallRecord) -> None:
        settings = self._settings
        client = rec.client
        try:
            try:
                if not client.connected:  # dropped since the offer: never wait for it
                    raise NotConnected(f"{client!r} is not connected")
                job = await client.originate(
                    settings["dest_url"], app_id=rec.app_id, uuid=rec.uuid,
                    profile=settings["profile"], proxy=settings["proxy"],
                    **{ORIGINATOR_VAR: self.id}, **settings["variables"])
                await job
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(rec, client_cause(exc))
                return
            if not job.successful:
                self._fail(rec, job.cause or "UNKNOWN")
                return
            self._answer(rec)
            sess = client.listener.sessions.get(rec.uuid)
            if sess is not None and not sess.destroyed:
                try:
                    await sess.recv("CHANNEL_DESTROY", timeout=None)
                except SessionEnded:
                    pass
            self._complete(rec)
        except asyncio.CancelledError:
            if rec.uuid in self._active:
                self._fail(rec, "ORIGINATOR_SHUTDOWN")
            elif rec.uuid in self._up:
                self._complete(rec)
            raise

    def _fail(self, rec: CallRecord, cause: str) -> None:
        if self._active.pop(rec.uuid, None) is None:
            return
        old = self._failed_total
        self._failed[cause] += 1
        self._failed_total += 1
        self._notify("stat", "failed", old, self._failed_total, cause)
        self._slot_freed()

    def _answer(self, rec: CallRecord) -> None:
        if self._active.pop(rec.uuid, None) is None:
            return
        loop = self._loop
        assert loop is not None
        rec.answered_at = loop.time()
        self._up[rec.uuid] = rec
        old = self._answered
        self._answered += 1
        self._notify("stat", "answered", old, self._answered)
        if rec.kill:
            self._hangup(rec)
        else:
            self._arm(rec)

    def _complete(self, rec: CallRecord) -> None:
        if self._up.pop(rec.uuid, None) is None:
            return
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        old = self._completed
        self._completed += 1
        self._notify("stat", "completed", old, self._completed)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self._waiter is not None and self.concurrent < self._settings["limit"]:
            self._wake()

    def _arm(self, rec: CallRecord) -> None:
        """(Re)schedule the hangup of an answered call, ``duration`` after its offer."""
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        duration = self.duration
        if math.isinf(duration):
            return
        loop = self._loop
        assert loop is not None
        when = rec.offered_at + duration
        if when <= loop.time():
            self._hangup(rec)
        else:
            rec.timer = loop.call_at(when, self._hangup, rec)

    def _retime(self) -> None:
        for rec in list(self._up.values()):
            if not rec.kill:
                self._arm(rec)

    def _hangup(self, rec: CallRecord) -> None:
        rec.timer = None
        if rec.uuid not in self._up or self._loop is None:
            return
        task = self._loop.create_task(self._kill(rec))
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _kill(self, rec: CallRecord) -> None:
        try:
            await rec.client.api(f"uuid_kill {rec.uuid} NORMAL_CLEARING")
        except ESLError as exc:  # the connection is gone: the call is lost with it
            log.debug("originator: uuid_kill %s failed: %s", rec.uuid, exc)

