"""A static Bokeh report section for voice quality (imports Bokeh).

>>> section = quality_section(quality_columns(cdr), by="impairment")   # doctest: +SKIP

Two figures: the scores of each impairment class side by side (median, with the 5th-95th
percentile as a whisker), and MOS against loss (the E-model's curves with and without PLC,
and each leg's FreeSWITCH MOS at its measured loss). Only legs that received audio count.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div, FactorRange, Whisker
from bokeh.plotting import figure

from .quality import mos_vs_loss, percentiles

WIDTH, HEIGHT = 520, 300
SCORES = {"fs_mos": ("FreeSWITCH MOS", "#1e8449"), "emodel_mos": ("E-model MOS-CQE", "#2471a3"),
          "pesq": ("PESQ-NB", "#ca6f1e")}


def scores_figure(df: pd.DataFrame, by: str = "impairment") -> Any:
    """Median score per class and score (5th-95th percentile whiskers)."""
    cols = tuple(c for c in SCORES if c in df.columns and df[c].notna().any())
    pct = percentiles(df, by, cols) if by in df.columns and len(df) else pd.DataFrame()
    classes = [str(c) for c in pct.index]
    factors = [(c, SCORES[s][0]) for c in classes for s in cols]
    fig = figure(title="Scores by impairment class (legs with audio)", width=WIDTH * 2,
                 height=HEIGHT, x_range=FactorRange(*factors) if factors else FactorRange(
                     "no audio"), y_range=(1.0, 4.75), tools="save,hover")
    if not factors:
        fig.title.text += " — no audio yet"
        fig.text(x=["no audio"], y=[2.8], text=["no audio yet"], text_align="center")
        return fig
    data: dict[str, list[Any]] = {"x": [], "p50": [], "p05": [], "p95": [], "color": []}
    for c, key in zip(classes, pct.index, strict=True):
        for s in cols:
            data["x"].append((c, SCORES[s][0]))
            data["p50"].append(pct.loc[key, f"{s}_p50"])
            data["p05"].append(pct.loc[key, f"{s}_p05"])
            data["p95"].append(pct.loc[key, f"{s}_p95"])
            data["color"].append(SCORES[s][1])
    src = ColumnDataSource(data)
    fig.vbar(x="x", top="p50", bottom=1.0, width=0.8, color="color", source=src)
    fig.add_layout(Whisker(source=src, base="x", upper="p95", lower="p05"))
    fig.xaxis.major_label_orientation = 0.9
    fig.yaxis.axis_label = "MOS"
    return fig


def loss_figure(df: pd.DataFrame) -> Any:
    """MOS vs loss: E-model curves (G.711, PLC and no PLC) and each leg's FreeSWITCH MOS."""
    curve = mos_vs_loss()
    fig = figure(title="MOS vs packet loss", width=WIDTH, height=HEIGHT,
                 x_axis_label="loss (%)", y_axis_label="MOS", y_range=(1.0, 4.75),
                 tools="pan,box_zoom,reset,save,hover")
    fig.line(curve["loss"] * 100, curve["mos_plc"], color="#2471a3",
             legend_label="E-model, PLC")
    fig.line(curve["loss"] * 100, curve["mos_no_plc"], color="#2471a3", line_dash="dashed",
             legend_label="E-model, no PLC")
    legs = df[df["has_audio"]] if "has_audio" in df.columns else df.iloc[:0]
    if len(legs) and "loss_rate" in legs.columns:
        fig.scatter(legs["loss_rate"] * 100, legs["fs_mos"], color="#1e8449", alpha=0.5,
                    legend_label="FreeSWITCH MOS (legs)")
    fig.legend.location = "bottom_left"
    return fig


def quality_section(df: pd.DataFrame, by: str = "impairment", title: str = "Voice quality"
                    ) -> Any:
    """The report section: a heading, :func:`scores_figure` and :func:`loss_figure`."""
    legs = int(df["has_audio"].sum()) if "has_audio" in df.columns else 0
    head = Div(text=f"<h3>{title}</h3><p>{legs} of {len(df)} legs received audio; the "
                    f"others have no score.</p>")
    return column(head, scores_figure(df, by), row(loss_figure(df)))
