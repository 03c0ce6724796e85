"""A live load-test dashboard: Bokeh figures fed by a throttled pump.

>>> from switchio_lab.lab.dashboard import Dashboard       # doctest: +SKIP
>>> Dashboard(lab, originator=orig, cdr=cdr)               # last line of a cell

Six figures: calls and sessions in progress over time; offered vs answered calls/s;
events/s by type (the top ``top``); the post-dial delay histogram; hangup causes; the
MOS distribution (from the CDR's ``rtp_audio_in_mos``, when there is one).

Nothing is sent per event. Events only bump counters (a few dict operations); a pump
runs every ``interval`` seconds (default 0.2: 5 Hz) on the kernel's loop and updates
the figures with ``source.stream``/``source.patch`` -- only what changed -- and every
change of one pump tick goes to the browser as **one** Bokeh ``PATCH-DOC`` message (3
comm messages), whatever the load. :attr:`Dashboard.messages_sent` counts the comm
messages sent; an idle dashboard sends one time-series point a second.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import time
from collections import Counter, deque
from typing import Any

from .bokeh_support import EchoSafeBokehModel, ensure_bokehjs
from .eventlog import EventLog

__all__ = ["Dashboard", "PDD_EDGES", "MOS_EDGES"]

#: post-dial delay histogram bin edges, milliseconds (the last bin is open)
PDD_EDGES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
#: MOS histogram bin edges
MOS_EDGES = tuple(round(1.0 + 0.25 * i, 2) for i in range(15))  # 1.0 .. 4.5
_PROGRESS = frozenset({"CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER"})
_WIDTH, _HEIGHT = 460, 230
#: one colour per quantity, the same in every panel (and in measure.plot's report)
PALETTE = {"calls": "#2471a3", "sessions": "#7f8c8d", "originator": "#5dade2",
           "offered": "#d68910", "answered": "#1e8449", "events": "#7d3c98",
           "failed": "#c0392b"}


class _BatchingModel(EchoSafeBokehModel):
    """An :class:`EchoSafeBokehModel` that can gather the document changes of a batch and
    send them as one ``PATCH-DOC``; counts the comm messages it sends."""

    messages_sent = 0
    patches_sent = 0
    _batch: list[Any] | None = None

    def send(self, content: Any, buffers: Any = None) -> None:
        self.messages_sent += 1
        super().send(content, buffers)

    def _document_patched(self, event: Any) -> None:
        if event.setter is self:
            return
        if self._batch is not None:
            self._batch.append(event)
            return
        self.patches_sent += 1
        super()._document_patched(event)

    def get_state(self, key: Any = None) -> dict[str, Any]:
        """The full state (what a browser asks for when the page is reloaded) carries the
        document as it is now, not as it was when the widget was made: the time series
        and histograms survive a reload of the same kernel."""
        if key is None and not self._detached and getattr(self, "_model", None) is not None:
            self._trait_values["render_bundle"] = self._model_to_traits(self._model)
        return super().get_state(key)

    def begin(self) -> None:
        self._batch = []

    def commit(self) -> int:
        """Send the gathered changes as one PATCH-DOC; returns how many there were."""
        events, self._batch = self._batch or [], None
        if not events or self._detached:
            return 0
        from bokeh.protocol import Protocol

        msg = Protocol().create("PATCH-DOC", events)
        self.patches_sent += 1
        self.send({"msg": "patch", "payload": msg.header_json})
        self.send({"msg": "patch", "payload": msg.metadata_json})
        self.send({"msg": "patch", "payload": msg.content_json})
        for buffer in msg.buffers:
            self.send({"msg": "patch", "payload": json.dumps(buffer.ref)})
            self.send({"msg": "patch"}, [buffer.to_bytes()])
        return len(events)


def _bin(edges: tuple[float, ...], value: float) -> int:
    for i in range(len(edges) - 1, -1, -1):
        if value >= edges[i]:
            return i
    return 0


class Dashboard:
    """Live figures of a load test (see the module doc).

    ``lab_or_clients``: a :class:`~switchio_lab.lab.Lab` (its event log is read), or one
    client or several (the dashboard attaches its own :class:`EventLog`). ``originator``:
    offered/answered calls/s come from its counters (else from the clients' listeners:
    legs originated and outbound legs answered). Hangup causes are the listeners' own
    per-leg counts, so the dashboard and ``client.listener`` always agree. ``cdr``: a
    :class:`~switchio_lab.apps.cdr.CDR` app whose rows feed the MOS histogram (its sink
    is teed, and restored by :meth:`close`).

    ``interval``: the pump period (s); ``window``: seconds of history in the time
    series; ``top``: how many event types are shown. The pump starts at once when a loop
    is running (in a notebook, the kernel's); :meth:`pump` runs one tick by hand.
    Counters: :attr:`messages_sent` (comm messages), :attr:`patches_sent` (PATCH-DOC
    messages), :attr:`ticks`, :attr:`updates` (stream/patch calls), :attr:`events_seen`.
    """

    def __init__(self, lab_or_clients: Any, originator: Any = None, cdr: Any = None, *,
                 interval: float = 0.2, window: float = 60.0, top: int = 8,
                 idle_every: float = 1.0, start: bool = True) -> None:
        self.originator = originator
        self.cdr = cdr
        self.interval = interval
        self.window = window
        self.top = top
        self.idle_every = idle_every
        self._detach: list[Any] = []
        events = getattr(lab_or_clients, "events", None)
        if isinstance(events, EventLog):
            self.lab = lab_or_clients
            self.clients = list(lab_or_clients.clients)
            self.log = events
        else:
            self.lab = None
            clients = ([lab_or_clients] if hasattr(lab_or_clients, "listener")
                       else list(lab_or_clients))
            self.clients = clients
            self.log = EventLog(maxlen=1000)
            for c in clients:
                self._detach.append(self.log.attach(c, getattr(c, "host", None)))
        # counters fed by the event log subscription (the hot path)
        self.events_seen = 0
        self._types: Counter[str] = Counter()
        self._type_hist: deque[tuple[float, Counter[str]]] = deque()
        self._pdd_start: dict[str, float] = {}
        self._pdd_bins = [0] * len(PDD_EDGES)
        self._mos_bins = [0] * len(MOS_EDGES)
        self._mos_n = 0
        self._no_audio = 0  # CDR rows of legs that received no audio
        self._errors_shown: tuple[int, str] | None = None
        self._dirty: set[str] = set()
        self._samples: deque[tuple[float, int, int, int]] = deque()  # (t, off, ans, events)
        self._last_ts: tuple[Any, ...] | None = None
        self._last_ts_time = -math.inf
        self._shown_types: list[Any] = []
        self._shown_causes: list[Any] = []
        self.ticks = 0
        self.updates = 0
        self._closed = False
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._make_figures()
        self._pump_errors()
        self.widget = _BatchingModel(self.layout, owned=self.sources.values())
        self._unsubscribe = self.log.subscribe(self._on_record)
        self._cdr_sink = None
        if cdr is not None:
            original = cdr.sink
            self._cdr_sink = original

            def tee(row: dict[str, Any]) -> None:
                self._on_cdr(row)
                original(row)
            cdr.sink = tee
            self._tee = tee
        if start:
            self.start()

    # -- public ----------------------------------------------------------------------
    @property
    def messages_sent(self) -> int:
        """Comm messages the widget sent to the browser (every PATCH-DOC is 3+)."""
        return self.widget.messages_sent

    @property
    def patches_sent(self) -> int:
        return self.widget.patches_sent

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Run the pump every ``interval`` seconds on the running loop (if any)."""
        if self._closed or self._handle is not None:
            return
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._handle = self._loop.call_later(self.interval, self._periodic)

    def stop(self) -> None:
        """Stop the pump (the figures stay as they are)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Stop, unsubscribe, restore the CDR's sink, close the widget."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        self._unsubscribe()
        for detach in self._detach:
            detach()
        if self.cdr is not None and getattr(self.cdr, "sink", None) is self._tee:
            self.cdr.sink = self._cdr_sink
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        ensure_bokehjs()
        display(self.widget)

    def __repr__(self) -> str:
        return (f"<Dashboard ticks={self.ticks} events={self.events_seen} "
                f"messages_sent={self.messages_sent}>")

    # -- the hot path: counting ----------------------------------------------------------
    def _on_record(self, rec: Any) -> None:
        if rec.kind != "event":
            return
        name = rec.name
        self.events_seen += 1
        self._types[name] += 1
        ev = rec.event
        if name == "CHANNEL_CREATE":
            if ev is not None and ev.get("Call-Direction") == "outbound" and rec.uuid:
                self._pdd_start[rec.uuid] = rec.time
                if len(self._pdd_start) > 50_000:  # legs that never rang nor answered
                    self._pdd_start.pop(next(iter(self._pdd_start)))
        elif name in _PROGRESS:
            start = self._pdd_start.pop(rec.uuid, None) if rec.uuid else None
            if start is not None:
                self._pdd_bins[_bin(PDD_EDGES, (rec.time - start) * 1000.0)] += 1
                self._dirty.add("pdd")
        elif name == "CHANNEL_HANGUP_COMPLETE":
            if rec.uuid:
                self._pdd_start.pop(rec.uuid, None)

    def _on_cdr(self, row: dict[str, Any]) -> None:
        mos = row.get("rtp_audio_in_mos")
        packets = row.get("rtp_audio_in_media_packet_count")
        try:
            heard = packets is not None and float(packets) > 0
        except (TypeError, ValueError):
            heard = False
        if not heard:  # FreeSWITCH rates a leg that heard nothing 4.5: not a score
            self._no_audio += 1
            self._dirty.add("mos")
            return
        if mos is not None and not (isinstance(mos, float) and math.isnan(mos)):
            self._mos_bins[_bin(MOS_EDGES, float(mos))] += 1
            self._mos_n += 1
            self._dirty.add("mos")

    # -- the pump --------------------------------------------------------------------------
    def _periodic(self) -> None:
        self._handle = None
        if self._closed:
            return
        try:
            self.pump()
        finally:
            if not self._closed and self._loop is not None and not self._loop.is_closed():
                self._handle = self._loop.call_later(self.interval, self._periodic)

    def _counts(self) -> tuple[int, int]:
        """(calls, sessions) in progress across the clients."""
        calls: set[str] = set()
        sessions = 0
        for c in self.clients:
            listener = c.listener
            sessions += len(listener.sessions)
            calls.update(listener.calls)
        return len(calls), sessions

    def _listener_calls(self) -> tuple[int, int]:
        """(offered, answered) calls across the clients: the listeners' counts of legs
        originated and of outbound legs answered."""
        offered = answered = 0
        for c in self.clients:
            listener = c.listener
            offered += listener.originated_sessions
            answered += listener.answered_sessions["outbound"]
        return offered, answered

    def _listener_causes(self) -> Counter[str]:
        """Hangup causes per leg across the clients (the listeners' counters)."""
        total: Counter[str] = Counter()
        for c in self.clients:
            total.update(c.listener.hangup_causes)
        return total

    def pump(self, now: float | None = None) -> int:
        """One tick: update what changed, as one PATCH-DOC. Returns the changes sent."""
        if self._closed:
            return 0
        self.ticks += 1
        now = time.time() if now is None else now
        w = self.widget
        w.begin()
        try:
            self._pump_series(now)
            self._pump_types(now)
            if "pdd" in self._dirty:
                n = len(PDD_EDGES)
                self.sources["pdd"].patch({"count": [(slice(0, n), list(self._pdd_bins))]})
                self.updates += 1
            self._pump_bars("causes", self._listener_causes().most_common(self.top), "count",
                            "_shown_causes")  # sends nothing when they did not change
            if "mos" in self._dirty:
                n = len(MOS_EDGES)
                self.sources["mos"].patch({"count": [(slice(0, n), list(self._mos_bins))]})
                self.updates += 1
                self._set_note("mos", None if self._mos_n else (
                    f"no audio yet ({self._no_audio} legs without media)" if self._no_audio
                    else "no audio yet"))
            if "pdd" in self._dirty:
                self._set_note("pdd", None)
            if self._types:
                self._set_note("events", None if self._shown_types else
                               "no events in the last 2 s")
            if self._shown_causes:
                self._set_note("causes", None)
            self._pump_errors()
            self._dirty.clear()
        finally:
            sent = w.commit()
        return sent

    def _set_note(self, key: str, text: str | None) -> None:
        """The note over an empty panel ("no data yet"), or None to hide it."""
        note = self.notes[key]
        visible = text is not None
        if note.visible != visible:
            note.visible = visible
        if visible and note.text != text:
            note.text = text

    @property
    def app_errors(self) -> int:
        """Exceptions the lab's apps raised (0 without a lab)."""
        return getattr(self.lab, "app_error_count", 0) if self.lab is not None else 0

    def _mos_status(self) -> str:
        if self._mos_n:
            return f"MOS from {self._mos_n} legs that received audio"
        if self._no_audio:
            return f"MOS: no audio yet ({self._no_audio} legs without media)"
        return "MOS: no audio yet"

    def _pump_errors(self) -> None:
        """The line above the figures: the apps' errors and where MOS comes from (text
        a reader, and a browser test, finds in the page)."""
        n = self.app_errors
        state = (n, self._mos_status())
        if state == self._errors_shown:
            return
        self._errors_shown = state
        last = self.lab.app_errors[-1][1] if n and self.lab.app_errors else None
        errors = ("<span style='color:#1e8449'>app errors: 0</span>" if not n else
                  f"<span style='color:#b00020'><b>app errors: {n}</b> &mdash; last: "
                  f"{html.escape(str(last))[:300]} (see the output of the cell that loaded "
                  f"the app, or <code>lab.app_errors</code>)</span>")
        self.header.text = (f"<div class='switchio-dashboard-status'>{errors} &middot; "
                            f"<span class='switchio-mos-status'>{html.escape(state[1])}"
                            f"</span></div>")

    def _pump_series(self, now: float) -> None:
        o = self.originator
        if o is not None:
            offered, answered = o.offered, o.answered
            up = o.concurrent
        else:
            offered, answered = self._listener_calls()
            up = None
        calls, sessions = self._counts()
        samples = self._samples
        samples.append((now, offered, answered, self.events_seen))
        while len(samples) > 2 and now - samples[1][0] >= 1.0:
            samples.popleft()
        t0, off0, ans0, ev0 = samples[0]
        dt = now - t0
        if dt > 0:
            ocps, acps = (offered - off0) / dt, (answered - ans0) / dt
            eps = (self.events_seen - ev0) / dt
        else:
            ocps = acps = eps = 0.0
        state = (calls, sessions, up, round(ocps, 1), round(acps, 1), round(eps))
        if state == self._last_ts and now - self._last_ts_time < self.idle_every:
            return  # nothing new: an idle dashboard sends one point a second
        self._last_ts = state
        self._last_ts_time = now
        rollover = max(10, int(self.window / max(self.interval, 1e-3)))
        self.sources["series"].stream({
            "t": [now * 1000.0], "calls": [calls], "sessions": [sessions],
            "up": [up if up is not None else calls], "offered_cps": [ocps],
            "answered_cps": [acps], "events_ps": [eps]}, rollover=rollover)
        self.updates += 1

    def _pump_types(self, now: float) -> None:
        hist = self._type_hist
        hist.append((now, Counter(self._types)))
        while len(hist) > 2 and now - hist[1][0] >= 2.0:
            hist.popleft()
        t0, old = hist[0]
        dt = now - t0
        if dt <= 0:
            return
        rates = Counter({k: (v - old.get(k, 0)) / dt for k, v in self._types.items()})
        top = [(k, round(v, 1)) for k, v in rates.most_common(self.top) if v > 0]
        self._pump_bars("types", top, "rate", "_shown_types")

    def _pump_bars(self, key: str, items: list[tuple[str, float]], column: str,
                   shown_attr: str) -> None:
        if items == getattr(self, shown_attr):
            return
        setattr(self, shown_attr, items)
        n = self.top
        names = [k for k, _ in items] + [""] * (n - len(items))
        values = [v for _, v in items] + [0] * (n - len(items))
        self.sources[key].patch({column: [(slice(0, n), values)],
                                 "name": [(slice(0, n), names)]})
        self.updates += 1

    # -- figures ---------------------------------------------------------------------------
    def _make_figures(self) -> None:
        from bokeh.layouts import column, gridplot
        from bokeh.models import ColumnDataSource, Div, FixedTicker, HoverTool, Label, Legend
        from bokeh.plotting import figure

        n = self.top
        series = ColumnDataSource({k: [] for k in (
            "t", "calls", "sessions", "up", "offered_cps", "answered_cps", "events_ps")})
        rows = list(range(n))
        types = ColumnDataSource({"y": rows, "rate": [0.0] * n, "name": [""] * n})
        causes = ColumnDataSource({"y": rows, "count": [0] * n, "name": [""] * n})
        pdd = ColumnDataSource({"x": list(range(len(PDD_EDGES))),
                                "count": [0] * len(PDD_EDGES),
                                "label": [(f"{e:g}+" if i == len(PDD_EDGES) - 1 else
                                           f"{e:g}-{PDD_EDGES[i + 1]:g}")
                                          for i, e in enumerate(PDD_EDGES)]})
        mos = ColumnDataSource({"x": [e + 0.125 for e in MOS_EDGES],
                                "count": [0] * len(MOS_EDGES),
                                "label": [f"{e:.2f}-{e + 0.25:.2f}" for e in MOS_EDGES]})
        self.sources = {"series": series, "types": types, "causes": causes, "pdd": pdd,
                        "mos": mos}
        common = {"width": _WIDTH, "height": _HEIGHT, "tools": "pan,wheel_zoom,reset,save",
                  "toolbar_location": "right"}
        self.notes: dict[str, Any] = {}

        def note(key: str, fig: Any, text: str = "no data yet") -> None:
            label = Label(x=_WIDTH / 2 - 40, y=_HEIGHT / 2 - 40, x_units="screen",
                          y_units="screen", text=text, text_align="center",
                          text_color="#7f8c8d", text_font_size="13pt")
            fig.add_layout(label)
            self.notes[key] = label

        def legend(fig: Any, items: list[tuple[str, list[Any]]]) -> None:
            fig.add_layout(Legend(items=items, orientation="horizontal",
                                  click_policy="hide", location="center",
                                  label_text_font_size="9pt", margin=0, padding=2,
                                  spacing=8), "above")

        when = ("time", "@t{%H:%M:%S}")
        f1 = figure(title="calls and sessions in progress (count)", x_axis_type="datetime",
                    **common)
        items = []
        # the Originator's count under the listeners' (they agree when all is well): a
        # wide pale band, so that both stay visible
        for col, color, label, width, alpha in (
                ("up", PALETTE["originator"], "originator calls", 6, 0.35),
                ("calls", PALETTE["calls"], "calls", 2, 1.0),
                ("sessions", PALETTE["sessions"], "sessions (legs)", 2, 1.0)):
            r = f1.line("t", col, source=series, color=color, line_width=width, alpha=alpha)
            items.append((label, [r]))
        legend(f1, items)
        f1.add_tools(HoverTool(tooltips=[when, ("calls", "@calls"),
                                         ("originator calls", "@up"),
                                         ("sessions", "@sessions legs")],
                               formatters={"@t": "datetime"}, mode="vline",
                               renderers=[items[1][1][0]]))
        f1.y_range.start = 0
        f1.yaxis.axis_label = "in progress"

        f2 = figure(title="calls per second: offered vs answered (calls/s)",
                    x_axis_type="datetime", **common)
        items = []
        for col, color, label, width, alpha in (
                ("offered_cps", PALETTE["offered"], "offered", 6, 0.35),
                ("answered_cps", PALETTE["answered"], "answered", 2, 1.0)):
            r = f2.line("t", col, source=series, color=color, line_width=width, alpha=alpha)
            items.append((label, [r]))
        legend(f2, items)
        f2.add_tools(HoverTool(tooltips=[when, ("offered", "@offered_cps{0.0} calls/s"),
                                         ("answered", "@answered_cps{0.0} calls/s")],
                               formatters={"@t": "datetime"}, mode="vline",
                               renderers=[items[1][1][0]]))
        f2.y_range.start = 0
        f2.yaxis.axis_label = "calls/s"

        f3 = figure(title=f"events per second by type, top {n} (events/s)",
                    y_range=(n - 0.5, -0.5), **common)
        f3.hbar(y="y", right="rate", height=0.8, source=types, color=PALETTE["events"],
                alpha=0.6)
        f3.text(x=0, y="y", text="name", source=types, text_font_size="9pt",
                text_baseline="middle", x_offset=4)
        f3.add_tools(HoverTool(tooltips=[("event", "@name"), ("rate", "@rate{0.0} events/s")]))
        f3.yaxis.visible = False
        f3.x_range.start = 0
        note("events", f3)

        f4 = figure(title="post-dial delay (legs per bin, ms)", **common)
        f4.vbar(x="x", top="count", width=0.9, source=pdd, color=PALETTE["calls"])
        f4.xaxis.ticker = FixedTicker(ticks=list(range(len(PDD_EDGES))))
        f4.xaxis.major_label_overrides = {i: (f"{e:g}+" if i == len(PDD_EDGES) - 1
                                              else f"{e:g}") for i, e in enumerate(PDD_EDGES)}
        f4.add_tools(HoverTool(tooltips=[("delay", "@label ms"), ("legs", "@count")]))
        f4.xaxis.major_label_orientation = 0.7  # 13 bins: upright labels run together
        f4.y_range.start = 0
        f4.xaxis.axis_label = "ms from originate to ringing/answer"
        note("pdd", f4)

        f5 = figure(title="hangup causes (legs)", y_range=(n - 0.5, -0.5), **common)
        f5.hbar(y="y", right="count", height=0.8, source=causes, color=PALETTE["failed"],
                alpha=0.6)
        f5.text(x=0, y="y", text="name", source=causes, text_font_size="9pt",
                text_baseline="middle", x_offset=4)
        f5.add_tools(HoverTool(tooltips=[("cause", "@name"), ("legs", "@count")]))
        f5.yaxis.visible = False
        f5.x_range.start = 0
        note("causes", f5)

        f6 = figure(title="MOS of the legs that received audio (legs per 0.25)",
                    x_range=(1.0, 4.75), **common)
        f6.vbar(x="x", top="count", width=0.22, source=mos, color=PALETTE["answered"])
        f6.add_tools(HoverTool(tooltips=[("MOS", "@label"), ("legs", "@count")]))
        f6.y_range.start = 0
        f6.xaxis.axis_label = "MOS (1 bad .. 4.5 best)"
        note("mos", f6, "no audio yet")

        self.header = Div(text="", width=2 * _WIDTH)
        self.figures = {"active": f1, "cps": f2, "events": f3, "pdd": f4, "causes": f5,
                        "mos": f6}
        grid = gridplot([[f1, f2], [f3, f4], [f5, f6]], toolbar_location="right")
        self.layout = column(self.header, grid)

    # -- reading back (tests, a bench) ------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What the figures hold now (plain Python)."""
        s = self.sources
        return {"series_points": len(s["series"].data["t"]),
                "types": {n: r for n, r in zip(s["types"].data["name"],
                                                s["types"].data["rate"], strict=True) if n},
                "causes": {n: c for n, c in zip(s["causes"].data["name"],
                                                 s["causes"].data["count"], strict=True) if n},
                "pdd": list(s["pdd"].data["count"]), "mos": list(s["mos"].data["count"]),
                "notes": {k: n.text for k, n in self.notes.items() if n.visible},
                "app_errors": self.app_errors}

