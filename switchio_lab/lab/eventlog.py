"""A bounded log of what happened on the wire, for teaching and inspection.

An :class:`EventLog` records, from every connection attached to it (a
:class:`~switchio_lab.lab.Lab` attaches each of its clients):

- ``event``: every event the connection received (``name`` is ``Event-Name``, ``uuid``
  its ``Unique-ID``, ``event`` the :class:`~switchio_lab.esl.Event` itself; the record's
  :attr:`~EventRecord.key` is the event's ``Event.key``: a CUSTOM event's subclass);
- ``command``: every command the client sent, just before it was written (``text`` is
  the whole command, an ``auth`` password masked; ``name`` its leading words, e.g.
  ``api uuid_answer``, ``bgapi originate``, ``sendmsg execute playback``; ``uuid`` the
  channel it addresses, when it names one);
- ``reply``: the reply to each command, when it arrived (same ``name`` and ``uuid`` as
  its command, ``text`` the reply text or the api body);
- ``frame``: other frames (``auth/request``, ``log/data``, disconnect notices), ``name``
  being the content type.

Recording is cheap: one small tuple per record, no header parsing beyond the name and
the uuid. The log keeps the newest ``maxlen`` records (older ones are dropped and
counted in :attr:`EventLog.dropped`); :meth:`EventLog.since` lets a reader (a widget)
pick up only what is new since it last looked.

>>> log = EventLog()                                          # doctest: +SKIP
>>> log.attach(client, "127.0.0.1")                           # doctest: +SKIP
>>> log.for_call(call_uuid)            # every record of that call's legs, in order
>>> log.filter(name="CHANNEL_ANSWER", header="Call-Direction", value="inbound")
>>> log.frame()                        # a pandas DataFrame
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ..esl import API_RESPONSE, COMMAND_REPLY, Event, Frame
from ..esl.requests import Request
from .ladder_layout import ladder_text

if TYPE_CHECKING:
    import pandas

log = logging.getLogger("switchio_lab.lab")

KINDS = ("event", "command", "reply", "frame")
DEFAULT_MAXLEN = 20_000
#: the longest reply or frame text kept in a record (longer ones are cut, marked ``...``)
MAX_TEXT = 8192
#: headers that tie a leg to its call: the call tracking variable and its SIP X-header
CALL_HEADERS = ("variable_switchio_call", "variable_sip_h_X-switchio_call")
#: headers naming another leg of the same call
LEG_HEADERS = ("Other-Leg-Unique-ID",)


RecordCallback = Callable[["EventRecord"], Any]


class EventRecord(NamedTuple):
    """One thing that happened: an event received, a command sent, a reply, a frame."""

    time: float  #: when it was seen here (``time.time()``), so all kinds sort together
    node: str  #: the node (client) it happened on
    kind: str  #: ``event``, ``command``, ``reply`` or ``frame``
    name: str  #: Event-Name, the command's leading words, or the frame's content type
    uuid: str | None  #: the channel it is about, if any
    event: Event | None  #: the event (``kind == "event"`` only)
    text: str  #: command text, reply text, frame body; for events: see :class:`EventLog`
    #: the command (``command`` and ``reply`` records): its ``name``, ``uuid``, ``job_uuid``
    request: Request | None = None

    @property
    def key(self) -> str:
        """The name it goes by: for an event, :attr:`Event.key <switchio_lab.esl.Event.key>`
        (a CUSTOM event's ``Event-Subclass``), else :attr:`name`."""
        ev = self.event
        return (ev.key if ev is not None else "") or self.name

    def __repr__(self) -> str:
        what = f" {self.uuid}" if self.uuid else ""
        text = f" {self.text[:60]!r}" if self.text else ""
        return f"<EventRecord {self.time:.6f} {self.node} {self.kind} {self.name}{what}{text}>"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 3] + "..."


def command_info(text: str) -> tuple[str, str | None]:
    """``(name, uuid)`` of a command's text: what :class:`~switchio_lab.esl.requests.Request`
    says of it (its name in records, and the channel it names)."""
    request = Request.parse((text.rstrip("\n") + "\n\n").encode("utf-8"))
    return request.name, request.uuid


class EventLog:
    """A bounded, append-only log of events, commands, replies and frames (see module doc).

    ``maxlen``: how many records are kept (the oldest go first). ``call_headers``: the
    headers that tie a leg to its call (see :meth:`for_call`). Set :attr:`enabled` to
    False to stop recording for a while.
    """

    def __init__(self, maxlen: int = DEFAULT_MAXLEN, *,
                 call_headers: Iterable[str] = CALL_HEADERS) -> None:
        self.maxlen = maxlen
        self.call_headers = tuple(call_headers)
        self.enabled = True
        self._records: deque[EventRecord] = deque(maxlen=maxlen)
        self._total = 0  # records ever appended (cleared ones included)
        self._subscribers: list[RecordCallback] = []
        self._errors: dict[int, int] = {}

    # -- recording (the hot path) ------------------------------------------------------
    def append(self, record: EventRecord) -> None:
        """Add a record and tell the subscribers (normally the attached connections do)."""
        if not self.enabled:
            return
        self._records.append(record)
        self._total += 1
        if self._subscribers:
            for callback in self._subscribers:
                try:
                    callback(record)
                except Exception:
                    n = self._errors[id(callback)] = self._errors.get(id(callback), 0) + 1
                    if n & (n - 1) == 0:  # 1, 2, 4, ...: never a log flood
                        log.exception("event log: subscriber %r failed (%d time(s))",
                                      callback, n)

    def attach(self, target: Any, node: str | None = None) -> Callable[[], None]:
        """Record everything ``target`` (a Client or a Connection) receives and sends.

        ``node`` names it in the records (default: the connection's ``host:port``).
        Returns a function that detaches the log again.
        """
        conn = getattr(target, "connection", target)
        node = node or str(conn)
        append = self.append
        clock = time.time

        def on_event(event: Event) -> None:
            name = event.name
            text = ""
            if name == "BACKGROUND_JOB":
                text = _cut(event.body.strip())
            elif (key := event.key) != name:
                text = key  # a CUSTOM event's subclass
            append(EventRecord(clock(), node, "event", name, event.uuid, event, text))

        def on_command(request: Request, reply: Frame | None) -> None:
            name, uuid = request.name, request.uuid
            if reply is None:
                append(EventRecord(clock(), node, "command", name, uuid, None, request.text,
                                   request))
            else:
                body = (reply.reply_text if reply.content_type == COMMAND_REPLY
                        else reply.text.rstrip("\n"))
                append(EventRecord(clock(), node, "reply", name, uuid, None, _cut(body),
                                   request))

        def on_frame(frame: Frame) -> None:
            ctype = frame.content_type
            if ctype == COMMAND_REPLY or ctype == API_RESPONSE:
                return  # recorded as replies, paired with their commands
            append(EventRecord(clock(), node, "frame", ctype or "?", None, None,
                               _cut(frame.text.rstrip("\n"))))

        conn.on_event(on_event)
        conn.on_command(on_command)
        conn.on_frame(on_frame)

        def detach() -> None:
            for cb in (on_event, on_command, on_frame):
                conn.remove_callback(cb)
        return detach

    # -- reading ---------------------------------------------------------------------------
    @property
    def records(self) -> deque[EventRecord]:
        """The records kept, oldest first (a live, bounded deque: copy it to keep a view)."""
        return self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[EventRecord]:
        return iter(list(self._records))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self._records)[index]
        return self._records[index]

    def __repr__(self) -> str:
        return (f"<EventLog {len(self._records)} record(s) (of {self._total} recorded, "
                f"max {self.maxlen})>")

    @property
    def total(self) -> int:
        """How many records were ever appended (the sequence number of the next one)."""
        return self._total

    @property
    def dropped(self) -> int:
        """Records no longer kept (pushed out by newer ones, or cleared)."""
        return self._total - len(self._records)

    def since(self, seq: int) -> list[EventRecord]:
        """The records appended since sequence number ``seq`` (an earlier :attr:`total`).

        A reader polls with ``new = log.since(seen); seen = log.total``. Records that
        were dropped meanwhile are simply missing.
        """
        start = seq - self.dropped
        records = self._records
        if start <= 0:
            return list(records)
        if start >= len(records):
            return []
        return list(itertools.islice(records, start, None))

    def tail(self, n: int = 20) -> list[EventRecord]:
        """The newest ``n`` records."""
        return self.since(self._total - n)

    def filter(self, name: str | Iterable[str] | None = None, uuid: str | None = None,
               header: str | None = None, value: str | None = None,
               kind: str | Iterable[str] | None = None, node: str | None = None,
               records: Iterable[EventRecord] | None = None) -> list[EventRecord]:
        """The records (oldest first) matching every criterion given.

        ``name``/``kind``: one or several; ``name`` also matches a record's
        :attr:`~EventRecord.key` (a CUSTOM event's subclass). ``header``: events having that
        header (with that ``value``, if given). ``records``: filter these instead of the
        whole log.
        """
        names = {name} if isinstance(name, str) else set(name) if name is not None else None
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
        if kinds is not None and not kinds <= set(KINDS):
            raise ValueError(f"unknown kind(s) {sorted(kinds - set(KINDS))}; "
                             f"expected some of {KINDS}")
        out = []
        for r in self._records if records is None else records:
            if kinds is not None and r.kind not in kinds:
                continue
            if names is not None and r.name not in names and r.key not in names:
                continue
            if uuid is not None and r.uuid != uuid:
                continue
            if node is not None and r.node != node:
                continue
            if header is not None:
                if r.event is None:
                    continue
                got = r.event.get(header)
                if got is None or (value is not None and got != value):
                    continue
            out.append(r)
        return out

    def for_call(self, uuid: str) -> list[EventRecord]:
        """Every record of the call ``uuid`` (a call uuid or any of its legs'), in order.

        The legs are found from the events: a leg belongs to the call when its events
        carry the call's tracking header (:attr:`call_headers`, set by
        :meth:`Client.originate <switchio_lab.api.Client.originate>` on both legs, across
        nodes) or name a leg of it (``Other-Leg-Unique-ID``). With the legs' events come
        the commands (and their replies) that name a leg or mention its uuid, and the
        BACKGROUND_JOB results of those commands.
        """
        records = list(self._records)
        link_headers = self.call_headers + LEG_HEADERS
        links: list[tuple[int, str, set[str]]] = []
        for i, r in enumerate(records):
            if r.event is not None and r.uuid:
                ev = r.event
                links.append((i, r.uuid, {v for h in link_headers if (v := ev.get(h))}))
        ids = {uuid}
        member: set[int] = set()
        grew = True
        while grew:
            grew = False
            for i, leg, values in links:
                if i in member:
                    continue
                if leg in ids or not values.isdisjoint(ids):
                    member.add(i)
                    new = ({leg} | values) - ids
                    if new:
                        ids |= new
                        grew = True
        jobs: set[str] = set()
        out: list[EventRecord] = []
        for i, r in enumerate(records):
            if r.kind == "event":
                if i in member:
                    out.append(r)
                elif r.name == "BACKGROUND_JOB" and r.event is not None and (
                        r.event.get("Job-UUID") in jobs or any(x in r.text for x in ids)):
                    out.append(r)
            elif r.kind in ("command", "reply"):
                if r.uuid in ids or any(x in r.text for x in ids):
                    out.append(r)
                    if r.kind == "command":
                        # records made by hand may lack the structured command: read it
                        req = r.request or Request.parse((r.text + "\n\n").encode())
                        if req.job_uuid:
                            jobs.add(req.job_uuid)
                elif r.kind == "reply" and jobs and any(j in r.text for j in jobs):
                    out.append(r)
        return out

    def legs(self, uuid: str) -> list[tuple[str, str]]:
        """``(node, uuid)`` of each leg of call ``uuid``, in order of appearance."""
        seen: dict[tuple[str, str], None] = {}
        for r in self.for_call(uuid):
            if r.kind == "event" and r.uuid:
                seen.setdefault((r.node, r.uuid), None)
        return list(seen)

    def rate(self, window: float = 5.0, kind: str | None = "event",
             now: float | None = None) -> float:
        """Records (of ``kind``; None: all) per second over the last ``window`` seconds."""
        now = time.time() if now is None else now
        start = now - window
        n = 0
        for r in reversed(self._records):
            if r.time < start:
                break
            if kind is None or r.kind == kind:
                n += 1
        return n / window if window > 0 else 0.0

    # -- subscribers -------------------------------------------------------------------------
    def subscribe(self, callback: RecordCallback) -> Callable[[], None]:
        """Call ``callback(record)`` for each new record; returns an ``unsubscribe()``.

        Callbacks run inline on the event loop's thread, while the connection reads: keep
        them quick (a widget should buffer and redraw on its own schedule).
        """
        self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            self._subscribers = [cb for cb in self._subscribers if cb is not callback]
            self._errors.pop(id(callback), None)
        return unsubscribe

    def clear(self) -> None:
        """Forget the records kept (:attr:`total` keeps counting; subscribers stay)."""
        self._records.clear()

    # -- presenting ----------------------------------------------------------------------------
    def frame(self, records: Iterable[EventRecord] | None = None) -> pandas.DataFrame:
        """A DataFrame of ``records`` (default: the whole log): time, ms, node, kind, name,
        uuid, text. ``time`` is in seconds since the epoch (``time.time()``), ``ms`` the
        milliseconds since the first row."""
        import pandas

        rows = list(self._records) if records is None else list(records)
        t0 = rows[0].time if rows else 0.0
        return pandas.DataFrame(
            [(r.time, round((r.time - t0) * 1000, 3), r.node, r.kind, r.name, r.uuid, r.text)
             for r in rows],
            columns=["time", "ms", "node", "kind", "name", "uuid", "text"])

    def text_ladder(self, records: str | Iterable[EventRecord], width: int = 28) -> str:
        """A plain-text sequence diagram: a lane for the client, one per leg; a command
        drawn as an arrow from the client to the leg it is for, its reply as an arrow back,
        the SIP hops between the legs (INVITE, 180 Ringing, 200 OK, BYE) as arrows inferred
        from the events (see :func:`~switchio_lab.lab.ladder_layout.render_text`).

        ``records``: a call or leg uuid (see :meth:`for_call`) or records.
        """
        return text_ladder(self.for_call(records) if isinstance(records, str) else records,
                           width=width)


def text_ladder(records: Iterable[EventRecord], width: int = 28) -> str:
    """Render records as a text ladder (see :meth:`EventLog.text_ladder`): the one ladder
    layout (:func:`~switchio_lab.lab.ladder_layout.ladder_text`), drawn as text."""
    rows = list(records)
    if not rows:
        return "(no records)"
    return ladder_text(rows, width=width)


__all__ = ["CALL_HEADERS", "EventLog", "EventRecord", "command_info", "text_ladder"]
