"""The client side of an Event Socket connection, sans-I/O: :class:`ClientProtocol`.

It holds every piece of connection state that needs no socket: the parser, which
command each reply answers (replies come back in the order commands were sent), the
authentication sequence, linger and goodbye, and what the server has been told
(subscriptions, filters, myevents, linger, log level: :class:`Subscriptions`, updated
only when the server accepts a command, so it is true after a timeout too and can be
replayed after a reconnect). Bytes go in with :meth:`~ClientProtocol.receive_data`;
what happened comes out as a list of :class:`~switchio_lab.esl.Event` objects and the
small records below. The asyncio adapters in :mod:`switchio_lab.connection` only move
bytes and resolve futures.

>>> from switchio_lab.esl import commands, replies
>>> p = ClientProtocol()
>>> [type(x).__name__ for x in p.receive_data(replies.auth_request())]
['AuthRequested']
>>> data = p.send(commands.auth("ClueCon"), token="mine")
>>> [(type(x).__name__, x.token) for x in p.receive_data(replies.command_reply("+OK accepted"))]
[('Reply', 'mine')]
>>> p.state
<State.OPEN: 'open'>
"""

from __future__ import annotations

import enum
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import commands
from .errors import ProtocolError
from .frames import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_FORMATS,
    LOG_DATA,
    RUDE_REJECTION,
    Frame,
)
from .parser import Parser
from .requests import Request

log = logging.getLogger("switchio_lab.esl")


class State(enum.Enum):
    """Where a connection is in its life."""

    AWAITING_AUTH = "awaiting auth/request"  #: inbound, connected, not yet asked
    AUTH_REQUESTED = "auth requested"  #: the server sent auth/request
    AUTHENTICATING = "authenticating"  #: ``auth`` sent, its reply not yet in
    OPEN = "open"  #: authenticated (inbound) or connected (outbound)
    REJECTED = "rejected"  #: wrong password, or a rude rejection (access denied)
    CLOSING = "closing"  #: the server said goodbye (disconnect notice)
    CLOSED = "closed"  #: the transport is gone


# -- what receive_data() reports (besides Event objects) ------------------------------
@dataclass(frozen=True)
class Reply:
    """The reply ``frame`` to ``request``, sent with ``token`` (the caller's handle)."""

    request: Request
    token: Any
    frame: Frame


@dataclass(frozen=True)
class Unsolicited:
    """A reply frame with no command waiting for it (a server bug, or a stray)."""

    frame: Frame


@dataclass(frozen=True)
class AuthRequested:
    frame: Frame


@dataclass(frozen=True)
class Rejected:
    """``text/rude-rejection``: the server refuses this peer (e.g. an ACL)."""

    frame: Frame


@dataclass(frozen=True)
class Lingering:
    """The session hung up; the server lingers before closing (``linger`` was set)."""

    frame: Frame


@dataclass(frozen=True)
class Goodbye:
    """The final ``text/disconnect-notice``: the server is closing the connection."""

    frame: Frame


@dataclass(frozen=True)
class FramingError:
    """The bytes broke the framing: the connection cannot go on (always the last item)."""

    error: ProtocolError


@dataclass(frozen=True)
class OtherFrame:
    """Any other frame (``log/data``, unknown content types)."""

    frame: Frame


@dataclass
class Subscriptions:
    """What the server has accepted on this connection, to show and to restore.

    ``names``, ``subclasses`` and ``filters`` are what the *user* asked for. What the
    client asked for itself (``bgapi`` needs BACKGROUND_JOB, and lets it through the
    user's filters) is kept apart, in ``own_names`` and ``own_filters``: it is on the
    server, and restored after a reconnect, but it is never shown as the user's and it
    never changes what the user's callbacks receive (:meth:`wants`). ``own_filters`` is
    only ever non-empty while the user has filters of their own: without any, the
    connection is unfiltered, as the user left it.
    """

    format: str = "plain"
    names: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)  #: the names that followed CUSTOM
    filters: list[tuple[str, str]] = field(default_factory=list)
    myevents: tuple[str | None, str | None] | None = None
    linger: int | bool | None = None
    log_level: int | str | bool | None = None
    own_names: set[str] = field(default_factory=set)  #: the client's, not the user's
    own_filters: list[tuple[str, str]] = field(default_factory=list)  #: likewise

    def is_subscribed(self, name: str) -> bool:
        """True if the user subscribed to events called ``name`` (or CUSTOM subclass
        ``name``)."""
        return "ALL" in self.names or name in self.names

    def delivered(self, name: str) -> bool:
        """True if the server sends events called ``name``: the user's subscription or the
        client's own."""
        return self.is_subscribed(name) or name in self.own_names

    @property
    def server_filters(self) -> list[tuple[str, str]]:
        """Every filter the server holds: the user's, then the client's own."""
        return self.filters + [f for f in self.own_filters if f not in self.filters]

    @property
    def has_own(self) -> bool:
        """True if the client added subscriptions or filters of its own."""
        return bool(self.own_names or self.own_filters)

    def wants(self, event: Any) -> bool:
        """Would ``event`` reach this connection with only the user's subscriptions and
        filters (none of the client's own)? FreeSWITCH's rules: the event name (or CUSTOM
        subclass) subscribed, then, if there are filters, at least one ``header value``
        filter matches (case-insensitive; ``/regex/``) and no ``header -value`` one."""
        name = event.name
        if not ("ALL" in self.names or name in self.names
                or (name == "CUSTOM" and event.subclass in self.subclasses)):
            return False
        return not self.filters or passes_filters(self.filters, event)

    def only_own(self, event: Any) -> bool:
        """True if ``event`` reached the connection only because of the client's own
        subscriptions or filters: it is not the user's to see."""
        if not (self.own_names or self.own_filters):
            return False
        if event.name not in self.own_names and not (
                self.own_filters and passes_filters(self.own_filters, event)):
            return False
        return not self.wants(event)

    def accepted(self, request: Request, own: bool = False) -> None:
        """Record a command the server answered ``+OK`` (``own``: the client's own)."""
        verb, args = request.verb, request.args
        if verb == "event" and args:
            self.format = args[0]
            wanted = list(args[1:])
            if own:
                self.own_names.update(n for n in wanted if not self.is_subscribed(n))
                return
            self.names.update(wanted)
            self.own_names.difference_update(wanted)
            if "ALL" in wanted:
                self.own_names.clear()
            if "CUSTOM" in wanted:  # FreeSWITCH reads every word after CUSTOM as a subclass
                self.subclasses.update(wanted[wanted.index("CUSTOM") + 1:])
        elif verb == "nixevent":
            self.names.difference_update(args)
            self.subclasses.difference_update(args)
            self.own_names.difference_update(args)
            if "ALL" in args:
                self.names.clear()
                self.subclasses.clear()
                self.own_names.clear()
        elif verb == "noevents":
            self.names.clear()
            self.subclasses.clear()
            self.own_names.clear()
        elif verb == "filter" and len(args) >= 2:
            pair = (args[0], " ".join(args[1:]))
            mine = self.own_filters if own else self.filters
            if pair not in mine and not (own and pair in self.filters):
                mine.append(pair)
            if not own and pair in self.own_filters:  # the user's now
                self.own_filters.remove(pair)
        elif verb == "filter delete" and args:
            header, value = args[0], " ".join(args[1:]) or None
            if header == "all":
                self.filters.clear()
                self.own_filters.clear()
                return

            def kept(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
                return [(h, v) for h, v in pairs
                        if not (h == header and (value is None or v == value))]
            self.filters = kept(self.filters)
            self.own_filters = kept(self.own_filters)
        elif verb == "myevents":
            uuid = args[0] if args and args[0] not in ("plain", "json", "xml") else None
            fmt = args[-1] if args and args[-1] in ("plain", "json", "xml") else None
            self.myevents = (uuid, fmt)
        elif verb == "linger":
            self.linger = int(args[0]) if args else True
        elif verb == "nolinger":
            self.linger = None
        elif verb == "log":
            self.log_level = args[0] if args else True
        elif verb == "nolog":
            self.log_level = None

    def restore(self) -> list[Request]:
        """The user's commands that tell a new connection all this, in a working order
        (the client's own follow from :meth:`restore_own`)."""
        todo = []
        if self.names:  # subclasses last, after CUSTOM, or they would be read as names
            subclasses = sorted(self.subclasses & self.names)
            names = sorted(self.names - self.subclasses - {"CUSTOM"})
            if subclasses or "CUSTOM" in self.names:
                names += ["CUSTOM", *subclasses]
            todo.append(commands.event(*names, format=self.format))
        todo += [commands.filter(header, value) for header, value in self.filters]
        if self.myevents is not None:
            todo.append(commands.myevents(*self.myevents))
        if self.linger is not None:
            todo.append(commands.linger(None if self.linger is True else int(self.linger)))
        if self.log_level is not None:
            todo.append(commands.log(None if self.log_level is True else self.log_level))
        return todo

    def restore_own(self) -> list[Request]:
        """The client's own subscriptions and filters, to send (as its own) after
        :meth:`restore`'s; its filters only while the user has filters."""
        todo = []
        names = sorted(self.own_names - self.names)
        if names:
            todo.append(commands.event(*names, format=self.format))
        if self.filters:
            todo += [commands.filter(h, v) for h, v in self.own_filters
                     if (h, v) not in self.filters]
        return todo


def passes_filters(filters: list[tuple[str, str]], event: Any) -> bool:
    """FreeSWITCH's filter test (mod_event_socket): with no filters everything passes;
    otherwise an event passes if a ``header value`` (or ``header +value``) filter matches
    it and no ``header -value`` filter does. Values compare case-insensitively; a value
    starting with ``/`` is a regular expression (``/pattern/``)."""
    if not filters:
        return True
    send = False
    for header, raw in filters:
        have = event.get(header)
        if have is None:
            continue
        value, positive = raw, True
        while value and value[0] in "+- ":
            if value[0] != " ":
                positive = value[0] == "+"
            value = value[1:]
        if send and positive:
            continue
        if raw.startswith("/"):
            pattern = value[1:-1] if len(value) > 1 and value.endswith("/") else value[1:]
            try:
                match = re.search(pattern, str(have)) is not None
            except re.error:
                match = False
        else:
            match = str(have).lower() == value.lower()
        if match:
            if not positive:
                return False
            send = True
    return send


class ClientProtocol:
    """One client connection's protocol state (inbound, or outbound with ``inbound=False``).

    Call :meth:`connection_made` when a transport opens (a reconnect keeps the
    :attr:`subscriptions`), :meth:`send` for every command (write the bytes it returns),
    :meth:`receive_data` for every read, and :meth:`connection_lost` when it closes (it
    hands back the tokens of the commands left without a reply).
    """

    def __init__(self, *, inbound: bool = True) -> None:
        self.inbound = inbound
        self.subscriptions = Subscriptions()
        self.parser = Parser(events=True, on_frame=self._frame_to_item)
        self.state = State.CLOSED
        self._pending: deque[tuple[Request, Any, bool]] = deque()
        self.disconnect_notice: Frame | None = None
        self.lingering = False
        self.frames_in = 0
        self._large: list[int] = []  # max_reply of the waiting commands that asked for one
        self.connection_made()

    # -- life ------------------------------------------------------------------------
    def connection_made(self) -> None:
        """A new transport: fresh framing and wire state; subscriptions are kept."""
        self.parser = Parser(events=True, on_frame=self._frame_to_item)
        self._pending.clear()
        self._large.clear()
        self.disconnect_notice = None
        self.lingering = False
        self.state = State.AWAITING_AUTH if self.inbound else State.OPEN

    def connection_lost(self) -> list[tuple[Request, Any]]:
        """The transport closed: the commands (and tokens) that got no reply, in order."""
        self.state = State.CLOSED
        left = [(request, token) for request, token, _ in self._pending]
        self._pending.clear()
        self._large.clear()
        return left

    @property
    def pending(self) -> int:
        """How many commands wait for their reply."""
        return len(self._pending)

    # -- commands ----------------------------------------------------------------------
    def send(self, request: bytes, token: Any = None, *, own: bool = False,
             max_reply: int | None = None) -> bytes:
        """Queue ``request`` for a reply (``token`` comes back with it); returns the bytes
        to write. Bytes built by hand are read into a :class:`Request`. ``own``: the
        client sends it for itself (see :class:`Subscriptions`), not for its user.

        ``max_reply``: the largest ``api/response`` body accepted while this command
        waits (e.g. ``show channels as json`` on 50,000 channels is ~45 MB, beyond the
        16 MiB cap that holds for every other frame); back to the cap once it is answered.
        """
        request = Request.parse(request)
        if request.verb == "auth" and self.state is State.AUTH_REQUESTED:
            self.state = State.AUTHENTICATING
        if max_reply is not None and max_reply > self.parser.max_frame:
            self._large.append(max_reply)
            self.parser.max_reply = max(self._large)
            own = (own, max_reply)  # type: ignore[assignment]  # unpacked on its reply
        self._pending.append((request, token, own))
        return request

    # -- bytes in --------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Any]:
        """Parse ``data``; return what it says, in order: :class:`~switchio_lab.esl.Event`
        objects and :class:`Reply`, :class:`AuthRequested`, :class:`Rejected`,
        :class:`Lingering`, :class:`Goodbye`, :class:`Unsolicited`, :class:`OtherFrame`.

        Bytes that break the framing end the list with a :class:`FramingError` (the
        complete frames before them are reported first); the connection cannot go on.
        """
        try:  # events come out of the parser as Event objects, other frames as items
            items = self.parser.feed(data)
        except ProtocolError as exc:
            items = exc.messages
            self.frames_in += len(items)
            return [*items, FramingError(exc)]
        self.frames_in += len(items)
        return items

    def _frame_to_item(self, frame: Frame) -> Any:
        """What a non-event frame says (the parser calls this as it reads the frame)."""
        ctype = frame.content_type
        if ctype in EVENT_FORMATS:  # (the parser gives event frames as Event objects)
            return frame.event
        if ctype == COMMAND_REPLY or ctype == API_RESPONSE:
            if not self._pending:
                return Unsolicited(frame)
            request, token, own = self._pending.popleft()
            if type(own) is tuple:  # it had asked for a larger reply cap: drop it
                own, cap = own
                self._large.remove(cap)
                self.parser.max_reply = max(self._large, default=self.parser.max_frame)
            if ctype == COMMAND_REPLY and frame.reply_text.startswith("+OK"):
                self._accepted(request, own)
            elif request.verb == "auth" and self.state is State.AUTHENTICATING:
                self.state = State.REJECTED
            return Reply(request, token, frame)
        if ctype == AUTH_REQUEST:
            if self.state is State.AWAITING_AUTH:
                self.state = State.AUTH_REQUESTED
            return AuthRequested(frame)
        if ctype == DISCONNECT_NOTICE:
            if frame.headers.get("Content-Disposition") == "linger":
                self.lingering = True
                return Lingering(frame)
            self.disconnect_notice = frame
            self.state = State.CLOSING
            return Goodbye(frame)
        if ctype == RUDE_REJECTION:
            self.disconnect_notice = frame
            self.state = State.REJECTED
            return Rejected(frame)
        if ctype != LOG_DATA:
            log.debug("frame of unknown type kept: %r", frame)
        return OtherFrame(frame)

    def _accepted(self, request: Request, own: bool) -> None:
        if request.verb == "auth":
            if self.state is State.AUTHENTICATING:
                self.state = State.OPEN
            return
        self.subscriptions.accepted(request, own)


__all__ = [
    "AuthRequested", "ClientProtocol", "FramingError", "Goodbye", "Lingering", "OtherFrame",
    "Rejected", "Reply", "State", "Subscriptions", "Unsolicited", "passes_filters",
]
