"""Teaching widgets: a live event inspector and a per-call ladder (sequence) diagram.

Both read an :class:`~switchio_lab.lab.eventlog.EventLog` (every event, command, reply
and frame the lab's clients saw) and follow it live without flooding the browser: new
records are batched and the widgets are updated at most a few times a second from the
kernel's asyncio loop (``loop.call_later``), never once per event.

- :class:`Inspector` -- an ipywidgets panel: a filterable list of records (newest
  first), and the headers, variables and body of the selected one.
- :class:`Ladder` -- a Bokeh figure of one call, read like sngrep's call flows: a
  ``client`` lane and a lane per leg, time running downward; the events of each leg as
  marks, the client's commands as arrows into the leg they act on, their replies as
  dashed arrows back, and the SIP hops between the legs (INVITE, 180 Ringing, 200 OK,
  BYE) as dotted arrows, inferred from the events. :func:`ladder_text` draws the same
  ladder as plain text.

In a notebook (``lab`` a :class:`~switchio_lab.lab.Lab`, ``lab.events`` its log)::

    from switchio_lab.lab.inspector import Inspector, Ladder
    Inspector(lab.events)                     # a live, filterable event list
    job = await lab.originate()
    Ladder(lab.events, job.sess_uuid)         # that call's ladder, drawn as it happens

The ladder needs BokehJS in the page: the first one shown loads it, offline
(:func:`ensure_bokehjs`); after reloading the browser page (same kernel), call
``ensure_bokehjs(force=True)``.

This module holds the inspector (and its :class:`RecordFilter`); the ladder lives in
:mod:`~switchio_lab.lab.ladder`, how a record reads as text in
:mod:`~switchio_lab.lab.records`, and the throttle and Bokeh plumbing in
:mod:`~switchio_lab.lab.bokeh_support`. Their public names import from here too.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from .bokeh_support import (
    DEFAULT_INTERVAL,
    EchoSafeBokehModel,
    Throttle,
    _nothing,
    construction_loop,
    ensure_bokehjs,
)
from .ladder import (  # (the names imported unused are re-exported: they lived here)
    CLIENT,  # noqa: F401
    Ladder,
    LadderLayout,  # noqa: F401
    Lane,  # noqa: F401
    Step,  # noqa: F401
    ladder_text,
)
from .records import (
    _clip,
    _event_name,
    _fmt_time,
    _short,
    command_label,  # noqa: F401
    details_html,
    record_label,
    summary,
)

__all__ = [
    "EchoSafeBokehModel", "Inspector", "Ladder", "ensure_bokehjs", "ladder_text",
    "record_label", "summary",
]

# (the names these had before the split; panel.py and dashboard.py imported them from here)
_Throttle = Throttle
_construction_loop = construction_loop


# -- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFilter:
    """What the inspector shows: every given criterion must hold (case-insensitive).

    ``name`` matches the record's name or :attr:`~switchio_lab.lab.eventlog.EventRecord.key`
    (an event name, a CUSTOM event's subclass, a command's leading words such as ``api
    uuid_answer``) exactly, or as a prefix when it ends with ``*`` (``CHANNEL_*``,
    ``api*``); ``uuid`` matches the start of the record's uuid, or any
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

        self._throttle = Throttle(self._flush, interval, construction_loop())
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
