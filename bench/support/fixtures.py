"""Locate and load the golden captures for benchmarks."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fixtures_dir() -> Path:
    path = Path(os.environ.get("SWITCHIO_LAB_FIXTURES", ROOT.parent / "shared/fixtures/freeswitch"))
    if not path.is_dir():
        raise SystemExit(f"golden captures not found at {path} (set SWITCHIO_LAB_FIXTURES)")
    return path


def load_capture() -> bytes:
    """The 55 MB capture of 200 calls at 20 calls/s (every byte FreeSWITCH sent)."""
    with gzip.open(fixtures_dir() / "load_200calls_20cps.esl.gz") as fh:
        return fh.read()


def event_stream(data: bytes) -> tuple[bytes, int]:
    """The capture's event frames only, back to back as sent, and their count.

    The capture also holds the replies to the recording client's own commands; a
    client replaying it did not send those, so they are left out.
    """
    from switchio_lab.esl import Parser

    frames = Parser().feed(data)
    ends = [f.position for f in frames[1:]] + [len(data)]
    parts = [data[f.position : end] for f, end in zip(frames, ends, strict=True) if f.is_event]
    return b"".join(parts), len(parts)
