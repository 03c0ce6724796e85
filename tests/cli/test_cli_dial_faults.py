"""``switchio-lab dial`` when its switch restarts (kill -9), its summary's numbers, and its
CDR flush interval: run as users run it (subprocesses)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import unused_port

from switchio_lab.connection import InboundClient
from switchio_lab.testing import pause, scaled, until

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "switchio_lab.cli"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


async def _start_sim(esl: int, sip: int):
    """``switchio-lab sim`` on fixed ports; returned once it listens."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, "sim", "--host", "127.0.0.1", "--esl-port", str(esl), "--internal-port",
        str(sip + 1), "--external-port", str(sip), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = b""
    while not line.startswith(b"running"):
        line = await asyncio.wait_for(proc.stdout.readline(), scaled(20))
        assert line, (await proc.stderr.read()).decode()
    return proc


async def _sessions(esl: int) -> int:
    async with InboundClient("127.0.0.1", esl, reconnect=False) as client:
        status = await client.api("status")
    return int(re.search(r"(\d+) session\(s\) since startup", status).group(1))


async def _answered_line(dial) -> list[str]:
    """dial's stdout lines up to a progress line with calls answered."""
    lines = []
    while True:
        line = (await asyncio.wait_for(dial.stdout.readline(), scaled(30))).decode()
        assert line, lines
        lines.append(line)
        m = re.search(r"answered\s+(\d+)", line)
        if m and int(m.group(1)) > 0:
            return lines


def _dial_args(esl: int, sip: int, tmp_path: Path, *extra: str) -> list[str]:
    return [*CLI, "dial", f"127.0.0.1:{esl}", "--dest", f"load@127.0.0.1:{sip}",
            "--rate", "10", "--limit", "10", "--duration", "0.3", "--runs-dir", str(tmp_path),
            *extra]


COUNTS = ("offered", "answered", "failed", "lost")


def _numbers(text: str) -> tuple[dict, dict, dict]:
    """The last progress line, the summary line and the summary table of dial's output."""
    lines = text.splitlines()
    i = lines.index("summary")
    progress = next(line for line in reversed(lines[:i]) if " offered " in line)
    first = lines[i + 1]
    table = {}
    for line in lines[i + 2:]:
        parts = line.split()
        if len(parts) == 2 and parts[0] in (*COUNTS, "cancelled"):
            table[parts[0]] = int(parts[1])

    def grab(s: str, sep: str) -> dict:
        return {k: int(m.group(1)) if (m := re.search(rf"{k}{sep}(\d+)", s)) else 0
                for k in COUNTS}
    return grab(progress, r"\s+"), grab(first, " "), table


async def test_dial_reconnects_across_a_switch_restart_or_stops_when_told(tmp_path) -> None:
    """kill -9 of the switch mid-run, restarted on the same port: dial (default
    --reconnect) goes on calling the new one and its accounting stays exact; with
    --no-reconnect it stops at once, non-zero, with one line saying why and the counts."""
    esl, sip = unused_port(), unused_port()
    sim = await _start_sim(esl, sip)
    dial = await asyncio.create_subprocess_exec(
        *_dial_args(esl, sip, tmp_path / "re"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await _answered_line(dial)
        sim.kill()
        await sim.wait()
        sim = await _start_sim(esl, sip)
        # the restarted switch gets calls: dial reconnected
        for _ in range(int(scaled(30) / 0.1)):
            if await _sessions(esl) >= 4:
                break
            await pause(0.1)  # polling a switch in another process
        assert await _sessions(esl) >= 4, "dial never called the restarted switch"
        dial.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(dial.communicate(), scaled(60))
    finally:
        if dial.returncode is None:
            dial.kill()
            await dial.wait()
    text = out.decode()
    assert dial.returncode == 0, err.decode()
    assert "reconnected" in err.decode(), err.decode()
    m = re.search(r"offered (\d+), answered (\d+), failed (\d+), lost (\d+), "
                  r"(?:cancelled at the end (\d+), )?", text)
    offered, answered, failed, lost, cancelled = (int(g or 0) for g in m.groups())
    assert offered == answered + failed + lost + cancelled, text
    assert answered > 0 and offered > 0
    assert "not offered (fell due in a stall or while no switch was connected) " in text, text
    progress, line, table = _numbers(text)  # item: the three agree, even across a restart
    assert progress == line, text
    assert {k: table.get(k, 0) for k in COUNTS} == line, text

    dial = await asyncio.create_subprocess_exec(
        *_dial_args(esl, sip, tmp_path / "no", "--no-reconnect"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await _answered_line(dial)
        sim.kill()
        await sim.wait()
        out, err = await asyncio.wait_for(dial.communicate(), scaled(30))
    finally:
        if dial.returncode is None:
            dial.kill()
            await dial.wait()
    assert dial.returncode != 0
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("switchio-lab dial: the switch went away "
                           f"(127.0.0.1:{esl}: connection lost)"), err.decode()
    m = re.search(r"offered (\d+), answered (\d+), failed (\d+), lost (\d+)", last)
    offered, answered, failed, lost = map(int, m.groups())
    assert offered == answered + failed + lost and answered > 0, last
    assert "summary" not in out.decode()


def test_dial_table_counts_are_the_originators() -> None:
    """The table's call counts are the final stats() (which the last progress line
    prints); what the CDR rows said otherwise stays visible as cdr_* rows."""
    import pandas as pd

    from switchio_lab.cli.dial import dial_table, status_line

    final = {"state": "STOPPED", "offered": 110, "answered": 105, "failed_total": 3,
             "failed": {}, "lost": 2, "cancelled": 0, "lost_after_answer": 15, "active": 0,
             "up": 0, "cps": 0.0}
    cdr = pd.Series({"offered": 110, "calls": 110, "answered": 90, "failed": 3, "lost": 17,
                     "cancelled": 0, "lost_after_answer": 0, "asr": 90 / 110, "acd": 1.0},
                    dtype="object")
    table = dial_table(cdr, final)
    assert (table["answered"], table["lost"], table["cdr_answered"]) == (105, 2, 90)
    assert table["asr"] == pytest.approx(105 / 110) and "cdr_failed" not in table.index
    assert "answered    105" in status_line(final, 110)


def test_dial_flush_interval_is_validated() -> None:
    for bad in ("0", "-1", "nan", "inf", "soon"):
        out = run("dial", "127.0.0.1", "--flush-interval", bad)
        assert out.returncode == 2, (bad, out.stderr)
        assert "argument --flush-interval" in out.stderr and "Traceback" not in out.stderr
    from switchio_lab.cli import DIAL_FLUSH_INTERVAL
    from switchio_lab.measure.storage import FLUSH_INTERVAL

    assert DIAL_FLUSH_INTERVAL == FLUSH_INTERVAL  # dial's documented default is the writer's


async def test_dial_flush_interval_reaches_the_writer(tmp_path) -> None:
    """A short --flush-interval: run.json says so and rows reach the disk while dial
    still runs (a kill -9 then loses at most that interval's rows)."""
    import json

    from switchio_lab.sim import Node, NodeConfig

    node = await Node(NodeConfig(esl_port=0, hostname="dial-flush")).start()
    proc = await asyncio.create_subprocess_exec(
        *CLI, "dial", f"{node.host}:{node.esl_port}", "--dest", f"load@{node.sip_address()}",
        "--rate", "10", "--limit", "5", "--duration", "0.2", "--flush-interval", "0.2",
        "--runs-dir", str(tmp_path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await until(lambda: list(tmp_path.glob("*/run.json")), timeout=scaled(30))
        run_dir = next(tmp_path.glob("*/run.json")).parent
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["flush_interval"] == 0.2, meta
        await until(lambda: list(run_dir.glob("cdr/part-*")), timeout=scaled(30))
        assert proc.returncode is None  # on disk while dial runs
        proc.kill()  # a crash: what is on disk stays loadable
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await node.stop()
    from switchio_lab.measure import load

    assert len(load(run_dir)["cdr"]) > 0

