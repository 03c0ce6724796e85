"""Append-only storage of measurement tables, one directory per run.

Layout of a run directory (``runs/<YYYYmmdd-HHMMSS>-<name>/`` by default)::

    runs/20260101-120000-loadtest/
        run.json                  # name, format, times, and each table's column dtypes
        cdr/
            part-000001.parquet   # rows flushed together, in order; never rewritten
            part-000002.parquet
        originator/               # any other table a measurer appends to
            part-000001.parquet

A :class:`RunWriter` buffers rows per table and writes the pending rows of each table as a
new part file at least once a second (an asyncio task on the running loop; no threads)
and on :meth:`~RunWriter.close`. A process killed at any moment loses at most the rows of
the last second. Each part is written under a temporary name (``.part-000003.parquet.tmp``)
then renamed, so a reader (:func:`load`) never sees a half-written file and can read a
run while it is being written.

Parts are Parquet (pyarrow) or, when pyarrow is not installed (or ``format="csv"``),
CSV with a header line. :func:`load` reads either, and types the columns from the dtypes
recorded in ``run.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

try:  # optional: CSV parts without it
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - exercised by forcing ``pq = None``
    pa = pq = None

from ..apps.cdr import CDR_DTYPES, CDR_TABLE

log = logging.getLogger("switchio_lab.measure")

#: environment variable naming the default root of run directories
RUNS_ENV = "SWITCHIO_LAB_RUNS"
DEFAULT_ROOT = "runs"
#: seconds between flushes
FLUSH_INTERVAL = 1.0
META_FILE = "run.json"
FORMATS = ("parquet", "csv")

_PART = re.compile(r"^part-(\d+)\.(parquet|csv)$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: tables whose dtypes are known without a ``run.json``
KNOWN_TABLES: dict[str, dict[str, str]] = {CDR_TABLE: CDR_DTYPES}


def have_pyarrow() -> bool:
    """Whether Parquet parts can be written and read (pyarrow is importable)."""
    return pq is not None


def runs_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The root of run directories: ``root``, else ``$SWITCHIO_LAB_RUNS``, else ``runs``."""
    return Path(root if root is not None else os.environ.get(RUNS_ENV) or DEFAULT_ROOT)


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug or "run"


def new_run_dir(name: str = "run", root: str | os.PathLike[str] | None = None,
                when: float | None = None) -> Path:
    """Create and return a fresh ``<root>/<YYYYmmdd-HHMMSS>-<name>/`` (local time; a
    ``-2``, ``-3`` ... suffix if that directory exists)."""
    base = runs_root(root)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    stem = f"{stamp}-{_slug(name)}"
    for n in range(1, 10_000):
        path = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free run directory name for {stem!r} in {base}")


def list_runs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The run directories under ``root`` (those with a ``run.json``), oldest first."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if (p / META_FILE).is_file()]
    return sorted(found, key=lambda p: (_read_meta(p).get("created", 0.0), p.name))


def latest_run(root: str | os.PathLike[str] | None = None) -> Path:
    """The most recent run directory under ``root``."""
    runs = list_runs(root)
    if not runs:
        raise FileNotFoundError(f"no run directories (with {META_FILE}) under "
                                f"{runs_root(root)}")
    return runs[-1]


# -- typed frames -----------------------------------------------------------------------------
def _coerce(series: pd.Series, dtype: str) -> pd.Series:
    if dtype == "string":
        return series.astype("string")
    if dtype == "bool":
        if series.dtype == bool:
            return series
        mapped = series.map(lambda v: v if isinstance(v, bool) else
                            (str(v).strip().lower() in ("true", "1", "yes")
                             if v is not None and not pd.isna(v) else False))
        return mapped.astype(bool)
    if dtype in ("float64", "Int64", "int64"):
        numbers = pd.to_numeric(series, errors="coerce")
        if dtype == "float64":
            return numbers.astype("float64")
        try:
            return numbers.astype("Int64")
        except (TypeError, ValueError):  # non-integral floats
            return numbers.round().astype("Int64")
    return series.astype(dtype)


def frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
          dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A DataFrame of ``rows`` (dicts) with the columns of ``dtypes`` first, typed.

    Columns missing from the rows are added (all missing); columns not in ``dtypes`` are
    kept after them, with the types pandas infers.
    """
    dtypes = dict(dtypes or {})
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        records = [dict(r) for r in rows]
        extra: dict[str, None] = {}
        for r in records:
            for key in r:
                if key not in dtypes:
                    extra.setdefault(key, None)
        df = pd.DataFrame.from_records(records, columns=[*dtypes, *extra])
    for col, dtype in dtypes.items():
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), index=df.index, dtype="object")
        df[col] = _coerce(df[col], dtype)
    ordered = [*dtypes, *(c for c in df.columns if c not in dtypes)]
    return df[ordered].reset_index(drop=True)


# -- the writer -------------------------------------------------------------------------------
class TableSink:
    """A callable appending rows to one table of a :class:`RunWriter` (a CDR sink)."""

    def __init__(self, writer: RunWriter, name: str) -> None:
        self.writer = writer
        self.name = name

    def __call__(self, row: Mapping[str, Any]) -> None:
        self.writer.append(self.name, row)

    def __repr__(self) -> str:
        return f"<TableSink {self.name!r} of {self.writer.path}>"


class RunWriter:
    """Accumulate rows of named tables and write them append-only into a run directory.

    ``RunWriter(run_dir)`` writes into ``run_dir`` (created if needed; parts already there
    are kept and numbering continues after them). With no ``run_dir``, a new
    ``<root>/<timestamp>-<name>/`` is made (see :func:`new_run_dir`).

    ``format``: ``"auto"`` (Parquet if pyarrow is importable, else CSV), ``"parquet"`` or
    ``"csv"``. ``schemas`` maps table names to ``{column: dtype}`` (pandas dtype names);
    the ``cdr`` table's is built in. Rows of a table with a schema are typed by it before
    they are written; other tables' columns are inferred by pandas.

    Flushing: an asyncio task on the running loop, started by the first :meth:`append`
    made while a loop runs (or by :meth:`start`), writes the pending rows every
    ``flush_interval`` seconds. :meth:`close` (or ``async with`` / ``with``) writes the
    rest and marks the run closed in ``run.json``. Without a running loop rows wait for
    :meth:`flush` or :meth:`close`. Writes happen on the loop's thread (small files: a
    few milliseconds per part).
    """

    def __init__(self, run_dir: str | os.PathLike[str] | None = None, *, name: str = "run",
                 root: str | os.PathLike[str] | None = None, format: str = "auto",
                 flush_interval: float = FLUSH_INTERVAL,
                 schemas: Mapping[str, Mapping[str, str] | Iterable[Any]] | None = None
                 ) -> None:
        if format == "auto":
            format = "parquet" if have_pyarrow() else "csv"
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected 'auto' or one of {FORMATS}")
        if format == "parquet" and not have_pyarrow():
            raise ImportError("format='parquet' needs pyarrow (pip install pyarrow), or use "
                              "format='csv'")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.format = format
        self.flush_interval = float(flush_interval)
        if run_dir is None:
            self.path = new_run_dir(name, root)
        else:
            self.path = Path(run_dir)
            self.path.mkdir(parents=True, exist_ok=True)
        meta = _read_meta(self.path)
        self.name = meta.get("name") or (name if run_dir is None else self.path.name)
        self.created = meta.get("created") or time.time()
        self.schemas: dict[str, dict[str, str]] = {
            t: dict(c) for t, c in (meta.get("tables") or {}).items() if c}
        for table, dtypes in (schemas or {}).items():
            self.schemas[table] = _as_dtypes(dtypes)
        self.schemas.setdefault(CDR_TABLE, dict(CDR_DTYPES))
        self.tables: set[str] = set(meta.get("tables") or ()) | {CDR_TABLE}
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._next_part: dict[str, int] = {}
        self.rows_written: dict[str, int] = {}
        self.parts_written = 0
        self.flushes = 0
        self.write_errors = 0
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._write_meta()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.pending} pending"
        return f"<RunWriter {self.path} {self.format} {state}>"

    # -- rows ---------------------------------------------------------------------------------
    def table(self, name: str, schema: Mapping[str, str] | Iterable[Any] | None = None
              ) -> TableSink:
        """A callable that appends a row to table ``name`` (declaring it, with its
        ``schema`` if given): e.g. ``load_app(CDR, sink=writer.table("cdr"))``."""
        self._declare(name, schema)
        return TableSink(self, name)

    def append(self, table: str, row: Mapping[str, Any]) -> None:
        """Queue one row (a mapping) of ``table``; written at the next flush."""
        if self.closed:
            raise RuntimeError(f"{self!r} is closed")
        if table not in self.tables:
            self._declare(table)
        self._pending.setdefault(table, []).append(dict(row))
        self._ensure_task()

    def extend(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.append(table, row)

    @property
    def pending(self) -> int:
        """Rows not written yet."""
        return sum(len(rows) for rows in self._pending.values())

    def _declare(self, name: str, schema: Mapping[str, str] | Iterable[Any] | None = None
                 ) -> None:
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            raise ValueError(f"bad table name {name!r}: use letters, digits, '_', '-', '.'")
        changed = name not in self.tables
        self.tables.add(name)
        if schema is not None:
            dtypes = _as_dtypes(schema)
            changed = changed or self.schemas.get(name) != dtypes
            self.schemas[name] = dtypes
        if changed:
            self._write_meta()

    # -- flushing -----------------------------------------------------------------------------
    def start(self) -> RunWriter:
        """Start the periodic flush task on the running loop (needs one)."""
        asyncio.get_running_loop()
        self._ensure_task()
        return self

    def _ensure_task(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._flusher(), name=f"RunWriter {self.path.name}")

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()
        try:
            while not self.closed:
                tick += self.flush_interval
                await asyncio.sleep(max(0.0, tick - loop.time()))
                self._flush_logged()
                if tick < loop.time() - self.flush_interval:  # fell behind: don't burst
                    tick = loop.time()
        except asyncio.CancelledError:
            # cancelled by close(), or by the loop shutting down (asyncio.run's end)
            # with the writer left open: keep what is pending either way
            if not self.closed:
                self._flush_logged()
            raise

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("RunWriter %s: flush failed (rows kept for the next one)",
                          self.path)

    def flush(self) -> int:
        """Write every table's pending rows as a new part file now; returns rows written.

        If writing a table fails its rows stay pending (and the error is raised after the
        other tables were written).
        """
        written = 0
        error: BaseException | None = None
        for table in list(self._pending):
            rows = self._pending.pop(table)
            if not rows:
                continue
            try:
                self._write_part(table, rows)
            except Exception as exc:
                self.write_errors += 1
                self._pending[table] = rows + self._pending.get(table, [])
                error = error or exc
                continue
            written += len(rows)
            self.rows_written[table] = self.rows_written.get(table, 0) + len(rows)
        self.flushes += 1
        if error is not None:
            raise error
        return written

    def _part_number(self, table: str, directory: Path) -> int:
        n = self._next_part.get(table)
        if n is None:
            existing = [int(m.group(1)) for p in directory.iterdir()
                        if (m := _PART.match(p.name))]
            n = max(existing, default=0) + 1
        self._next_part[table] = n + 1
        return n

    def _write_part(self, table: str, rows: list[dict[str, Any]]) -> Path:
        directory = self.path / table
        directory.mkdir(parents=True, exist_ok=True)
        df = frame(rows, self.schemas.get(table))
        ext = "parquet" if self.format == "parquet" else "csv"
        number = self._part_number(table, directory)
        final = directory / f"part-{number:06d}.{ext}"
        tmp = directory / f".{final.name}.tmp"
        try:
            if ext == "parquet":
                if pq is None:
                    raise ImportError("pyarrow went missing: cannot write Parquet parts")
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
            else:
                df.to_csv(tmp, index=False)
            os.replace(tmp, final)  # atomic: readers see all of the part or none of it
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self._next_part[table] = number  # reuse the number next time
            raise
        self.parts_written += 1
        return final

    # -- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Write what is pending, stop the flush task and mark the run closed."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = None
            self._write_meta(closed=time.time())

    async def aclose(self) -> None:
        task = self._task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RunWriter:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def load(self) -> dict[str, pd.DataFrame]:
        """Flush, then :func:`load` this run."""
        if not self.closed:
            self.flush()
        return load(self.path)

    # -- run.json -----------------------------------------------------------------------------
    def _write_meta(self, closed: float | None = None) -> None:
        meta = {
            "name": self.name,
            "created": self.created,
            "format": self.format,
            "flush_interval": self.flush_interval,
            "closed": closed,
            "tables": {t: [[c, d] for c, d in self.schemas[t].items()]
                       if t in self.schemas else None for t in sorted(self.tables)},
        }
        final = self.path / META_FILE
        tmp = self.path / f".{META_FILE}.tmp"
        tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, final)


def _as_dtypes(schema: Mapping[str, str] | Iterable[Any]) -> dict[str, str]:
    """``{col: dtype}`` from a mapping or from ``(col, dtype[, description])`` items."""
    if isinstance(schema, Mapping):
        return {str(k): str(v) for k, v in schema.items()}
    return {str(item[0]): str(item[1]) for item in schema}


# -- reading ----------------------------------------------------------------------------------
def _read_meta(run: Path) -> dict[str, Any]:
    path = run / META_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def parts(run_dir: str | os.PathLike[str], table: str) -> list[Path]:
    """The complete part files of ``table`` in ``run_dir``, in the order written."""
    directory = Path(run_dir) / table
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _PART.match(p.name))]
    return [p for _, p in sorted(found)]


def _read_part(path: Path, dtypes: Mapping[str, str]) -> pd.DataFrame:
    if path.suffix == ".parquet":
        if pq is None:
            raise ImportError(f"reading {path} needs pyarrow (pip install pyarrow)")
        return pq.read_table(path).to_pandas()
    text_cols = {c: "string" for c, d in dtypes.items() if d == "string"}
    return pd.read_csv(path, dtype=text_cols)


class CorruptPartWarning(UserWarning):
    """A part file of a run could not be read; :func:`load` skipped it."""


def _read_parts(paths: list[Path], dtypes: Mapping[str, str], strict: bool
                ) -> tuple[list[pd.DataFrame], list[tuple[str, str]]]:
    frames, skipped = [], []
    for path in paths:
        try:
            frames.append(_read_part(path, dtypes))
        except ImportError:
            raise
        except Exception as exc:  # pyarrow, pandas and OS errors alike: one part, not the run
            if strict:
                raise
            reason = f"{type(exc).__name__}: {exc}"[:300]
            skipped.append((str(path), reason))
            log.warning("run part %s skipped: %s", path, reason)
            warnings.warn(CorruptPartWarning(f"skipped {path}: {reason}"), stacklevel=3)
    return frames, skipped


def load(run_dir: str | os.PathLike[str], tables: Iterable[str] | None = None, *,
         strict: bool = False) -> dict[str, pd.DataFrame]:
    """Read every table of a run: ``{table: DataFrame}`` (all its parts, in order).

    A part that cannot be read (a corrupt file) is skipped with a
    :class:`CorruptPartWarning` naming it and why, and listed in the table's
    ``df.attrs["skipped_parts"]`` as ``(path, reason)``; the other parts load.
    ``strict=True`` raises instead.

    Columns are typed by the dtypes in ``run.json`` (the ``cdr`` table's are built in):
    text as pandas ``string``, counts as ``Int64``, times as float seconds since the epoch
    (see :func:`switchio_lab.measure.as_datetimes`). A table declared but still empty
    gives an empty typed frame. Safe while the run is being written: only complete parts
    are read.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"no run directory {run}")
    meta = _read_meta(run)
    declared = meta.get("tables") or {}
    names = set(declared)
    names.update(p.name for p in run.iterdir() if p.is_dir() and parts(run, p.name))
    if tables is not None:
        names = set(tables)
    out: dict[str, pd.DataFrame] = {}
    for table in sorted(names):
        spec = declared.get(table)
        dtypes = dict(spec) if spec else dict(KNOWN_TABLES.get(table, {}))
        frames, skipped = _read_parts(parts(run, table), dtypes, strict)
        frames = [f for f in frames if len(f.columns)]
        if frames:
            df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        else:
            df = pd.DataFrame()
        df = frame(df, dtypes)
        df.attrs["skipped_parts"] = skipped
        out[table] = df
    return out


__all__ = [
    "CorruptPartWarning", "DEFAULT_ROOT", "FLUSH_INTERVAL", "KNOWN_TABLES", "META_FILE",
    "RUNS_ENV", "RunWriter",
    "TableSink", "frame", "have_pyarrow", "latest_run", "list_runs", "load", "new_run_dir",
    "parts", "runs_root",
]
