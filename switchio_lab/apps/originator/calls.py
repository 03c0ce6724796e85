"""One offered call's life: originate, outcome, hangup ``duration`` after its offer."""

from __future__ import annotations

import asyncio
import logging
import math

from ...connection.errors import ConnectionLost, ESLError, NotConnected
from ...core import SessionEnded
from .accounting import CallRecord
from .failures import client_cause
from .states import ORIGINATOR_VAR

#: the cause of a call the Originator hangs up before it is answered (FreeSWITCH's own
#: name for an originate cancelled by its originator)
CANCEL_CAUSE = "ORIGINATOR_CANCEL"

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
            except ConnectionLost as exc:
                await self._after_loss(rec, client_cause(exc))
                return
            except Exception as exc:
                self._fail(rec, client_cause(exc), has_leg=self._has_leg(rec, None))
                return
            if not job.successful:
                self._fail(rec, job.cause or "UNKNOWN", has_leg=self._has_leg(rec, job))
                return
            self._answer(rec)
            await self._until_gone(rec, client.listener.sessions.get(rec.uuid))
        except asyncio.CancelledError:
            if rec.uuid in self._active:
                self._fail(rec, "ORIGINATOR_SHUTDOWN")
            elif rec.uuid in self._up:
                self._complete(rec)
            raise

    async def _after_loss(self, rec: CallRecord, cause: str) -> None:
        """The connection went with the originate's result: the call's leg tells.

        No leg seen: the call is lost. A leg seen: its fate is known once the listener
        re-synchronises after the reconnect (or gives it up for good): answered (then
        followed as any answered call), hung up unanswered (failed, with its cause), or
        lost with the switch (a crash, a restart).
        """
        sess = rec.client.listener.sessions.get(rec.uuid)
        if sess is None:
            self._lose(rec, cause, has_leg=False)
            return
        while not (sess.answered or sess.destroyed):
            try:  # the resync marks it answered (no event), so look again now and then
                await sess.recv("CHANNEL_ANSWER", timeout=0.25)
            except (SessionEnded, asyncio.TimeoutError):
                pass
        if sess.answered:
            self._answer(rec)
            await self._until_gone(rec, sess)
        elif sess.lost:
            self._lose(rec, cause)
        else:
            self._fail(rec, sess.cause or "UNKNOWN")

    async def _until_gone(self, rec: CallRecord, sess) -> None:
        """An answered call: wait until its calling leg is destroyed (or lost)."""
        if sess is not None and not sess.destroyed:
            try:
                await sess.recv("CHANNEL_DESTROY", timeout=None)
            except SessionEnded:
                pass
        if sess is not None and sess.lost:
            self._lost_after_answer += 1
        self._complete(rec)

    def _has_leg(self, rec: CallRecord, job) -> bool:
        """Did the listener see a leg of this call (so that it has a CDR row)?"""
        if job is not None and job.session is not None:
            return True
        return rec.uuid in rec.client.listener.sessions

    def _fail(self, rec: CallRecord, cause: str, has_leg: bool = True) -> None:
        if rec.kill:  # hung up by hupall() before it was answered: not the switch's doing
            self._cancel(rec, has_leg)
            return
        if self._active.pop(rec.uuid, None) is None:
            return
        old = self._failed_total
        self._failed[cause] += 1
        self._failed_total += 1
        self._notify("stat", "failed", old, self._failed_total, cause, rec, has_leg)
        self._slot_freed()

    def _cancel(self, rec: CallRecord, has_leg: bool = True) -> None:
        """A call the Originator itself hung up before it was answered (``hupall()``, the
        end of a run): counted as cancelled, with cause ``ORIGINATOR_CANCEL``."""
        if self._active.pop(rec.uuid, None) is None:
            return
        old = self._cancelled
        self._cancelled += 1
        self._notify("stat", "cancelled", old, self._cancelled, CANCEL_CAUSE, rec, has_leg)
        self._slot_freed()

    def _lose(self, rec: CallRecord, cause: str, has_leg: bool = True) -> None:
        """The switch never told the call's outcome (the connection was lost)."""
        if self._active.pop(rec.uuid, None) is None:
            return
        old = self._lost
        self._lost += 1
        self._notify("stat", "lost", old, self._lost, cause, rec, has_leg)
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
        self._notify("stat", "answered", old, self._answered, None, rec)
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
        self._notify("stat", "completed", old, self._completed, None, rec)
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

