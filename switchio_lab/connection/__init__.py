"""asyncio Event Socket connections: the inbound client and the outbound server.

Both are thin adapters around the sans-I/O codec (:mod:`switchio_lab.esl`) and share
one command API (:class:`~switchio_lab.connection.connection.Connection`); the protocol
state they drive lives in :mod:`switchio_lab.esl.protocol`.
"""

from .connection import Connection, Stats
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
from .streams import EventStream

__all__ = [
    "ApiError", "AuthenticationError", "CommandError", "CommandTimeout", "ConnectError",
    "Connection", "ConnectionLost", "ESLError", "EventStream", "InboundClient", "Job",
    "NotConnected", "OutboundServer", "OutboundSession", "ProtocolError", "Stats", "is_error",
]
