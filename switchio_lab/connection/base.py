"""Former home of :class:`Connection` and :class:`EventStream` (kept as an alias).

:mod:`.connection` holds the connection, :mod:`.streams` the event streams, and the
protocol state they drive is :mod:`switchio_lab.esl.protocol`.
"""

from .connection import DEFAULT_QUEUE, DEFAULT_TIMEOUT, Connection, Stats, _Wire
from .streams import EventStream

__all__ = ["DEFAULT_QUEUE", "DEFAULT_TIMEOUT", "Connection", "EventStream", "Stats", "_Wire"]
