"""Item 11: the ``switchio`` command with switchio's subcommands and options."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

from switchio_lab.testing import scaled

REPO = Path(__file__).resolve().parents[2]


def switchio(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "switchio_lab.compat.cli", *args],
                          capture_output=True, text=True, env=env,
                          timeout=scaled(60), **kwargs)


def test_the_console_script_is_declared():
    text = (REPO / "pyproject.toml").read_text()
    assert 'switchio = "switchio_lab.compat.cli:main"' in text


def test_list_apps():
    out = switchio("list-apps")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Collected ")
    for name in ("TonePlay", "Bert", "Router", "PlayRec"):
        assert f" - {name}: " in out.stdout


def test_dial_stores_per_call_metrics_and_plot_says_what_it_needs(switch, tmp_path):
    metrics = tmp_path / "metrics.csv"
    out = switchio("dial", f"{switch.host}:{switch.esl_port}", "--profile", "external",
                   "--rate", "10", "--limit", "2", "--max-offered", "3", "--duration", "0.2",
                   "--app", "TonePlay", "--metrics-file", str(metrics), "--debug",
                   "--report-interval", "0.2")
    assert out.returncode == 0, out.stderr
    assert "Dialing session completed!" in out.stdout
    assert "<Originator: " in out.stdout and "DEBUG" in out.stderr
    with metrics.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3  # one row per call, switchio's fields
    assert {r["switchio_app"] for r in rows} == {"TonePlay"}
    assert all(r["caller_create"] and r["callee_create"] for r in rows)
    out = switchio("plot", str(metrics))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert out.returncode == 1 and "needs pandas and matplotlib" in out.stderr


def test_dial_interactive(switch):
    out = switchio("dial", f"{switch.host}:{switch.esl_port}", "--profile", "external",
                   "--interactive", input="print('rate is', dialer.rate)\n")
    assert out.returncode == 0, out.stderr
    assert "rate is 30" in out.stdout and "Dialing session completed!" in out.stdout
    assert "mod_bert" in out.stderr  # the default app, Bert, loaded with a warning


def test_serve_until_terminated(switch):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "switchio_lab.compat.cli", "serve",
                             f"{switch.host}:{switch.esl_port}", "--app", "TonePlay"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("serving "), proc.stderr.read() if proc.poll() else first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(20)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
