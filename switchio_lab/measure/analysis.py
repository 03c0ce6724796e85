"""Call metrics from a CDR DataFrame (one row per leg; see :data:`CDR_SCHEMA`).

Call metrics count *calls*, not legs: :func:`calls` keeps one row per call (the leg
created first of each ``call_uuid``, i.e. the calling A-leg when the originating node is
measured), so a CDR holding both legs of each call, from one node or several, counts each
call once. Voice quality (:func:`mos_summary`) is per leg: each leg's MOS rates the audio
it received.

Definitions:

- **offered**: calls attempted; by default the calls in the CDR. Pass ``offered=N`` (e.g.
  the Originator's count of originate attempts) to count attempts that never created a
  channel too.
- **lost**: calls whose first leg's row is marked ``lost`` (its end was never seen: a
  switch crash, a connection down) and that were not answered; with the Originator's
  counts, ``offered == answered + failed + lost`` (:func:`summary`).
- **ASR** (answer seizure ratio): answered calls / offered calls.
- **ACD** (average call duration): mean ``billsec`` (answer to hangup) of answered calls.
- **PDD** (post-dial delay): per call, its A-leg's ``pdd``: creation to the first of
  ringing, early media or answer (see the CDR column).
- **CPS**: calls per second, offered (by creation) and answered (by answer time), in bins
  of ``freq``.
- **concurrency**: calls up (created, not yet hung up) over time.

Times in results are pandas datetimes (UTC); inputs are the CDR's epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_QUANTILES = (0.5, 0.9, 0.95, 0.99)
#: MOS below this is "poor" in :func:`mos_summary`
MOS_THRESHOLD = 3.5


def _datetimes(seconds: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(seconds.astype("float64"), unit="s", utc=True),
                            name="time")


def _bin_seconds(freq: str | pd.Timedelta) -> float:
    return pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()


def _answered(df: pd.DataFrame) -> pd.Series:
    if "answered" in df.columns:
        return df["answered"].fillna(False).astype(bool)
    return df["answer"].notna()


def _lost(df: pd.DataFrame) -> pd.Series:
    if "lost" in df.columns:
        return df["lost"].fillna(False).astype(bool)
    return pd.Series(False, index=df.index)


def calls(df: pd.DataFrame) -> pd.DataFrame:
    """One row per call: the leg of each ``call_uuid`` created first (outbound first on a
    tie), in creation order."""
    if df.empty:
        return df.copy()
    key = df["call_uuid"].fillna(df["uuid"]) if "call_uuid" in df.columns else df["uuid"]
    outbound_first = (df["direction"] != "outbound").astype(int) \
        if "direction" in df.columns else 0
    ordered = df.assign(_key=key, _dir=outbound_first).sort_values(
        ["create", "_dir"], kind="stable", na_position="last")
    first = ordered.drop_duplicates("_key", keep="first")
    return first.drop(columns=["_key", "_dir"]).reset_index(drop=True)


def _rate(stamps: pd.Series, freq: str) -> pd.Series:
    stamps = stamps.dropna()
    if stamps.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")
    counts = pd.Series(1.0, index=_datetimes(stamps)).sort_index().resample(freq).sum()
    return counts / _bin_seconds(freq)


def offered_cps(df: pd.DataFrame, freq: str = "1s") -> pd.Series:
    """Offered calls per second, in bins of ``freq`` (by each call's creation)."""
    return _rate(calls(df)["create"] if len(df) else pd.Series(dtype="float64"),
                 freq).rename("offered")


def answered_cps(df: pd.DataFrame, freq: str = "1s") -> pd.Series:
    """Answered calls per second, in bins of ``freq`` (by answer time)."""
    if df.empty:
        return _rate(pd.Series(dtype="float64"), freq).rename("answered")
    c = calls(df)
    return _rate(c.loc[_answered(c), "answer"], freq).rename("answered")


def cps(df: pd.DataFrame, freq: str = "1s") -> pd.DataFrame:
    """Offered and answered calls per second on one time axis (empty bins are 0)."""
    both = pd.concat([offered_cps(df, freq), answered_cps(df, freq)], axis=1)
    if both.empty:
        return pd.DataFrame({"offered": [], "answered": []},
                            index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")
    full = pd.date_range(both.index.min(), both.index.max(), freq=freq, name="time")
    return both.reindex(full).fillna(0.0)[["offered", "answered"]]


def concurrency(df: pd.DataFrame, freq: str | None = None, legs: bool = False) -> pd.Series:
    """Calls up over time (legs up with ``legs=True``).

    Without ``freq``: a step function, the count after each creation or hangup (ends
    before starts at the same instant). With ``freq``: the peak in each bin. Lost legs
    whose hangup was never seen are left out: when they ended is not known.
    """
    d = df if legs else calls(df)
    if len(d):
        d = d[~(_lost(d) & d["hangup"].isna())]
    if d.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="int64",
                         name="active")
    starts = d["create"].dropna()
    ends = d["hangup"].dropna()
    changes = pd.DataFrame({
        "t": np.concatenate([starts.to_numpy(float), ends.to_numpy(float)]),
        "delta": np.concatenate([np.ones(len(starts), int), -np.ones(len(ends), int)]),
    }).sort_values(["t", "delta"], kind="stable")
    steps = pd.Series(changes["delta"].cumsum().to_numpy(), index=_datetimes(changes["t"]),
                      name="active")
    if freq is None:
        return steps
    peak = steps.resample(freq).max()
    carried = steps.resample(freq).last().ffill().shift(1)  # the level entering each bin
    out = pd.concat([peak, carried], axis=1).max(axis=1).fillna(0)
    return out.astype("int64").rename("active")


def asr(df: pd.DataFrame, offered: int | None = None) -> float:
    """Answer seizure ratio: answered calls / offered calls (NaN if none offered)."""
    c = calls(df)
    n = len(c) if offered is None else int(offered)
    return float(_answered(c).sum()) / n if n else math.nan


def acd(df: pd.DataFrame) -> float:
    """Average call duration: mean ``billsec`` of the answered calls (NaN if none)."""
    c = calls(df)
    answered = c.loc[_answered(c), "billsec"] if len(c) else pd.Series(dtype="float64")
    return float(answered.mean()) if len(answered) else math.nan


def pdd_percentiles(df: pd.DataFrame, q: Sequence[float] = DEFAULT_QUANTILES) -> pd.Series:
    """Post-dial delay percentiles (seconds) over the calls that got a response; indexed
    by quantile (``0.5`` is the median). NaN where no call had one."""
    values = calls(df)["pdd"].dropna().astype("float64") if len(df) else pd.Series(
        dtype="float64")
    if values.empty:
        return pd.Series(math.nan, index=pd.Index(list(q), name="q"), name="pdd")
    out = values.quantile(list(q))
    out.index.name = "q"
    return out.rename("pdd")


def lost_calls(df: pd.DataFrame) -> pd.DataFrame:
    """The calls (first legs) whose row is marked lost, answered or not."""
    c = calls(df)
    return c.loc[_lost(c)].reset_index(drop=True) if len(c) else c


#: the hangup cause of a call its dialer hung up before it was answered: not a failure
CANCEL_CAUSE = "ORIGINATOR_CANCEL"


def _cancelled(c: pd.DataFrame) -> pd.Series:
    return ~_answered(c) & (c["hangup_cause"].astype("object") == CANCEL_CAUSE)


def failures_by_cause(df: pd.DataFrame) -> pd.Series:
    """Unanswered calls counted by hangup cause (``LOST`` for lost ones whose cause was
    never seen), most frequent first; calls the dialer cancelled (``ORIGINATOR_CANCEL``)
    are not failures."""
    if df.empty:
        return pd.Series([], dtype="int64", name="failures")
    c = calls(df)
    failed = c.loc[~_answered(c) & ~_cancelled(c), "hangup_cause"]
    failed = failed.astype("object").fillna("UNKNOWN")
    out = failed.value_counts()
    out.index.name = "hangup_cause"
    return out.rename("failures")


def causes(df: pd.DataFrame) -> pd.Series:
    """All calls counted by hangup cause, most frequent first."""
    if df.empty:
        return pd.Series([], dtype="int64", name="calls")
    out = calls(df)["hangup_cause"].astype("object").fillna("UNKNOWN").value_counts()
    out.index.name = "hangup_cause"
    return out.rename("calls")


def media_legs(df: pd.DataFrame) -> pd.DataFrame:
    """The legs that received audio (``rtp_audio_in_media_packet_count > 0``) and have a
    MOS: FreeSWITCH reports 4.5 for a leg that heard nothing, which rates no audio."""
    if df.empty:
        return df
    packets = pd.to_numeric(df["rtp_audio_in_media_packet_count"], errors="coerce")
    return df[(packets.fillna(0) > 0) & df["rtp_audio_in_mos"].notna()]


def _mos_stats(mos: pd.Series, threshold: float) -> pd.Series:
    mos = mos.astype("float64")
    if mos.empty:
        values = [0, *[math.nan] * 6]
    else:
        values = [len(mos), mos.mean(), mos.min(), mos.quantile(0.05), mos.median(),
                  mos.max(), float((mos < threshold).mean())]
    return pd.Series(values, index=["legs", "mean", "min", "p05", "p50", "max", "poor"],
                     dtype="float64", name="mos")


def mos_summary(df: pd.DataFrame, threshold: float = MOS_THRESHOLD, by: str | None = None
                ) -> pd.Series | pd.DataFrame:
    """MOS of the legs that received audio (see :func:`media_legs`): ``legs``, ``mean``,
    ``min``, ``p05``, ``p50``, ``max`` and ``poor`` (the fraction below ``threshold``).
    With ``by`` (a column, e.g. ``"direction"`` or ``"node"``): one row per group."""
    legs = media_legs(df)
    if by is None:
        return _mos_stats(legs["rtp_audio_in_mos"] if len(legs) else pd.Series(
            dtype="float64"), threshold)
    groups = {key: _mos_stats(g["rtp_audio_in_mos"], threshold)
              for key, g in legs.groupby(by, sort=True)}
    return pd.DataFrame(groups).T.rename_axis(by) if groups else pd.DataFrame(
        columns=["legs", "mean", "min", "p05", "p50", "max", "poor"])


def summary(df: pd.DataFrame, offered: int | None = None, freq: str = "1s") -> pd.Series:
    """The headline numbers of a run: calls, answered, failed, lost (unanswered calls
    whose end was never seen), cancelled (hung up by the dialer before an answer:
    ``ORIGINATOR_CANCEL``; ``offered == answered + failed + lost + cancelled``),
    ``lost_after_answer`` (answered calls lost so), ``asr``, ``acd``,
    ``pdd_p50``/``pdd_p95``, ``mos_mean``/``mos_min``, ``peak_concurrency``, ``start``/
    ``end`` (datetimes), ``seconds`` (first creation to last hangup) and ``mean_cps``
    (the mean offered rate while calls were created: ``(calls - 1)`` over first to last
    creation)."""
    c = calls(df)
    n_calls = len(c)
    answered = int(_answered(c).sum()) if n_calls else 0
    lost = int((_lost(c) & ~_answered(c)).sum()) if n_calls else 0
    lost_after_answer = int((_lost(c) & _answered(c)).sum()) if n_calls else 0
    cancelled = int((_cancelled(c) & ~_lost(c)).sum()) if n_calls else 0
    pdd = pdd_percentiles(df, (0.5, 0.95))
    mos = mos_summary(df)
    active = concurrency(df, freq=None)
    if n_calls:
        first = float(c["create"].min())
        last = float(np.nanmax([c["create"].max(), c["hangup"].max()]))
        start, end = (pd.Timestamp(first, unit="s", tz="UTC"),
                      pd.Timestamp(last, unit="s", tz="UTC"))
        seconds = last - first
        offering = float(c["create"].max()) - first
    else:
        start = end = pd.NaT
        seconds = math.nan
        offering = 0.0
    n_offered = n_calls if offered is None else int(offered)
    return pd.Series({
        "offered": n_offered,
        "calls": n_calls,
        "answered": answered,
        "failed": n_offered - answered - lost - cancelled,
        "lost": lost,
        "cancelled": cancelled,
        "lost_after_answer": lost_after_answer,
        "asr": asr(df, offered),
        "acd": acd(df),
        "pdd_p50": pdd.iloc[0],
        "pdd_p95": pdd.iloc[1],
        "mos_mean": mos["mean"],
        "mos_min": mos["min"],
        "peak_concurrency": int(active.max()) if len(active) else 0,
        "start": start,
        "end": end,
        "seconds": seconds,
        "mean_cps": (n_calls - 1) / offering if offering > 0 else math.nan,
    }, dtype="object", name="summary")


__all__ = [
    "DEFAULT_QUANTILES", "MOS_THRESHOLD", "acd", "answered_cps", "asr", "calls", "causes",
    "concurrency", "cps", "failures_by_cause", "lost_calls", "media_legs", "mos_summary",
    "offered_cps", "pdd_percentiles", "summary",
]
