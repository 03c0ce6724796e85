"""A live table of the lab's current sessions (uuid, node, direction, state, app, age)."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as widgets


class SessionTable(widgets.VBox):
    """``SessionTable(lab)``: the live legs across nodes, redrawn at most every ``interval``.

    Rows come from :attr:`Lab.sessions_frame <switchio_lab.lab.Lab.sessions_frame>`; new
    events only mark the table stale, and a timer on the loop redraws it (so ages move
    too), never one widget message per event. ``close()`` stops the timer.
    """

    COLUMNS = ("uuid", "node", "direction", "state", "app", "age")

    def __init__(self, lab: Any, *, interval: float = 0.5, max_rows: int = 50) -> None:
        self.lab = lab
        self.interval = interval
        self.max_rows = max_rows
        self.title = widgets.HTML()
        self.table = widgets.HTML()
        super().__init__([self.title, self.table])
        self.updates = 0
        self._last_html = ""
        self._handle: asyncio.TimerHandle | None = None
        self._closed = False
        self.refresh()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        if self._loop is not None:
            self._handle = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        if self._closed:
            return
        self.refresh()
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval, self._tick)

    def render(self) -> str:
        """The table as HTML (what the widget shows)."""
        frame = self.lab.sessions_frame
        n = len(frame)
        head = "".join(f"<th style='text-align:left;padding:0 8px'>{c}</th>"
                       for c in self.COLUMNS)
        rows = []
        for row in frame.head(self.max_rows).itertuples(index=False):
            data = row._asdict()
            cells = [str(data.get("uuid", ""))[:8], data.get("node", ""),
                     data.get("direction", ""), data.get("state", ""), data.get("app") or "",
                     f"{float(data.get('age', 0.0)):.1f} s"]
            rows.append("<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(str(c))}</td>"
                                         for c in cells) + "</tr>")
        more = f"<p>… and {n - self.max_rows} more</p>" if n > self.max_rows else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"

    def refresh(self) -> None:
        """Redraw now (only sends a widget update if something changed)."""
        frame_html = self.render()
        n = len(self.lab.sessions)
        title = f"<b>{n} session{'s' if n != 1 else ''}</b>"
        if frame_html != self._last_html or self.title.value != title:
            self._last_html = frame_html
            self.table.value = frame_html
            self.title.value = title
            self.updates += 1

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        super().close()
