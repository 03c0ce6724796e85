"""Plumbing the lab's live widgets share: the loop, a throttle, and Bokeh in a notebook.

- :class:`Throttle` runs a redraw soon after a change, and at most once per ``interval``
  seconds, on the kernel's asyncio loop (``loop.call_later``): however many records
  arrive, a widget updates a few times a second (:data:`DEFAULT_INTERVAL`).
- :func:`ensure_bokehjs` loads BokehJS into the page once, offline, before any Bokeh
  widget; :class:`EchoSafeBokehModel` is the ``jupyter_bokeh`` widget that ignores the
  browser's echo of the rows the kernel streamed.

Used by the inspector, the ladder, the Originator panel and the dashboard.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Any

from jupyter_bokeh import BokehModel

__all__ = ["DEFAULT_INTERVAL", "EchoSafeBokehModel", "Throttle", "construction_loop",
           "ensure_bokehjs"]

#: How often (at most) a live widget is updated, in seconds.
DEFAULT_INTERVAL = 0.2


def _nothing() -> None:
    pass


# -- the loop and the throttle ---------------------------------------------------------------


def _current_loop(fallback: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return fallback


def construction_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop, or None outside one: what a widget keeps for its :class:`Throttle`."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Throttle:
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


# -- Bokeh in the notebook -------------------------------------------------------------------

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
