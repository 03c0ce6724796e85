"""The call-control core's errors: one tree under :class:`SwitchioError`.

::

    SwitchioError
    ├── AppError          an app could not be loaded, or was used wrongly
    ├── PoolError         something failed on one or more nodes of a pool
    ├── SessionEnded      a session hung up while something waited for one of its events
    └── OriginateError    a call placed by the synchronous Caller failed

The layers below keep their own trees: the codec's
:class:`~switchio_lab.esl.ProtocolError` and the connections'
:class:`~switchio_lab.connection.ESLError` (``ConnectError``, ``CommandError``, ...), which
the core lets through unchanged (docs/architecture.rst draws all three).
"""

from __future__ import annotations

from typing import Any


class SwitchioError(Exception):
    """Base class of every error the call-control core raises."""


class AppError(SwitchioError):
    """An app could not be loaded (bad namespace, failing prepost, id clash)."""


class PoolError(SwitchioError):
    """Something failed on one or more nodes of a pool.

    ``errors`` maps each failing node's name to its exception; ``results`` holds what
    the other nodes returned.
    """

    def __init__(self, action: str, errors: dict[str, BaseException],
                 results: dict[str, Any]) -> None:
        self.errors = errors
        self.results = results
        detail = "; ".join(f"{name}: {exc!r}" for name, exc in errors.items())
        super().__init__(f"{action} failed on {len(errors)} of "
                         f"{len(errors) + len(results)} node(s): {detail}")


class SessionEnded(SwitchioError):
    """A session hung up while something waited for one of its events."""


class OriginateError(SwitchioError):
    """A call placed by a :class:`~switchio_lab.core.sync.Caller` failed
    (``job``: the :class:`switchio_lab.connection.Job`, whose result is ``-ERR <CAUSE>``)."""

    def __init__(self, dest_url: str, job: Any) -> None:
        self.dest_url = dest_url
        self.job = job
        self.cause = job.cause
        super().__init__(f"call to {dest_url} failed: {job.result or 'no result'}")
