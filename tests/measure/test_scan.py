"""Out-of-core run analysis (measure.scan): the same numbers as measure.analysis, batch by batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import switchio_lab as switchio
from switchio_lab.apps import AppManager
from switchio_lab.apps.measure import CDR, CDR_DTYPES
from switchio_lab.measure import RunWriter, analysis, cdr_frame, load
from switchio_lab.measure.scan import (
    compare,
    first_legs,
    iter_batches,
    rate_steps,
    scan_run,
    synthetic_cdr,
    write_synthetic_run,
)
from switchio_lab.pool import NodePool
from switchio_lab.sim import Cluster, Rule
from switchio_lab.testing import scaled, until

STEPS = ((10.0, 1.0), (20.0, 1.0), (40.0, 1.0))
ANSWER = Rule(r"^ok$", [("ring_ready", ""), ("sleep", "20"), ("answer", ""), ("park", "")])
BUSY = Rule(r"^busy$", [("respond", "486")])


def synthetic(calls: int = 3000, **kwargs) -> pd.DataFrame:
    # start off the second so that no event falls on a bin edge (see the concurrency test)
    kwargs.setdefault("start", 1_800_000_000.37)
    return cdr_frame(pd.concat(list(synthetic_cdr(calls, steps=STEPS, chunk=1000, **kwargs)),
                               ignore_index=True))


def sampled_at_bin_ends(steps: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """analysis.concurrency's step function, read just before each bin's end."""
    ends = index + pd.Timedelta("1s") - pd.Timedelta("1us")
    level = steps[~steps.index.duplicated(keep="last")]
    return level.reindex(level.index.union(ends)).ffill().reindex(ends).fillna(0).to_numpy()


def test_a_scan_gives_the_in_memory_metrics() -> None:
    df = synthetic()
    scan = scan_run(df, batch_size=777)  # batches cut calls' legs apart: no matter
    assert scan.rows == len(df) and scan.batches == -(-len(df) // 777)
    whole = analysis.summary(df)
    assert (scan.offered, scan.answered, scan.lost) == (whole["calls"], whole["answered"],
                                                        whole["lost"])
    assert scan.asr == pytest.approx(analysis.asr(df))
    exact = analysis.pdd_percentiles(df)
    assert np.allclose(scan.pdd_percentiles().to_numpy(), exact.to_numpy(), atol=0.001)
    causes = scan.causes()
    assert causes["calls"].to_dict() == analysis.causes(df).to_dict()
    assert causes.loc["NORMAL_CLEARING", "asr"] == 1.0
    assert causes.loc["USER_BUSY", "answered"] == 0
    offered = analysis.offered_cps(df)
    mine = scan.offered_cps()
    assert mine.sum() == offered.sum() == scan.offered
    assert (mine.reindex(offered.index).to_numpy() == offered.to_numpy()).all()
    conc = scan.concurrency()
    assert (conc.to_numpy() == sampled_at_bin_ends(analysis.concurrency(df), conc.index)).all()
    assert scan.summary()["peak_concurrency"] <= whole["peak_concurrency"]


def test_batch_size_does_not_change_the_result() -> None:
    df = synthetic(2000, seed=3)
    small, big = scan_run(df, batch_size=101), scan_run(df, batch_size=10**7)
    assert small.batches > 30 and big.batches == 1
    pd.testing.assert_series_equal(small.summary(), big.summary())
    pd.testing.assert_frame_equal(small.causes(), big.causes())
    pd.testing.assert_series_equal(small.concurrency(), big.concurrency())


def test_rate_steps_find_the_plateaus() -> None:
    steps = scan_run(synthetic()).rate_steps()
    assert steps["cps"].round().tolist() == [10, 20, 40]
    assert steps["start"].iloc[0] <= 1.0  # the first bin is partial (the run starts at .37 s)
    assert (steps["start"].iloc[1:].to_numpy() >= steps["end"].iloc[:-1].to_numpy()).all()
    flat = pd.Series([5.0] * 10, index=pd.Index(np.arange(10.0), name="elapsed"))
    assert rate_steps(flat).to_dict("records") == [
        {"start": 0.0, "end": 10.0, "bins": 10, "cps": 5.0}]
    assert rate_steps(flat.iloc[:0]).empty


def test_first_legs_are_the_calls() -> None:
    df = pd.DataFrame({"uuid": ["a", "b", "c", "d"], "call_uuid": ["a", "a", None, "x"]})
    assert first_legs(df)["uuid"].tolist() == ["a", "c"]  # d: a leg of a call not measured


def test_a_saved_run_is_read_part_by_part(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "big", 4000, steps=STEPS, chunk=1500, seed=1)
    files = sorted((run / "cdr").glob("part-*.parquet"))
    assert len(files) == 6  # 8000 rows, 750 calls (1500 rows) a part
    assert max(len(b) for b in iter_batches(run, batch_size=500)) == 500
    scan = scan_run(run, batch_size=500)
    df = load(run)["cdr"]  # the same run in memory
    assert df.dtypes.astype(str).to_dict() == CDR_DTYPES  # typed like a run RunWriter wrote
    assert scan.name == "big" and scan.rows == len(df) == 8000
    assert scan.offered == analysis.summary(df)["calls"] == 4000
    # a CSV run (storage's fallback format) reads the same
    csv = tmp_path / "csv"
    with RunWriter(csv, format="csv") as writer:
        writer.extend("cdr", df.head(3000).astype(object).where(df.head(3000).notna(), None)
                      .to_dict("records"))
    from_csv = scan_run(csv, batch_size=700)
    from_df = scan_run(df.head(3000))
    pd.testing.assert_series_equal(from_csv.summary().rename("x"), from_df.summary().rename("x"))


def test_compare_lines_runs_up_on_elapsed_time() -> None:
    a = scan_run(synthetic(1000), "a")
    b = scan_run(synthetic(1000, start=1_900_000_000.37, busy=0.5, seed=2), "b")
    out = compare(a, b)
    assert list(out["summary"].columns) == ["a", "b"]
    assert out["summary"].loc["asr", "b"] < out["summary"].loc["asr", "a"]
    assert out["cps"].index.name == "elapsed" and out["cps"].index[0] == 0.0
    assert out["causes"].loc["USER_BUSY", ("b", "calls")] > out["causes"].loc[
        "USER_BUSY", ("a", "calls")]
    assert set(out["rate_steps"]["run"]) == {"a", "b"}
    assert list(out["pdd"].columns) == ["a", "b"]


async def test_a_run_of_real_calls_scans_like_it_loads(sim_cluster: Cluster,
                                                       tmp_path: Path) -> None:
    """The CDR of real calls (both legs, from both nodes): the caller's leg is each call's."""
    node2 = sim_cluster[1]
    node2.config.dialplan[:0] = [ANSWER, BUSY]
    pool = await NodePool(switchio.Client(n.host, n.esl_port, reconnect=False)
                          for n in sim_cluster).connect()
    try:
        async with RunWriter(name="real", root=tmp_path) as writer:
            manager = AppManager(pool)
            await manager.load_app(CDR, "cdr", sink=writer)
            c1 = pool[0]
            jobs = [await c1.originate(f"{user}@{node2.sip_address()}", app_id="cdr")
                    for user in ("ok", "ok", "busy", "ok")]
            for job in jobs:
                await job.wait(scaled(3))
            ok = [jobs[i] for i in (0, 1, 3)]
            await until(lambda: all(j.session.answered for j in ok))
            await asyncio.gather(*(j.session.hangup() for j in ok))
            cdrs = manager.instances("cdr")
            await until(lambda: sum(c.count for c in cdrs.values()) == 8)
    finally:
        await pool.disconnect()
    df = load(writer.path)["cdr"]
    scan = scan_run(writer.path)
    assert len(df) == scan.rows == 8
    assert (scan.offered, scan.answered) == (4, 3) == (len(analysis.calls(df)),
                                                       analysis.calls(df)["answered"].sum())
    assert scan.causes()["calls"].to_dict() == analysis.causes(df).to_dict()
    assert np.allclose(scan.pdd_percentiles().to_numpy(),
                       analysis.pdd_percentiles(df).to_numpy(), atol=0.001)
