"""asyncio Event Socket connections: the inbound client and the outbound server.

Both are thin adapters around the sans-I/O codec (:mod:`switchio_lab.esl`) and share
one command API (:class:`~switchio_lab.connection.base.Connection`).
"""

from .base import Connection, EventStream, Stats
from .errors import (
    ApiError,
    AuthenticationError,
    CommandError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    ESLError,
    NotConnected,
    ProtocolError,
    is_error,
)
from .inbound import InboundClient
from .jobs import Job
from .outbound import OutboundServer, OutboundSession

__all__ = [
    "ApiError", "AuthenticationError", "CommandError", "CommandTimeout", "ConnectError",
    "Connection", "ConnectionLost", "ESLError", "EventStream", "InboundClient", "Job",
    "NotConnected", "OutboundServer", "OutboundSession", "ProtocolError", "Stats", "is_error",
]
