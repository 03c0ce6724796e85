"""WAV files: writing and reading 8/16/24/32-bit PCM, downmixed to mono int16.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from .g711 import alaw_decode, ulaw_decode
from .pcm import _as_int16, _to_int16

# --- WAV I/O ------------------------------------------------------------------------------

def write_wav(path: Path | str, samples: np.ndarray, rate: int = 8000) -> Path:
    """Write 16-bit mono PCM (a 44-byte header, like FreeSWITCH's recordings)."""
    path = Path(path)
    data = _as_int16(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(data.astype("<i2").tobytes())
    return path


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Read a WAV file as mono ``int16`` (channels averaged) and its sample rate.

    PCM 8/16/24/32-bit through :mod:`wave`; IEEE float and G.711 (A-law, µ-law) WAVs too.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            nch, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
        return _downmix(_pcm_to_int(raw, width), nch), rate
    except wave.Error:
        return _read_riff(path)


def _pcm_to_int(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.int32)
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        return v >> 8
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    raise ValueError(f"unsupported sample width {width}")


def _downmix(values: np.ndarray, channels: int) -> np.ndarray:
    if channels > 1:
        values = values[: len(values) // channels * channels].reshape(-1, channels)
        values = np.trunc(values.mean(axis=1))
    return _to_int16(values)


def _read_riff(path: Path) -> tuple[np.ndarray, int]:
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise ValueError("WAV without fmt/data chunk")
    tag, nch, rate = struct.unpack("<HHI", fmt[:8])
    bits = struct.unpack("<H", fmt[14:16])[0]
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag == 1:
        values = _pcm_to_int(payload, bits // 8)
    elif tag == 3:
        f = np.frombuffer(payload, dtype="<f4" if bits == 32 else "<f8")
        values = np.round(np.clip(f, -1.0, 1.0) * 32767.0)
    elif tag == 6:
        values = alaw_decode(np.frombuffer(payload, dtype=np.uint8)).astype(np.int32)
    elif tag == 7:
        values = ulaw_decode(np.frombuffer(payload, dtype=np.uint8)).astype(np.int32)
    else:
        raise ValueError(f"unsupported WAV format tag {tag}")
    return _downmix(values, max(nch, 1)), rate
