"""The ``switchio-lab`` command line, run as users run it (a subprocess)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from switchio_lab.connection import InboundClient
from switchio_lab.testing import pause, scaled, until

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "switchio_lab.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.mark.parametrize("sub", ["", "sim", "serve", "dial", "lab"])
def test_help(sub: str) -> None:
    out = run(*([sub] if sub else []), "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: switchio-lab" in out.stdout


async def test_sim_serves_real_esl_until_interrupted() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *CLI, "sim", "--nodes", "2", "--host", "127.0.0.1", "--esl-port", str(port),
        "--internal-port", "25060", "--external-port", "25080", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), scaled(15))).decode()
                 for _ in range(3)]
        assert f"ESL 127.0.0.1:{port}" in lines[0] and "external sip:127.0.0.1:25080" in lines[0]
        assert f"ESL 127.0.0.1:{port + 1}" in lines[1]  # shared host: ports shift
        async with InboundClient("127.0.0.1", port + 1, reconnect=False) as client:
            assert await client.api("hostname") == "switchio-lab-2"
            await client.bgapi("originate sofia/external/x@127.0.0.1:25080 &park()")
            # node 1's callee is parked: two legs, one per node
            for _ in range(int(scaled(5) / 0.02)):
                count = (await client.api("show channels count")).strip()
                if count == "1 total.":
                    break
                await pause(0.02)
            assert count == "1 total."
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), scaled(15))
    assert proc.returncode == 0, err.decode()
    assert b"stopped" in out


async def test_serve_runs_an_app_file_against_a_node(sim_node, connect) -> None:
    addr = f"{sim_node.host}:{sim_node.esl_port}"
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", addr, "--app", "tests/seed_apps.py:TonePlay", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), scaled(15))
        # which switch it reached, first
        assert line.startswith(f"connected to {addr}: {sim_node.config.hostname}, ".encode()), line
        assert b"FreeSWITCH Version" in line, line
        line = await asyncio.wait_for(proc.stdout.readline(), scaled(15))
        assert b"loaded TonePlay as 'default'" in line, line
        await asyncio.wait_for(proc.stdout.readline(), scaled(5))  # "serving"
        client = await connect(sim_node)
        reply = await client.api(f"originate sofia/external/x@{sim_node.sip_address()} &park()")
        assert reply.startswith("+OK"), reply  # answered by the served TonePlay
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), scaled(15))
    assert proc.returncode == 0


def test_serve_errors_are_clear() -> None:
    port = free_port()  # nobody listens there
    out = run("serve", f"127.0.0.1:{port}", "--app", "tests/seed_apps.py:TonePlay")
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr
    out = run("serve", "127.0.0.1", "--app", "tests/nope.py:X")
    assert out.returncode != 0 and "no such file" in out.stderr
    assert out.stderr.startswith("switchio-lab serve: --app tests/nope.py:X: ")
    out = run("dial", "127.0.0.1", "--app", "tests/nope.py:X")
    assert out.stderr.startswith("switchio-lab dial: --app tests/nope.py:X: "), out.stderr
    out = run("serve", "127.0.0.1", "--id", "x", "--app", "tests/seed_apps.py:TonePlay",
              "--app", "switchio_lab.apps.routers:Proxier")
    assert out.returncode != 0 and "--id x names one app, but 2 were given" in out.stderr
    assert "Traceback" not in out.stderr
    out = run("serve", "127.0.0.1", "--app", "tests/seed_apps.py:nothing")
    assert out.returncode != 0 and "has no 'nothing'" in out.stderr
    out = run("sim", "--nodes", "0")
    assert out.returncode != 0 and "at least 1" in out.stderr


async def test_serve_reports_a_wrong_password(sim_node) -> None:
    addr = f"{sim_node.host}:{sim_node.esl_port}"
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", addr, "--password", "nope", "--app", "tests/seed_apps.py:TonePlay",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), scaled(20))
    assert proc.returncode != 0
    assert b"rejected the password" in err and b"nope" not in err


async def test_dial_runs_a_load_test_and_stores_its_cdrs(tmp_path) -> None:
    """``switchio-lab dial`` against a sim node calling itself: summary and run directory."""
    from switchio_lab.measure import load
    from switchio_lab.sim import Node, NodeConfig

    node = await Node(NodeConfig(esl_port=0, hostname="dial-test")).start()
    try:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "dial", f"{node.host}:{node.esl_port}", "--dest",
            f"load@{node.sip_address()}", "--rate", "20", "--limit", "5", "--duration", "0.3",
            "--max-offered", "20", "--runs-dir", str(tmp_path), "--name", "t", cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), scaled(60))
    finally:
        await node.stop()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "offered 20, answered 20, failed 0" in text, text
    run_dir = Path(text.strip().splitlines()[-1].split(": ", 1)[1])
    assert run_dir.parent == tmp_path
    cdr = load(run_dir)["cdr"]
    assert len(cdr) == 40  # a caller and a callee leg per call, all on this one node
    assert set(cdr["hangup_cause"]) == {"NORMAL_CLEARING"}


def test_dial_refuses_bad_options() -> None:
    out = run("dial", "127.0.0.1", "--rate", "0")
    assert out.returncode != 0 and "--rate must be > 0" in out.stderr


def test_dial_reports_an_unreachable_host() -> None:
    port = free_port()
    out = run("dial", f"127.0.0.1:{port}", "--max-offered", "1")
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


async def test_dial_through_a_proxy_served_on_another_node(tmp_path) -> None:
    """The device-under-test flow from the command line: ``serve`` runs the Proxier on node
    2, ``dial --proxy`` sends node 1's calls through it back to node 1, where they are
    answered by the dialer's TonePlay (found by the app id the calls carry)."""
    from switchio_lab.sim import Cluster

    cluster = await Cluster.start(2, esl_port=0)
    n1, n2 = cluster
    proxy = await asyncio.create_subprocess_exec(
        *CLI, "serve", f"{n2.host}:{n2.esl_port}", "--app",
        "switchio_lab.apps.routers:Proxier", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proxy.stdout.readline(), scaled(15))
        assert line.startswith(b"connected to "), line
        line = await asyncio.wait_for(proxy.stdout.readline(), scaled(15))
        assert b"loaded Proxier as 'default'" in line, line
        await asyncio.wait_for(proxy.stdout.readline(), scaled(5))  # "serving"
        dial = await asyncio.create_subprocess_exec(
            *CLI, "dial", f"{n1.host}:{n1.esl_port}", "--dest", f"dut@{n1.sip_address()}",
            "--proxy", n2.sip_address(), "--rate", "10", "--limit", "3", "--duration", "0.3",
            "--max-offered", "5", "--runs-dir", str(tmp_path), "--name", "dut", cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(dial.communicate(), scaled(60))
        assert dial.returncode == 0, err.decode()
        assert "offered 5, answered 5, failed 0" in out.decode(), out.decode()
    finally:
        proxy.send_signal(signal.SIGINT)
        await asyncio.wait_for(proxy.communicate(), scaled(15))
        await cluster.stop()


async def test_dial_waits_for_the_far_legs_cdr_rows(tmp_path, sim_cluster) -> None:
    """The callee's CHANNEL_HANGUP_COMPLETE comes after the caller's CHANNEL_DESTROY (here
    its node's events are held back until then): dial waits for its row before closing
    the run (it closed first and lost the row: 599 of 600 against FreeSWITCH)."""
    from switchio_lab.measure import load
    from switchio_lab.sim import Rule

    caller, callee = sim_cluster
    callee.config.dialplan = [Rule(r".*", [("answer", ""), ("park", "")])]
    proc = await asyncio.create_subprocess_exec(
        *CLI, "dial", f"{caller.host}:{caller.esl_port}", f"{callee.host}:{callee.esl_port}",
        "--dest", f"load@{callee.sip_address()}", "--rate", "5", "--limit", "2",
        "--duration", "0.5", "--max-offered", "1", "--runs-dir", str(tmp_path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await until(lambda: any(ch.is_answered for ch in callee.channels.values()),
                    timeout=scaled(20))
        held = list(callee.listeners)
        for listener in held:  # from now on the callee node's events wait
            listener.pause_writing()
        await until(lambda: caller.sessions_since_start and not caller.channels)
        await pause(0.5)  # the calling leg is gone: dial must still be waiting
        assert proc.returncode is None
        for listener in held:
            listener.resume_writing()
        out, err = await asyncio.wait_for(proc.communicate(), scaled(30))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text, errors = out.decode(), err.decode()
    assert proc.returncode == 0, errors
    assert "is closed" not in errors and "no CDR row" not in errors, errors
    assert "offered 1, answered 1, failed 0, lost 0" in text, text
    cdr = load(Path(text.strip().splitlines()[-1].split(": ", 1)[1]))["cdr"]
    assert sorted(cdr["direction"]) == ["inbound", "outbound"]  # both legs
    assert not cdr["lost"].any()


def test_dial_default_duration_lets_the_rate_hold() -> None:
    from switchio_lab.cli import DIAL_LOAD, dial_duration

    duration, warnings = dial_duration(20, 50)  # was 50 / 20 + 1 = 3.5 s: 14.3 calls/s
    assert 20 * duration == pytest.approx(DIAL_LOAD * 50) and not warnings
    _, warnings = dial_duration(20, 50, 3.5)  # asked for: said why the rate cannot hold
    assert len(warnings) == 1 and "--rate 20 cannot be reached" in warnings[0]
    assert "about 14.3 calls/s" in warnings[0] and "raise --limit to 88" in warnings[0]
    assert dial_duration(20, 50, 1.0) == (1.0, [])
    duration, warnings = dial_duration(1000, 10)  # calls of 8 ms: said so
    assert duration == pytest.approx(0.008) and "held only" in warnings[0]


async def test_dial_reaches_the_rate_asked_with_the_defaults(tmp_path) -> None:
    from switchio_lab.measure import analysis, load
    from switchio_lab.sim import Node, NodeConfig

    node = await Node(NodeConfig(esl_port=0, hostname="dial-rate")).start()
    try:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "dial", f"{node.host}:{node.esl_port}", "--dest",
            f"load@{node.sip_address()}", "--rate", "20", "--limit", "15",
            "--max-offered", "60", "--runs-dir", str(tmp_path), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), scaled(60))
    finally:
        await node.stop()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "duration 0.6 s (derived: the rate holds)" in text, text
    assert "warning" not in err.decode()
    cdr = load(Path(text.strip().splitlines()[-1].split(": ", 1)[1]))["cdr"]
    summary = analysis.summary(cdr)
    # the old default duration (limit / rate + 1 = 1.75 s) held it to about 8.6 calls/s
    assert summary["calls"] == 60 and summary["mean_cps"] >= 0.9 * 20, summary


async def _sim_process(*args: str):
    """``switchio-lab sim`` as a user starts it; returns the process once both nodes listen."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, "sim", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    lines = []
    while not lines or not lines[-1].startswith("running"):
        line = await asyncio.wait_for(proc.stdout.readline(), scaled(15))
        assert line, (lines, (await proc.stderr.read()).decode())
        lines.append(line.decode())
    return proc, lines


async def test_readme_headline_load_test_is_answered(tmp_path) -> None:
    """The README's load test: ``sim --nodes 2``, then node 1 dials ``load@`` node 2, which
    nobody controls: node 2's dialplan answers it (it parked, rang for 60 s and timed out:
    0 % answered in 9 minutes). Same shape as the README, fewer calls."""
    from switchio_lab.measure import load

    port = free_port()
    sim, lines = await _sim_process("--nodes", "2", "--esl-port", str(port))
    try:
        assert any("calls to load@" in line for line in lines), lines
        dial = await asyncio.create_subprocess_exec(
            *CLI, "dial", f"127.0.0.1:{port}", "--dest", "load@127.0.0.2:5080",
            "--rate", "50", "--limit", "200", "--max-offered", "150",
            "--runs-dir", str(tmp_path), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(dial.communicate(), scaled(120))
    finally:
        sim.send_signal(signal.SIGINT)
        await asyncio.wait_for(sim.communicate(), scaled(15))
    text = out.decode()
    assert dial.returncode == 0, err.decode()
    assert "no call answered" not in err.decode(), err.decode()
    summary = next(line for line in text.splitlines() if line.startswith("  offered "))
    answered = int(summary.split("answered ")[1].split(",")[0])
    assert answered >= 0.95 * 150, text
    cdr = load(Path(text.strip().splitlines()[-1].split(": ", 1)[1]))["cdr"]
    assert (cdr["hangup_cause"] == "NORMAL_CLEARING").mean() >= 0.95


async def test_dial_warns_early_when_nothing_answers(tmp_path, sim_cluster) -> None:
    """Calls to a switch where nothing answers ring until they time out: dial says so
    within seconds, and what to do, instead of looking busy for minutes."""
    caller, callee = sim_cluster  # the callee parks every call and nobody answers it
    proc = await asyncio.create_subprocess_exec(
        *CLI, "dial", f"{caller.host}:{caller.esl_port}", "--dest",
        f"nobody@{callee.sip_address()}", "--rate", "5", "--limit", "5",
        "--max-offered", "5", "--runs-dir", str(tmp_path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = b""
        while b"no call answered" not in line:
            line = await asyncio.wait_for(proc.stderr.readline(), scaled(30))
            assert line, "dial ended without the warning"
    finally:
        proc.kill()
        await proc.wait()
    text = line.decode()
    assert "still ringing" in text and "switchio-lab serve" in text and "Ctrl-C" in text


async def test_calls_cancelled_at_the_end_are_not_failures(tmp_path, sim_cluster) -> None:
    """Calls still ringing when the run ends are hung up by dial: cancelled
    (ORIGINATOR_CANCEL), not failures with cause NORMAL_CLEARING."""
    from switchio_lab.measure import analysis, load

    caller, callee = sim_cluster  # parks and never answers
    proc = await asyncio.create_subprocess_exec(
        *CLI, "dial", f"{caller.host}:{caller.esl_port}", "--dest",
        f"nobody@{callee.sip_address()}", "--rate", "10", "--limit", "2", "--duration", "1",
        "--max-offered", "2", "--runs-dir", str(tmp_path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), scaled(90))
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "offered 2, answered 0, failed 0, lost 0, cancelled at the end 2" in text, text
    assert "NORMAL_CLEARING" not in text, text
    cdr = load(Path(text.strip().splitlines()[-1].split(": ", 1)[1]))["cdr"]
    s = analysis.summary(cdr, offered=2)
    assert (s["failed"], s["cancelled"]) == (0, 2), s
    assert analysis.failures_by_cause(cdr).empty


def test_sim_suggests_another_esl_port_when_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("sim", "--esl-port", str(port))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert f"port {port} is taken" in out.stderr and "--esl-port" in out.stderr, out.stderr


async def test_dial_speaks_in_option_names(sim_node) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "dial", f"{sim_node.host}:{sim_node.esl_port}", "--max-offered", "-3", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), scaled(30))
    text = err.decode()
    assert proc.returncode != 0
    assert "--max-offered must be" in text and "max_offered" not in text, text


def test_as_options() -> None:
    from switchio_lab.cli import as_options

    assert as_options("max_offered must be >= 0, not -3") == "--max-offered must be >= 0, not -3"
    assert as_options("dest_url must be a string") == "--dest must be a string"


def test_lab_passes_jupyter_options_through() -> None:
    """``switchio-lab lab --port 8898 --no-browser``: options jupyter knows go to it."""
    from switchio_lab.cli import build_parser, lab_command, parse

    args = parse(["lab", "--port", "8898", "--no-browser", "--ServerApp.token=x"])
    cmd = lab_command(args)
    assert "--port=8898" in cmd and "--no-browser" in cmd and "--ServerApp.token=x" in cmd
    args = parse(["lab", "notebooks", "--no-browser"])
    assert args.directory == "notebooks" and "--no-browser" in lab_command(args)
    with pytest.raises(SystemExit):
        parse(["dial", "127.0.0.1", "--no-such-option"])  # only lab passes options on
    assert build_parser().prog == "switchio-lab"
