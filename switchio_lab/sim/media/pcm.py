"""16-bit PCM samples and the C arithmetic FreeSWITCH computes them with (atoi, division)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# --- C helpers ------------------------------------------------------------------------

_INT_RE = re.compile(r"\s*([+-]?\d+)")
_FLOAT_RE = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _atoi(s: str) -> int:
    """C ``atoi``: leading integer, 0 when there is none."""
    m = _INT_RE.match(s)
    return int(m.group(1)) if m else 0


def _atof(s: str) -> float:
    """C ``atof`` (decimal forms only)."""
    m = _FLOAT_RE.match(s)
    return float(m.group(1)) if m else 0.0


def _cdiv(a: np.ndarray | int, b: int) -> np.ndarray | int:
    """C integer division (truncates toward zero)."""
    if isinstance(a, np.ndarray):
        return np.trunc(a / b).astype(np.int64)
    return int(a / b)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -32768, 32767).astype(np.int16)



def _as_int16(samples: np.ndarray | Sequence[float]) -> np.ndarray:
    """Integers are taken as 16-bit sample values, floats as -1.0..1.0 full scale."""
    a = np.asarray(samples)
    if a.dtype.kind == "f":
        a = np.round(a * 32767.0)
    return _to_int16(a.reshape(-1))
