"""A static Bokeh report of a run's CDR: CPS, concurrency, PDD, failures, MOS.

>>> layout = plot("runs/20260101-120000-loadtest")      # doctest: +SKIP
>>> save_html(layout, "report.html")                    # doctest: +SKIP

:func:`plot` returns a Bokeh layout: show it in a notebook (``bokeh.io.show``), embed it,
or write a self-contained HTML file with :func:`save_html` (Bokeh's JavaScript inlined:
the file opens with no network).
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.embed import file_html
from bokeh.layouts import column, gridplot
from bokeh.models import ColumnDataSource, Div, LayoutDOM, Span
from bokeh.plotting import figure
from bokeh.resources import INLINE

from . import analysis, cdr_frame

WIDTH, HEIGHT = 520, 260
_TOOLS = "pan,box_zoom,wheel_zoom,reset,save,hover"
#: the live dashboard's colours (switchio_lab.lab.dashboard.PALETTE), for the same quantities
CALLS, OFFERED, ANSWERED = "#2471a3", "#d68910", "#1e8449"


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert(None) if index.tz is not None else index


def _empty_note(fig: Any, text: str = "no data", x: Any = 0, y: Any = 0) -> Any:
    """Say so in the title and in the plot (a figure needs a renderer)."""
    fig.title.text = f"{fig.title.text} — {text}"
    fig.text(x=[x], y=[y], text=[text], text_align="center", text_baseline="middle",
             text_color="gray")
    fig.axis.visible = False  # no -1..1 axes around nothing
    fig.grid.visible = False
    return fig


def cps_figure(df: pd.DataFrame, freq: str = "1s") -> Any:
    """Offered and answered calls per second."""
    fig = figure(title=f"Calls per second (bins of {freq})", x_axis_type="datetime",
                 width=WIDTH, height=HEIGHT, tools=_TOOLS, x_axis_label="time (UTC)",
                 y_axis_label="calls/s")
    rates = analysis.cps(df, freq)
    if rates.empty:
        return _empty_note(fig)
    src = ColumnDataSource({"t": _naive(rates.index), "offered": rates["offered"].to_numpy(),
                            "answered": rates["answered"].to_numpy()})
    # offered as a wide pale band under answered: both stay visible where they agree
    fig.step("t", "offered", source=src, mode="after", line_width=6, alpha=0.4,
             color=OFFERED, legend_label="offered")
    fig.step("t", "answered", source=src, mode="after", line_width=2, color=ANSWERED,
             legend_label="answered")
    fig.y_range.start = 0
    fig.legend.click_policy = "hide"
    fig.legend.orientation = "horizontal"
    fig.legend.margin, fig.legend.padding = 0, 2
    fig.legend.label_text_font_size = "9pt"
    fig.add_layout(fig.legend[0], "above")  # off the data
    return fig


def concurrency_figure(df: pd.DataFrame) -> Any:
    """Calls up over time (a step function)."""
    fig = figure(title="Concurrent calls", x_axis_type="datetime", width=WIDTH,
                 height=HEIGHT, tools=_TOOLS, x_axis_label="time (UTC)",
                 y_axis_label="calls up")
    active = analysis.concurrency(df)
    if active.empty:
        return _empty_note(fig)
    values = active.to_numpy()
    index = _naive(active.index)
    if len(values) and values[-1] != 0:  # drawn down to 0 at the end of the last call
        index = index.append(pd.DatetimeIndex([index[-1]]))
        values = np.append(values, 0)
    fig.step(index, values, mode="after", line_width=2, color=CALLS)
    fig.y_range.start = 0
    return fig


def _histogram(fig: Any, values: pd.Series, color: str, bins: int = 30) -> None:
    counts, edges = np.histogram(values.to_numpy(dtype=float), bins=bins)
    fig.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], fill_color=color,
             line_color="white", alpha=0.8)


def pdd_figure(df: pd.DataFrame) -> Any:
    """Post-dial delay histogram (ms) with the median and 95th percentile marked."""
    fig = figure(title="Post-dial delay", width=WIDTH, height=HEIGHT, tools=_TOOLS,
                 x_axis_label="PDD (ms)", y_axis_label="calls")
    values = analysis.calls(df)["pdd"].dropna() * 1000 if len(df) else pd.Series(
        dtype="float64")
    if values.empty:
        return _empty_note(fig)
    _histogram(fig, values, "#ff7f0e")
    q = analysis.pdd_percentiles(df, (0.5, 0.95)) * 1000
    for quantile, dash in ((0.5, "solid"), (0.95, "dashed")):
        fig.add_layout(Span(location=float(q[quantile]), dimension="height",
                            line_color="black", line_dash=dash, line_width=1.5))
    fig.title.text += f" — p50 {q[0.5]:.1f} ms, p95 {q[0.95]:.1f} ms"
    return fig


def failures_figure(df: pd.DataFrame) -> Any:
    """Unanswered calls by hangup cause."""
    failures = analysis.failures_by_cause(df)
    causes = [str(c) for c in failures.index][::-1]
    fig = figure(title="Failed calls by cause", y_range=causes or ["none"], width=WIDTH,
                 height=HEIGHT, tools=_TOOLS, x_axis_label="calls")
    if failures.empty:
        return _empty_note(fig, "none", 0, "none")
    fig.hbar(y=causes, right=failures.to_numpy()[::-1], height=0.7, color="#d62728")
    fig.x_range.start = 0
    return fig


def mos_figure(df: pd.DataFrame) -> Any:
    """MOS of the legs that received audio."""
    fig = figure(title="MOS (legs with received audio)", width=WIDTH, height=HEIGHT,
                 tools=_TOOLS, x_axis_label="MOS", y_axis_label="legs")
    legs = analysis.media_legs(df)
    if legs.empty:
        return _empty_note(fig, "no audio")
    mos = legs["rtp_audio_in_mos"].astype("float64")
    lo = min(1.0, float(mos.min()))
    counts, edges = np.histogram(mos.to_numpy(), bins=np.linspace(lo, 4.5 + 1e-9, 36))
    fig.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], fill_color="#17becf",
             line_color="white")
    fig.add_layout(Span(location=analysis.MOS_THRESHOLD, dimension="height",
                        line_color="black", line_dash="dashed"))
    return fig


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary_div(df: pd.DataFrame, offered: int | None = None, title: str | None = None
                ) -> Div:
    """The headline numbers (see :func:`~switchio_lab.measure.analysis.summary`)."""
    s = analysis.summary(df, offered)
    labels = {"asr": "ASR", "acd": "ACD (s)", "pdd_p50": "PDD p50 (s)",
              "pdd_p95": "PDD p95 (s)", "mos_mean": "MOS mean", "mos_min": "MOS min",
              "peak_concurrency": "peak concurrency", "seconds": "run (s)",
              "mean_cps": "mean CPS"}
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(labels.get(k, k))}"
        f"</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in s.items())
    head = f"<h2>{html.escape(title)}</h2>" if title else ""
    return Div(text=f"{head}<table>{cells}</table>", width=2 * WIDTH)


def _frames_title(source: Any) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    path = getattr(source, "path", None)
    return Path(path).name if path is not None else None


def plot(source: Any, *, freq: str = "1s", offered: int | None = None,
         title: str | None = None) -> LayoutDOM:
    """A Bokeh layout reporting a run: summary table, CPS, concurrency, PDD, failures by
    cause and MOS.

    ``source``: a run directory, a :class:`~switchio_lab.measure.RunWriter`, the dict
    :func:`~switchio_lab.measure.load` returns, a CDR DataFrame, a CDR app or its rows.
    ``offered``: the number of originate attempts, if known (for the ASR).
    """
    df = cdr_frame(source)
    title = title or _frames_title(source) or "CDR report"
    grid = gridplot([[cps_figure(df, freq), concurrency_figure(df)],
                     [pdd_figure(df), failures_figure(df)],
                     [mos_figure(df), None]], toolbar_location="right")
    return column(summary_div(df, offered, title), grid)


def save_html(report: Any, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Write ``report`` (a Bokeh layout, or anything :func:`plot` takes) to ``path`` as a
    self-contained HTML file (Bokeh's JS/CSS inlined: no network needed). Returns the
    path."""
    layout = report if isinstance(report, LayoutDOM) else plot(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = file_html(layout, INLINE, title or "switchio-lab CDR report")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["concurrency_figure", "cps_figure", "failures_figure", "mos_figure",
           "pdd_figure", "plot", "save_html", "summary_div"]
