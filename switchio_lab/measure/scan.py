"""Out-of-core analysis of saved runs: the call metrics of :mod:`.analysis`, one batch at a time.

:func:`switchio_lab.measure.load` reads a whole run into one DataFrame; a soak test's run
can be larger than memory. :func:`scan_run` reads the run's CDR parts in batches (pyarrow's
``ParquetFile.iter_batches``, or pandas' CSV ``chunksize``), only the columns it needs,
and folds each batch into fixed-size accumulators, so its memory depends on the batch size
and the run's *duration*, not on its number of rows::

    a = scan_run("runs/20261203-120000-before")
    b = scan_run("runs/20261203-130000-after")
    a.summary()                    # offered, answered, ASR, lost, PDD percentiles, peaks
    compare(a, b)["summary"]       # side by side
    a.rate_steps()                 # the offered-rate plateaus of the run

What is kept, and the approximations that keep memory bounded:

- **calls, not legs**: a call is counted by its *first leg*, the row whose ``uuid`` is its
  ``call_uuid`` (or that has no ``call_uuid``). switchio's originate gives the calling leg
  the call's id as its uuid (``origination_uuid=switchio_call``), and an untagged leg is its
  own call, so this needs no memory across batches. It is :func:`.analysis.calls` when the
  calling node is measured; a CDR of only the callee's node has no first legs.
- **rates and concurrency** are counted in bins of ``freq`` (a dict per bin: memory grows
  with the run's duration / ``freq``). Concurrency is the number of calls up at the *end*
  of each bin (the step function of :func:`.analysis.concurrency` sampled there), not the
  peak inside the bin.
- **post-dial delay percentiles** come from a histogram of ``pdd_resolution`` seconds
  (default 1 ms) up to ``pdd_max`` (longer PDDs go in the last bin): exact to within one
  bin.
- **ASR by cause**: every call counted by hangup cause, with how many of them answered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..apps.cdr import CDR_DTYPES, CDR_TABLE
from .analysis import DEFAULT_QUANTILES
from .storage import parts

try:  # pyarrow is a dependency, but storage also works without it (CSV parts)
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover
    pq = None

#: the CDR columns a scan reads
COLUMNS = ("uuid", "call_uuid", "create", "answer", "hangup", "answered", "hangup_cause",
           "pdd", "lost")
#: rows per batch read from a part (a batch of these columns is ~100 bytes a row)
DEFAULT_BATCH = 262_144


def iter_batches(source: Any, columns: Sequence[str] = COLUMNS,
                 batch_size: int = DEFAULT_BATCH) -> Iterator[pd.DataFrame]:
    """The CDR rows of ``source`` as DataFrames of at most ``batch_size`` rows.

    ``source``: a run directory (its ``cdr`` parts, in the order written; Parquet or CSV),
    a directory or file of Parquet/CSV parts, or a DataFrame (yielded in slices). Only the
    ``columns`` present are read.
    """
    for batch, _ in _batches(source, columns, batch_size, first_only=False):
        yield batch


def _part_files(source: Any) -> list[Path]:
    path = Path(source)
    if path.is_file():
        return [path]
    files = parts(path, CDR_TABLE) or parts(path.parent, path.name)
    if not files and not path.is_dir():
        raise FileNotFoundError(f"no run directory {path}")
    return files


def _batches(source: Any, columns: Sequence[str], batch_size: int, first_only: bool
             ) -> Iterator[tuple[pd.DataFrame, int]]:
    """(batch, rows read for it); with ``first_only``, Parquet batches are cut down to
    their first legs in Arrow, before pandas sees them (the uuid columns are the
    costliest to convert), and come without the uuid columns."""
    if isinstance(source, pd.DataFrame):
        present = [c for c in columns if c in source.columns]
        for start in range(0, len(source), batch_size):
            chunk = source.iloc[start:start + batch_size][present]
            yield (first_legs(chunk) if first_only else chunk), len(chunk)
        return
    for file in _part_files(source):
        if file.suffix == ".parquet":
            if pq is None:  # pragma: no cover
                raise ImportError(f"reading {file} needs pyarrow (pip install pyarrow)")
            # no pre-buffering, one thread: what is read is one row group's columns at most
            pf = pq.ParquetFile(file, pre_buffer=False)
            present = [c for c in columns if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=batch_size, columns=present,
                                         use_threads=False):
                n = batch.num_rows
                if first_only and "call_uuid" in present and "uuid" in present:
                    import pyarrow.compute as pc

                    call = batch.column("call_uuid")
                    keep = pc.or_kleene(pc.is_null(call),
                                        pc.fill_null(pc.equal(call, batch.column("uuid")),
                                                     False))
                    batch = batch.filter(keep)
                    batch = batch.select([c for c in present if c not in ("uuid",
                                                                          "call_uuid")])
                yield batch.to_pandas(), n
        else:
            header = pd.read_csv(file, nrows=0).columns
            present = [c for c in columns if c in header]
            text = {c: "string" for c in present if CDR_DTYPES.get(c) == "string"}
            for chunk in pd.read_csv(file, usecols=present, dtype=text, chunksize=batch_size):
                yield (first_legs(chunk) if first_only else chunk), len(chunk)

def first_legs(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that stand for a call: ``uuid == call_uuid``, or no ``call_uuid``."""
    if "call_uuid" not in df.columns:
        return df
    call = df["call_uuid"]
    own = (call.astype("object") == df["uuid"].astype("object"))
    mask = call.isna().to_numpy(bool) | own.fillna(False).to_numpy(bool)
    return df[mask]


def _flags(df: pd.DataFrame, column: str, fallback: pd.Series | None = None) -> np.ndarray:
    if column in df.columns:
        return df[column].astype("boolean").fillna(False).to_numpy(bool)
    if fallback is not None:
        return fallback.to_numpy(bool)
    return np.zeros(len(df), bool)


def _add_bins(bins: dict[int, int], stamps: np.ndarray, width: float) -> None:
    stamps = stamps[~np.isnan(stamps)]
    if not len(stamps):
        return
    keys, counts = np.unique(np.floor(stamps / width).astype(np.int64), return_counts=True)
    for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
        bins[k] = bins.get(k, 0) + c


@dataclass
class RunScan:
    """The accumulated metrics of one run (see the module doc for what is exact)."""

    name: str
    freq: str = "1s"
    pdd_resolution: float = 0.001
    pdd_max: float = 120.0
    rows: int = 0  #: CDR rows (legs) read
    offered: int = 0  #: calls (first legs)
    answered: int = 0
    lost: int = 0
    batches: int = 0
    seconds: float = 0.0  #: how long the scan took
    pdd_count: int = 0
    pdd_min: float = math.nan
    pdd_max_seen: float = math.nan
    _offered_bins: dict[int, int] = field(default_factory=dict, repr=False)
    _answered_bins: dict[int, int] = field(default_factory=dict, repr=False)
    _end_bins: dict[int, int] = field(default_factory=dict, repr=False)
    _pdd_hist: np.ndarray | None = field(default=None, repr=False)
    _causes: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.width = pd.Timedelta(pd.tseries.frequencies.to_offset(self.freq)).total_seconds()
        if self.width <= 0:
            raise ValueError(f"freq must be positive, not {self.freq!r}")
        nbins = int(math.ceil(self.pdd_max / self.pdd_resolution)) + 1
        self._pdd_hist = np.zeros(nbins, np.int64)

    # -- accumulating ---------------------------------------------------------------------------
    def add(self, batch: pd.DataFrame, rows: int | None = None) -> None:
        """Fold one batch of CDR rows (legs) in. ``rows``: the batch is already cut down
        to its first legs, from that many rows."""
        self.rows += len(batch) if rows is None else rows
        self.batches += 1
        calls = first_legs(batch) if rows is None else batch
        if not len(calls):
            return
        answer = pd.to_numeric(calls["answer"], errors="coerce").to_numpy("float64") \
            if "answer" in calls.columns else np.full(len(calls), np.nan)
        answered = _flags(calls, "answered", pd.Series(~np.isnan(answer)))
        lost = _flags(calls, "lost")
        create = pd.to_numeric(calls["create"], errors="coerce").to_numpy("float64")
        hangup = pd.to_numeric(calls["hangup"], errors="coerce").to_numpy("float64") \
            if "hangup" in calls.columns else np.full(len(calls), np.nan)
        self.offered += len(calls)
        self.answered += int(answered.sum())
        self.lost += int((lost & ~answered).sum())
        _add_bins(self._offered_bins, create, self.width)
        _add_bins(self._answered_bins, np.where(answered, answer, np.nan), self.width)
        # concurrency: a call is up from its creation to its hangup; lost calls whose end
        # was never seen are left out (as analysis.concurrency does)
        counted = ~(lost & np.isnan(hangup)) & ~np.isnan(create)
        _add_bins(self._end_bins, np.where(counted, hangup, np.nan), self.width)
        uncounted = create[~counted]
        if len(uncounted):  # take their start back out
            _add_bins(self._end_bins, uncounted, self.width)
        if "pdd" in calls.columns:
            pdd = pd.to_numeric(calls["pdd"], errors="coerce").to_numpy("float64")
            pdd = pdd[~np.isnan(pdd)]
            if len(pdd):
                assert self._pdd_hist is not None
                idx = np.clip(np.floor(pdd / self.pdd_resolution).astype(np.int64), 0,
                              len(self._pdd_hist) - 1)
                self._pdd_hist += np.bincount(idx, minlength=len(self._pdd_hist))
                self.pdd_count += len(pdd)
                self.pdd_min = float(np.nanmin([self.pdd_min, pdd.min()]))
                self.pdd_max_seen = float(np.nanmax([self.pdd_max_seen, pdd.max()]))
        causes = calls["hangup_cause"].astype("object").fillna("UNKNOWN") \
            if "hangup_cause" in calls.columns else pd.Series("UNKNOWN", index=calls.index)
        grouped = pd.DataFrame({"cause": causes.to_numpy(), "answered": answered}) \
            .groupby("cause")["answered"].agg(["size", "sum"])
        for cause, (n, a) in zip(grouped.index, grouped.to_numpy().tolist(), strict=True):
            entry = self._causes.setdefault(str(cause), [0, 0])
            entry[0] += int(n)
            entry[1] += int(a)

    # -- results --------------------------------------------------------------------------------
    def _series(self, bins: Mapping[int, int], name: str, elapsed: bool,
                lo: int | None = None, hi: int | None = None) -> pd.Series:
        keys = list(self._offered_bins) + list(self._answered_bins) + list(self._end_bins)
        if not keys:
            index: pd.Index = pd.Index([], dtype="float64", name="elapsed") if elapsed \
                else pd.DatetimeIndex([], tz="UTC", name="time")
            return pd.Series([], index=index, dtype="float64", name=name)
        lo = min(keys) if lo is None else lo
        hi = max(keys) if hi is None else hi
        values = np.zeros(hi - lo + 1, np.float64)
        for k, v in bins.items():
            if lo <= k <= hi:
                values[k - lo] += v
        starts = (np.arange(lo, hi + 1) * self.width)
        if elapsed:
            index = pd.Index(starts - lo * self.width, name="elapsed")
        else:
            index = pd.DatetimeIndex(pd.to_datetime(starts, unit="s", utc=True), name="time")
        return pd.Series(values, index=index, name=name)

    @property
    def start(self) -> pd.Timestamp | None:
        """The start of the run's first bin (UTC)."""
        if not self._offered_bins:
            return None
        return pd.Timestamp(min(self._offered_bins) * self.width, unit="s", tz="UTC")

    def offered_cps(self, elapsed: bool = False) -> pd.Series:
        """Offered calls per second in each bin (index: bin start; ``elapsed``: seconds
        since the run's first bin)."""
        return self._series(self._offered_bins, "offered", elapsed) / self.width

    def answered_cps(self, elapsed: bool = False) -> pd.Series:
        return self._series(self._answered_bins, "answered", elapsed) / self.width

    def cps(self, elapsed: bool = False) -> pd.DataFrame:
        return pd.concat([self.offered_cps(elapsed), self.answered_cps(elapsed)], axis=1)

    def concurrency(self, elapsed: bool = False) -> pd.Series:
        """Calls up at the end of each bin."""
        starts = self._series(self._offered_bins, "active", elapsed)
        ends = self._series(self._end_bins, "active", elapsed)
        return (starts - ends).cumsum().round().astype("int64")

    @property
    def asr(self) -> float:
        return self.answered / self.offered if self.offered else math.nan

    def pdd_percentiles(self, q: Sequence[float] = DEFAULT_QUANTILES) -> pd.Series:
        """PDD percentiles (seconds), from the histogram: each order statistic is the
        middle of its bin (clamped to the PDDs seen), interpolated linearly as pandas'
        ``quantile`` does: within ``pdd_resolution`` of the exact value."""
        index = pd.Index(list(q), name="q")
        if not self.pdd_count:
            return pd.Series(math.nan, index=index, name="pdd")
        assert self._pdd_hist is not None
        cum = np.cumsum(self._pdd_hist)

        def order_stat(k: int) -> float:  # the k-th smallest PDD (0-based), to a bin
            i = int(np.searchsorted(cum, k + 1))
            return min(max((i + 0.5) * self.pdd_resolution, self.pdd_min), self.pdd_max_seen)

        out = []
        for quantile in q:  # linear between order statistics, as pandas' quantile
            rank = min(max(quantile * (self.pdd_count - 1), 0.0), self.pdd_count - 1.0)
            lo = math.floor(rank)
            value = order_stat(lo)
            if rank > lo:
                value += (rank - lo) * (order_stat(lo + 1) - value)
            out.append(value)
        return pd.Series(out, index=index, name="pdd")

    def causes(self) -> pd.DataFrame:
        """Calls by hangup cause: ``calls``, ``answered``, ``share`` of all calls, and the
        ASR of the calls ending so (most frequent first)."""
        rows = [(cause, n, a) for cause, (n, a) in self._causes.items()]
        df = pd.DataFrame(rows, columns=["hangup_cause", "calls", "answered"])
        df = df.sort_values(["calls", "hangup_cause"], ascending=[False, True])
        df["share"] = df["calls"] / self.offered if self.offered else math.nan
        df["asr"] = df["answered"] / df["calls"]
        return df.set_index("hangup_cause")

    def rate_steps(self, tolerance: float = 0.2, min_bins: int = 3) -> pd.DataFrame:
        """The plateaus of the offered rate: runs of at least ``min_bins`` bins whose rate
        stays within ``tolerance`` (relative) of the run's median; ramp bins in between
        are left out. Columns: ``start``, ``end`` (elapsed seconds), ``bins``, ``cps``."""
        return rate_steps(self.offered_cps(elapsed=True), tolerance, min_bins)

    def summary(self) -> pd.Series:
        pdd = self.pdd_percentiles()
        conc = self.concurrency()
        offered = self.offered_cps()
        data: dict[str, Any] = {
            "rows": self.rows, "offered": self.offered, "answered": self.answered,
            "failed": self.offered - self.answered - self.lost, "lost": self.lost,
            "asr": self.asr,
            **{f"pdd_p{round(q * 100):d}": v for q, v in pdd.items()},
            "peak_cps": float(offered.max()) if len(offered) else math.nan,
            "peak_concurrency": int(conc.max()) if len(conc) else 0,
            "duration_s": len(offered) * self.width,
        }
        return pd.Series(data, name=self.name, dtype="object")


def rate_steps(rate: pd.Series, tolerance: float = 0.2, min_bins: int = 3) -> pd.DataFrame:
    """The plateaus of a rate series (see :meth:`RunScan.rate_steps`)."""
    columns = ["start", "end", "bins", "cps"]
    values = rate.to_numpy("float64")
    if not len(values):
        return pd.DataFrame(columns=columns)
    width = float(rate.index[1] - rate.index[0]) if len(rate) > 1 else 1.0
    steps = []
    i = 0
    while i < len(values):
        j = i + 1
        while j < len(values):
            mean = values[i:j].mean()
            if abs(values[j] - mean) > tolerance * max(mean, 1e-9):
                break
            j += 1
        if j - i >= min_bins and values[i:j].mean() > 0:
            steps.append((float(rate.index[i]), float(rate.index[j - 1]) + width, j - i,
                          float(values[i:j].mean())))
        i = j if j - i >= min_bins else i + 1
    return pd.DataFrame(steps, columns=columns)


def scan_run(source: Any, name: str | None = None, *, freq: str = "1s",
             batch_size: int = DEFAULT_BATCH, pdd_resolution: float = 0.001,
             pdd_max: float = 120.0) -> RunScan:
    """Scan a run's CDR (a run directory, part files or a DataFrame) batch by batch."""
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "run"
    scan = RunScan(name, freq=freq, pdd_resolution=pdd_resolution, pdd_max=pdd_max)
    t0 = time.perf_counter()
    for batch, rows in _batches(source, COLUMNS, batch_size, first_only=True):
        scan.add(batch, rows)
    scan.seconds = time.perf_counter() - t0
    return scan


def compare(*scans: RunScan, q: Sequence[float] = DEFAULT_QUANTILES, tolerance: float = 0.2,
            min_bins: int = 3) -> dict[str, pd.DataFrame]:
    """Runs side by side: ``summary``, ``pdd`` (percentiles), ``causes`` (calls and share),
    ``cps`` and ``concurrency`` on elapsed seconds (each run from its own start), and
    ``rate_steps`` (one row per plateau, with the run's name; ``tolerance`` and
    ``min_bins`` as in :meth:`RunScan.rate_steps`)."""
    names = [s.name for s in scans]
    if len(set(names)) != len(names):
        names = [f"{n} ({i})" for i, n in enumerate(names, 1)]
    summary = pd.concat([s.summary() for s in scans], axis=1, keys=names)
    pdd = pd.concat([s.pdd_percentiles(q) for s in scans], axis=1, keys=names)
    causes = pd.concat([s.causes()[["calls", "share"]] for s in scans], axis=1, keys=names)
    cps = pd.concat([s.offered_cps(elapsed=True) for s in scans], axis=1, keys=names)
    conc = pd.concat([s.concurrency(elapsed=True) for s in scans], axis=1, keys=names)
    steps = [s.rate_steps(tolerance, min_bins).assign(run=n)
             for s, n in zip(scans, names, strict=True)]
    steps = [s for s in steps if len(s)]
    return {"summary": summary, "pdd": pdd, "causes": causes.fillna(0),
            "cps": cps.fillna(0.0), "concurrency": conc.ffill().fillna(0).astype("int64"),
            "rate_steps": pd.concat(steps, ignore_index=True) if steps else
            pd.DataFrame(columns=["start", "end", "bins", "cps", "run"])}


# -- synthetic runs (benchmarks, tests, the run-analysis notebook) -----------------------------
def synthetic_cdr(calls: int, *, steps: Iterable[tuple[float, float]] = ((10.0, 1.0),),
                  start: float = 1_800_000_000.0, seed: int = 0, legs: int = 2,
                  busy: float = 0.05, lost: float = 0.001, pdd: float = 0.02,
                  duration: float = 2.0, chunk: int = 500_000) -> Iterator[pd.DataFrame]:
    """A made-up CDR (typed like a saved run's), in DataFrames of about ``chunk`` rows.

    ``calls`` calls placed at rate steps ``(cps, share of the calls)``, each with ``legs``
    rows (the caller first, its uuid = the call's id). A share ``busy`` of the calls fails
    with USER_BUSY, ``lost`` is lost; the rest answer and last ``duration`` s. PDD is
    lognormal around ``pdd`` seconds.
    """
    rng = np.random.default_rng(seed)
    plan = list(steps)
    total = sum(share for _, share in plan)
    counts = [int(round(calls * share / total)) for _, share in plan]
    counts[-1] += calls - sum(counts)
    # creation times: each step at its own rate, one after the other
    gaps = np.concatenate([np.full(n, 1.0 / cps) for (cps, _), n in zip(plan, counts,
                                                                        strict=True)])
    per_chunk = max(1, chunk // legs)
    t = start
    for first in range(0, calls, per_chunk):
        n = min(per_chunk, calls - first)
        create = t + np.cumsum(gaps[first:first + n]) - gaps[first]
        t = create[-1] + gaps[min(first + n, calls - 1)]
        ids = np.arange(first, first + n)
        call_uuid = np.char.add(np.char.add("00000000-0000-4000-8000-", seed.__str__().zfill(4)),
                                np.char.zfill(ids.astype(str), 8))
        p = np.round(rng.lognormal(math.log(pdd), 0.4, n), 6)
        u = rng.random(n)
        is_busy = u < busy
        is_lost = (u >= busy) & (u < busy + lost)
        answered = ~is_busy & ~is_lost
        answer = np.where(answered, create + p, np.nan)
        hangup = np.where(answered, answer + duration, np.where(is_busy, create + p, np.nan))
        cause = np.where(answered, "NORMAL_CLEARING", np.where(is_busy, "USER_BUSY", "LOST"))
        frames = []
        for leg in range(legs):
            uuid = call_uuid if leg == 0 else np.char.add(call_uuid, f"-{leg}")
            frames.append(pd.DataFrame({
                "uuid": pd.array(uuid, dtype="string"),
                "call_uuid": pd.array(call_uuid, dtype="string"),
                "direction": pd.array(np.full(n, "outbound" if leg == 0 else "inbound"),
                                      dtype="string"),
                "create": create + 0.001 * leg, "answer": answer, "hangup": hangup,
                "answered": answered, "hangup_cause": pd.array(cause, dtype="string"),
                "lost": is_lost, "pdd": p if leg == 0 else np.nan,
                "billsec": np.where(answered, duration, 0.0),
            }))
        yield pd.concat(frames, ignore_index=True)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """``storage.frame(df, CDR_DTYPES)`` for a synthetic chunk, fast: the missing columns
    are made typed and empty at once (frame() coerces them value by value)."""
    empty = {"string": lambda n: pd.array([None] * n, dtype="string"),
             "float64": lambda n: np.full(n, np.nan),
             "Int64": lambda n: pd.array([None] * n, dtype="Int64"),
             "bool": lambda n: np.zeros(n, bool)}
    made: dict[str, Any] = {}  # one empty array per dtype, shared by the missing columns
    columns = {}
    for col, dtype in CDR_DTYPES.items():
        if col in df.columns:
            columns[col] = df[col].astype(dtype) if str(df[col].dtype) != dtype else df[col]
        else:
            if dtype not in made:
                made[dtype] = empty[dtype](len(df))
            columns[col] = made[dtype]
    return pd.DataFrame(columns, index=df.index).reset_index(drop=True)


def write_synthetic_run(run_dir: str | Path, calls: int, **kwargs: Any) -> Path:
    """Write :func:`synthetic_cdr` as a run directory (``cdr/part-NNNNNN.parquet``, typed
    by the CDR schema) that :func:`~switchio_lab.measure.load` and :func:`scan_run` read."""
    import pyarrow as pa

    run = Path(run_dir)
    table_dir = run / CDR_TABLE
    table_dir.mkdir(parents=True, exist_ok=True)
    for i, df in enumerate(synthetic_cdr(calls, **kwargs), 1):
        typed = _typed(df)
        pq.write_table(pa.Table.from_pandas(typed, preserve_index=False),
                       table_dir / f"part-{i:06d}.parquet", row_group_size=100_000)
    return run


__all__ = ["COLUMNS", "DEFAULT_BATCH", "RunScan", "compare", "first_legs", "iter_batches",
           "rate_steps", "scan_run", "synthetic_cdr", "write_synthetic_run"]
