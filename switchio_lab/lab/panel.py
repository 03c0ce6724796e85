"""A control panel for an :class:`~switchio_lab.apps.originator.Originator`, in ipywidgets.

>>> from switchio_lab.lab.panel import OriginatorPanel      # doctest: +SKIP
>>> panel = OriginatorPanel(orig)                           # show it: last line of a cell

The panel is bound both ways: editing a setting calls ``originator.configure(...)``
(an invalid value is refused, the message says why, and the input reverts: nothing is
half-applied); a setting changed in code (``orig.rate = 50``) shows in the panel at once.
Start, stop and hang-up-all buttons drive the Originator; a badge shows its state. The
counters (offered, answered, failed by cause, ringing, up, completed) are redrawn at most
every ``interval`` seconds (default 0.2: five times a second), however many calls change.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from .bokeh_support import Throttle, construction_loop

__all__ = ["OriginatorPanel"]

#: the settings the panel edits, in order
SETTINGS = ("rate", "limit", "duration", "max_offered")

_STATE_COLORS = {"INITIAL": "#7f8c8d", "ORIGINATING": "#1e8449", "STOPPED": "#c0392b"}
_CSS = """<style>
.switchio-panel-badge span {padding: 2px 10px; border-radius: 10px; color: white;
  font-weight: bold; font-family: monospace;}
.switchio-panel-counters table {border-collapse: collapse; font-family: monospace;}
.switchio-panel-counters td {padding: 0 12px 0 0;}
.switchio-panel-counters td.n {text-align: right; font-weight: bold;}
.switchio-panel-message {color: #c0392b;}
</style>"""


def _text_number(value: float | None, *, auto: bool = False) -> str:
    if auto:
        return "auto"
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "inf"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def _parse(name: str, text: Any) -> Any:
    """A setting's value from what was typed: a number, ``inf``, or (duration) ``auto``."""
    if not isinstance(text, str):
        return text
    word = text.strip().lower()
    if word in ("inf", "infinity", "∞", ""):
        if word == "" and name == "duration":
            return None
        return math.inf
    if word == "auto" and name == "duration":
        return None
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"{name} must be a number (or inf"
                         f"{', auto' if name == 'duration' else ''}), not {text!r}") from None
    return int(value) if name == "max_offered" and value.is_integer() else value


class OriginatorPanel(widgets.VBox):
    """Inputs, buttons, a state badge and live counters for one Originator (module doc).

    Widgets (attributes): :attr:`rate` (FloatText), :attr:`limit` (IntText),
    :attr:`duration` and :attr:`max_offered` (Text: a number, ``inf``; duration also
    ``auto``: derived from rate and limit), :attr:`start_button`, :attr:`stop_button`,
    :attr:`hupall_button`, :attr:`badge`, :attr:`counters` (HTML), :attr:`message`
    (HTML: the last refusal or error). :attr:`updates` counts the counter redraws.
    :meth:`close` unsubscribes from the Originator.
    """

    def __init__(self, originator: Any, *, interval: float = 0.2, title: str | None = None,
                 **kwargs: Any) -> None:
        self.originator = originator
        self.interval = interval
        self.updates = 0  # counter redraws (throttled)
        self.refused = 0  # invalid values refused
        self._syncing = False
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()

        text = {"continuous_update": False, "layout": widgets.Layout(width="190px")}
        self.rate = widgets.FloatText(description="rate (cps)", **text)
        self.limit = widgets.IntText(description="limit", **text)
        self.duration = widgets.Text(description="duration (s)", **text)
        self.max_offered = widgets.Text(description="max offered", **text)
        self.inputs: dict[str, widgets.Widget] = {
            "rate": self.rate, "limit": self.limit, "duration": self.duration,
            "max_offered": self.max_offered}
        for name, w in self.inputs.items():
            w.observe(self._edited(name), names="value")

        button = {"layout": widgets.Layout(width="120px")}
        self.start_button = widgets.Button(description="start", icon="play",
                                           button_style="success", **button)
        self.stop_button = widgets.Button(description="stop", icon="stop",
                                          button_style="warning", **button)
        self.hupall_button = widgets.Button(description="hang up all", icon="phone",
                                            button_style="danger", **button)
        self.start_button.on_click(lambda _b: self._act(self.originator.start))
        self.stop_button.on_click(lambda _b: self._act(self.originator.stop))
        self.hupall_button.on_click(lambda _b: self._act(self._hupall))

        self.badge = widgets.HTML()
        self.badge.add_class("switchio-panel-badge")
        self.counters = widgets.HTML()
        self.counters.add_class("switchio-panel-counters")
        self.message = widgets.HTML()
        self.message.add_class("switchio-panel-message")
        head = widgets.HTML(f"<b>{html.escape(title)}</b>") if title else widgets.HTML(
            "<b>Originator</b>")
        children = [widgets.HTML(_CSS), widgets.HBox([head, self.badge]),
                    widgets.HBox([self.rate, self.limit, self.duration, self.max_offered]),
                    widgets.HBox([self.start_button, self.stop_button, self.hupall_button]),
                    self.counters, self.message]
        super().__init__(children, **kwargs)
        self.add_class("switchio-originator-panel")

        self._throttle = Throttle(self._redraw, interval, construction_loop())
        self._unsubscribe: Callable[[], Any] = originator.on_change(self._on_change)
        self._sync_settings()
        self._render_badge()
        self._redraw()

    # -- public --------------------------------------------------------------------------
    def flush(self) -> None:
        """Redraw the counters now (the throttle normally does it)."""
        self._throttle.cancel()
        self._redraw()

    @property
    def counter_values(self) -> dict[str, Any]:
        """What the counters show (the last redraw's snapshot)."""
        return dict(self._shown)

    def close(self) -> None:
        if not getattr(self, "_closed", True):  # (also called by Widget.__del__)
            self._closed = True
            self._throttle.cancel()
            self._unsubscribe()
            for w in (*self.inputs.values(), self.start_button, self.stop_button,
                      self.hupall_button, self.badge, self.counters, self.message):
                w.close()
        super().close()

    # -- widget -> originator -------------------------------------------------------------
    def _edited(self, name: str) -> Callable[[Mapping[str, Any]], None]:
        def on_value(change: Mapping[str, Any]) -> None:
            if self._syncing or self._closed:
                return
            try:
                value = _parse(name, change["new"])
                self.originator.configure(**{name: value})
            except (ValueError, TypeError, RuntimeError) as exc:
                self.refused += 1
                self._say(f"refused: {exc}")
                self._sync_settings()  # revert to what is in effect
                return
            self._say("")
            self._sync_settings()  # normalise (e.g. "2.50" -> 2.5)
        return on_value

    def _act(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._say(f"{type(exc).__name__}: {exc}")
            return
        self._say("")
        self._render_badge()
        self.flush()

    def _hupall(self) -> None:
        task = asyncio.get_running_loop().create_task(self.originator.hupall())
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._say(f"hang up all: {t.exception()}")
        task.add_done_callback(done)

    def _say(self, text: str) -> None:
        value = html.escape(text)
        if self.message.value != value:
            self.message.value = value

    # -- originator -> widgets ------------------------------------------------------------
    def _on_change(self, change: Any) -> None:
        if self._closed:
            return
        if change.kind == "setting":
            if change.name in SETTINGS or change.name == "duration_offset":
                self._sync_settings()
        elif change.kind == "state":
            self._render_badge()
            self._throttle.kick()
        else:
            self._throttle.kick()

    def _sync_settings(self) -> None:
        o = self.originator
        settings = o.settings()
        values = {"rate": float(settings["rate"]), "limit": int(settings["limit"]),
                  "duration": _text_number(o.duration, auto=settings["auto_duration"]),
                  "max_offered": _text_number(settings["max_offered"])}
        if settings["auto_duration"]:
            self.duration.placeholder = f"auto ({o.duration:.3g} s)"
        self._syncing = True
        try:
            for name, value in values.items():
                w = self.inputs[name]
                if w.value != value:
                    w.value = value
        finally:
            self._syncing = False

    def _render_badge(self) -> None:
        state = self.originator.state
        color = _STATE_COLORS.get(state, "#17202a")
        value = f'<span class="switchio-state" style="background:{color}">{state}</span>'
        if self.badge.value != value:
            self.badge.value = value

    def _redraw(self) -> None:
        if self._closed:
            return
        s = self.originator.stats()
        self._shown = {"offered": s["offered"], "answered": s["answered"],
                       "failed": s["failed_total"], "failed_by_cause": dict(s["failed"]),
                       "ringing": s["active"], "up": s["up"], "completed": s["completed"],
                       "concurrent": s["concurrent"], "cps": s["cps"]}
        causes = ", ".join(f"{html.escape(c)}: {n}" for c, n in
                           sorted(s["failed"].items(), key=lambda kv: -kv[1])) or "–"
        rows = [("offered", s["offered"]), ("answered", s["answered"]),
                ("failed", s["failed_total"]), ("ringing", s["active"]), ("up", s["up"]),
                ("completed", s["completed"]), ("cps", f"{s['cps']:.0f}")]
        cells = "".join(f'<td>{k}</td><td class="n switchio-{k}">{v}</td>' for k, v in rows)
        value = (f"<table><tr>{cells}</tr></table>"
                 f'<div class="switchio-failed-causes">failed by cause: {causes}</div>')
        if self.counters.value != value:
            self.counters.value = value
            self.updates += 1
