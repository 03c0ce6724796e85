"""Teaching widgets: a live event inspector and a per-call ladder (sequence) diagram.

Both read an :class:`~switchio_lab.lab.eventlog.EventLog` (every event, command, reply
and frame the lab's clients saw) and follow it live without flooding the browser: new
records are batched and the widgets are updated at most a few times a second from the
kernel's asyncio loop (``loop.call_later``), never once per event.

- :class:`Inspector` -- an ipywidgets panel: a filterable list of records (newest
  first), and the headers, variables and body of the selected one.
- :class:`Ladder` -- a Bokeh figure of one call: a lane per leg plus a ``client`` lane,
  the events of each leg as marks in time order (time runs downward, one row per
  record), the client's commands as arrows into the leg they act on.
  :func:`ladder_text` draws the same ladder as plain text.

In a notebook (``lab`` a :class:`~switchio_lab.lab.Lab`, ``lab.events`` its log)::

    from switchio_lab.lab.inspector import Inspector, Ladder
    Inspector(lab.events)                     # a live, filterable event list
    job = await lab.originate()
    Ladder(lab.events, job.sess_uuid)         # that call's ladder, drawn as it happens

The ladder needs BokehJS in the page: the first one shown loads it, offline
(:func:`ensure_bokehjs`); after reloading the browser page (same kernel), call
``ensure_bokehjs(force=True)``.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ipywidgets as widgets
from jupyter_bokeh import BokehModel

__all__ = [
    "EchoSafeBokehModel", "Inspector", "Ladder", "ensure_bokehjs", "ladder_text",
    "record_label", "summary",
]

#: How often (at most) a live widget is updated, in seconds.
DEFAULT_INTERVAL = 0.2

# -- record helpers ------------------------------------------------------------------------

#: The headers worth a glance, per event name (the first present is shown in the list).
_SUMMARY_HEADERS: dict[str, tuple[str, ...]] = {
    "CHANNEL_STATE": ("Channel-State",),
    "CHANNEL_CALLSTATE": ("Channel-Call-State",),
    "CHANNEL_ANSWER": ("Answer-State",),
    "CHANNEL_PROGRESS": ("Answer-State",),
    "CHANNEL_PROGRESS_MEDIA": ("Answer-State",),
    "CHANNEL_HANGUP": ("Hangup-Cause",),
    "CHANNEL_HANGUP_COMPLETE": ("Hangup-Cause",),
    "CHANNEL_DESTROY": ("Hangup-Cause", "Channel-State"),
    "CHANNEL_EXECUTE": ("Application",),
    "CHANNEL_EXECUTE_COMPLETE": ("Application",),
    "CHANNEL_BRIDGE": ("Other-Leg-Unique-ID",),
    "CHANNEL_UNBRIDGE": ("Other-Leg-Unique-ID",),
    "BACKGROUND_JOB": ("Job-Command",),
    "API": ("API-Command",),
    "DTMF": ("DTMF-Digit",),
    "CUSTOM": ("Event-Subclass",),
    "PLAYBACK_START": ("Playback-File-Path",),
    "PLAYBACK_STOP": ("Playback-Status",),
    "RECORD_START": ("Record-File-Path",),
    "RECORD_STOP": ("Record-File-Path",),
}
_DEFAULT_SUMMARY = ("Channel-State", "Answer-State", "Hangup-Cause", "Application")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}")
#: Headers by which an event of one channel points at another channel.
_LINK_HEADERS = ("Other-Leg-Unique-ID", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID",
                 "Channel-Call-UUID", "variable_origination_uuid", "variable_bridge_uuid")


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


def _short(uuid: str | None) -> str:
    """The first 8 characters of a uuid; a short client-chosen id (``lab-call-1``) whole."""
    if not uuid:
        return ""
    return uuid if len(uuid) <= 12 else uuid[:8]


def _shorten_uuids(text: str) -> str:
    return _UUID_RE.sub(lambda m: m.group(0)[:8] + "…", text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def summary(record: Any) -> str:
    """A short ``Header=value`` summary of an event record's key headers ('' if none).

    ``CHANNEL_STATE`` shows its ``Channel-State``, ``CHANNEL_HANGUP`` its
    ``Hangup-Cause``, ``CHANNEL_EXECUTE`` its ``Application`` (and its data), and so on.
    """
    ev = record.event
    if ev is None:
        return ""
    name = ev.name
    parts = []
    for header in _SUMMARY_HEADERS.get(name, _DEFAULT_SUMMARY):
        value = ev.get(header)
        if value:
            parts.append(f"{header}={_shorten_uuids(value)}")
            if name not in _SUMMARY_HEADERS:
                break  # the default list: the first one present says enough
    if name.startswith("CHANNEL_EXECUTE") and ev.get("Application-Data"):
        parts.append(_clip(ev.get("Application-Data", ""), 40))
    elif name == "CHANNEL_CALLSTATE" and ev.get("Original-Channel-Call-State"):
        parts[-1:] = [f"Channel-Call-State={ev.get('Original-Channel-Call-State')}"
                      f"→{ev.get('Channel-Call-State', '')}"]
    elif name == "BACKGROUND_JOB":
        parts.append(_clip(_shorten_uuids(_first_line(ev.body)), 40))
    elif name == "API" and ev.get("API-Command-Argument"):
        parts.append(_clip(_shorten_uuids(ev.get("API-Command-Argument", "")), 40))
    return " ".join(parts)


def _event_name(record: Any) -> str:
    ev = record.event
    if ev is not None and ev.name == "CUSTOM" and ev.subclass:
        return f"CUSTOM {ev.subclass}"
    return record.name or (ev.name if ev is not None else "")


def command_label(text: str) -> str:
    """A one-line label of a command: ``api uuid_answer 5b7c0e01…``, ``sendmsg execute playback``.

    A ``sendmsg`` shows its ``call-command`` and application (and argument) instead of
    its uuid; full uuids are cut to their first 8 characters.
    """
    lines = (text or "").strip().split("\n")
    line = lines[0].strip()
    if line.split(" ", 1)[0] == "sendmsg":
        headers = {}
        for extra in lines[1:]:
            key, sep, value = extra.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        words = ["sendmsg", headers.get("call-command", "")]
        words += [headers.get("execute-app-name", ""), headers.get("execute-app-arg", "")]
        words.append(headers.get("hangup-cause", ""))
        line = " ".join(w for w in words if w)
    return _shorten_uuids(line)


def record_label(record: Any) -> str:
    """The name column of a record: the event name, or the command/reply/frame's text."""
    if record.kind == "event":
        return _event_name(record)
    if record.kind == "command":
        return "→ " + command_label(record.text or record.name)
    if record.kind == "reply":
        return "← " + _shorten_uuids(_first_line(record.text) or record.name)
    return _first_line(record.text) or record.name or record.kind


def _fmt_time(t: float, origin: float | None = None) -> str:
    if origin is not None:
        return f"+{t - origin:.3f}"
    if t > 1e8:  # wall-clock seconds since the epoch
        return datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
    return f"{t:.3f}"


def _nothing() -> None:
    pass


# -- the loop and the throttle ---------------------------------------------------------------


def _current_loop(fallback: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return fallback


def _construction_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Throttle:
    """Run ``fn`` soon after :meth:`kick`, and at most once per ``interval`` seconds.

    The first kick after a quiet spell runs ``fn`` on the next loop iteration (after the
    rest of the burst that kicked it); later kicks within ``interval`` are folded into one
    run at the end of the interval. Needs the asyncio loop (the kernel's, in Jupyter); with
    no loop at all, ``fn`` runs at once.
    """

    def __init__(self, fn: Callable[[], None], interval: float,
                 loop: asyncio.AbstractEventLoop | None) -> None:
        self._fn = fn
        self.interval = interval
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._last = -math.inf
        self.runs = 0

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def kick(self) -> None:
        if self._handle is not None:
            return
        loop = _current_loop(self._loop)
        if loop is None or loop.is_closed():
            self._run()
            return
        self._loop = loop
        delay = max(0.0, self._last + self.interval - loop.time())
        self._handle = loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._handle = None
        loop = self._loop
        self._last = loop.time() if loop is not None and not loop.is_closed() else -math.inf
        self.runs += 1
        self._fn()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


# -- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFilter:
    """What the inspector shows: every given criterion must hold (case-insensitive).

    ``name`` matches the record's name (an event name, a CUSTOM subclass, a command's
    leading words such as ``api uuid_answer``) exactly, or as a prefix when it ends with
    ``*`` (``CHANNEL_*``, ``api*``); ``uuid`` matches the start of the record's uuid, or any
    place in a command's or reply's text (a short uuid is enough); ``header`` needs the
    event to carry that header, whose value must contain ``value``; ``value`` alone
    searches every header value; ``kind`` is ``event``, ``command``, ``reply`` or ``frame``.
    (Friendlier than :meth:`EventLog.filter`, which wants exact uuids and values.)
    """

    name: str | None = None
    uuid: str | None = None
    header: str | None = None
    value: str | None = None
    kind: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.name or self.uuid or self.header or self.value or self.kind)

    def __call__(self, rec: Any) -> bool:
        if self.kind and rec.kind != self.kind:
            return False
        if self.name:
            want = self.name.strip().upper()
            names = {(rec.name or "").upper(), _event_name(rec).upper()}
            if rec.name == "CUSTOM" and rec.text:  # (the EventLog keeps the subclass here)
                names.add(rec.text.upper())
            if want.endswith("*"):
                if not any(n.startswith(want[:-1]) for n in names):
                    return False
            elif want not in names:
                return False
        if self.uuid:
            want = self.uuid.strip().lower()
            if not ((rec.uuid or "").lower().startswith(want)
                    or (rec.kind != "event" and want in (rec.text or "").lower())):
                return False
        if self.header or self.value:
            ev = rec.event
            if ev is None:
                return False
            want = (self.value or "").lower()
            if self.header:
                got = ev.get(self.header.strip())
                if got is None or want not in got.lower():
                    return False
            elif not any(want in v.lower() for v in ev.values()):
                return False
        return True


# -- the inspector -------------------------------------------------------------------------

_KINDS = (("all", ""), ("events", "event"), ("commands", "command"), ("replies", "reply"),
          ("frames", "frame"))
_COMMON_HEADERS = ("Unique-ID", "Channel-State", "Channel-Call-State", "Answer-State",
                   "Hangup-Cause", "Application", "Call-Direction", "Other-Leg-Unique-ID",
                   "Event-Subclass", "Job-UUID", "Caller-Destination-Number")
_CSS = """<style>
.switchio-inspector-list select {font-family: monospace; font-size: 12px;}
.switchio-inspector-details .widget-html-content {line-height: 1.3;}
.switchio-inspector-details table {border-collapse: collapse; font-size: 12px;
  line-height: 1.3;}
.switchio-inspector-details pre {line-height: 1.3; white-space: pre-wrap;}
.switchio-inspector-details td {padding: 0 8px 0 0; vertical-align: top;
  word-break: break-all; font-family: monospace;}
.switchio-inspector-details td.h {color: #555; white-space: nowrap; word-break: normal;}
</style>"""


class Inspector(widgets.VBox):
    """A live, filterable list of an :class:`EventLog`'s records, and the selected one's headers.

    The list shows the newest record first: time, node, name (or command line), short
    uuid and a key header (``Channel-State=CS_EXECUTE``, ``Hangup-Cause=...``); up to
    ``max_rows`` records that pass the filters. Selecting a row shows every header of the
    event (``variable_*`` ones folded away), its body, or the command/reply text.

    New records are batched and shown at most every ``interval`` seconds. ``pause()``
    freezes the list (the log keeps recording); ``resume()`` catches up; ``close()``
    unsubscribes from the log and closes the widgets.
    """

    def __init__(self, log: Any, *, max_rows: int = 500, interval: float = DEFAULT_INTERVAL,
                 rows: int = 18, **kwargs: Any) -> None:
        self.eventlog = log  # (``log`` is the widget's logger)
        self.max_rows = max_rows
        self._rows: deque[list[Any]] = deque(maxlen=max_rows)  # [record, label], oldest first
        self._shown: tuple[Any, ...] = ()  # newest first, as in the list
        self._pending: list[Any] = []
        self._names: set[str] = set()
        self._selected: Any = None
        self._syncing = False
        self._paused = False
        self._closed = False
        self._overflow = False
        self._unsubscribe: Callable[[], Any] = _nothing
        self.filter = RecordFilter()
        self.renders = 0  # list re-renders (each is one options update)

        text = {"continuous_update": False, "layout": widgets.Layout(width="auto", flex="1")}
        self.name_filter = widgets.Combobox(placeholder="event name (CHANNEL_* …)",
                                            ensure_option=False, **text)
        self.uuid_filter = widgets.Text(placeholder="uuid (first characters)", **text)
        self.header_filter = widgets.Combobox(placeholder="header", options=_COMMON_HEADERS,
                                              ensure_option=False, **text)
        self.value_filter = widgets.Text(placeholder="value contains", **text)
        self.kind_filter = widgets.Dropdown(options=_KINDS, value="",
                                            layout=widgets.Layout(width="110px"))
        self.pause_button = widgets.ToggleButton(value=False, description="pause",
                                                 icon="pause", tooltip="freeze the list",
                                                 layout=widgets.Layout(width="90px"))
        self.status = widgets.HTML()
        self.list = widgets.Select(options=[], rows=rows, layout=widgets.Layout(width="100%"))
        self.list.add_class("switchio-inspector-list")
        self.details = widgets.HTML(layout=widgets.Layout(max_height="480px", overflow="auto"))
        self.details.add_class("switchio-inspector-details")

        for w in (self.name_filter, self.uuid_filter, self.header_filter, self.value_filter,
                  self.kind_filter):
            w.observe(self._on_filter, names="value")
        self.pause_button.observe(self._on_pause, names="value")
        self.list.observe(self._on_select, names="index")

        filters = widgets.HBox([self.name_filter, self.uuid_filter, self.header_filter,
                                self.value_filter, self.kind_filter, self.pause_button])
        super().__init__([widgets.HTML(_CSS), filters, self.status, self.list, self.details],
                         **kwargs)

        self._throttle = _Throttle(self._flush, interval, _construction_loop())
        self._unsubscribe = log.subscribe(self._on_record)
        self.refresh()

    # -- public API -------------------------------------------------------------------
    @property
    def rows(self) -> tuple[Any, ...]:
        """The records in the list, newest first."""
        return self._shown

    @property
    def selected(self) -> Any:
        """The selected record (None if none)."""
        return self._selected

    @property
    def paused(self) -> bool:
        return self._paused

    def set_filter(self, name: str | None = None, uuid: str | None = None,
                   header: str | None = None, value: str | None = None,
                   kind: str | None = None) -> None:
        """Set every filter at once (None or '' clears one) and refresh the list once."""
        self._syncing = True
        try:
            self.name_filter.value = name or ""
            self.uuid_filter.value = uuid or ""
            self.header_filter.value = header or ""
            self.value_filter.value = value or ""
            self.kind_filter.value = kind or ""
        finally:
            self._syncing = False
        self._on_filter()

    def select(self, which: Any) -> None:
        """Select a row: its position in :attr:`rows` or the record itself."""
        if isinstance(which, int):
            self.list.index = which
            return
        for i, rec in enumerate(self._shown):
            if rec is which:
                self.list.index = i
                return
        raise ValueError(f"{which!r} is not in the list")

    def pause(self) -> None:
        """Stop updating the list (the log keeps recording)."""
        self._paused = True
        self._throttle.cancel()
        if not self.pause_button.value:
            self.pause_button.value = True
        self._render_status()

    def resume(self) -> None:
        """Update the list again, catching up with what was logged meanwhile."""
        self._paused = False
        if self.pause_button.value:
            self.pause_button.value = False
        if not self._closed:
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the log under the current filters."""
        self._pending.clear()
        self._overflow = False
        self._throttle.cancel()
        records = list(self.eventlog.records)
        self._names.update(_event_name(r) for r in records if r.kind == "event")
        self._update_name_options()
        matching = records if self.filter.empty else [r for r in records if self.filter(r)]
        self._rows.clear()
        self._rows.extend([r, ""] for r in matching[-self.max_rows:])
        self._render()

    def flush(self) -> None:
        """Show pending records now (the throttle normally does this)."""
        self._throttle.cancel()
        self._flush()

    def close(self) -> None:
        """Unsubscribe from the log and close the widgets."""
        if not getattr(self, "_closed", True):  # (also called by Widget.__del__)
            self._closed = True
            self._throttle.cancel()
            self._unsubscribe()
            for w in (self.name_filter, self.uuid_filter, self.header_filter,
                      self.value_filter, self.kind_filter, self.pause_button, self.status,
                      self.list, self.details, *self.children):
                w.close()
        super().close()

    # -- live updates -----------------------------------------------------------------
    def _on_record(self, record: Any) -> None:
        if self._closed or self._paused:
            return
        if self._overflow:
            return
        self._pending.append(record)
        if len(self._pending) > 4 * self.max_rows + 1000:
            # A burst bigger than the list: rebuild from the (bounded) log instead.
            self._pending.clear()
            self._overflow = True
        self._throttle.kick()

    def _flush(self) -> None:
        if self._closed or self._paused:
            return
        if self._overflow:
            self.refresh()
            return
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        before = len(self._names)
        self._names.update(_event_name(r) for r in batch if r.kind == "event")
        if len(self._names) != before:
            self._update_name_options()
        keep = self.filter
        new = batch if keep.empty else [r for r in batch if keep(r)]
        if new:
            self._rows.extend([r, ""] for r in new[-self.max_rows:])
            self._render()
        else:
            self._render_status()

    def _update_name_options(self) -> None:
        self.name_filter.options = tuple(sorted(n for n in self._names if n))

    # -- rendering --------------------------------------------------------------------
    def _render(self) -> None:
        self.renders += 1
        for row in self._rows:
            if not row[1]:  # labels are made once per record
                row[1] = self._label(row[0])
        shown = tuple(row[0] for row in reversed(self._rows))
        labels = [row[1] for row in reversed(self._rows)]
        self._shown = shown
        selected = self._selected
        index = None
        if selected is not None:
            for i, rec in enumerate(shown):
                if rec is selected:
                    index = i
                    break
        self._syncing = True
        try:
            with self.list.hold_sync():
                # Select resets the selection to the first row when its options change
                # (unless nothing is selected): put it back where the record went.
                self.list.options = [(label, i) for i, label in enumerate(labels)]
                self.list.index = index
        finally:
            self._syncing = False
        self._render_status()

    def _label(self, rec: Any) -> str:
        name = _clip(record_label(rec), 30)
        node = _clip(rec.node or "", 14)
        return (f"{_fmt_time(rec.time)}  {node:<14} {name:<30} {_short(rec.uuid):<8}  "
                f"{summary(rec) if rec.kind == 'event' else ''}")

    def _render_status(self) -> None:
        state = "paused" if self._paused else "live"
        criteria = ", ".join(f"{k}={v!r}" for k, v in vars(self.filter).items() if v)
        self.status.value = (
            f"<small>{len(self._shown)} rows, newest first (max {self.max_rows}) · "
            f"{html.escape(criteria) or 'no filter'} · <b>{state}</b></small>")

    # -- widget callbacks -------------------------------------------------------------
    def _on_filter(self, change: Mapping[str, Any] | None = None) -> None:
        if self._syncing:
            return
        self.filter = RecordFilter(
            name=self.name_filter.value.strip() or None,
            uuid=self.uuid_filter.value.strip() or None,
            header=self.header_filter.value.strip() or None,
            value=self.value_filter.value.strip() or None,
            kind=self.kind_filter.value or None,
        )
        self.refresh()

    def _on_pause(self, change: Mapping[str, Any]) -> None:
        if change["new"] and not self._paused:
            self.pause()
        elif not change["new"] and self._paused:
            self.resume()

    def _on_select(self, change: Mapping[str, Any]) -> None:
        if self._syncing:
            return
        index = change["new"]
        if index is None or not 0 <= index < len(self._shown):
            return
        self._selected = self._shown[index]
        self.details.value = details_html(self._selected)


def _table(items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f'<tr><td class="h">{html.escape(k)}</td><td>{html.escape(v)}</td></tr>'
                   for k, v in items)
    return f"<table>{rows}</table>"


def details_html(rec: Any) -> str:
    """The inspector's detail view of one record: its headers, variables and body as HTML."""
    title = (f"<b>{html.escape(record_label(rec))}</b> · {html.escape(rec.kind)} · "
             f"{html.escape(rec.node or '')} · {_fmt_time(rec.time)}"
             + (f" · <code>{html.escape(rec.uuid)}</code>" if rec.uuid else ""))
    ev = rec.event
    if ev is None:
        return f"<div>{title}</div><pre>{html.escape(rec.text or '')}</pre>"
    headers = ev.headers
    plain = [(k, v) for k, v in headers.items() if not k.startswith("variable_")]
    variables = [(k[len("variable_"):], v) for k, v in headers.items()
                 if k.startswith("variable_")]
    parts = [f"<div>{title}</div>", _table(plain)]
    if variables:
        parts.append(f"<details><summary>channel variables ({len(variables)})</summary>"
                     f"{_table(variables)}</details>")
    if ev.body:
        parts.append(f"<div><b>body</b></div><pre>{html.escape(ev.body)}</pre>")
    return "".join(parts)


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
            label = command_label(text)
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


# -- Bokeh ----------------------------------------------------------------------------------

_bokehjs_loaded = False


def ensure_bokehjs(force: bool = False) -> None:
    """Load BokehJS into the notebook once, offline (``INLINE``), before any Bokeh widget.

    ``jupyter_bokeh.BokehModel`` renders nothing until BokehJS is in the page. Does
    nothing outside an IPython kernel. ``force=True`` loads it again (after a browser
    reload of the page).
    """
    global _bokehjs_loaded
    from bokeh.io.state import curstate

    if (_bokehjs_loaded or curstate().notebook) and not force:
        return  # (also when the notebook called output_notebook() itself)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(INLINE, hide_banner=True)
    _bokehjs_loaded = True


_ECHOED = frozenset({"ColumnsStreamed", "ColumnsPatched"})


class EchoSafeBokehModel(BokehModel):
    """A ``jupyter_bokeh.BokehModel`` that ignores the browser's echo of kernel updates.

    When the kernel calls ``source.stream(...)``/``source.patch(...)``, the browser applies
    the patch and sends the same ``ColumnsStreamed``/``ColumnsPatched`` event back
    (jupyter_bokeh's view replays the document changes it saw while applying a patch);
    the stock ``BokehModel._sync_model`` applies it again with ``source._stream``,
    doubling the kernel's rows. The sources passed as ``owned`` (default: every
    ColumnDataSource of the model) are written only by the kernel, so their column
    events from the browser are dropped; everything else (``ModelChanged`` from tools
    and ranges, ``MessageSent`` UI events) goes through.
    """

    echoes_ignored = 0
    _detached = False

    def __init__(self, model: Any, owned: Iterable[Any] | None = None, **kwargs: Any) -> None:
        if owned is None:
            from bokeh.models import ColumnDataSource

            owned = model.select({"type": ColumnDataSource})
        self._owned_ids = {m.id for m in owned}
        super().__init__(model, **kwargs)

    def _sync_model(self, _model: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        ref = content.get("model")
        if (content.get("event") == "jsevent" and content.get("kind") in _ECHOED
                and isinstance(ref, dict) and ref.get("id") in self._owned_ids):
            self.echoes_ignored += 1
            return
        super()._sync_model(_model, content, _buffers)

    def close(self) -> None:
        # BokehModel.close() fails the second time (and Widget.__del__ closes again)
        if not self._detached:
            self._detached = True
            super().close()


_COLORS = (
    (("CHANNEL_HANGUP", "CHANNEL_DESTROY"), "#c0392b"),
    (("CHANNEL_ANSWER", "CHANNEL_PROGRESS"), "#2471a3"),
    (("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"), "#d68910"),
    (("CHANNEL_EXECUTE",), "#7d3c98"),
    (("CHANNEL_CREATE", "CHANNEL_OUTGOING", "CHANNEL_ORIGINATE"), "#1e8449"),
    (("CHANNEL_STATE", "CHANNEL_CALLSTATE", "CALL_UPDATE", "CHANNEL_CODEC"), "#7f8c8d"),
)
_COMMAND_COLOR = "#e67e22"
_ROW_PX = 20


def _color(name: str) -> str:
    for prefixes, color in _COLORS:
        if name.startswith(prefixes):
            return color
    return "#17202a"


class Ladder:
    """A ladder (sequence) diagram of one call, as a Bokeh figure that follows the call live.

    ``Ladder(log, uuid_or_call)`` draws ``log.for_call(uuid)`` -- ``uuid_or_call`` is a
    call or leg uuid, a :class:`~switchio_lab.models.Session`, a
    :class:`~switchio_lab.models.Call`, or a list of them (legs the log cannot tie
    together, e.g. two legs of a plain FreeSWITCH loopback call) -- and keeps streaming
    the call's new records into the figure, at most every ``interval`` seconds, until :meth:`close`.
    ``Ladder.from_records(records)`` draws a fixed list of records (no log, no updates).

    Lanes: ``client`` (x=0), then one per leg, labelled ``node direction uuid8``. Rows:
    one per event or command, in time order, time running downward (the left column is
    the time since the first record). An event is a dot on its leg's lane with its name;
    a command is an arrow from the client to the leg it names, labelled with its command
    line; channel-less events (``BACKGROUND_JOB``) are triangles on the client lane.

    :attr:`figure` is the Bokeh figure (``bokeh.io.show``/``export_png``/``save``);
    :attr:`widget` the notebook widget; a Ladder displays itself as the last expression
    of a cell. ``height``/``width`` fix the figure's size in pixels (default: grow with
    the rows and lanes).
    """

    def __init__(self, log: Any, uuid_or_call: Any, *, height: int | None = None,
                 width: int | None = None, interval: float = DEFAULT_INTERVAL * 1.25,
                 title: str | None = None, _records: Sequence[Any] | None = None) -> None:
        self.log = log
        self.roots = _uuids_of(uuid_or_call) if uuid_or_call is not None else []
        self._fixed_height = height
        self._fixed_width = width
        self._closed = False
        self._widget: Any = None
        self._unrelated: set[str] = set()
        self.streams = 0  # source.stream() calls made by live updates
        self.rebuilds = 0
        records = list(_records) if _records is not None else self._query()
        self.records: list[Any] = []
        self.layout = LadderLayout(known=set(self.roots))
        self._make_figure(title)
        self._rebuild(records)
        self._throttle = _Throttle(self.update, interval, _construction_loop())
        self._unsubscribe: Callable[[], Any] | None = None
        if log is not None and _records is None:
            self._unsubscribe = log.subscribe(self._on_record)

    @classmethod
    def from_records(cls, records: Iterable[Any], *, height: int | None = None,
                     width: int | None = None, title: str | None = None) -> Ladder:
        """A ladder of these records (one call, time order), not linked to any log."""
        return cls(None, None, height=height, width=width, title=title,
                   _records=list(records))

    # -- public API -------------------------------------------------------------------
    @property
    def lanes(self) -> list[Lane]:
        return self.layout.lanes

    @property
    def steps(self) -> list[Step]:
        return self.layout.steps

    @property
    def updates(self) -> int:
        """How many throttled live updates ran (each streams the new rows at once)."""
        return self._throttle.runs

    @property
    def widget(self) -> Any:
        """The notebook widget (an :class:`EchoSafeBokehModel`); loads BokehJS first."""
        if self._widget is None:
            ensure_bokehjs()
            self._widget = EchoSafeBokehModel(self.figure, owned=self.sources.values())
        return self._widget

    def text(self) -> str:
        """This ladder as plain text (see :func:`ladder_text`)."""
        return ladder_text(self.records, legs=self.roots)

    def update(self) -> None:
        """Draw the call's records that came in since the last update (the throttle's job)."""
        if self._closed or self.log is None:
            return
        records = self._query()
        shown = {id(r) for r in self.records}
        new = [r for r in records if id(r) not in shown]
        if not new:
            return
        if all(a is b for a, b in zip(records[len(records) - len(new):], new, strict=True)):
            self._append(new)  # all new records come after the ones drawn: stream them
        else:
            # Records from the past, e.g. the early events of a leg that the log tied to
            # the call only later (at its CHANNEL_BRIDGE): redraw the whole ladder, in the
            # log's order (records the log has dropped meanwhile stay, first).
            current = {id(r) for r in records}
            self._rebuild([r for r in self.records if id(r) not in current] + records)

    def close(self) -> None:
        """Stop following the log and close the notebook widget."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._throttle.cancel()
        if self._widget is not None:
            self._widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"<Ladder {len(self.lanes) - 1} legs, {len(self.steps)} rows>"

    # -- the log ----------------------------------------------------------------------
    def _query(self) -> list[Any]:
        if self.log is None:
            return []
        seen: set[int] = set()
        out = []
        for uuid in self.roots:
            for rec in self.log.for_call(uuid):
                if id(rec) not in seen:
                    seen.add(id(rec))
                    out.append(rec)
        if len(self.roots) > 1:
            out.sort(key=lambda r: r.time)
        return out

    def _on_record(self, rec: Any) -> None:
        if self._closed or not self._related(rec):
            return
        self._throttle.kick()

    def _related(self, rec: Any) -> bool:
        """Whether a new record may belong to this call (a cheap test before a query)."""
        known = self.layout.known
        if rec.kind == "event":
            if rec.uuid is None:
                return rec.name == "BACKGROUND_JOB"
            if rec.uuid in known:
                return True
            if rec.uuid not in self._unrelated:
                if len(self._unrelated) > 20000:
                    self._unrelated.clear()
                self._unrelated.add(rec.uuid)
                return True  # a new channel: ask the log once whether it is one of ours
            ev = rec.event
            return ev is not None and any(ev.get(h) in known for h in _LINK_HEADERS)
        if rec.kind == "command":
            text = rec.text or ""
            return rec.uuid in known or any(u in text for u in known)
        return False

    # -- drawing ----------------------------------------------------------------------
    def _make_figure(self, title: str | None) -> None:
        from bokeh.models import (
            Arrow,
            ColumnDataSource,
            DataRange1d,
            FixedTicker,
            HoverTool,
            NormalHead,
            Range1d,
            VSpan,
        )
        from bokeh.plotting import figure

        self.sources = {
            "lanes": ColumnDataSource({"x": []}),  # (labels: the axis above)
            "events": ColumnDataSource({k: [] for k in (
                "x", "y", "name", "color", "marker", "time", "node", "uuid", "summary")}),
            "commands": ColumnDataSource({k: [] for k in (
                "x0", "x1", "y", "label", "time", "node")}),
        }
        roots = ", ".join(_short(u) for u in self.roots)
        fig = figure(
            title=title or (f"call {roots}" if roots else "call ladder"),
            x_range=Range1d(-1.0, 1.0), y_range=DataRange1d(flipped=True, range_padding=1.0,
                                                            range_padding_units="absolute"),
            x_axis_location="above", tools="pan,wheel_zoom,box_zoom,reset,save",
            toolbar_location="right", width=self._fixed_width or 700,
            height=self._fixed_height or 300, min_border_left=10,
        )
        fig.xaxis.ticker = FixedTicker(ticks=[0])
        fig.xaxis.major_label_overrides = {0: CLIENT}
        fig.xaxis.major_label_text_font_style = "bold"
        fig.yaxis.visible = False
        fig.grid.visible = False
        src = self.sources
        fig.add_glyph(src["lanes"], VSpan(x="x", line_color="#bbbbbb", line_width=2))
        arrows = Arrow(source=src["commands"], x_start="x0", y_start="y", x_end="x1",
                       y_end="y", line_color=_COMMAND_COLOR, line_width=1.5,
                       end=NormalHead(size=8, fill_color=_COMMAND_COLOR,
                                      line_color=_COMMAND_COLOR))
        fig.add_layout(arrows)
        fig.text(x="x0", y="y", text="label", source=src["commands"], x_offset=6, y_offset=-1,
                 text_baseline="bottom", text_font_size="10px", text_font_style="italic",
                 text_color=_COMMAND_COLOR)
        marks = fig.scatter(x="x", y="y", marker="marker", color="color", size=8,
                            source=src["events"])
        fig.text(x="x", y="y", text="name", source=src["events"], x_offset=8,
                 text_baseline="middle", text_font_size="10px", text_color="color")
        for name in ("events", "commands"):  # the time column, left of the client lane
            fig.text(x=0, y="y", text="time", source=src[name], x_offset=-10,
                     text_align="right", text_baseline="middle", text_font_size="9px",
                     text_color="#666666")
        fig.add_tools(HoverTool(renderers=[marks], tooltips=[
            ("event", "@name"), ("time", "@time"), ("node", "@node"), ("uuid", "@uuid"),
            ("", "@summary")]))
        self.figure = fig
        self._ticker = fig.xaxis[0].ticker

    def _columns(self, steps: Sequence[Step]) -> tuple[dict[str, list], dict[str, list]]:
        origin = self.layout.origin or 0.0
        ev: dict[str, list] = {k: [] for k in self.sources["events"].data}
        cmd: dict[str, list] = {k: [] for k in self.sources["commands"].data}
        for s in steps:
            t = _fmt_time(s.time, origin)
            rec = s.record
            if s.kind == "event":
                ev["x"].append(s.lane)
                ev["y"].append(s.index)
                ev["name"].append(s.label)
                ev["color"].append(_color(s.label))
                ev["marker"].append("circle" if rec.uuid else "triangle")
                ev["time"].append(t)
                ev["node"].append(rec.node or "")
                ev["uuid"].append(rec.uuid or "")
                ev["summary"].append(summary(rec))
            else:
                cmd["x0"].append(0)
                cmd["x1"].append(s.lane)
                cmd["y"].append(s.index)
                cmd["label"].append(s.label)
                cmd["time"].append(t)
                cmd["node"].append(rec.node or "")
        return ev, cmd

    def _rebuild(self, records: Sequence[Any]) -> None:
        if self.records:
            self.rebuilds += 1
        self.records = list(records)
        self.layout = LadderLayout.of(self.records, self.roots)
        ev, cmd = self._columns(self.layout.steps)
        self.sources["events"].data = ev
        self.sources["commands"].data = cmd
        self.sources["lanes"].data = {"x": [lane.x for lane in self.lanes]}
        self._sync_axes()

    def _append(self, records: Sequence[Any]) -> None:
        n_lanes = len(self.lanes)
        first = len(self.steps)
        for rec in records:
            self.layout.add(rec)
        self.records.extend(records)
        ev, cmd = self._columns(self.steps[first:])
        if ev["x"]:
            self.sources["events"].stream(ev)
            self.streams += 1
        if cmd["x0"]:
            self.sources["commands"].stream(cmd)
            self.streams += 1
        if len(self.lanes) != n_lanes:
            new = self.lanes[n_lanes:]
            self.sources["lanes"].stream({"x": [lane.x for lane in new]})
            self.streams += 1
        self._sync_axes()

    def _sync_axes(self) -> None:
        """Lane labels, x range and the figure's size (changed only when they differ)."""
        labels = {lane.x: lane.label for lane in self.lanes}
        ticks = list(labels)
        if self._ticker.ticks != ticks:
            self._ticker.ticks = ticks
        if self.figure.xaxis[0].major_label_overrides != labels:
            self.figure.xaxis[0].major_label_overrides = labels
        end = len(self.lanes) - 1 + 0.9
        if self.figure.x_range.end != end:
            self.figure.x_range.end = end
        if self._fixed_width is None:
            width = max(700, 120 + 220 * len(self.lanes))
            if self.figure.width != width:
                self.figure.width = width
        if self._fixed_height is None:
            rows = len(self.steps)
            height = max(300, 90 + _ROW_PX * (rows + 2))
            if self.figure.height < height:  # grow in chunks: fewer relayouts while live
                self.figure.height = height + _ROW_PX * 10 if self.log is not None else height


def _uuids_of(target: Any) -> list[str]:
    """The leg uuids of a uuid, a Session (``.uuid``), a Call (``.sessions``) or a list."""
    if isinstance(target, str):
        return [target]
    sessions = getattr(target, "sessions", None)
    if sessions is not None:
        return [s.uuid for s in sessions if getattr(s, "uuid", None)]
    uuid = getattr(target, "uuid", None)
    if isinstance(uuid, str):
        return [uuid]
    if isinstance(target, Iterable):
        return [u for item in target for u in _uuids_of(item)]
    raise TypeError(f"expected a uuid, a Session, a Call or a list of them, not {target!r}")
