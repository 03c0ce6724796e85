"""Measurement: CDR rows from real calls, the append-only run storage, analysis and plots."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import switchio_lab as switchio
from switchio_lab.apps import AppManager
from switchio_lab.apps.measure import CDR, CDR_DTYPES, CDR_SCHEMA, TIME_COLUMNS
from switchio_lab.measure import (
    CorruptPartWarning,
    RunWriter,
    analysis,
    as_datetimes,
    cdr_frame,
    load,
    storage,
)
from switchio_lab.pool import NodePool
from switchio_lab.sim import Cluster, Rule
from switchio_lab.testing import scaled, until

REPO_ROOT = Path(__file__).resolve().parents[2]
#: FreeSWITCH's (and the embedded switch's) clock tick: switch times move in these steps
TICK = 0.02
HOLD = 0.5  # seconds an answered call is held before the caller hangs up
#: node 2's dialplan: ring, answer and play a tone to the caller; busy; (else: park)
RING_ANSWER_TONE = Rule(r"^tone$", [("ring_ready", ""), ("sleep", "50"), ("answer", ""),
                                    ("playback", "tone_stream://%(1000,0,440);loops=-1")])
BUSY = Rule(r"^busy$", [("respond", "486")])


async def clients(cluster: Cluster) -> list[switchio.Client]:
    return [await switchio.Client(n.host, n.esl_port, reconnect=False).connect()
            for n in cluster]


def _check_types(row: dict) -> None:
    """Every schema column is there, holding a plain value of the column's type."""
    assert list(row) == [name for name, _, _ in CDR_SCHEMA]
    kinds = {"string": str, "float64": float, "Int64": int, "bool": bool}
    for name, dtype, _ in CDR_SCHEMA:
        value = row[name]
        if dtype == "bool":
            assert type(value) is bool, (name, value)
        elif value is not None:
            assert type(value) is kinds[dtype], (name, value)


# -- the CDR app on real calls ------------------------------------------------------------------
async def test_cdr_rows_for_answered_busy_and_unanswered_calls(sim_cluster: Cluster) -> None:
    node1, node2 = sim_cluster
    node2.config.dialplan[:0] = [RING_ANSWER_TONE, BUSY]
    c1, c2 = await clients(sim_cluster)
    try:
        cdr = CDR()  # one instance on both nodes: one list of rows
        await c1.load_app(cdr, "cdr")
        await c2.load_app(cdr, "cdr")
        to = node2.sip_address()
        answered = [await c1.originate(f"tone@{to}", app_id="cdr") for _ in range(3)]
        busy = await c1.originate(f"busy@{to}", app_id="cdr")
        unanswered = await c1.originate(f"nobody@{to}", app_id="cdr", originate_timeout=1)
        for job in answered:
            assert (await job.wait(scaled(3))).startswith("+OK")
        await asyncio.sleep(scaled(HOLD))  # the hold IS the call: its duration is measured
        await asyncio.gather(*(job.session.hangup() for job in answered))
        assert (await busy.wait(scaled(3))).strip() == "-ERR USER_BUSY"
        assert (await unanswered.wait(scaled(3))).strip() == "-ERR NO_ANSWER"
        await until(lambda: len(cdr.rows) == 10)
    finally:
        await c1.disconnect()
        await c2.disconnect()

    for row in cdr.rows:
        _check_types(row)
    by_call: dict[str, dict[str, dict]] = {}
    for row in cdr.rows:
        by_call.setdefault(row["call_uuid"], {})[row["direction"]] = row
    assert len(by_call) == 5 and all(set(legs) == {"outbound", "inbound"}
                                     for legs in by_call.values())
    for legs in by_call.values():
        a, b = legs["outbound"], legs["inbound"]
        assert (a["node"], a["hostname"]) == ("127.0.0.1", "switchio-lab-1")
        assert (b["node"], b["hostname"]) == ("127.0.0.2", "switchio-lab-2")
        assert a["app_id"] == b["app_id"] == "cdr"
        assert a["uuid"] == a["call_uuid"] != b["uuid"]  # the caller's uuid is the call id
        assert b["job_uuid"] is None and b["originate"] is None and b["req_originate"] is None
        # the calling leg came from a bgapi originate: its times, in order
        assert a["job_uuid"] and a["req_originate"] == a["job_launch"]
        # (create/originate/hangup are the switch's clock, on its 20 ms grid: it may read
        # up to one tick before the client's job_launch, as on FreeSWITCH)
        assert a["job_launch"] - TICK <= a["create"] <= a["originate"] <= a["hangup"]
        assert a["job_result"] is not None and a["job_result"] >= a["job_launch"]

    for job in answered:
        legs = by_call[job.session.uuid]
        a, b = legs["outbound"], legs["inbound"]
        for leg in (a, b):
            assert leg["answered"] and leg["hangup_cause"] == "NORMAL_CLEARING"
            assert leg["hangup_cause_q850"] == 16 and leg["codec"] == "PCMU"
            assert leg["create"] < leg["answer"] < leg["hangup"]
        assert a["job_ok"] and a["job_uuid"] == job.uuid
        assert a["hangup_disposition"] == "send_bye" and b["hangup_disposition"] == "recv_bye"
        # billing: answer to hangup, held for HOLD seconds
        assert scaled(HOLD) <= a["billsec"] < scaled(HOLD + 0.5) and a["billsec"] <= a["duration"]
        assert a["billsec"] == pytest.approx(a["hangup"] - a["answer"], abs=0.01)
        # post-dial delay: the 180 (ring_ready) came before the answer (~50 ms later)
        # on FreeSWITCH's 20 ms clock the ring may share the create's tick: pdd 0 is real
        assert 0 <= a["pdd"] < a["answer_delay"] < 1.0  # ring and answer ticks apart
        # (FreeSWITCH's own stamps; the event times switchio recorded are within a tick)
        assert a["pdd"] == pytest.approx(a["progress"] - a["create"], abs=0.05)
        assert a["answer_delay"] == pytest.approx(a["answer"] - a["create"], abs=0.05)
        assert a["answer_delay"] - a["pdd"] >= 0.04 - 1e-6  # two ticks (float stamps)
        # the tone reached the caller over a clean path: FreeSWITCH's best MOS
        assert a["rtp_audio_in_mos"] == 4.5 and a["rtp_audio_in_quality_percentage"] == 100
        assert a["rtp_audio_in_media_packet_count"] >= 20  # 20 ms packets, >= 0.45 s
        assert a["rtp_audio_in_flaw_total"] == 0 and a["rtp_audio_in_jitter_loss_rate"] == 0
        assert a["rtp_audio_in_mean_interval"] == 20.0
        # what the callee sent, the caller heard (until it hung up)
        assert b["rtp_audio_out_media_packet_count"] >= a["rtp_audio_in_media_packet_count"]

    a, b = by_call[busy.session.uuid]["outbound"], by_call[busy.session.uuid]["inbound"]
    assert a["hangup_cause"] == b["hangup_cause"] == "USER_BUSY"
    assert a["hangup_cause_q850"] == 17 and a["hangup_disposition"] == "recv_refuse"
    assert not a["answered"] and a["answer"] is None and a["billsec"] == 0.0
    assert a["pdd"] is None and a["answer_delay"] is None
    assert not a["job_ok"]  # the row waited for the job's -ERR
    assert a["rtp_audio_in_mos"] is None and a["rtp_audio_in_packet_count"] is None

    a, b = (by_call[unanswered.session.uuid]["outbound"],
            by_call[unanswered.session.uuid]["inbound"])
    assert (a["hangup_cause"], b["hangup_cause"]) == ("NO_ANSWER", "ORIGINATOR_CANCEL")
    assert a["hangup_disposition"] == "send_cancel" and not a["answered"]
    assert 0.95 <= a["duration"] < 1.5 and a["billsec"] == 0.0 and a["pdd"] is None

    # the rows make a typed DataFrame, and the call metrics count calls, not legs
    df = cdr_frame(cdr)
    assert df.dtypes.astype(str).to_dict() == CDR_DTYPES and len(df) == 10
    assert analysis.asr(df) == pytest.approx(3 / 5)
    assert analysis.failures_by_cause(df).to_dict() == {"USER_BUSY": 1, "NO_ANSWER": 1}
    assert analysis.acd(df) >= HOLD
    assert analysis.mos_summary(df)["legs"] == 3  # callers heard the tone; callees nothing


async def test_cdr_across_a_cluster_into_a_run(sim_cluster: Cluster, tmp_path: Path) -> None:
    """AppManager loads a CDR per node, both writing to one run; load() reads it back."""
    node2 = sim_cluster[1]
    node2.config.dialplan[:0] = [RING_ANSWER_TONE, BUSY]
    pool = await NodePool(switchio.Client(n.host, n.esl_port, reconnect=False)
                          for n in sim_cluster).connect()
    try:
        async with RunWriter(name="cluster", root=tmp_path) as writer:
            manager = AppManager(pool)
            await manager.load_app(CDR, "cdr", sink=writer)  # its "cdr" table
            c1 = pool[0]
            jobs = [await c1.originate(f"tone@{node2.sip_address()}", app_id="cdr")
                    for _ in range(2)]
            jobs.append(await c1.originate(f"busy@{node2.sip_address()}", app_id="cdr"))
            for job in jobs:
                await job.wait(scaled(3))
            await until(lambda: all(j.session.answered for j in jobs[:2]))
            await asyncio.sleep(scaled(0.1))  # media flows a while: its MOS is measured
            await asyncio.gather(*(j.session.hangup() for j in jobs[:2]))
            cdrs = manager.instances("cdr")
            await until(lambda: sum(c.count for c in cdrs.values()) == 6)
            assert all(c.rows == [] for c in cdrs.values())  # the sink got them
        run = writer.path
        assert run.parent == tmp_path and re.fullmatch(r"\d{8}-\d{6}-cluster", run.name)
    finally:
        await pool.disconnect()
    frames = load(run)
    df = frames["cdr"]
    assert len(df) == 6 and df.dtypes.astype(str).to_dict() == CDR_DTYPES
    assert sorted(df["node"]) == ["127.0.0.1"] * 3 + ["127.0.0.2"] * 3
    summary = analysis.summary(df)
    assert (summary["calls"], summary["answered"], summary["failed"]) == (3, 2, 1)
    assert summary["asr"] == pytest.approx(2 / 3) and summary["mos_mean"] == 4.5
    # read from the switch's 20 ms clock a PDD is 0 or a tick or two: never negative
    assert summary["pdd_p50"] >= 0


async def test_a_failing_sink_is_logged_and_the_cdr_goes_on(sim_node, caplog) -> None:
    sim_node.config.dialplan[:0] = [BUSY]
    calls: list[dict] = []

    def flaky(row):
        calls.append(row)
        if len(calls) == 1:
            raise OSError("disk full")

    caplog.set_level(logging.ERROR, logger="switchio_lab")
    async with switchio.get_client(sim_node.host, sim_node.esl_port,
                                   reconnect=False) as client:
        cdr = CDR()
        await client.load_app(cdr, "cdr", sink=flaky)
        with pytest.raises(switchio.AppError, match="callable"):
            await client.load_app(CDR, "other", sink=[])
        job = await client.originate(f"busy@{sim_node.sip_address()}", app_id="cdr")
        assert (await job.wait(scaled(3))).strip() == "-ERR USER_BUSY"
        await until(lambda: cdr.count == 2)
    assert len(calls) == 2 and cdr.sink_errors == 1 and cdr.rows == []
    assert any("CDR: the sink failed" in r.getMessage() for r in caplog.records)


def test_the_app_layer_needs_neither_pandas_nor_the_measure_package() -> None:
    code = ("import sys, switchio_lab.apps.measure as m; "
            "assert m.CDR and 'pandas' not in sys.modules, 'pandas'; "
            "assert 'switchio_lab.measure' not in sys.modules, 'measure'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=30)


# -- storage --------------------------------------------------------------------------------
def sample_rows(n: int, start: int = 0, t0: float = 1_800_000_000.0) -> list[dict]:
    """CDR-like rows (a few columns; the rest missing)."""
    return [{"uuid": f"leg-{i}", "call_uuid": f"call-{i}", "direction": "outbound",
             "create": t0 + i, "answer": t0 + i + 0.25, "hangup": t0 + i + 2,
             "answered": True, "hangup_cause": "NORMAL_CLEARING", "billsec": 1.75,
             "rtp_audio_in_mos": 4.5, "rtp_audio_in_packet_count": 87 + i}
            for i in range(start, start + n)]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_run_writer_flushes_within_a_second_and_only_appends(tmp_path: Path) -> None:
    run = tmp_path / "run"
    writer = RunWriter(run)
    assert writer.format == "parquet" and (run / "run.json").is_file()
    assert len(load(run)["cdr"]) == 0  # declared, typed, empty

    loop = asyncio.get_running_loop()
    bound = writer.flush_interval + scaled(1.0)
    seen: list[float] = []
    for batch in range(2):
        writer.extend("cdr", sample_rows(3, start=3 * batch))
        writer.append("events", {"seq": batch, "name": "tick"})
        t0 = loop.time()
        # the next part appears within the flush interval (plus a loaded loop's lag)
        parts = batch + 1
        await until(lambda: len(storage.parts(run, "cdr")) >= parts, timeout=bound)  # noqa: B023
        seen.append(loop.time() - t0)
        # a reader sees them while the run is being written
        assert load(run)["cdr"]["uuid"].tolist() == [f"leg-{i}" for i in range(3 * batch + 3)]
        if batch == 0:
            first = {p.name: _digest(p) for p in storage.parts(run, "cdr")}
            assert list(first) == ["part-000001.parquet"]
    assert all(s <= bound for s in seen)
    # parts are only ever added: the first is byte for byte unchanged
    names = [p.name for p in storage.parts(run, "cdr")]
    assert names == ["part-000001.parquet", "part-000002.parquet"]
    assert _digest(run / "cdr" / names[0]) == first[names[0]]
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]

    await writer.aclose()
    assert writer.closed and writer.rows_written == {"cdr": 6, "events": 2}
    with pytest.raises(RuntimeError, match="closed"):
        writer.append("cdr", {})
    frames = load(run)
    assert set(frames) == {"cdr", "events"}
    assert frames["cdr"]["uuid"].tolist() == [f"leg-{i}" for i in range(6)]
    assert frames["cdr"]["rtp_audio_in_packet_count"].tolist() == list(range(87, 93))
    assert frames["cdr"].dtypes.astype(str).to_dict() == CDR_DTYPES
    assert frames["events"].to_dict("list") == {"seq": [0, 1], "name": ["tick", "tick"]}

    # re-opening the run continues it: new parts after the old ones
    with RunWriter(run) as again:
        again.extend("cdr", sample_rows(2, start=6))
    assert [p.name for p in storage.parts(run, "cdr")][-1] == "part-000003.parquet"
    assert load(run)["cdr"]["uuid"].tolist() == [f"leg-{i}" for i in range(8)]
    assert storage.list_runs(tmp_path) == [run] and storage.latest_run(tmp_path) == run


def test_parquet_parts_are_typed_tables(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    with RunWriter(tmp_path / "run") as writer:
        writer.extend("cdr", sample_rows(2))
        assert writer.pending == 2
    assert writer.pending == 0
    schema = pq.read_schema(storage.parts(tmp_path / "run", "cdr")[0])
    types = {name: str(schema.field(name).type) for name in schema.names}
    assert types["uuid"] in ("string", "large_string")
    assert types["create"] == "double" and types["rtp_audio_in_packet_count"] == "int64"
    assert types["answered"] == "bool" and types["hangup_cause_q850"] == "int64"
    assert list(schema.names) == list(CDR_DTYPES)


KILLED_WRITER = textwrap.dedent("""
    import asyncio, sys, time
    from switchio_lab.measure import RunWriter

    async def main():
        writer = RunWriter(sys.argv[1])
        i = 0
        while True:
            writer.append("cdr", {"uuid": f"leg-{i}", "create": time.time()})
            print(i, time.time(), flush=True)
            i += 1
            await asyncio.sleep(0.02)

    asyncio.run(main())
""")


def test_a_killed_writer_loses_at_most_the_last_second(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(run)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    appended: list[float] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            appended.append(float(line.split()[1]))
            # rows over more than the second a kill may lose, whatever the time scale
            if appended[-1] - appended[0] >= 1.6 + scaled(0.1):
                break
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(scaled(10))
        proc.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    df = load(run)["cdr"]
    n = len(df)
    # a prefix of what was appended, in order, holding every row older than a second
    assert df["uuid"].tolist() == [f"leg-{i}" for i in range(n)]
    older = sum(1 for t in appended if t <= killed_at - 1.0 - scaled(0.1))
    assert older >= 10 and n >= older, (n, older, len(appended))
    assert storage._read_meta(run)["closed"] is None  # it never closed


async def test_a_writer_left_open_flushes_when_its_loop_ends(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run")
    writer.extend("cdr", sample_rows(2))
    await asyncio.sleep(0)
    # the end of asyncio.run cancels the tasks left: the flusher writes what is pending
    task = writer._task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.pending == 0 and not writer.closed
    assert load(tmp_path / "run")["cdr"]["uuid"].tolist() == ["leg-0", "leg-1"]
    writer.extend("cdr", sample_rows(1, start=2))  # a new flusher starts
    await writer.aclose()
    assert len(load(tmp_path / "run")["cdr"]) == 3


def test_csv_fallback_when_pyarrow_is_missing(tmp_path: Path, monkeypatch) -> None:
    with RunWriter(tmp_path / "parquet") as writer:
        writer.extend("cdr", sample_rows(3))
    reference = load(tmp_path / "parquet")["cdr"]

    monkeypatch.setattr(storage, "pq", None)  # as if pyarrow were not installed
    monkeypatch.setattr(storage, "pa", None)
    assert not storage.have_pyarrow()
    with pytest.raises(ImportError, match="pyarrow"):
        RunWriter(tmp_path / "nope", format="parquet")
    with pytest.raises(ImportError, match="pyarrow"):
        load(tmp_path / "parquet")  # Parquet parts cannot be read without it
    with RunWriter(tmp_path / "csv") as writer:  # format "auto" falls back to CSV
        assert writer.format == "csv"
        writer.extend("cdr", sample_rows(2))
        writer.flush()
        writer.extend("cdr", sample_rows(1, start=2))
        writer.append("notes", {"text": "0123", "n": 1})
    assert [p.name for p in storage.parts(tmp_path / "csv", "cdr")] == [
        "part-000001.csv", "part-000002.csv"]
    frames = load(tmp_path / "csv")
    pd.testing.assert_frame_equal(frames["cdr"], reference)
    assert frames["cdr"].dtypes.astype(str).to_dict() == CDR_DTYPES
    assert frames["notes"].to_dict("list") == {"text": [123], "n": [1]}  # untyped: inferred


def test_explicit_csv_format_and_bad_arguments(tmp_path: Path) -> None:
    with RunWriter(tmp_path / "run", format="csv",
                   schemas={"notes": [("text", "string"), ("n", "Int64")]}) as writer:
        writer.append("notes", {"text": "0123"})
        sink = writer.table("cdr")
        sink({"uuid": "x", "create": 1.5})
        with pytest.raises(ValueError, match="table name"):
            writer.append("../escape", {})
    frames = load(tmp_path / "run")
    assert frames["notes"]["text"].tolist() == ["0123"]  # typed: stays text
    assert frames["notes"]["n"].isna().all() and str(frames["notes"]["n"].dtype) == "Int64"
    assert frames["cdr"]["create"].tolist() == [1.5]
    with pytest.raises(ValueError, match="format"):
        RunWriter(tmp_path / "x", format="hdf5")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


# -- analysis on a synthetic CDR with known answers -----------------------------------------
T0 = 1_800_000_000.0  # a whole second: bins start on it


def synthetic_cdr() -> pd.DataFrame:
    """10 calls, one every 0.5 s; calls 0-7 answered (pdd 0.1*(i+1), billsec i+1), call 8
    busy, call 9 unanswered. Each call has an A-leg (outbound) and a B-leg (inbound) with
    misleading numbers (pdd 9, billsec 100) that call metrics must ignore."""
    rows = []
    mos = [4.5] * 6 + [3.0, 2.0]
    for i in range(10):
        create = T0 + 0.5 * i
        ok = i < 8
        pdd = 0.1 * (i + 1) if ok else None
        answer = create + pdd if ok else None
        billsec = float(i + 1) if ok else 0.0
        hangup = answer + billsec if ok else create + 0.3
        cause = "NORMAL_CLEARING" if ok else ("USER_BUSY" if i == 8 else "NO_ANSWER")
        a = {"uuid": f"a{i}", "call_uuid": f"a{i}", "direction": "outbound",
             "create": create, "answer": answer, "hangup": hangup, "answered": ok,
             "hangup_cause": cause, "pdd": pdd, "billsec": billsec,
             "rtp_audio_in_mos": mos[i] if ok else None,
             "rtp_audio_in_media_packet_count": 100 if ok else None}
        b = {**a, "uuid": f"b{i}", "direction": "inbound", "create": create + 0.01,
             "pdd": 9.0, "billsec": 100.0, "rtp_audio_in_mos": 4.5 if ok else None,
             "rtp_audio_in_media_packet_count": 0 if ok else None}
        rows += [b, a]  # legs out of order on purpose
    return cdr_frame(rows)


def test_call_metrics_have_the_known_answers() -> None:
    df = synthetic_cdr()
    calls = analysis.calls(df)
    assert calls["uuid"].tolist() == [f"a{i}" for i in range(10)]
    assert analysis.asr(df) == pytest.approx(0.8)
    assert analysis.asr(df, offered=16) == pytest.approx(0.5)  # attempts with no channel
    assert analysis.acd(df) == pytest.approx(4.5)  # mean of 1..8
    q = analysis.pdd_percentiles(df)
    assert q[0.5] == pytest.approx(0.45) and q[0.9] == pytest.approx(0.73)
    assert q[0.99] == pytest.approx(0.793)
    assert analysis.failures_by_cause(df).to_dict() == {"USER_BUSY": 1, "NO_ANSWER": 1}
    assert analysis.causes(df).to_dict() == {"NORMAL_CLEARING": 8, "USER_BUSY": 1,
                                             "NO_ANSWER": 1}
    mos = analysis.mos_summary(df)  # A-legs only: the B-legs heard nothing
    assert mos["legs"] == 8 and mos["mean"] == pytest.approx(4.0)
    assert mos["min"] == 2.0 and mos["max"] == 4.5 and mos["poor"] == pytest.approx(0.25)
    assert analysis.mos_summary(df, by="direction").index.tolist() == ["outbound"]

    rates = analysis.cps(df, "1s")
    assert rates.index[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert rates["offered"].tolist() == [2.0] * 5
    # answers at +0.1 +0.7 | 1.3 1.9 | 2.5 | 3.1 3.7 | 4.3
    assert rates["answered"].tolist() == [2.0, 2.0, 1.0, 2.0, 1.0]
    assert analysis.offered_cps(df, "2s").tolist() == [2.0, 2.0, 1.0]

    # concurrency: against a brute-force count on a fine grid
    active = analysis.concurrency(df)
    grid = np.arange(T0, T0 + 14, 0.001)
    brute = sum(((grid >= c) & (grid < h)).astype(int)
                for c, h in zip(calls["create"], calls["hangup"], strict=True))
    assert active.max() == brute.max() == 7
    assert active.iloc[-1] == 0 and (active >= 0).all()
    per_second = analysis.concurrency(df, "1s")
    for t, value in per_second.items():
        start = t.timestamp()
        window = brute[(grid >= start) & (grid < start + 1)]
        assert value == window.max(), t
    legs = analysis.concurrency(df, legs=True)
    assert legs.max() > active.max()

    s = analysis.summary(df)
    assert (s["offered"], s["calls"], s["answered"], s["failed"]) == (10, 10, 8, 2)
    assert s["peak_concurrency"] == 7 and s["asr"] == pytest.approx(0.8)
    assert s["seconds"] == pytest.approx(calls["hangup"].max() - T0)
    assert s["mean_cps"] == pytest.approx(2.0)  # one call every 0.5 s
    assert as_datetimes(df)["create"].iloc[1] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert set(TIME_COLUMNS) <= set(df.columns)


def test_metrics_of_an_empty_cdr() -> None:
    df = cdr_frame([])
    assert math.isnan(analysis.asr(df)) and math.isnan(analysis.acd(df))
    assert analysis.pdd_percentiles(df).isna().all()
    assert analysis.failures_by_cause(df).empty and analysis.cps(df).empty
    assert analysis.concurrency(df).empty and analysis.mos_summary(df)["legs"] == 0
    assert analysis.summary(df)["calls"] == 0


# -- the report -------------------------------------------------------------------------------
def test_plot_builds_and_saves_standalone_html(tmp_path: Path) -> None:
    from bokeh.models import LayoutDOM

    from switchio_lab.measure.plot import plot, save_html

    with RunWriter(tmp_path / "run-a") as writer:
        writer.extend("cdr", synthetic_cdr().to_dict("records"))
    layout = plot(tmp_path / "run-a")
    assert isinstance(layout, LayoutDOM)
    out = save_html(layout, tmp_path / "report" / "a.html", title="run a")
    text = out.read_text(encoding="utf-8")
    assert "<title>run a</title>" in text and "run-a" in text and "ASR" in text
    assert "Bokeh" in text and "cdn.bokeh.org" not in text  # inlined: no network
    assert not re.search(r"<script[^>]+src=\"https?://", text)
    # anything plot() takes, and an empty run
    assert isinstance(plot(load(tmp_path / "run-a")), LayoutDOM)
    empty = save_html(cdr_frame([]), tmp_path / "empty.html")
    assert "no data" in empty.read_text(encoding="utf-8")


def test_the_docs_list_every_cdr_column() -> None:
    text = (REPO_ROOT / "docs" / "measure.rst").read_text(encoding="utf-8")
    missing = [name for name, _, _ in CDR_SCHEMA if f"``{name}``" not in text]
    assert not missing, f"docs/measure.rst does not document {missing}"


async def test_a_corrupt_part_costs_only_itself(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run")
    for start in (0, 2, 4):  # three parts of two rows
        writer.extend("cdr", sample_rows(2, start=start))
        writer.flush()
    await writer.aclose()
    bad = storage.parts(tmp_path / "run", "cdr")[1]
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.warns(CorruptPartWarning, match=bad.name):
        df = load(tmp_path / "run")["cdr"]
    assert df["uuid"].tolist() == ["leg-0", "leg-1", "leg-4", "leg-5"]
    ((path, reason),) = df.attrs["skipped_parts"]
    assert path == str(bad) and reason
    with pytest.raises(Exception):  # noqa: B017  (whatever pyarrow raises, strict passes on)
        load(tmp_path / "run", strict=True)
