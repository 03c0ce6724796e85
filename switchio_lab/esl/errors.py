"""Errors raised by the sans-I/O codec."""

from __future__ import annotations


class ProtocolError(Exception):
    """The byte stream is not valid Event Socket framing.

    ``position`` is the absolute offset (from the first byte ever fed) where the
    offending data starts; ``data`` holds up to 200 of those bytes. When a parser
    raises it, ``messages`` holds the complete messages it read before the bad one in
    the same ``feed()`` (they are valid: use them).
    """

    def __init__(self, message: str, position: int = -1, data: bytes = b"") -> None:
        self.message = message
        self.position = position
        self.data = bytes(data[:200])
        self.messages: list = []
        where = f" at byte {position}" if position >= 0 else ""
        super().__init__(f"{message}{where}: {self.data!r}" if data else f"{message}{where}")


class FrameTooLarge(ProtocolError):
    """A frame's header block or declared body exceeds the parser's size cap."""


class EventDecodeError(ProtocolError):
    """An event body (JSON or XML) could not be decoded."""
