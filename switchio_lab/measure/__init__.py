"""Measurement: CDR tables as pandas DataFrames, stored append-only per run::

    writer = RunWriter(name="loadtest")              # runs/<timestamp>-loadtest/
    await manager.load_app(CDR, "cdr", sink=writer.table("cdr"))
    ...                                              # place calls
    await writer.aclose()
    frames = load(writer.path)                       # {"cdr": DataFrame, ...}
    analysis.summary(frames["cdr"])

Times are float seconds since the Unix epoch (UTC) in every table, so differences are
plain subtraction; :func:`as_datetimes` turns them into pandas datetimes for display.

Submodules: :mod:`~switchio_lab.measure.storage` (the run directory, :class:`RunWriter`,
:func:`load`), :mod:`~switchio_lab.measure.analysis` (ASR, ACD, PDD, CPS, concurrency,
MOS), :mod:`~switchio_lab.measure.scan` (the same, out of core, for runs larger than
memory) and :mod:`~switchio_lab.measure.plot` (a static Bokeh report; imports Bokeh).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..apps.cdr import CDR, CDR_DTYPES, CDR_SCHEMA, CDR_TABLE, TIME_COLUMNS
from . import analysis, scan
from .storage import (
    CorruptPartWarning,
    RunWriter,
    TableSink,
    frame,
    have_pyarrow,
    latest_run,
    list_runs,
    load,
    new_run_dir,
)


def cdr_frame(source: Any) -> pd.DataFrame:
    """The CDR DataFrame (typed by :data:`CDR_SCHEMA`) of ``source``.

    ``source``: a run directory (path), a :class:`RunWriter` (flushed first), the dict
    :func:`load` returns, a :class:`~switchio_lab.apps.cdr.CDR` app (its ``rows``), a
    list of row dicts, or a DataFrame (typed again).
    """
    if isinstance(source, pd.DataFrame):
        return frame(source, CDR_DTYPES)
    if isinstance(source, RunWriter):
        return source.load().get(CDR_TABLE, frame([], CDR_DTYPES))
    if isinstance(source, (str, os.PathLike)):
        return load(source, tables=[CDR_TABLE])[CDR_TABLE]
    if isinstance(source, Mapping):
        if CDR_TABLE not in source:
            raise KeyError(f"no {CDR_TABLE!r} table in {sorted(source)}")
        return frame(source[CDR_TABLE], CDR_DTYPES)
    rows = getattr(source, "rows", source)
    if isinstance(rows, Iterable):
        return frame(rows, CDR_DTYPES)
    raise TypeError(f"cannot make a CDR DataFrame from {type(source).__name__}")


def as_datetimes(df: pd.DataFrame, columns: Iterable[str] = TIME_COLUMNS,
                 tz: str | None = "UTC") -> pd.DataFrame:
    """A copy of ``df`` with its epoch-seconds ``columns`` as datetimes (``tz``-aware,
    or naive UTC with ``tz=None``)."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            stamps = pd.to_datetime(out[col].astype("float64"), unit="s", utc=True)
            out[col] = stamps.dt.tz_convert(tz) if tz else stamps.dt.tz_localize(None)
    return out


__all__ = [
    "CDR", "CDR_DTYPES", "CDR_SCHEMA", "CDR_TABLE", "CorruptPartWarning", "RunWriter",
    "TIME_COLUMNS", "TableSink",
    "analysis", "as_datetimes", "scan", "cdr_frame", "frame", "have_pyarrow", "latest_run",
    "list_runs", "load", "new_run_dir",
]
