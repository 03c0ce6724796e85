"""switchio's ``switchio.models`` path: :class:`Session` (:mod:`switchio_lab.core.session`),
:class:`Call` (:mod:`switchio_lab.core.call`) and :class:`Job` (one class, the connection's
:class:`switchio_lab.connection.Job`)."""

from .connection import Job
from .core.call import Call
from .core.errors import SessionEnded
from .core.session import DEFAULT_WAIT, Session, event_key

__all__ = ["DEFAULT_WAIT", "Call", "Job", "Session", "SessionEnded", "event_key"]
