"""How a call's records are laid out as a ladder, and the ladder as plain text.

:class:`LadderLayout` lays a call's records out as a sequence diagram, the way sngrep or
Wireshark's VoIP flows draw a call: a ``client`` lane at x=0, then a :class:`Lane` per
leg (the caller's A-leg, then each callee's B-leg, in call order), and a :class:`Step`
per row, in time order:

- ``event``: a mark on its leg's lane, with the event's name;
- ``command``: an arrow from the client to the leg it targets, labelled with the command;
- ``reply``: a (dashed) arrow back from that leg to the client: the command's reply, or the
  ``BACKGROUND_JOB`` that carries a ``bgapi``'s result;
- ``sip``: an arrow between two legs, *inferred* from their events (what SIP did, as far as
  the events show it): the B-leg's CHANNEL_OUTGOING/CREATE → ``INVITE``, CHANNEL_PROGRESS
  → ``180 Ringing`` (``183 Session Progress`` for early media), the B-leg's answer →
  ``200 OK``, the first CHANNEL_HANGUP → ``BYE`` toward the other leg (``CANCEL`` or the
  rejecting response, e.g. ``486 Busy Here``, before an answer).

:func:`render_text` draws a layout as text and :func:`ladder_text` lays records out and
draws them. No Bokeh here: the event log's :meth:`~switchio_lab.lab.EventLog.text_ladder`
and the Bokeh :class:`~switchio_lab.lab.ladder.Ladder` both draw this one layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import (
    _clip,
    _event_name,
    _first_line,
    _request,
    _short,
    _shorten_uuids,
    command_label,
    summary,
)

__all__ = ["CLIENT", "KINDS", "LadderLayout", "Lane", "Step", "ladder_text", "render_text"]

# -- the ladder model ----------------------------------------------------------------------

CLIENT = "client"
#: the kinds of rows a ladder has
KINDS = ("event", "command", "reply", "sip")

#: what a leg's hangup cause says in SIP when it ends the call before an answer
#: (FreeSWITCH's Q.850 → SIP mapping, for the causes a lab call meets)
_SIP_RESPONSES = {
    "USER_BUSY": "486 Busy Here",
    "NO_ANSWER": "480 Temporarily Unavailable",
    "NO_USER_RESPONSE": "408 Request Timeout",
    "CALL_REJECTED": "603 Decline",
    "UNALLOCATED_NUMBER": "404 Not Found",
    "NO_ROUTE_DESTINATION": "404 Not Found",
    "USER_NOT_REGISTERED": "404 Not Found",
    "ORIGINATOR_CANCEL": "487 Request Terminated",
    "NORMAL_TEMPORARY_FAILURE": "503 Service Unavailable",
    "INCOMPATIBLE_DESTINATION": "488 Not Acceptable Here",
}
_DEFAULT_RESPONSE = "480 Temporarily Unavailable"  # (FreeSWITCH's, for other causes)
#: headers by which a new leg names the leg that called it
_CALLER_HEADERS = ("Other-Leg-Unique-ID", "variable_originating_leg_uuid",
                   "variable_bridge_uuid", "variable_signal_bond")


@dataclass
class Lane:
    """One vertical lane of a ladder: the client (x=0) or one leg of the call."""

    x: int
    uuid: str | None
    node: str = ""
    direction: str = ""

    @property
    def label(self) -> str:
        if self.uuid is None:
            return CLIENT
        return " ".join(p for p in (self.node, self.direction, _short(self.uuid)) if p)


@dataclass
class Step:
    """One row of a ladder: an event mark, or an arrow from lane ``src`` to lane ``dst``.

    ``kind`` is one of :data:`KINDS`. ``lane`` is the leg the row is about: the event's
    lane, the command's target, the lane a reply comes back from, the lane a SIP hop goes
    to (0: the client itself). ``label`` is what the row says (the event's name, the
    command, the reply's first line, the SIP message), ``note`` a one-line comment (the
    event's key headers, why a hop was inferred), ``detail`` everything (the hover text:
    the whole command, the reply, the BACKGROUND_JOB's body). ``record`` is the record the
    row comes from (for a ``sip`` row: the event it was inferred from).
    """

    index: int
    record: Any
    kind: str
    lane: int
    label: str
    time: float
    src: int = 0
    dst: int = 0
    note: str = ""
    detail: str = ""

    @property
    def inferred(self) -> bool:
        """True for a SIP hop: read from the events, not seen on the wire."""
        return self.kind == "sip"

    @property
    def is_arrow(self) -> bool:
        return self.kind != "event" and self.src != self.dst

    @property
    def caption(self) -> str:
        """The label as drawn: a SIP hop says it was inferred."""
        return f"{self.label} (inferred)" if self.kind == "sip" else self.label


@dataclass
class _Leg:
    """What the events said so far of the SIP dialog that set a leg up."""

    peer: int  # the lane of the leg that called it
    said: set[str] = field(default_factory=set)  # "invite", "180 Ringing", "answer", "end"


@dataclass
class LadderLayout:
    """Lanes and rows of a ladder, built record by record (time order): see the module doc."""

    known: set[str] = field(default_factory=set)  # leg uuids, possibly not laned yet
    lanes: list[Lane] = field(default_factory=lambda: [Lane(0, None)])
    steps: list[Step] = field(default_factory=list)
    origin: float | None = None
    _by_uuid: dict[str, Lane] = field(default_factory=dict)
    _pending: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # node: cmds
    _jobs: dict[str, int] = field(default_factory=dict)  # bgapi Job-UUID: its lane
    _legs: dict[int, _Leg] = field(default_factory=dict)  # B-leg lane: its dialog

    @classmethod
    def of(cls, records: Sequence[Any], legs: Iterable[str] = ()) -> LadderLayout:
        layout = cls(known=set(legs))
        layout.known.update(r.uuid for r in records if r.kind == "event" and r.uuid)
        for rec in records:
            layout.add(rec)
        return layout

    def lane(self, uuid: str, node: str = "", direction: str = "") -> Lane:
        """The lane of leg ``uuid`` (created at the right if new)."""
        lane = self._by_uuid.get(uuid)
        if lane is None:
            lane = self._by_uuid[uuid] = Lane(len(self.lanes), uuid, node, direction)
            self.lanes.append(lane)
            self.known.add(uuid)
        else:
            if direction and not lane.direction:
                lane.direction = direction
            if node and not lane.node:
                lane.node = node
        return lane

    @property
    def arrows(self) -> list[Step]:
        """The rows drawn as arrows (commands, replies, SIP hops), in order."""
        return [s for s in self.steps if s.is_arrow]

    def add(self, rec: Any) -> Step | None:
        """Lay out one record: its row (after the SIP hop rows it implies, if any), or
        None for records a ladder does not draw (frames)."""
        if self.origin is None and rec.kind in ("event", "command", "reply"):
            self.origin = rec.time
        if rec.kind == "event":
            if rec.uuid:
                return self._event(rec)
            return self._channelless(rec)
        if rec.kind == "command":
            return self._command(rec)
        if rec.kind == "reply":
            return self._reply(rec)
        return None

    # -- one record -----------------------------------------------------------------
    def _step(self, rec: Any, kind: str, lane: int, label: str, src: int, dst: int,
              note: str = "", detail: str = "") -> Step:
        step = Step(len(self.steps), rec, kind, lane, label, rec.time, src, dst, note,
                    detail or note)
        self.steps.append(step)
        return step

    def _event(self, rec: Any) -> Step:
        ev = rec.event
        direction = ev.get("Call-Direction", "") if ev is not None else ""
        x = self.lane(rec.uuid, rec.node or "", direction).x
        name = _event_name(rec)
        text = summary(rec)
        before, after = self._sip(rec, name, x)
        for args in before:
            self._step(rec, "sip", *args)
        step = self._step(rec, "event", x, name, x, x, text)
        for args in after:
            self._step(rec, "sip", *args)
        return step

    def _channelless(self, rec: Any) -> Step:
        """BACKGROUND_JOB: a reply from the lane its bgapi went to; API etc.: a mark."""
        name = _event_name(rec)
        ev = rec.event
        if name != "BACKGROUND_JOB":
            return self._step(rec, "event", 0, name, 0, 0, summary(rec))
        job = ev.get("Job-UUID", "") if ev is not None else ""
        body = (ev.body if ev is not None else "") or rec.text or ""
        x = self._jobs.get(job, 0)
        if not x:
            mentioned = self._mentioned(body)
            x = self.lane(mentioned[0]).x if mentioned else 0
        first = _shorten_uuids(_first_line(body))
        label = f"BACKGROUND_JOB {first}".strip()
        detail = f"BACKGROUND_JOB Job-UUID: {job}\n{body.strip()}".strip()
        return self._step(rec, "reply", x, label, x, 0, label, detail)

    def _command(self, rec: Any) -> Step:
        text = rec.text or rec.name or ""
        x = 0
        targets = [rec.uuid] if rec.uuid in self.known else self._mentioned(text)
        if targets:
            x = self.lane(targets[0], rec.node or "").x
        request = _request(rec)
        label = command_label(request or text)
        self._pending.setdefault(rec.node or "", []).append((rec.name, x))
        if request is None and text.startswith("bgapi"):
            from ..esl.requests import Request

            request = Request.parse((text + "\n\n").encode("utf-8"))
        job = request.job_uuid if request is not None else None
        if job:
            self._jobs[job] = x
        return self._step(rec, "command", x, label, 0, x, label, text)

    def _reply(self, rec: Any) -> Step:
        """A command's reply: back from the lane its command went to (replies come in
        command order on a connection)."""
        pending = self._pending.get(rec.node or "", [])
        x = None
        for i, (name, lane) in enumerate(pending):
            if name == rec.name:
                x = lane
                del pending[: i + 1]
                break
        text = rec.text or ""
        label = _shorten_uuids(_first_line(text)) or rec.name
        if x is None:  # its command is not in the ladder: say which command it answers
            x = self.lane(rec.uuid).x if rec.uuid in self.known else 0
            label = f"{rec.name}: {label}"
        if text.startswith("+OK Job-UUID: "):
            self._jobs.setdefault(text.split(": ", 1)[1].strip(), x)
        return self._step(rec, "reply", x, label, x, 0, label, f"{rec.name}: {text}")

    def _mentioned(self, text: str) -> list[str]:
        """The known legs a command names, in order (uuids may be client-chosen words)."""
        return [u for _, u in sorted((text.find(u), u) for u in self.known if u in text)]

    # -- the SIP hops between legs ----------------------------------------------------
    def _sip(self, rec: Any, name: str, x: int) -> tuple[list[tuple], list[tuple]]:
        """The SIP hops an event on lane ``x`` shows: ``(before, after)`` its own row,
        each as ``(lane, label, src, dst, note)``."""
        before: list[tuple] = []
        after: list[tuple] = []
        a_leg = 1
        who = f"{name} of {_short(rec.uuid)}"
        leg = self._legs.get(x)
        if x != a_leg and leg is None:
            leg = self._legs[x] = _Leg(self._caller_of(rec, x))
        if leg is not None and name in ("CHANNEL_OUTGOING", "CHANNEL_CREATE") and not (
                leg.said & {"invite", "answer", "end"}):
            leg.said.add("invite")  # (a leg's first events may be CHANNEL_STATE CS_NEW)
            before.append((x, "INVITE", leg.peer, x, f"inferred from {who}"))
        if name in ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"):
            label = "183 Session Progress" if name.endswith("MEDIA") else "180 Ringing"
            for b in self._dialogs(x):
                d = self._legs[b]
                if label not in d.said and not d.said & {"answer", "end"}:
                    d.said.add(label)
                    after.append((d.peer, label, b, d.peer, f"inferred from {who}"))
        elif name == "CHANNEL_ANSWER":
            for b in self._dialogs(x):
                d = self._legs[b]
                if not d.said & {"answer", "end"}:
                    d.said.add("answer")
                    after.append((d.peer, "200 OK", b, d.peer, f"inferred from {who}"))
        elif name == "CHANNEL_HANGUP":
            ev = rec.event
            cause = (ev.get("Hangup-Cause", "") if ev is not None else "") or ""
            for b in self._dialogs(x, called=True):
                d = self._legs[b]
                if "end" in d.said:
                    continue
                d.said.add("end")
                why = f"inferred from {who}" + (f" ({cause})" if cause else "")
                if "answer" in d.said:
                    src, dst = (b, d.peer) if x == b else (d.peer, b)
                    after.append((dst, "BYE", src, dst, why))
                elif x == b:  # the callee gives up on the call: its final response
                    label = _SIP_RESPONSES.get(cause, _DEFAULT_RESPONSE)
                    after.append((d.peer, label, b, d.peer, why))
                else:  # the caller gives up before the answer
                    after.append((b, "CANCEL", d.peer, b, why))
        return before, after

    def _caller_of(self, rec: Any, x: int) -> int:
        """The lane of the leg that called the leg on lane ``x`` (default: the A-leg)."""
        ev = rec.event
        if ev is not None:
            for header in _CALLER_HEADERS:
                lane = self._by_uuid.get(ev.get(header) or "")
                if lane is not None and 0 < lane.x != x:
                    return lane.x
        return 1

    def _dialogs(self, x: int, called: bool = False) -> list[int]:
        """The B-leg lanes whose dialog an event on lane ``x`` is part of: ``x`` itself if
        it is a B-leg, else every leg it called; with ``called`` (a hangup ends them
        all), ``x`` and every leg it called (a callee that bridged on to a far leg)."""
        legs = [b for b, d in self._legs.items() if d.peer == x]
        if x in self._legs:
            return [x, *legs] if called else [x]
        return legs


# -- the ladder as text --------------------------------------------------------------------

_LINES = {"command": "─", "reply": "╌", "sip": "┄"}


def render_text(layout: LadderLayout, *, width: int = 28) -> str:
    """Draw a ladder layout as text, one column per lane and one line per row.

    The first column is the time in ms since the first row; then the lanes (``client``,
    then each leg as ``node direction uuid8``): an event is ``* NAME`` on its leg's lane,
    an arrow runs between two lanes with its label inside (``─`` a command, ``╌`` a reply
    or a BACKGROUND_JOB, ``┄`` a SIP hop inferred from the events); the last column is a
    comment (the event's key headers, the full command when its label was cut, why a hop
    was inferred)::

        ms        client                      vm outbound 9e4776b2        vm inbound e806305f
        0.0       |──bgapi originate {origin…▶|                           |
        3.2       |◀╌+OK Job-UUID: 5a7e0c6e…╌╌|                           |
        ...
        12.5      |                           |┄INVITE (inferred)┄┄┄┄┄┄┄┄▶|  inferred from …
    """
    origin = layout.origin or 0.0
    n = len(layout.lanes)
    total = n * width
    lines = ["ms        " + "".join(_clip(lane.label, width - 1).ljust(width)
                                   for lane in layout.lanes).rstrip()]
    for step in layout.steps:
        row = list(("|" + " " * (width - 1)) * n)
        comment = step.note
        lo, hi = sorted((step.src, step.dst))
        if step.is_arrow:
            a, b = lo * width, hi * width
            line = _LINES.get(step.kind, "─")
            row[a + 1:b] = line * (b - a - 1)
            if step.dst > step.src:
                row[b - 1] = "▶"
            else:
                row[a + 1] = "◀"
            room = b - a - 5
            caption = _clip(step.caption, room)
            row[a + 3:a + 3 + len(caption)] = caption
            if caption == step.caption and comment in (step.label, step.caption):
                comment = ""  # the arrow says it all
        else:
            col = step.lane * width
            mark = "*" if step.kind == "event" and (step.lane or step.record.uuid) else (
                ">" if step.kind == "command" else "<")
            tail = _clip(f"{mark} {step.label}", width - 1)
            row[col:col + len(tail)] = tail
            if comment == step.label and tail.endswith(step.label):
                comment = ""
        text = "".join(row).ljust(total)
        if comment:
            text += "  " + comment
        lines.append(f"{_fmt_ms(step.time, origin):<10}" + text.rstrip())
    return "\n".join(lines) + "\n"


def _fmt_ms(t: float, origin: float) -> str:
    return f"{(t - origin) * 1000:.1f}"


def ladder_text(records: Sequence[Any], *, width: int = 28, legs: Iterable[str] = ()) -> str:
    """A plain-text ladder of one call's records (events, commands and replies, in the
    given order): :class:`LadderLayout` drawn by :func:`render_text`."""
    return render_text(LadderLayout.of(records, legs), width=width)
