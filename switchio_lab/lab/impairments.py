"""A widget panel for the embedded switch's network impairments, in ipywidgets.

>>> from switchio_lab.lab.impairments import ImpairmentPanel     # doctest: +SKIP
>>> ImpairmentPanel(node_b, source=node_a)       # packets node_a -> node_b; last line of a cell

Bound both ways, like the Originator panel: editing a field calls
``node.media.impair(source, field=value)`` (an invalid value is refused, the message says
why, and the input reverts: nothing is half-applied); a change made in code
(``node_b.media.impair(node_a, loss=0.05)``) shows in the panel at once. A change applies to
packets sent from that moment on.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from ..sim.media.impair import JITTER_DISTRIBUTIONS, Impairment, ImpairmentError

__all__ = ["ImpairmentPanel"]

#: field -> (label, step) of the numeric inputs
NUMBERS = {
    "loss": ("random loss (0..1)", 0.005),
    "burst_loss": ("bursty loss (0..1)", 0.005),
    "mean_burst": ("mean burst (packets)", 0.5),
    "delay_ms": ("one-way delay (ms)", 10.0),
    "jitter_ms": ("jitter (ms)", 5.0),
}


class ImpairmentPanel(widgets.VBox):
    """Edit the :class:`~switchio_lab.sim.media.Impairment` of the packets ``node`` receives
    from ``source`` (a node or an address; default: ``node`` itself, for calls a node places
    to itself)."""

    def __init__(self, node: Any, source: Any = None, *, title: str | None = None) -> None:
        self.node = node
        self.source = source if source is not None else node
        self.address = self.source if isinstance(self.source, str) else \
            self.source.config.address
        self._syncing = False
        self.inputs: dict[str, widgets.Widget] = {
            name: widgets.FloatText(description=label, step=step,
                                    style={"description_width": "150px"})
            for name, (label, step) in NUMBERS.items()}
        self.inputs["jitter_dist"] = widgets.Dropdown(
            options=list(JITTER_DISTRIBUTIONS), description="jitter distribution",
            style={"description_width": "150px"})
        self.inputs["jb_ms"] = widgets.Text(
            description="jitter buffer (ms)", placeholder="none",
            style={"description_width": "150px"})
        self.inputs["codec"] = widgets.Dropdown(options=["PCMU", "PCMA"], description="codec",
                                                style={"description_width": "150px"})
        self.message = widgets.HTML()
        head = widgets.HTML(f"<b>{html.escape(title or 'Network impairments')}</b> "
                            f"<code>{html.escape(self.address)} → "
                            f"{html.escape(node.config.address)}</code>")
        self._sync(node.media.impairment(self.address))
        for name, w in self.inputs.items():
            w.observe(self._edited(name), names="value")
        node.media.link_watchers.append(self._on_change)
        super().__init__([head, *self.inputs.values(), self.message])

    @property
    def impairment(self) -> Impairment:
        return self.node.media.impairment(self.address)

    def close(self) -> None:
        if self._on_change in self.node.media.link_watchers:
            self.node.media.link_watchers.remove(self._on_change)
        super().close()

    def _value(self, name: str, raw: Any) -> Any:
        if name == "jb_ms":
            text = str(raw).strip().lower()
            if text in ("", "none"):
                return None
            try:
                return float(text)
            except ValueError:
                raise ImpairmentError(f"jb_ms must be a number of ms or 'none', got {raw!r}") \
                    from None
        return raw

    def _edited(self, name: str) -> Callable[[Mapping[str, Any]], None]:
        def on_value(change: Mapping[str, Any]) -> None:
            if self._syncing:
                return
            try:
                self.node.media.impair(self.address, **{name: self._value(name,
                                                                         change["new"])})
            except ImpairmentError as exc:
                self.message.value = f"<span style='color:#b03a2e'>{html.escape(str(exc))}</span>"
                self._sync(self.impairment)  # revert: nothing half-applied
                return
            self.message.value = ""
        return on_value

    def _on_change(self, address: str, impairment: Impairment) -> None:
        if address == self.address:
            self._sync(impairment)

    def _sync(self, imp: Impairment) -> None:
        self._syncing = True
        try:
            for f in dataclasses.fields(imp):
                value = getattr(imp, f.name)
                if f.name == "jb_ms":
                    value = "none" if value is None else f"{value:g}"
                self.inputs[f.name].value = value
        finally:
            self._syncing = False
