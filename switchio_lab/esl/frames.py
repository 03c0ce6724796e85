"""Frames: one Event Socket message (header block plus optional body)."""

from __future__ import annotations

from .encoding import url_decode
from .errors import ProtocolError
from .events import JSON, PLAIN, XML, Event

AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
EVENT_PLAIN = "text/event-plain"
EVENT_JSON = "text/event-json"
EVENT_XML = "text/event-xml"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"
LOG_DATA = "log/data"

_REPLY_HEADERS = frozenset({"Content-Type", "Content-Length", "Reply-Text", "Socket-Mode",
                            "Control"})

EVENT_FORMATS = {EVENT_PLAIN: PLAIN, EVENT_JSON: JSON, EVENT_XML: XML}


class Frame:
    """A message from the server: ``content_type``, outer ``headers``, raw ``body``.

    ``position`` is the offset of the frame's first byte in the stream. Outer header
    values are as sent (not URL-decoded); the ``api/response`` body is never parsed.
    Unknown content types are kept as frames like any other.
    """

    __slots__ = ("content_type", "headers", "body", "position", "_event")

    def __init__(self, headers: dict[str, str], body: bytes = b"", position: int = -1) -> None:
        self.headers = headers
        self.content_type = headers.get("Content-Type", "")
        self.body = body
        self.position = position
        self._event: Event | None = None

    @property
    def text(self) -> str:
        """The body as text (lenient UTF-8)."""
        return self.body.decode("utf-8", "replace")

    @property
    def reply_text(self) -> str:
        """``Reply-Text`` of a ``command/reply`` ('' if absent), URL-decoded if it was encoded.

        FreeSWITCH encodes it only in the outbound ``connect`` reply (``%2BOK%0A``).
        """
        text = self.headers.get("Reply-Text", "")
        if text.startswith("%"):
            text = url_decode(text.encode("utf-8")).strip()
        return text

    @property
    def ok(self) -> bool:
        """True for a ``+OK`` command reply or an api/response that is not ``-ERR``/``-USAGE``."""
        if self.content_type == API_RESPONSE:
            return not self.body.startswith((b"-ERR", b"-USAGE"))
        return self.reply_text.startswith("+OK")

    @property
    def is_event(self) -> bool:
        """True for plain, JSON and XML event frames."""
        return self.content_type in EVENT_FORMATS

    @property
    def event(self) -> Event | None:
        """The :class:`Event` carried by an event frame, else None.

        The outbound ``connect`` reply carries the channel data as URL-encoded outer
        headers; for it, use :meth:`channel_data`.
        """
        if self._event is None:
            fmt = EVENT_FORMATS.get(self.content_type)
            if fmt is not None:
                self._event = Event(self.body, fmt)
        return self._event

    def channel_data(self) -> Event:
        """The channel's data carried by the outbound ``connect`` reply, as an :class:`Event`.

        The reply's own headers (``Content-Type``, ``Reply-Text``, ``Socket-Mode``,
        ``Control``) are left out; read them from :attr:`headers`.
        """
        return Event.from_headers(
            {k: url_decode(v.encode("utf-8")) for k, v in self.headers.items()
             if k not in _REPLY_HEADERS}, self.body
        )

    def __repr__(self) -> str:
        extra = ""
        if self.content_type == COMMAND_REPLY:
            extra = f" {self.reply_text!r}"
        elif self.is_event and self.event is not None:
            try:
                extra = f" {self.event.name}"
            except ProtocolError:  # repr never raises
                extra = " (undecodable)"
        elif self.body:
            extra = f" {len(self.body)} bytes"
        return f"<Frame {self.content_type or '?'}{extra}>"


class Command:
    """A message from a client: the command ``line``, its ``headers`` and ``body``."""

    __slots__ = ("line", "headers", "body", "position")

    def __init__(self, line: str, headers: dict[str, str], body: bytes, position: int) -> None:
        self.line = line
        self.headers = headers
        self.body = body
        self.position = position

    @property
    def name(self) -> str:
        """The first word of the command line (``api``, ``event``, ``sendmsg`` ...)."""
        return self.line.split(" ", 1)[0]

    @property
    def args(self) -> str:
        """The command line after the first word ('' if none)."""
        parts = self.line.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""

    def __repr__(self) -> str:
        return f"<Command {self.line!r}{f' +{len(self.body)} bytes' if self.body else ''}>"
