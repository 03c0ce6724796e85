"""How a call's records are laid out as a ladder, and the ladder as plain text.

:class:`LadderLayout` lays a call's records out (a ``client`` lane at x=0, then a
:class:`Lane` per leg; a :class:`Step` per event or command, in time order);
:func:`ladder_text` draws it as text. No Bokeh here: the event log's
:meth:`~switchio_lab.lab.EventLog.text_ladder` and the Bokeh
:class:`~switchio_lab.lab.ladder.Ladder` both draw this one layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import _clip, _event_name, _fmt_time, _request, _short, command_label

__all__ = ["CLIENT", "LadderLayout", "Lane", "Step", "ladder_text"]

# -- the ladder model ----------------------------------------------------------------------

CLIENT = "client"


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
    """One row of a ladder: an event on a lane, or a command from the client to a lane."""

    index: int
    record: Any
    kind: str  # "event" | "command"
    lane: int  # the event's lane, or the command's target (0: the client itself)
    label: str
    time: float


@dataclass
class LadderLayout:
    """Lanes and rows of a ladder, built record by record (time order)."""

    known: set[str] = field(default_factory=set)  # leg uuids, possibly not laned yet
    lanes: list[Lane] = field(default_factory=lambda: [Lane(0, None)])
    steps: list[Step] = field(default_factory=list)
    origin: float | None = None
    _by_uuid: dict[str, Lane] = field(default_factory=dict)

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

    def add(self, rec: Any) -> Step | None:
        """Lay out one record; None for records a ladder does not draw (replies, frames)."""
        if rec.kind == "event":
            if rec.uuid:
                ev = rec.event
                direction = ev.get("Call-Direction", "") if ev is not None else ""
                x = self.lane(rec.uuid, rec.node or "", direction).x
            else:
                x = 0  # channel-less events (BACKGROUND_JOB, API ...) go to the client
            label = _event_name(rec)
        elif rec.kind == "command":
            text = rec.text or rec.name or ""
            x = 0
            targets = [rec.uuid] if rec.uuid in self.known else self._mentioned(text)
            if targets:
                x = self.lane(targets[0], rec.node or "").x
            label = command_label(_request(rec) or text)
        else:
            return None
        if self.origin is None:
            self.origin = rec.time
        step = Step(len(self.steps), rec, rec.kind, x, label, rec.time)
        self.steps.append(step)
        return step

    def _mentioned(self, text: str) -> list[str]:
        """The known legs a command names, in order (uuids may be client-chosen words)."""
        return [u for _, u in sorted((text.find(u), u) for u in self.known if u in text)]


def ladder_text(records: Sequence[Any], *, width: int = 28, legs: Iterable[str] = ()) -> str:
    """A plain-text ladder of one call's records (events and commands, in the given order).

    One column per lane (``client`` first, then each leg as ``node direction uuid8``),
    one line per record: ``* NAME`` on the leg's lane for an event, ``|---->| label`` from
    the client to the leg for a command; the first column is the time since the first
    record::

        time      client                      vm outbound a122d23c
        +0.000    |--------------------------->| bgapi originate {origination_uuid=a1…
        +0.002    |                            * CHANNEL_OUTGOING
    """
    layout = LadderLayout.of(records, legs)
    origin = layout.origin or 0.0
    n = len(layout.lanes)
    lines = ["time      " + "".join(_clip(lane.label, width - 1).ljust(width)
                                     for lane in layout.lanes).rstrip()]
    for step in layout.steps:
        row = list(("|" + " " * (width - 1)) * n)
        col = step.lane * width
        if step.kind == "command" and step.lane > 0:
            row[1:col] = "-" * (col - 2) + ">"
            tail = "| " + step.label
        elif step.kind == "command":
            tail = "> " + step.label
        elif step.record.uuid:
            tail = "* " + step.label
        else:
            tail = "< " + step.label  # a channel-less event the client received
        row[col:col + len(tail)] = tail
        lines.append(f"{_fmt_time(step.time, origin):<10}" + "".join(row).rstrip())
    return "\n".join(lines) + "\n"
