"""What the benches share to run and watch processes: CPU and RSS readers (from /proc), a
free loopback port, and the embedded switch in a subprocess (``bench.support.sim_server``
or a bench's own ``--serve`` mode, or ``switchio-lab sim`` on fixed ports, restartable)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int | str, field: str) -> int:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM`` ...); 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now, MB."""
    return status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM), MB; for this process, as getrusage reports it."""
    if pid == "self":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return status_kb(pid, "VmHWM") / 1024


def start_server(args: list[str] | None = None) -> tuple[subprocess.Popen, int, str]:
    """Start a node that prints ``READY <esl_port> <sip_address>`` (default:
    ``python -m bench.support.sim_server``); return (process, ESL port, SIP address)."""
    proc = subprocess.Popen([sys.executable, *(args or ["-m", "bench.support.sim_server"])],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"the bench node did not start: {line}")
    return proc, int(line[1]), line[2]


class Sim:
    """``switchio-lab sim`` as a subprocess on fixed ports (so a restart is the same node)."""

    def __init__(self, *extra: str) -> None:
        self.esl, self.internal, self.external = free_port(), free_port(), free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen | None = None

    @property
    def sip(self) -> str:
        return f"127.0.0.1:{self.external}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Sim:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchio_lab.cli", "sim", "--host", "127.0.0.1",
             "--esl-port", str(self.esl), "--internal-port", str(self.internal),
             "--external-port", str(self.external), *self.extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("running"):
                return self
        raise RuntimeError("switchio-lab sim did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
