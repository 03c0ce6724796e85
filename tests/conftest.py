"""Shared pytest fixtures.

Golden captures of a real FreeSWITCH live outside the repository (they are read-only
ground truth): ``$SWITCHIO_LAB_FIXTURES`` if set, else ``<repo>/../shared/fixtures/freeswitch``.
A missing directory fails every test that needs it; it is never a skip.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["secret_guard"]  # no password in any log record of the suite

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_ENV = "SWITCHIO_LAB_FIXTURES"

# --- golden captures ---------------------------------------------------------------------


def fixtures_path() -> Path:
    """Where the golden captures should be (not checked)."""
    env = os.environ.get(FIXTURES_ENV)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "fixtures" / "freeswitch"


@functools.cache
def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The directory of golden FreeSWITCH captures (``NAME.esl``, ``NAME.jsonl``)."""
    path = fixtures_path()
    if not path.is_dir():
        pytest.fail(
            f"golden FreeSWITCH captures not found at {path}: set ${FIXTURES_ENV} to the"
            " directory holding NAME.esl / NAME.jsonl (see the fixtures' README.md)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def fixture_bytes(fixtures_dir: Path) -> Callable[[str], bytes]:
    """``fixture_bytes("call_basic.esl")``: a capture's bytes (``.gz`` decompressed; cached)."""

    def load(name: str) -> bytes:
        path = fixtures_dir / name
        if not path.is_file():
            pytest.fail(f"golden capture {name!r} missing from {fixtures_dir}", pytrace=False)
        return _read(path)

    return load


@pytest.fixture(scope="session")
def transcript(
    fixture_bytes: Callable[[str], bytes],
) -> Callable[[str], list[tuple[float, str, bytes]]]:
    """``transcript("call_basic")``: the conversation as ``[(t, "send"|"recv", bytes)]``."""

    def load(name: str) -> list[tuple[float, str, bytes]]:
        if not name.endswith((".jsonl", ".jsonl.gz")):
            name += ".jsonl"
        lines = fixture_bytes(name).decode("utf-8").splitlines()
        out = []
        for line in lines:
            if line.strip():
                o = json.loads(line)
                out.append((o["t"], o["dir"], o["data"].encode("latin-1")))
        return out

    return load


# --- clients -----------------------------------------------------------------------------
# (generic ones, sim_node, sim_client, connect ...: switchio_lab.testing.plugin)


@pytest.fixture
def client(sim_client):
    """The call-control client of the core tests: the plugin's ``sim_client``."""
    return sim_client
