"""Background jobs: the result of a ``bgapi`` command, delivered by BACKGROUND_JOB."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Generator
from typing import Any

from ..esl import Event
from .errors import is_error


class Job:
    """A ``bgapi`` job. ``await job`` (or ``await job.wait(timeout)``) gives its result text.

    The result is FreeSWITCH's text as is (``+OK <uuid>`` or ``-ERR <CAUSE>``);
    :attr:`success` tells which. A job whose connection drops before its result
    arrives raises :class:`~switchio_lab.connection.ConnectionLost`.
    """

    def __init__(self, uuid: str, command: str, loop: asyncio.AbstractEventLoop | None = None):
        self.uuid = uuid
        self.command = command
        self.launched = time.time()
        self.completed: float | None = None
        self.event: Event | None = None
        #: for an originate: the uuid the originated leg gets, and its Session once the
        #: call-control listener tracks it (set by the core; None on a bare connection)
        self.sess_uuid: str | None = None
        self.session: Any = None
        self._future: asyncio.Future[str] = (loop or asyncio.get_running_loop()).create_future()

    # -- state ---------------------------------------------------------------------
    def done(self) -> bool:
        return self._future.done()

    @property
    def waiting(self) -> bool:
        """True while the result has not arrived."""
        return not self._future.done()

    @property
    def result(self) -> str | None:
        """The result text, or None while waiting (or if the job failed without one)."""
        f = self._future
        if f.done() and not f.cancelled() and f.exception() is None:
            return f.result()
        return None

    @property
    def success(self) -> bool | None:
        """True for ``+OK``, False for ``-ERR``/lost, None while waiting."""
        if not self._future.done():
            return None
        result = self.result
        return result is not None and not is_error(result)

    @property
    def cause(self) -> str | None:
        """For a failed originate: the hangup cause in ``-ERR <CAUSE>``."""
        result = self.result
        if result and is_error(result):
            return result.split(None, 1)[1].strip() if " " in result else result.strip()
        return None

    @property
    def uuid_created(self) -> str | None:
        """For an originate: the uuid in ``+OK <uuid>``."""
        result = self.result
        if result and result.startswith("+OK "):
            return result[4:].strip() or None
        return None

    @property
    def launch_time(self) -> float:
        """When the job was sent (``time.time()``; switchio's name for :attr:`launched`)."""
        return self.launched

    @property
    def result_time(self) -> float | None:
        """When its result arrived (switchio's name for :attr:`completed`)."""
        return self.completed

    @property
    def successful(self) -> bool | None:
        """switchio's name for :attr:`success`."""
        return self.success

    # -- waiting -------------------------------------------------------------------
    async def wait(self, timeout: float | None = None) -> str:
        """The result text; raises :class:`asyncio.TimeoutError` after ``timeout`` seconds."""
        return await asyncio.wait_for(asyncio.shield(self._future), timeout)

    def __await__(self) -> Generator[Any, None, str]:
        return asyncio.shield(self._future).__await__()

    # -- resolution (connection side) -------------------------------------------------
    def _resolve(self, event: Event) -> None:
        if not self._future.done():
            self.event = event
            self.completed = time.time()
            self._future.set_result(event.body)

    def _fail(self, exc: BaseException) -> None:
        if not self._future.done():
            self.completed = time.time()
            self._future.set_exception(exc)
            self._future.exception()  # mark retrieved: nobody may be awaiting this job

    def __repr__(self) -> str:
        """``<Job 74711bf8 originate sofia/external/lab@127.0.0.2:5080 -> a64350fc ok>``: the
        command without its ``{variables}`` block (it repeats the uuids), cut to 100
        characters; the full text is in :attr:`command`."""
        state = ("waiting" if self.waiting else "ok" if self.success else
                 f"failed {self.cause or ''}".rstrip())
        command = re.sub(r"\{[^}]*\}", "", self.command).strip()
        if len(command) > 100:
            command = command[:99] + "…"
        leg = f" -> {self.sess_uuid[:8]}" if self.sess_uuid else ""
        return f"<Job {self.uuid[:8]} {command}{leg} {state}>"
