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

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "switchio_lab.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.mark.parametrize("sub", ["", "sim", "serve", "lab"])
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
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 15)).decode() for _ in range(3)]
        assert f"ESL 127.0.0.1:{port}" in lines[0] and "external sip:127.0.0.1:25080" in lines[0]
        assert f"ESL 127.0.0.1:{port + 1}" in lines[1]  # shared host: ports shift
        async with InboundClient("127.0.0.1", port + 1, reconnect=False) as client:
            assert await client.api("hostname") == "switchio-lab-2"
            await client.bgapi("originate sofia/external/x@127.0.0.1:25080 &park()")
            await asyncio.sleep(0.2)  # node 1's callee is parked: two legs, one per node
            assert (await client.api("show channels count")).strip() == "1 total."
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    assert b"stopped" in out


async def test_serve_runs_an_app_file_against_a_node(sim_node, connect) -> None:
    addr = f"{sim_node.host}:{sim_node.esl_port}"
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", addr, "--app", "tests/seed_apps.py:TonePlay", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert b"loaded TonePlay as 'default'" in line, line
        await asyncio.wait_for(proc.stdout.readline(), 5)  # "serving"
        client = await connect(sim_node)
        reply = await client.api(f"originate sofia/external/x@{sim_node.sip_address()} &park()")
        assert reply.startswith("+OK"), reply  # answered by the served TonePlay
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0


def test_serve_errors_are_clear() -> None:
    port = free_port()  # nobody listens there
    out = run("serve", f"127.0.0.1:{port}", "--app", "tests/seed_apps.py:TonePlay")
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr
    out = run("serve", "127.0.0.1", "--app", "tests/nope.py:X")
    assert out.returncode != 0 and "no such file" in out.stderr
    out = run("serve", "127.0.0.1", "--app", "tests/seed_apps.py:nothing")
    assert out.returncode != 0 and "has no 'nothing'" in out.stderr
    out = run("sim", "--nodes", "0")
    assert out.returncode != 0 and "at least 1" in out.stderr


async def test_serve_reports_a_wrong_password(sim_node) -> None:
    addr = f"{sim_node.host}:{sim_node.esl_port}"
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", addr, "--password", "nope", "--app", "tests/seed_apps.py:TonePlay",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert b"rejected the password" in err and b"nope" not in err
