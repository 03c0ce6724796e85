"""Typed errors of the Event Socket connections."""

from __future__ import annotations

from ..esl.errors import ProtocolError


class ESLError(Exception):
    """Base class of every connection error."""


class ConnectError(ESLError, ConnectionError):
    """The host could not be reached, or did not behave like an Event Socket server."""


class AuthenticationError(ConnectError):
    """The server rejected the password (the message names host:port, never the password)."""


class CommandError(ESLError):
    """A command got a ``-ERR`` reply; ``reply`` holds the server's text."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command!r} failed: {reply}")


class ApiError(CommandError):
    """An ``api`` command answered ``-ERR``/``-USAGE`` (raised only with ``check=True``)."""


class CommandTimeout(ESLError, TimeoutError):
    """No reply came within the command's timeout."""


class ConnectionLost(ESLError, ConnectionError):
    """The connection went away while a command or job was waiting for its answer."""


class NotConnected(ESLError, ConnectionError):
    """A command was sent while the connection is down (and did not come back in time)."""


def is_error(text: str) -> bool:
    """True for a ``-ERR``/``-USAGE`` api body or reply text."""
    return text.startswith(("-ERR", "-USAGE"))


__all__ = [
    "ApiError", "AuthenticationError", "CommandError", "CommandTimeout", "ConnectError",
    "ConnectionLost", "ESLError", "NotConnected", "ProtocolError", "is_error",
]
