"""G.711 mu-law and A-law, as the ITU-T Software Tool Library (G.191) ``g711.c``.
"""

from __future__ import annotations

import numpy as np

from .pcm import _as_int16

# --- G.711 (ITU-T G.191 STL g711.c) ------------------------------------------------------

def _build_ulaw_encode() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    absno = np.where(x < 0, (~x) >> 2, x >> 2) + 33  # 14-bit magnitude, biased
    absno = np.minimum(absno, 0x1FFF)
    segno = np.ones_like(absno)
    i = absno >> 6
    while np.any(i):
        segno += i != 0
        i >>= 1
    high = 0x8 - segno
    low = 0xF - ((absno >> segno) & 0xF)
    out = (high << 4) | low
    out = np.where(x >= 0, out | 0x80, out)
    return out.astype(np.uint8)


def _build_alaw_encode() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    ix = np.where(x < 0, (~x) >> 4, x >> 4)  # 12-bit magnitude (1's complement for negatives)
    iexp = np.ones_like(ix)
    big = ix > 15
    v = ix.copy()
    while True:
        more = big & (v > 16 + 15)
        if not np.any(more):
            break
        v = np.where(more, v >> 1, v)
        iexp = np.where(more, iexp + 1, iexp)
    v = np.where(big, v - 16 + (iexp << 4), ix)
    v = np.where(x >= 0, v | 0x80, v)
    return (v ^ 0x55).astype(np.uint8)


def _build_ulaw_decode() -> np.ndarray:
    y = np.arange(256, dtype=np.int32)
    sign = np.where(y < 0x80, -1, 1)
    mantissa = ~y
    exponent = (mantissa >> 4) & 0x7
    segment = exponent + 1
    mantissa &= 0xF
    step = 4 << segment
    return (sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)).astype(np.int16)


def _build_alaw_decode() -> np.ndarray:
    y = np.arange(256, dtype=np.int32)
    ix = (y ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0xF
    mant = np.where(iexp > 0, mant + 16, mant)
    mant = (mant << 4) + 0x8
    mant = np.where(iexp > 1, mant << np.maximum(iexp - 1, 0), mant)
    return np.where(y > 127, mant, -mant).astype(np.int16)


_ULAW_ENC = _build_ulaw_encode()
_ALAW_ENC = _build_alaw_encode()
_ULAW_DEC = _build_ulaw_decode()
_ALAW_DEC = _build_alaw_decode()


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """16-bit linear -> G.711 µ-law bytes (``uint8``), ITU-T G.191 ``ulaw_compress``."""
    return _ULAW_ENC[_as_int16(samples).astype(np.int32) + 32768]


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 µ-law bytes -> 16-bit linear (``int16``), ITU-T G.191 ``ulaw_expand``."""
    return _ULAW_DEC[np.asarray(codes, dtype=np.uint8)]


def alaw_encode(samples: np.ndarray) -> np.ndarray:
    """16-bit linear -> G.711 A-law bytes (``uint8``), ITU-T G.191 ``alaw_compress``."""
    return _ALAW_ENC[_as_int16(samples).astype(np.int32) + 32768]


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 A-law bytes -> 16-bit linear (``int16``), ITU-T G.191 ``alaw_expand``."""
    return _ALAW_DEC[np.asarray(codes, dtype=np.uint8)]


_CODEC_ROUND_TRIP = {
    "PCMU": lambda s: ulaw_decode(ulaw_encode(s)),
    "PCMA": lambda s: alaw_decode(alaw_encode(s)),
}
