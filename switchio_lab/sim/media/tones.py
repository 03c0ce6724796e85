"""Tone generation as FreeSWITCH does it: the teletone script of ``tone_stream://`` and DTMF.

From ``libs/libteletone/src/libteletone_generate.c`` (``teletone_run``, ``teletone_mux_tones``,
``teletone_init_session``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .pcm import _atof, _atoi, _cdiv, _to_int16


class MediaError(Exception):
    """A playback spec that FreeSWITCH could not open.

    ``response`` is what the ``playback`` application reports in
    ``Application-Response``: FreeSWITCH maps every open failure (missing file, unknown
    format) to ``FILE NOT FOUND`` (``playback_function`` in ``mod_dptools.c``).
    """

    def __init__(self, message: str, *, spec: str = "", response: str = "FILE NOT FOUND"):
        super().__init__(message)
        self.spec = spec
        self.response = response


# --- teletone (tone_stream://) ----------------------------------------------------------------

#: teletone's default level (``ts->volume = -7`` in ``teletone_init_session``), dBm0
DEFAULT_TONE_VOLUME_DB = -7.0
_TELETONE_VOL_DB_MIN = -63.0
_TELETONE_VOL_DB_MAX = 0.0
_TELETONE_MAX_TONES = 18
_TELETONE_TONE_RANGE = 127
_DBM0_MAX_POWER = 3.14 + 3.02

#: The tone map teletone installs for DTMF characters (``teletone_init_session``). Note
#: FreeSWITCH's 859 Hz for 7/8/9/C (the standard row is 852 Hz): kept, this is what
#: ``tone_stream://789`` sounds like.
_TELETONE_DTMF = {
    "1": (697.0, 1209.0), "2": (697.0, 1336.0), "3": (697.0, 1477.0), "A": (697.0, 1633.0),
    "4": (770.0, 1209.0), "5": (770.0, 1336.0), "6": (770.0, 1477.0), "B": (770.0, 1633.0),
    "7": (859.0, 1209.0), "8": (859.0, 1336.0), "9": (859.0, 1477.0), "C": (859.0, 1633.0),
    "*": (941.0, 1209.0), "0": (941.0, 1336.0), "#": (941.0, 1477.0), "D": (941.0, 1633.0),
}

#: Standard (ITU-T Q.23) DTMF pairs, used by :func:`dtmf_tones`.
DTMF_FREQUENCIES = {
    "1": (697.0, 1209.0), "2": (697.0, 1336.0), "3": (697.0, 1477.0), "A": (697.0, 1633.0),
    "4": (770.0, 1209.0), "5": (770.0, 1336.0), "6": (770.0, 1477.0), "B": (770.0, 1633.0),
    "7": (852.0, 1209.0), "8": (852.0, 1336.0), "9": (852.0, 1477.0), "C": (852.0, 1633.0),
    "*": (941.0, 1209.0), "0": (941.0, 1336.0), "#": (941.0, 1477.0), "D": (941.0, 1633.0),
}


def tone_amplitude(volume_db: float = DEFAULT_TONE_VOLUME_DB) -> int:
    """Peak amplitude of one teletone sine at ``volume_db`` dBm0 (-7 dBm0 -> 10184, ~-10 dBFS).

    Same scale as ``teletone_dds_state_set_tx_level``: 0 dBm0 is 6.16 dB below a full-scale
    sine (the G.711 overload point).
    """
    return int(10.0 ** ((volume_db - _DBM0_MAX_POWER) / 20.0) * (32767.0 * 1.414214))


@dataclass(frozen=True)
class _Seg:
    """One ``teletone_mux_tones`` call: a tone (maybe none) then a wait, in samples."""

    dur: int  # tone samples per channel (0: no tone)
    wait: int
    freqs: tuple[float, ...]
    volume: float
    decay_step: int
    decay_dir: int
    decay_factor: float
    channels: int
    gen_rate: int  # the rate the sines were computed at (``r=``)

    @property
    def written(self) -> int:
        """Samples this segment adds to the playback buffer."""
        if self.dur:
            return self.dur + self.wait
        return self.wait


def _tone_samples(freqs: Sequence[float], n0: int, n1: int, gen_rate: int, volume: float,
                  decay_step: int = 0, decay_dir: int = 0, decay_factor: float = 1.0,
                  ) -> np.ndarray:
    """Samples ``n0..n1`` of a teletone multi-frequency tone (``teletone_mux_tones``)."""
    n = np.arange(n0, n1, dtype=np.float64)
    if decay_dir and decay_factor:
        delta = decay_dir * decay_factor
        limit = (_TELETONE_VOL_DB_MAX if delta > 0 else _TELETONE_VOL_DB_MIN) - volume
        k_max = max(0, math.floor(limit / delta + 1e-9))
        k = np.minimum((n + 1) // max(decay_step, 1), k_max)
        vol = volume + delta * k
    else:
        vol = np.full(n.shape, volume)
    scale = np.trunc(10.0 ** ((vol - _DBM0_MAX_POWER) / 20.0) * (32767.0 * 1.414214))
    acc = np.full(n.shape, 128.0)  # teletone starts every sample at 128 before the division
    for f in freqs:
        # the DDS sine table peaks at 0x7fff and the product is shifted down by 15 bits
        acc += np.floor(scale * np.sin(2.0 * np.pi * f * n / gen_rate) * (32767.0 / 32768.0))
    return _to_int16(_cdiv(acc, len(freqs)))


def _seg_samples(seg: _Seg, lo: int, hi: int) -> np.ndarray:
    """Samples ``lo..hi`` of a segment as written to the playback buffer."""
    out = np.zeros(hi - lo, dtype=np.int16)
    if not seg.dur:
        return out
    tone_end = min(hi, seg.dur * seg.channels)
    if tone_end > lo:
        # with c=N each sine sample is written N times, but only dur+wait samples are kept
        j = np.arange(lo, tone_end)
        n = j // seg.channels
        t = _tone_samples(seg.freqs, int(n[0]), int(n[-1]) + 1, seg.gen_rate, seg.volume,
                          seg.decay_step, seg.decay_dir, seg.decay_factor)
        out[: tone_end - lo] = t[n - n[0]]
    return out


class _Teletone:
    """``teletone_run`` over one script, emulating its C string handling byte for byte."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.channels = 1
        self.duration = 2000  # samples, set before ts.rate (so 250 ms at 8 kHz)
        self.wait = 500
        self.volume = DEFAULT_TONE_VOLUME_DB
        self.decay_step = 0
        self.decay_dir = 0
        self.decay_factor = 1.0
        self.loops = 0
        self.LOOPS = 0
        self.segs: list[_Seg] = []

    def run(self, cmd: str, max_passes: int = 100_000) -> list[_Seg]:
        looping = False
        passes = 0
        while True:
            looping = self._pass(cmd, looping)
            passes += 1
            if self.LOOPS > 0:
                self.LOOPS -= 1
            if not self.LOOPS or passes >= max_passes:
                return self.segs

    @staticmethod
    def _strchr(buf: list[str], i: int, ch: str) -> int:
        while buf[i] != "\0":
            if buf[i] == ch:
                return i
            i += 1
        return -1

    @staticmethod
    def _cstr(buf: list[str], i: int) -> str:
        j = i
        while buf[j] != "\0":
            j += 1
        return "".join(buf[i:j])

    def _ms(self, ms: int) -> int:
        return ms * int(self.rate / 1000)

    def _pass(self, cmd: str, looping: bool) -> bool:
        buf = list(cmd) + ["\0", "\0"]
        cur = 0
        while buf[cur] != "\0":
            if buf[cur] in " \r\n":
                cur += 1
                continue
            end = self._strchr(buf, cur, ";")
            if end >= 0:
                buf[end] = "\0"
                end += 1
            if buf[cur + 1] == "=":
                looping = self._setting(buf[cur], self._cstr(buf, cur + 2), looping)
            else:
                while buf[cur] != "\0":
                    if buf[cur] in " \r\n":
                        cur += 1
                        continue
                    tmp_duration = tmp_wait = -1
                    freqs: list[float] = []
                    e = -1
                    custom = False
                    if buf[cur + 1] == "(":
                        p = cur + 2
                        e = self._strchr(buf, p, ")")
                        if e >= 0:
                            buf[e] = "\0"
                            e += 1
                        i = 0
                        while True:
                            nxt = self._strchr(buf, p, ",")
                            if nxt >= 0:
                                buf[nxt] = "\0"
                                nxt += 1
                            value = self._cstr(buf, p)
                            if i == 0:
                                tmp_duration = self._ms(_atoi(value))
                            elif i == 1:
                                tmp_wait = self._ms(_atoi(value))
                            else:
                                freqs.append(_atof(value))
                            i += 1
                            p = nxt
                            if p < 0 or (i - 2) >= _TELETONE_MAX_TONES:
                                break
                        if i > 2 and buf[cur] == "%":
                            custom = True
                        elif i != 2 or buf[cur] == "%":
                            return looping  # "Syntax Error!": the rest of this pass is dropped
                    if not custom:
                        freqs = list(_TELETONE_DTMF.get(buf[cur], ()))
                    if freqs and freqs[0]:
                        self._tone(freqs, tmp_duration, tmp_wait)
                    cur = e if e >= 0 else cur + 1
            if end >= 0:
                cur = end
            elif buf[cur] != "\0":
                cur += 1
        return looping

    def _setting(self, key: str, value: str, looping: bool) -> bool:
        if key == "c":
            self.channels = _atoi(value)
            if self.channels < 1:
                raise MediaError(f"tone_stream: invalid channel count c={value}")
        elif key == "r":
            rate = _atoi(value)
            if rate < 1000:
                raise MediaError(f"tone_stream: invalid rate r={value}")
            self.rate = rate
        elif key == "d":
            self.duration = self._ms(_atoi(value))
        elif key == "v":
            vol = _atof(value)
            if _TELETONE_VOL_DB_MIN <= vol <= _TELETONE_VOL_DB_MAX:
                self.volume = vol
        elif key in "><":
            self.decay_step = self._ms(_atoi(value))
            self.decay_dir = -1 if key == ">" else 1
        elif key == "+":
            self.decay_factor = _atof(value)
        elif key == "w":
            self.wait = self._ms(_atoi(value))
        elif key == "l":
            self.loops = _atoi(value)
            if self.loops < 0:
                raise MediaError("tone_stream: l=-1 repeats a tone forever; use ;loops=-1")
        elif key == "L" and not looping:
            n = _atoi(value)
            if n > 0:
                self.LOOPS = n
                looping = True
        return looping

    def _tone(self, freqs: list[float], tmp_duration: int, tmp_wait: int) -> None:
        duration = tmp_duration if tmp_duration > -1 else self.duration
        wait = tmp_wait if tmp_wait > -1 else self.wait
        active: tuple[float, ...] = ()
        if freqs[0] > 0:
            n = 0
            while n < len(freqs) and n < _TELETONE_MAX_TONES and freqs[n]:
                n += 1
            active = tuple(freqs[:n])
        seg = _Seg(max(duration, 0) if active else 0, max(wait, 0), active, self.volume,
                   self.decay_step, self.decay_dir, self.decay_factor, self.channels,
                   self.rate)
        while True:  # ``l=N`` plays the next tone N times
            if seg.written:
                self.segs.append(seg)
            if self.loops > 0:
                self.loops -= 1
            if not self.loops:
                break


# --- DTMF ---------------------------------------------------------------------------------

def dtmf_tones(digits: str, duration_ms: int = 100, gap_ms: int = 50, rate: int = 8000,
               volume_db: float = DEFAULT_TONE_VOLUME_DB) -> np.ndarray:
    """In-band DTMF for ``digits`` (0-9, A-D, ``*``, ``#``): each digit's standard frequency
    pair for ``duration_ms`` then ``gap_ms`` of silence; ``w``/``W`` pause 0.5 s / 1 s as in
    ``send_dtmf``. Mixed like teletone (the pair averaged, each at ``volume_db``)."""
    per_ms = rate / 1000
    parts = []
    for d in digits:
        if d in "wW":
            parts.append(np.zeros(round((500 if d == "w" else 1000) * per_ms), dtype=np.int16))
            continue
        pair = DTMF_FREQUENCIES.get(d.upper())
        if pair is None:
            raise ValueError(f"not a DTMF digit: {d!r}")
        parts.append(_tone_samples(pair, 0, round(duration_ms * per_ms), rate, volume_db))
        parts.append(np.zeros(round(gap_ms * per_ms), dtype=np.int16))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def dtmf_packet_count(duration_ms: int = 250, ptime: int = 20, rate: int = 8000) -> int:
    """RFC 2833 packets FreeSWITCH sends for one digit (250 ms at 20 ms ptime: 15).

    One packet per ptime while the digit lasts, the last duration sent three times as the
    end packet (``switch_rtp.c`` "Send start/middle/end packet" in the ``call_media`` log).
    """
    samples = duration_ms * rate // 1000
    per = ptime * rate // 1000
    return -(-samples // per) - 1 + 3
