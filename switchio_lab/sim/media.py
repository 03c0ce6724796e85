"""Modelled media for the embedded switch: playback specs, WAV recordings, G.711, RTP stats.

Nothing here streams or sleeps. A playback spec is parsed into a :class:`Media` that knows
its exact length and can render its samples on demand; a :class:`Recorder` mixes what a
channel hears into a real WAV file; :class:`RtpStats` computes the ``rtp_audio_*`` channel
variables FreeSWITCH reports at hangup, with the MOS FreeSWITCH computes.

Where the behaviour comes from (FreeSWITCH sources, read for this module):

- ``tone_stream://`` is FreeSWITCH's teletone script (TGML): ``libs/libteletone/src/
  libteletone_generate.c`` (``teletone_run``, ``teletone_mux_tones``, ``teletone_init_session``)
  and ``src/mod/formats/mod_tone_stream/mod_tone_stream.c`` (``;loops=N``, the ``loops`` file
  parameter, ``switch_buffer_read_loop`` in ``src/switch_buffer.c``).
- ``silence_stream://`` and its comfort noise: ``mod_tone_stream.c`` and
  ``switch_generate_sln_silence`` (``src/switch_resample.c``).
- ``file_string://`` skips parts that do not open: ``mod_file_string.c`` (``next_file``).
- RTP statistics: ``src/switch_rtp.c`` (``check_jitter``, ``do_mos``, ``burstr_calculate``,
  ``rtp_common_read``, ``switch_rtp_get_stats``) and ``set_stats`` in
  ``src/switch_core_media.c`` (variable names, order and ``%0.2f`` formatting).
- G.711: ITU-T G.711 as implemented by the ITU-T Software Tool Library (G.191) ``g711.c``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_TONE_VOLUME_DB",
    "DTMF_FREQUENCIES",
    "InboundStats",
    "Media",
    "MediaError",
    "OutboundStats",
    "Recorder",
    "RtpStats",
    "alaw_decode",
    "alaw_encode",
    "dtmf_packet_count",
    "dtmf_tones",
    "mos_from_r",
    "parse_media",
    "quality_from_flaws",
    "read_wav",
    "tone_amplitude",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]


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


# --- small C helpers ------------------------------------------------------------------------

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


# --- Media --------------------------------------------------------------------------------

class Media:
    """Something FreeSWITCH can play: knows its length and renders its samples on demand.

    ``spec`` is the playback string as given; ``kind`` is ``"tone_stream"``,
    ``"silence_stream"``, ``"file"``, ``"file_string"`` or ``"samples"``.
    """

    kind = "media"

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r} {self.duration:.3f}s>"

    def sample_count(self, rate: int = 8000) -> int | None:
        """Exact number of samples played at ``rate`` (FreeSWITCH's ``playback_samples``);
        ``None`` for a spec that plays forever."""
        raise NotImplementedError

    @property
    def duration(self) -> float:
        """Seconds of playback at 8 kHz (``math.inf`` when it plays forever)."""
        n = self.sample_count(8000)
        return math.inf if n is None else n / 8000

    @property
    def forever(self) -> bool:
        return self.sample_count(8000) is None

    def playback_duration(self, ptime_ms: int = 20, rate: int = 8000) -> float:
        """How long the ``playback`` app runs: the samples rounded up to whole frames."""
        n = self.sample_count(rate)
        if n is None:
            return math.inf
        per = rate * ptime_ms // 1000
        return -(-n // per) * ptime_ms / 1000

    def render(self, rate: int = 8000, max_seconds: float | None = None) -> np.ndarray:
        """The samples as mono ``int16`` at ``rate``, at most ``max_seconds`` of them.

        A spec that plays forever needs ``max_seconds``.
        """
        n = self.sample_count(rate)
        if max_seconds is not None:
            cap = max(0, round(max_seconds * rate))
            n = cap if n is None else min(n, cap)
        elif n is None:
            raise ValueError(f"{self.spec!r} plays forever: pass max_seconds")
        return self.chunk(rate, 0, n)

    def chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        """Samples ``lo..hi`` (``0 <= lo <= hi``, within the playback) at ``rate``."""
        n = self.sample_count(rate)
        if lo < 0 or hi < lo or (n is not None and hi > n):
            raise ValueError(f"samples {lo}..{hi} out of range for {self.spec!r} ({n})")
        if hi == lo:
            return np.zeros(0, dtype=np.int16)
        return self._chunk(rate, lo, hi)

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        raise NotImplementedError


class ToneStream(Media):
    """``tone_stream://`` (teletone TGML): ``%(on,off,f1[,f2...])``, DTMF digits,
    ``v= d= w= l= L= c= r= > < +=`` settings, ``;loops=N`` (``-1`` forever)."""

    kind = "tone_stream"
    _CACHE_LIMIT = 1 << 23  # cache a whole pass up to ~17 min at 8 kHz

    def __init__(self, spec: str, script: str, plays: int | None) -> None:
        super().__init__(spec)
        self.script = script
        self.plays = plays  # None: forever
        self._programs: dict[int, tuple[tuple[_Seg, ...], np.ndarray]] = {}
        self._passes: dict[int, np.ndarray] = {}

    def _program(self, rate: int) -> tuple[tuple[_Seg, ...], np.ndarray]:
        prog = self._programs.get(rate)
        if prog is None:
            segs = tuple(_Teletone(rate).run(self.script))
            prog = self._programs[rate] = (segs, np.cumsum([0] + [s.written for s in segs]))
        return prog

    def pass_samples(self, rate: int = 8000) -> int:
        """Samples in one pass of the script (what ``;loops=N`` repeats)."""
        return int(self._program(rate)[1][-1])

    def sample_count(self, rate: int = 8000) -> int | None:
        one = self.pass_samples(rate)
        if one == 0:
            return 0  # nothing to play: FreeSWITCH stops at once, even with loops=-1
        return None if self.plays is None else one * self.plays

    def _pass_array(self, rate: int) -> np.ndarray:
        arr = self._passes.get(rate)
        if arr is None:
            arr = self._passes[rate] = self._pass_range(rate, 0, self.pass_samples(rate))
        return arr

    def _pass_range(self, rate: int, lo: int, hi: int) -> np.ndarray:
        segs, starts = self._program(rate)
        out = np.zeros(hi - lo, dtype=np.int16)
        i = int(np.searchsorted(starts, lo, side="right")) - 1
        while i < len(segs) and starts[i] < hi:
            a, b = max(lo, int(starts[i])), min(hi, int(starts[i + 1]))
            if b > a:
                out[a - lo : b - lo] = _seg_samples(segs[i], a - int(starts[i]), b - int(starts[i]))
            i += 1
        return out

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        one = self.pass_samples(rate)
        if one <= self._CACHE_LIMIT:
            return self._pass_array(rate)[np.arange(lo, hi) % one]
        parts = []
        pos = lo
        while pos < hi:
            off = pos % one
            take = min(hi - pos, one - off)
            parts.append(self._pass_range(rate, off, off + take))
            pos += take
        return np.concatenate(parts)


@functools.lru_cache(maxsize=1)
def _lcg_period() -> np.ndarray:
    """One full period of ``rnd2 = rnd2 * 31821 + 13849`` (mod 2**16) from 0, as int16."""
    seq = np.empty(65536, dtype=np.uint32)
    x = 0
    for i in range(65536):
        x = (x * 31821 + 13849) & 0xFFFF
        seq[i] = x
    return seq.astype(np.uint16).view(np.int16)


class SilenceStream(Media):
    """``silence_stream://MS[,DIVISOR]``: ``MS <= 0`` plays forever; a divisor adds
    FreeSWITCH's comfort noise (``switch_generate_sln_silence``, seeded deterministically)."""

    kind = "silence_stream"

    def __init__(self, spec: str, ms: int, divisor: int = 0) -> None:
        super().__init__(spec)
        self.ms = ms
        self.divisor = divisor

    def sample_count(self, rate: int = 8000) -> int | None:
        if self.ms <= 0:
            return None
        return int(rate / 1000) * self.ms

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        if not self.divisor:
            return np.zeros(hi - lo, dtype=np.int16)
        period = _lcg_period().astype(np.int64)
        base = (np.arange(lo, hi, dtype=np.int64) * 6) % 65536
        total = sum(period[(base + k) % 65536] for k in range(6))
        wrapped = ((total + 32768) % 65536) - 32768  # (int16_t) sum_rnd
        return _to_int16(_cdiv(wrapped, self.divisor))


class FileMedia(Media):
    """A WAV file, resampled (linearly) to the channel rate when it differs."""

    kind = "file"

    def __init__(self, spec: str, path: Path, samples: np.ndarray, rate: int) -> None:
        super().__init__(spec)
        self.path = path
        self.samples = samples
        self.file_rate = rate
        self._resampled: dict[int, np.ndarray] = {}

    def sample_count(self, rate: int = 8000) -> int | None:
        if rate == self.file_rate:
            return len(self.samples)
        return len(self.samples) * rate // self.file_rate

    def _at(self, rate: int) -> np.ndarray:
        if rate == self.file_rate or len(self.samples) == 0:
            return self.samples
        arr = self._resampled.get(rate)
        if arr is None:
            n = self.sample_count(rate) or 0
            t = np.arange(n) * (self.file_rate / rate)
            src = self.samples.astype(np.float64)
            arr = _to_int16(np.round(np.interp(t, np.arange(len(src)), src)))
            self._resampled[rate] = arr
        return arr

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        return self._at(rate)[lo:hi].copy()


class SampleMedia(Media):
    """Raw samples (e.g. :func:`dtmf_tones`) at a known rate."""

    kind = "samples"

    def __init__(self, samples: np.ndarray, rate: int = 8000, spec: str = "") -> None:
        super().__init__(spec)
        self._file = FileMedia(spec, Path(), _as_int16(samples), rate)

    def sample_count(self, rate: int = 8000) -> int | None:
        return self._file.sample_count(rate)

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        return self._file._chunk(rate, lo, hi)


class FileString(Media):
    """``file_string://a!b!c``: the parts one after another (parts that fail are skipped)."""

    kind = "file_string"

    def __init__(self, spec: str, parts: list[Media]) -> None:
        super().__init__(spec)
        self.parts = parts

    def sample_count(self, rate: int = 8000) -> int | None:
        total = 0
        for part in self.parts:
            n = part.sample_count(rate)
            if n is None:
                return None
            total += n
        return total

    def _chunk(self, rate: int, lo: int, hi: int) -> np.ndarray:
        out = []
        start = 0
        for part in self.parts:
            n = part.sample_count(rate)
            stop = math.inf if n is None else start + n
            a, b = max(lo, start), min(hi, stop)
            if b > a:
                out.append(part._chunk(rate, a - start, int(b) - start))
            if stop >= hi:
                break
            start = int(stop)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _split_params(spec: str) -> tuple[dict[str, str], str]:
    """A leading ``{k=v,k2=v2}`` file-handle parameter block."""
    if not spec.startswith("{"):
        return {}, spec
    end = spec.find("}")
    if end < 0:
        return {}, spec
    params = {}
    for item in spec[1:end].split(","):
        key, _, value = item.partition("=")
        if key.strip():
            params[key.strip()] = value.strip()
    return params, spec[end + 1 :]


def parse_media(spec: str, sound_dir: Path | str | None = None) -> Media:
    """Parse a FreeSWITCH playback spec into a :class:`Media`.

    Supports ``tone_stream://`` (with ``;loops=N`` / ``{loops=N}``, ``-1`` = forever, and
    the ``L=N`` prefix), ``silence_stream://MS[,DIVISOR]``, ``file_string://a!b`` and WAV
    files (absolute, or relative to ``sound_dir``). Raises :class:`MediaError` for what
    FreeSWITCH cannot open.
    """
    params, rest = _split_params(spec.strip())
    scheme, sep, body = rest.partition("://")
    if not sep:
        return _open_file(spec, rest, sound_dir)
    if scheme == "tone_stream":
        script = body
        loops = 0
        m = re.search(";loops=", script, re.IGNORECASE)
        if m:
            loops = _atoi(script[m.end() :])
            script = script[: m.start()]
        if "loops" in params:
            loops = _atoi(params["loops"])
        plays = None if loops < 0 else max(loops, 1)
        return ToneStream(spec, script, plays)
    if scheme == "silence_stream":
        ms = _atoi(body)
        divisor = 0
        if "," in body:
            divisor = max(0, _atoi(body.split(",", 1)[1]))
        return SilenceStream(spec, ms, divisor)
    if scheme == "file_string":
        parts = []
        for item in body.split("!"):
            if not item:
                continue
            try:
                parts.append(parse_media(item, sound_dir))
            except MediaError:
                continue  # mod_file_string's next_file() moves on to the next part
        if not parts:
            raise MediaError(f"file_string: no playable part in [{body}]", spec=spec)
        return FileString(spec, parts)
    raise MediaError(f"Invalid file format [{scheme}] for [{rest}]!", spec=spec)


def _open_file(spec: str, name: str, sound_dir: Path | str | None) -> Media:
    path = Path(name)
    if not path.is_absolute() and sound_dir is not None:
        path = Path(sound_dir) / path
    if path.suffix.lower() != ".wav":
        ext = path.suffix.lstrip(".") or name
        raise MediaError(f"Invalid file format [{ext}] for [{name}]!", spec=spec)
    if not path.is_file():
        raise MediaError(
            f"Error Opening File [{path}] [System error : No such file or directory.]",
            spec=spec)
    try:
        samples, rate = read_wav(path)
    except (OSError, ValueError, EOFError, wave.Error) as exc:
        raise MediaError(f"Error Opening File [{path}] [{exc}]", spec=spec) from exc
    return FileMedia(spec, path, samples, rate)


# --- WAV I/O ------------------------------------------------------------------------------

def _as_int16(samples: np.ndarray | Sequence[float]) -> np.ndarray:
    """Integers are taken as 16-bit sample values, floats as -1.0..1.0 full scale."""
    a = np.asarray(samples)
    if a.dtype.kind == "f":
        a = np.round(a * 32767.0)
    return _to_int16(a.reshape(-1))


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


# --- Recorder -----------------------------------------------------------------------------

@dataclass
class _Source:
    media: Media
    start: int  # recorder sample where the media's sample 0 plays (may be negative)
    end: int | None  # exclusive recorder sample where it stops (None: forever)


class Recorder:
    """What a channel hears, mixed into a 16-bit mono WAV written as time goes by.

    ``add(media, at_time)`` mixes audio that starts ``at_time`` seconds after the recording
    started (negative: it started before, only the rest is heard); ``close(end_time)``
    (same clock as ``start_time``) writes exactly ``end_time - start_time`` seconds, silence
    where nothing played. What plays passes through ``codec`` (``"PCMU"``, ``"PCMA"`` or
    ``None``) as it would over RTP; stretches with nothing playing stay digital silence.

    Memory stays bounded: audio older than ``lookback`` seconds before the newest
    :meth:`add` is written out, and the part of a later add that falls into what is already
    written is dropped (counted in ``dropped_samples``), so adds may arrive up to
    ``lookback`` seconds out of order.
    """

    _BLOCK = 1 << 16  # samples rendered per write

    def __init__(self, path: Path | str, rate: int = 8000, start_time: float = 0.0, *,
                 codec: str | None = "PCMU", lookback: float = 5.0) -> None:
        if codec is not None and codec not in _CODEC_ROUND_TRIP:
            raise ValueError(f"unsupported codec {codec!r}: PCMU, PCMA or None")
        self.path = Path(path)
        self.rate = int(rate)
        self.start_time = start_time
        self.codec = codec
        self.lookback = lookback
        self.dropped_samples = 0
        self._sources: dict[int, _Source] = {}
        self._next_handle = 0
        self._written = 0
        self._closed = False
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.rate)

    @property
    def samples_written(self) -> int:
        return self._written

    def add(self, media: Media | np.ndarray, at_time: float,
            duration: float | None = None) -> int:
        """Mix ``media`` (or raw samples at the recorder's rate) from ``at_time`` seconds
        after the start, for at most ``duration`` seconds; returns a handle for :meth:`cut`."""
        if self._closed:
            raise ValueError("recorder is closed")
        if not isinstance(media, Media):
            media = SampleMedia(np.asarray(media), self.rate)
        start = round(at_time * self.rate)
        n = media.sample_count(self.rate)
        end = None if n is None else start + n
        if duration is not None:
            cap = start + max(0, round(duration * self.rate))
            end = cap if end is None else min(end, cap)
        # what falls into the already-written part cannot be mixed in any more
        written_end = self._written if end is None else min(end, self._written)
        self.dropped_samples += max(0, written_end - max(start, 0))
        handle = self._next_handle
        self._next_handle += 1
        if end is None or end > self._written:
            self._sources[handle] = _Source(media, start, end)
        self._flush(start - round(self.lookback * self.rate))
        return handle

    @property
    def closed(self) -> bool:
        """True once :meth:`close` wrote the file."""
        return self._closed

    def cut(self, handle: int, at_time: float) -> None:
        """Stop a source added earlier at ``at_time`` seconds after the start (a playback
        broken off by ``uuid_break`` or hangup)."""
        src = self._sources.get(handle)
        if src is None:
            return
        stop = round(at_time * self.rate)
        src.end = stop if src.end is None else min(src.end, stop)

    def close(self, end_time: float) -> Path:
        """Write everything up to ``end_time`` and close the file; returns its path."""
        if self._closed:
            return self.path
        total = max(0, round((end_time - self.start_time) * self.rate))
        if total < self._written:
            raise ValueError("audio was already written past end_time")
        self._flush(total)
        self._wav.close()
        self._sources.clear()
        self._closed = True
        return self.path

    def variables(self) -> dict[str, str]:
        """The ``record_*`` variables FreeSWITCH sets on RECORD_STOP."""
        size = self.path.stat().st_size if self._closed else 44 + 2 * self._written
        return {
            "record_file_size": str(size),
            "record_samples": str(self._written),
            "record_seconds": str(self._written // self.rate),
            "record_ms": str(self._written * 1000 // self.rate),
        }

    def _flush(self, upto: int) -> None:
        while self._written < upto:
            lo = self._written
            hi = min(upto, lo + self._BLOCK)
            mix = np.zeros(hi - lo, dtype=np.int32)
            active = np.zeros(hi - lo, dtype=bool)  # where RTP flows (something plays)
            for src in self._sources.values():
                a = max(lo, src.start)
                b = hi if src.end is None else min(hi, src.end)
                if b > a:
                    mix[a - lo : b - lo] += src.media.chunk(self.rate, a - src.start,
                                                            b - src.start)
                    active[a - lo : b - lo] = True
            out = _to_int16(mix)
            if self.codec is not None and active.any():
                # only what was sent goes through the codec; with no RTP the recording
                # holds true silence (A-law has no exact zero)
                out[active] = _CODEC_ROUND_TRIP[self.codec](out[active])
            self._wav.writeframes(out.astype("<i2").tobytes())
            self._written = hi
            self._sources = {h: s for h, s in self._sources.items()
                             if s.end is None or s.end > hi}

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self._wav.close()
            self._closed = True


# --- RTP statistics -----------------------------------------------------------------------

_JITTER_LEAD_FRAMES = 10  # switch_rtp.c
_LOST_BURST_ANALYZE = 500  # switch_types.h
_LOST_BURST_CAPTURE = 1024
_RTP_HEADER = 12
_DTMF_PACKET = _RTP_HEADER + 4  # RFC 2833 event payload
_CLOCK_BASE_MS = 1_000_000_000_000  # switch_micro_time_now()/1000 is never near 0
#: bytes of payload per ms of audio
_CODEC_BYTES_PER_MS = {"PCMU": 8, "PCMA": 8, "G722": 8, "G729": 1}


def mos_from_r(r: float) -> float:
    """FreeSWITCH's MOS from its quality percentage ``R`` (``do_mos`` in ``switch_rtp.c``):
    ``1 + 0.035 R + 7e-6 R (R - 60) (100 - R)``: 100 -> 4.50, 95 -> 4.44, 10 -> 1.04."""
    return 1 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r)


def quality_from_flaws(recved: int, flaws: int) -> int:
    """FreeSWITCH's ``R``: the share of received packets that were not flaws, truncated to
    an integer percent; out-of-range values (no packets; flaws past the packet count,
    which wraps around in C's unsigned arithmetic) count as 100."""
    if recved <= 0 or flaws > recved:
        return 100
    r = int((recved - flaws) / recved * 100.0)
    return 100 if r < 0 or r > 100 else r


class _Inbound:
    """The ``switch_rtp_t`` fields behind the inbound numbers, updated the way
    ``check_jitter``/``do_mos`` in ``switch_rtp.c`` update them."""

    def __init__(self) -> None:
        self.recved = 0
        self.flaws = 0
        self.last_flaw = 0
        self.consecutive_flaws = 0
        self.R = 100.0
        self.mos = 4.5
        self.jitter_lead = 0
        self.last_proc_time = 0
        self.last_processed_seq = 0
        self.last_loss = 0
        self.loss = [0] * _LOST_BURST_CAPTURE
        self.jitter_n = 0
        self.jitter_add = 0
        self.jitter_addsq = 0
        self.mean_interval = 0.0
        self.variance = 0.0
        self.min_variance = 0.0
        self.max_variance = 0.0
        self.next_stat_check_time = 0
        self.lossrate = 0.0
        self.burstrate = 0.0

    def do_mos(self, force: bool) -> None:
        if self.recved < self.flaws:
            self.flaws = 0
        if self.recved > 0 and self.flaws and (force or self.last_flaw != self.flaws):
            was = self.consecutive_flaws
            self.consecutive_flaws += 1
            if was:  # consecutive flaws: penalty of twice the new ones
                self.flaws += 2 * max(self.flaws - self.last_flaw, 1)
            self.R = float(quality_from_flaws(self.recved, self.flaws))
            self.mos = mos_from_r(self.R)
            self.last_flaw = self.flaws
        else:
            self.consecutive_flaws = 0

    def _burstr(self) -> None:
        lost = sum(i * self.loss[i] for i in range(_LOST_BURST_ANALYZE))
        bursts = sum(self.loss[:_LOST_BURST_ANALYZE])
        received = self.recved
        if received > 0 and bursts > 0:
            self.burstrate = abs((lost / bursts) / (1.0 / (1.0 - lost / received)))
        else:
            self.burstrate = 0.0
        self.lossrate = lost / received if received > 0 else 0.0

    def check_jitter(self, seq: int, now: int) -> None:
        self.jitter_lead += 1
        if self.jitter_lead < _JITTER_LEAD_FRAMES or not self.last_proc_time:
            self.last_proc_time = now
            return
        diff_time = now - self.last_proc_time
        self.recved += 1
        if self.last_processed_seq > 0 and seq > self.last_processed_seq + 1:
            lost = seq - self.last_processed_seq - 1
            self.last_loss += 1
            if 0 < self.last_loss < _LOST_BURST_CAPTURE:
                self.loss[self.last_loss] += lost
            self.flaws += lost
        else:
            self.last_loss = 0
        self.last_processed_seq = seq
        if now > self.next_stat_check_time:
            self.next_stat_check_time = now + 5000
            self._burstr()
            self.do_mos(True)
        else:
            self.do_mos(False)
        diff_time = abs(diff_time)
        self.jitter_n += 1
        self.jitter_add += diff_time
        cur_diff = int(diff_time - self.mean_interval) if self.mean_interval else 0
        self.jitter_addsq += cur_diff * cur_diff
        self.last_proc_time = now
        self.mean_interval = self.jitter_add / self.jitter_n
        self.variance = self.jitter_addsq / self.jitter_n
        if self.variance < self.min_variance or self.min_variance == 0:
            self.min_variance = self.variance
        if self.variance > self.max_variance:
            self.max_variance = self.variance

    def late_ticks(self, empty_ticks: int, one_second: int) -> None:
        """Timer ticks without a packet: after 2 s of them every tick is a flaw
        ("We're late!" in ``rtp_common_read``), once the jitter lead-in is over."""
        for cng_count in range(empty_ticks):
            if cng_count > one_second * 2 and self.jitter_lead > _JITTER_LEAD_FRAMES:
                self.flaws += 1
                self.do_mos(False)


@dataclass
class InboundStats:
    """``rtp_audio_in_*`` (fields in FreeSWITCH's order)."""

    raw_bytes: int = 0
    media_bytes: int = 0
    packet_count: int = 0
    media_packet_count: int = 0
    skip_packet_count: int = 0
    jitter_packet_count: int = 0
    dtmf_packet_count: int = 0
    cng_packet_count: int = 0
    flush_packet_count: int = 0
    largest_jb_size: int = 0
    jitter_min_variance: float = 0.0
    jitter_max_variance: float = 0.0
    jitter_loss_rate: float = 0.0
    jitter_burst_rate: float = 0.0
    mean_interval: float = 0.0
    flaw_total: int = 0
    quality_percentage: float = 100.0
    mos: float = 4.5


@dataclass
class OutboundStats:
    """``rtp_audio_out_*`` (fields in FreeSWITCH's order)."""

    raw_bytes: int = 0
    media_bytes: int = 0
    packet_count: int = 0
    media_packet_count: int = 0
    skip_packet_count: int = 0
    dtmf_packet_count: int = 0
    cng_packet_count: int = 0


Spans = float | Sequence[tuple[float, float]] | None


def _spans(value: Spans, media_seconds: float) -> list[tuple[float, float]]:
    if value is None:
        value = media_seconds
    if isinstance(value, (int, float)):
        value = [(0.0, float(value))]
    out = []
    for start, dur in value:
        start = max(0.0, float(start))
        stop = min(media_seconds, start + float(dur))
        if stop > start:
            out.append((start, stop - start))
    return out


@dataclass
class RtpStats:
    """The RTP statistics FreeSWITCH reports for one leg at hangup.

    ``media_seconds`` is how long the leg had media (answer to hangup). ``sent`` and
    ``received`` say when audio flowed out of and into the leg: ``None`` (default) for the
    whole call, seconds from answer, or ``[(start, seconds), ...]`` spans; ``0`` models a
    leg nothing plays on (FreeSWITCH sends no RTP then: ``call_basic``). ``loss`` (0..1)
    and ``jitter_ms`` impair the received stream: each packet is lost with probability
    ``loss`` and delayed by a uniform 0..2×``jitter_ms`` (so packets can arrive out of
    order), reproducibly from ``seed``. ``dtmf_in``/``dtmf_out`` are RFC 2833 digits of
    ``dtmf_ms`` each. ``ringing_seconds`` is accepted for callers that pass the whole
    timeline; FreeSWITCH counts no RTP before answer without early media.

    The received stream is replayed through the bookkeeping of ``switch_rtp.c``
    (``check_jitter``, ``do_mos``, the timer's "late" flaws), so flaws, the quality
    percentage ``R`` and the MOS are FreeSWITCH's numbers for that stream.
    """

    media_seconds: float
    sent: Spans = None
    received: Spans = None
    ptime: int = 20
    codec: str = "PCMU"
    loss: float = 0.0
    jitter_ms: float = 0.0
    dtmf_in: int = 0
    dtmf_out: int = 0
    dtmf_ms: int = 250
    seed: int = 0
    ringing_seconds: float = 0.0
    inbound: InboundStats = field(init=False)
    outbound: OutboundStats = field(init=False)
    rtcp_packet_count: int = field(init=False, default=0)
    rtcp_octet_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.codec not in _CODEC_BYTES_PER_MS:
            raise ValueError(f"unknown codec {self.codec!r}")
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError("loss is a fraction 0..1")
        if self.ptime <= 0:
            raise ValueError("ptime must be positive")
        self.media_seconds = max(0.0, float(self.media_seconds))
        payload = _CODEC_BYTES_PER_MS[self.codec] * self.ptime
        self.packet_bytes = _RTP_HEADER + payload
        per_digit = dtmf_packet_count(self.dtmf_ms, self.ptime)
        dtmf_in, dtmf_out = self.dtmf_in * per_digit, self.dtmf_out * per_digit
        rng = np.random.default_rng(self.seed)

        sent = sum(self._packets(d) for _, d in _spans(self.sent, self.media_seconds))
        self.outbound = OutboundStats(
            raw_bytes=sent * self.packet_bytes + dtmf_out * _DTMF_PACKET,
            media_bytes=sent * self.packet_bytes,
            packet_count=sent,
            media_packet_count=sent,
            dtmf_packet_count=dtmf_out,
        )
        sim, reads, skip = self._receive(rng)
        self.inbound = InboundStats(
            raw_bytes=reads * self.packet_bytes + dtmf_in * _DTMF_PACKET,
            media_bytes=reads * self.packet_bytes,
            packet_count=reads + dtmf_in,
            media_packet_count=reads,
            skip_packet_count=skip,
            dtmf_packet_count=dtmf_in,
            jitter_min_variance=sim.min_variance,
            jitter_max_variance=sim.max_variance,
            jitter_loss_rate=sim.lossrate,
            jitter_burst_rate=sim.burstrate,
            mean_interval=sim.mean_interval,
            flaw_total=sim.flaws,
            quality_percentage=sim.R,
            mos=sim.mos,
        )

    def _packets(self, seconds: float) -> int:
        return int(seconds * 1000 / self.ptime + 1e-9)

    def _receive(self, rng: np.random.Generator) -> tuple[_Inbound, int, int]:
        media_ms = self.media_seconds * 1000
        send = [start * 1000 + np.arange(self._packets(d)) * self.ptime
                for start, d in _spans(self.received, self.media_seconds)]
        send_ms = np.concatenate(send) if send else np.zeros(0)
        seq0 = int(rng.integers(1, 65536))
        seqs = (seq0 + np.arange(len(send_ms))) % 65536
        keep = rng.random(len(send_ms)) >= self.loss if self.loss else np.ones(len(send_ms), bool)
        delay = (rng.uniform(0, 2 * self.jitter_ms, len(send_ms)) if self.jitter_ms
                 else np.zeros(len(send_ms)))
        arrival = send_ms + delay
        keep &= arrival < media_ms
        order = np.argsort(arrival[keep], kind="stable")
        arrival, seqs = arrival[keep][order], seqs[keep][order]

        sim = _Inbound()
        one_second = 1000 // self.ptime
        prev = None
        for t, seq in zip(arrival.tolist(), seqs.tolist(), strict=True):
            if prev is not None:
                sim.late_ticks(max(0, round((t - prev) / self.ptime) - 1), one_second)
            sim.check_jitter(int(seq), _CLOCK_BASE_MS + int(t))
            prev = t
        if prev is not None:
            sim.late_ticks(int((media_ms - prev) / self.ptime), one_second)
        sim.do_mos(False)  # switch_rtp_get_stats() at hangup
        ticks = int(media_ms / self.ptime + 1e-9)
        return sim, len(arrival), max(0, ticks - len(arrival))

    @property
    def mos(self) -> float:
        return self.inbound.mos

    @property
    def quality_percentage(self) -> float:
        return self.inbound.quality_percentage

    def variables(self, prefix: str = "audio") -> dict[str, str]:
        """``{"rtp_audio_in_raw_bytes": "2268", ...}`` in the order and format FreeSWITCH's
        ``set_stats`` (``switch_core_media.c``) sets them: integers plain, doubles ``%0.2f``."""
        out: dict[str, str] = {}
        for direction, stats in (("in", self.inbound), ("out", self.outbound)):
            for f in dataclasses.fields(stats):
                value = getattr(stats, f.name)
                text = f"{value:.2f}" if isinstance(value, float) else str(value)
                out[f"rtp_{prefix}_{direction}_{f.name}"] = text
        out[f"rtp_{prefix}_rtcp_packet_count"] = str(self.rtcp_packet_count)
        out[f"rtp_{prefix}_rtcp_octet_count"] = str(self.rtcp_octet_count)
        return out
