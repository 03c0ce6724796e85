"""The Event Socket password reaches the CLI without showing in ``ps``: from a file or
``$SWITCHIO_LAB_PASSWORD``; it never appears in what the CLI prints."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from switchio_lab.cli import build_parser
from switchio_lab.cli.common import resolve_password
from switchio_lab.connection import AuthenticationError, InboundClient
from switchio_lab.testing import scaled

ROOT = Path(__file__).resolve().parents[2]
SECRET = "n0t-in-ps-9f3"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["dial", "127.0.0.1", *argv])


def test_password_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHIO_LAB_PASSWORD", raising=False)
    assert resolve_password(parse()) == "ClueCon"
    monkeypatch.setenv("SWITCHIO_LAB_PASSWORD", "from-env")
    assert resolve_password(parse()) == "from-env"
    assert resolve_password(parse("--password", "given")) == "given"
    f = tmp_path / "pw"
    f.write_text("from-file\nignored\n")
    assert resolve_password(parse("--password-file", str(f))) == "from-file"
    with pytest.raises(SystemExit, match="cannot read --password-file"):
        resolve_password(parse("--password-file", str(tmp_path / "missing")))
    (tmp_path / "empty").write_text("")
    with pytest.raises(SystemExit, match="is empty"):
        resolve_password(parse("--password-file", str(tmp_path / "empty")))
    with pytest.raises(SystemExit):  # one source at a time
        build_parser().parse_args(["dial", "h", "--password", "a", "--password-file", str(f)])
    for sub in ("sim", "serve", "dial"):
        assert "SWITCHIO_LAB_PASSWORD" in build_parser()._subparsers._group_actions[0].choices[
            sub].format_help()


async def test_sim_takes_the_password_from_the_environment(tmp_path: Path) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SWITCHIO_LAB_PASSWORD": SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchio_lab.cli", "sim", "--host", "127.0.0.1",
        "--esl-port", str(port), "--internal-port", "26060", "--external-port", "26080",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), scaled(15))).decode()
        assert f"ESL 127.0.0.1:{port}" in line and "password set" in line
        async with InboundClient("127.0.0.1", port, SECRET, reconnect=False) as client:
            assert await client.api("hostname")
        with pytest.raises(AuthenticationError):
            await InboundClient("127.0.0.1", port, "ClueCon", reconnect=False).connect()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), scaled(15))
    assert SECRET not in line + out.decode() + err.decode()


def test_sim_warns_when_the_event_socket_leaves_loopback() -> None:
    from switchio_lab.cli.sim import exposure_warning

    assert exposure_warning(None) is None
    assert exposure_warning("127.0.0.5") is None and exposure_warning("::1") is None
    assert exposure_warning("localhost") is None
    for host in ("0.0.0.0", "192.0.2.7", "::", "lab.example.net"):
        text = exposure_warning(host)
        assert text and "reachable from the network" in text and host in text


@pytest.mark.parametrize("argv, message", [
    (["sim", "--esl-port", "99999"], "'99999' is not a port (1-65535)"),
    (["sim", "--external-port", "0"], "'0' is not a port"),
    (["dial", "127.0.0.1:abc"], "bad contact '127.0.0.1:abc'"),
    (["serve", "host:70000"], "bad contact 'host:70000'"),
])
def test_bad_ports_and_contacts_are_refused_by_the_parser(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"switchio-lab {argv[0]}: error:" in err and message in err
    assert "Traceback" not in err


def test_good_contacts_pass() -> None:
    for host in ("127.0.0.1", "127.0.0.1:8021", "[::1]:8021", "::1", "fs.example.net"):
        assert build_parser().parse_args(["dial", host]).hosts == [host]
