"""Playback specs parsed into :class:`Media` sources that know their length and render samples.

``tone_stream://``/``silence_stream://`` as ``mod_tone_stream.c`` (with
``switch_generate_sln_silence`` of ``src/switch_resample.c``), ``file_string://`` as
``mod_file_string.c`` (``next_file``).
"""

from __future__ import annotations

import functools
import math
import re
import wave
from pathlib import Path

import numpy as np

from .pcm import _as_int16, _atoi, _cdiv, _to_int16
from .tones import MediaError, _Seg, _seg_samples, _Teletone
from .wav import read_wav

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
