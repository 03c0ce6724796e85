"""The Originator's accounting: one record per call in progress, the counters and rates."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from ...core import Client
from .failures import failure_kind


class CallRecord:
    """One offered call, while it is in progress."""

    __slots__ = ("uuid", "client", "node", "app_id", "offered_at", "answered_at", "timer",
                 "kill", "task")

    def __init__(self, uuid: str, client: Client, node: str, app_id: str | None,
                 offered_at: float) -> None:
        self.uuid = uuid
        self.client = client
        self.node = node
        self.app_id = app_id
        self.offered_at = offered_at
        self.answered_at: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.kill = False
        self.task: asyncio.Task[None] | None = None


class OriginatorAccounting:
    """The counters of :class:`~switchio_lab.apps.originator.Originator` (see its doc)."""

    @property
    def offered(self) -> int:
        """Calls offered (see the class doc for every counter's definition)."""
        return self._offered

    @property
    def answered(self) -> int:
        """Calls answered, including the ones that have ended since."""
        return self._answered

    @property
    def failed(self) -> Counter[str]:
        """Failed calls by cause (a copy)."""
        return Counter(self._failed)

    @property
    def offered_by_app(self) -> Counter[str | None]:
        """Calls offered per app id (None: no app id), a copy."""
        return Counter(self._by_app)

    @property
    def offered_by_node(self) -> Counter[str]:
        """Calls offered per node name (see :attr:`NodePool.names`), a copy."""
        return Counter(self._by_node)

    @property
    def failed_total(self) -> int:
        return self._failed_total

    @property
    def cancelled(self) -> int:
        """Calls this Originator hung up before they were answered (:meth:`hupall`):
        not failures; their legs end with ``ORIGINATOR_CANCEL``."""
        return self._cancelled

    @property
    def lost(self) -> int:
        """Calls whose outcome the switch never told (the connection was lost with the
        originate in flight, the calling leg not seen answered)."""
        return self._lost

    @property
    def active(self) -> int:
        """Calls offered whose outcome (answered or failed) is not known yet."""
        return len(self._active)

    @property
    def up(self) -> int:
        """Answered calls not ended yet."""
        return len(self._up)

    @property
    def completed(self) -> int:
        """Answered calls that have ended."""
        return self._completed

    @property
    def concurrent(self) -> int:
        """Calls in progress: ``active + up`` (what ``limit`` caps)."""
        return len(self._active) + len(self._up)

    @property
    def cps(self) -> float:
        """Calls offered in the last second."""
        if self._loop is None:
            return 0.0
        self._trim(self._loop.time())
        return float(len(self._recent))

    def _trim(self, now: float) -> None:
        recent = self._recent
        while recent and now - recent[0] > 1.0:
            recent.popleft()

    def stats(self) -> dict[str, Any]:
        """Every counter, the state and a few rates, as one dict (a snapshot)."""
        now = self._loop.time() if self._loop is not None else None
        elapsed = 0.0
        if now is not None and self._started_at is not None:
            elapsed = (self._stopped_at or now) - self._started_at
        kinds: Counter[str] = Counter()
        for cause, n in self._failed.items():
            kinds[failure_kind(cause)] += n
        return {
            "state": self._state,
            "offered": self._offered,
            "answered": self._answered,
            "failed": dict(self._failed),
            "failed_total": self._failed_total,
            "failed_by_kind": dict(kinds),
            "lost": self._lost,
            "cancelled": self._cancelled,
            "lost_after_answer": self._lost_after_answer,
            "active": len(self._active),
            "up": len(self._up),
            "completed": self._completed,
            "concurrent": self.concurrent,
            "peak_concurrent": self.peak_concurrent,
            "skipped": self._skipped,
            "skipped_disconnected": self._skipped_disconnected,
            "cps": self.cps,
            "elapsed": elapsed,
            "offered_by_app": dict(self._by_app),
            "offered_by_node": dict(self._by_node),
        }
