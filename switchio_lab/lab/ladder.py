"""The ladder (sequence) diagram of one call, drawn live as a Bokeh figure.

:class:`~switchio_lab.lab.ladder_layout.LadderLayout` lays a call's records out and
:func:`~switchio_lab.lab.ladder_layout.ladder_text` draws it as plain text (both
re-exported here); :class:`Ladder` draws the same layout as a Bokeh figure that
follows the call live from an :class:`~switchio_lab.lab.eventlog.EventLog`, streaming new
rows at most a few times a second::

    from switchio_lab.lab.inspector import Ladder   # (also importable from here)
    job = await lab.originate()
    Ladder(lab.events, job.sess_uuid)               # that call's ladder, drawn as it happens
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .bokeh_support import (
    DEFAULT_INTERVAL,
    EchoSafeBokehModel,
    Throttle,
    construction_loop,
    ensure_bokehjs,
)
from .ladder_layout import CLIENT, LadderLayout, Lane, Step, ladder_text, render_text
from .records import _LINK_HEADERS, _clip, _short

__all__ = ["CLIENT", "Ladder", "LadderLayout", "Lane", "Step", "ladder_text", "render_text"]

# -- the ladder figure ---------------------------------------------------------------------

_COLORS = (
    (("CHANNEL_HANGUP", "CHANNEL_DESTROY"), "#c0392b"),
    (("CHANNEL_ANSWER", "CHANNEL_PROGRESS"), "#2471a3"),
    (("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"), "#d68910"),
    (("CHANNEL_EXECUTE",), "#7d3c98"),
    (("CHANNEL_CREATE", "CHANNEL_OUTGOING", "CHANNEL_ORIGINATE"), "#1e8449"),
    (("CHANNEL_STATE", "CHANNEL_CALLSTATE", "CALL_UPDATE", "CHANNEL_CODEC"), "#7f8c8d"),
)
_COMMAND_COLOR = "#e67e22"
_REPLY_COLOR = "#566573"
_SIP_COLOR = "#148f77"
#: per arrow kind: color, line dash, filled head size, open head size, label font style
_ARROW_STYLES = {
    "command": (_COMMAND_COLOR, "solid", 8, 0, "normal"),
    "reply": (_REPLY_COLOR, "dashed", 0, 9, "normal"),
    "sip": (_SIP_COLOR, "dotted", 8, 0, "italic"),
}
#: rows that are marks but not events (a command to the client itself, a reply there)
_COLORS_BY_KIND = {"command": _COMMAND_COLOR, "reply": _REPLY_COLOR}
_EVENT_COLUMNS = ("x", "y", "name", "color", "marker", "time", "node", "uuid", "summary")
_ARROW_COLUMNS = ("x0", "x1", "xm", "y", "kind", "label", "caption", "color", "dash",
                  "normal_head", "open_head", "style", "time", "node", "uuid", "detail")
#: the hover of a mark or an arrow: the whole event, command or reply, wrapped
_TOOLTIP = (
    '<div style="max-width:460px;font-size:11px">'
    '<div style="font-weight:bold;word-break:break-all">{head}</div>'
    '<div>@time ms · @node · @uuid</div>'
    '<div style="white-space:pre-wrap;word-break:break-all;font-family:monospace">'
    '{body}</div></div>')
_LANE_PX = 230  # between two lanes (unless the width is fixed)
_LEFT = -0.4  # where the x range starts: room for the time column left of the client
_CHARS_PER_LANE = 36  # of a 10px label, between two lanes _LANE_PX apart
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

    It reads like sngrep's or Wireshark's call flows. Lanes: ``client`` (x=0), then one
    per leg in call order (the caller's A-leg, then the callee's B-leg), labelled
    ``node direction uuid8``. Rows: one per :class:`Step` of the
    :class:`LadderLayout`, in time order, time running downward (the left column is the
    time in ms since the first row):

    - an event is a dot on its leg's lane, with its name;
    - a command is a solid arrow (filled head) from the client to the leg it targets,
      labelled with its command line;
    - a reply, or the ``BACKGROUND_JOB`` of a ``bgapi``, is a dashed arrow (open head)
      back from that leg to the client;
    - a SIP hop between two legs, inferred from their events (``INVITE``,
      ``180 Ringing``, ``200 OK``, ``BYE``...), is a dotted arrow labelled
      ``(inferred)``.

    Hovering over a mark or an arrow shows the whole event, command or reply.
    :meth:`text` draws the same layout as text.

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
        self._throttle = Throttle(self.update, interval, construction_loop())
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
        """This ladder as plain text: the same layout, drawn by :func:`render_text`."""
        return render_text(self.layout)

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
        if len(self.roots) > 1:  # the log's order (records of one read share a time)
            position = {id(r): i for i, r in enumerate(self.log.records)}
            out.sort(key=lambda r: position.get(id(r), -1))
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
        if rec.kind in ("command", "reply"):
            text = rec.text or ""
            return rec.uuid in known or any(u in text for u in known)
        return False

    # -- drawing ----------------------------------------------------------------------
    def _make_figure(self, title: str | None) -> None:
        from bokeh.core.properties import field
        from bokeh.models import (
            Arrow,
            ColumnDataSource,
            DataRange1d,
            FixedTicker,
            HoverTool,
            LabelSet,
            NormalHead,
            OpenHead,
            Range1d,
            VSpan,
        )
        from bokeh.plotting import figure

        self.sources = {
            "lanes": ColumnDataSource({"x": []}),  # (labels: the axis above)
            "events": ColumnDataSource({k: [] for k in _EVENT_COLUMNS}),
            "arrows": ColumnDataSource({k: [] for k in _ARROW_COLUMNS}),
        }
        roots = ", ".join(_short(u) for u in self.roots)
        fig = figure(
            title=(title or (f"call {roots}" if roots else "call ladder"))
            + "  (time: ms since the first row)",
            x_range=Range1d(_LEFT, 1.0), y_range=DataRange1d(flipped=True, range_padding=1.0,
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
        arrows = src["arrows"]
        # the shafts (dashed for replies, dotted for inferred SIP hops) and filled heads
        fig.add_layout(Arrow(
            source=arrows, x_start="x0", y_start="y", x_end="x1", y_end="y",
            line_color=field("color"), line_dash=field("dash"), line_width=1.5,
            end=NormalHead(size=field("normal_head"), fill_color=field("color"),
                           line_color=field("color"))))
        # open heads (replies), on invisible shafts
        fig.add_layout(Arrow(
            source=arrows, x_start="x0", y_start="y", x_end="x1", y_end="y", line_alpha=0,
            end=OpenHead(size=field("open_head"), line_color=field("color"), line_width=1.5)))
        fig.add_layout(LabelSet(
            source=arrows, x="xm", y="y", text="caption", text_align="center",
            text_baseline="bottom", y_offset=1, text_font_size="10px",
            text_color=field("color"), text_font_style=field("style"),
            background_fill_color="white", background_fill_alpha=0.85))
        # an invisible, wide segment under each arrow: what the hover finds
        shafts = fig.segment(x0="x0", y0="y", x1="x1", y1="y", source=arrows, line_alpha=0,
                             line_width=12, hover_line_alpha=0.15, hover_line_color="color")
        marks = fig.scatter(x="x", y="y", marker="marker", color="color", size=8,
                            source=src["events"])
        fig.text(x="x", y="y", text="name", source=src["events"], x_offset=8,
                 text_baseline="middle", text_font_size="10px", text_color="color")
        for name in ("events", "arrows"):  # the time column, left of the client lane
            fig.text(x=0, y="y", text="time", source=src[name], x_offset=-10,
                     text_align="right", text_baseline="middle", text_font_size="9px",
                     text_color="#666666")
        fig.add_tools(HoverTool(renderers=[marks], tooltips=_TOOLTIP.format(
            head="@name", body="@summary")))
        fig.add_tools(HoverTool(renderers=[shafts], tooltips=_TOOLTIP.format(
            head="@kind: @label", body="@detail")))
        self.figure = fig
        self._ticker = fig.xaxis[0].ticker

    def _columns(self, steps: Sequence[Step]) -> tuple[dict[str, list], dict[str, list]]:
        origin = self.layout.origin or 0.0
        ev: dict[str, list] = {k: [] for k in _EVENT_COLUMNS}
        arr: dict[str, list] = {k: [] for k in _ARROW_COLUMNS}
        chars = self._chars_per_lane()
        for s in steps:
            t = f"{(s.time - origin) * 1000:.1f}"
            rec = s.record
            if not s.is_arrow:
                ev["x"].append(s.lane)
                ev["y"].append(s.index)
                ev["name"].append(s.label)
                ev["color"].append(_COLORS_BY_KIND.get(s.kind) or _color(s.label))
                ev["marker"].append("circle" if s.kind == "event" else "triangle")
                ev["time"].append(t)
                ev["node"].append(rec.node or "")
                ev["uuid"].append(rec.uuid or "")
                ev["summary"].append(s.detail)
                continue
            style = _ARROW_STYLES[s.kind]
            arr["x0"].append(s.src)
            arr["x1"].append(s.dst)
            arr["xm"].append((s.src + s.dst) / 2)
            arr["y"].append(s.index)
            arr["kind"].append(s.kind)
            arr["label"].append(s.label)
            arr["caption"].append(_clip(s.caption, int(chars * abs(s.dst - s.src))))
            arr["color"].append(style[0])
            arr["dash"].append(style[1])
            arr["normal_head"].append(style[2])
            arr["open_head"].append(style[3])
            arr["style"].append(style[4])
            arr["time"].append(t)
            arr["node"].append(rec.node or "")
            arr["uuid"].append(rec.uuid or "")
            arr["detail"].append(s.detail if s.kind != "sip" else s.note)
        return ev, arr

    def _chars_per_lane(self) -> float:
        """How many characters of an arrow's label fit between two neighbouring lanes."""
        if self._fixed_width is None:
            return _CHARS_PER_LANE
        units = len(self.lanes) - 1 + 0.9 - _LEFT
        return max(8.0, (self._fixed_width - 60) / units / _LANE_PX * _CHARS_PER_LANE)

    def _rebuild(self, records: Sequence[Any]) -> None:
        if self.records:
            self.rebuilds += 1
        self.records = list(records)
        self.layout = LadderLayout.of(self.records, self.roots)
        ev, arr = self._columns(self.layout.steps)
        self.sources["events"].data = ev
        self.sources["arrows"].data = arr
        self.sources["lanes"].data = {"x": [lane.x for lane in self.lanes]}
        self._sync_axes()

    def _append(self, records: Sequence[Any]) -> None:
        n_lanes = len(self.lanes)
        first = len(self.steps)
        for rec in records:
            self.layout.add(rec)
        self.records.extend(records)
        ev, arr = self._columns(self.steps[first:])
        if ev["x"]:
            self.sources["events"].stream(ev)
            self.streams += 1
        if arr["x0"]:
            self.sources["arrows"].stream(arr)
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
            width = max(700, 60 + int(_LANE_PX * (len(self.lanes) - 1 + 0.9 - _LEFT)))
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
