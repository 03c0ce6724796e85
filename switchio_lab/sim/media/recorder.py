"""The :class:`Recorder`: mixes what a channel sends and hears into a real WAV file.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .g711 import _CODEC_ROUND_TRIP
from .pcm import _to_int16
from .sources import Media, SampleMedia

# --- Recorder -----------------------------------------------------------------------------

@dataclass
class _Source:
    media: Media
    start: int  # recorder sample where the media's sample 0 plays (may be negative)
    end: int | None  # exclusive recorder sample where it stops (None: forever)
    mask: Any = None  # (lo, hi) recorder samples -> bool array: False where nothing came in


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
            duration: float | None = None, mask: Any = None) -> int:
        """Mix ``media`` (or raw samples at the recorder's rate) from ``at_time`` seconds
        after the start, for at most ``duration`` seconds; returns a handle for :meth:`cut`.
        ``mask(lo, hi)``, if given, says which recorder samples ``lo..hi`` of it came in
        (False: its packet was lost, the listener heard silence there)."""
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
            self._sources[handle] = _Source(media, start, end, mask)
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
                    chunk = src.media.chunk(self.rate, a - src.start, b - src.start)
                    if src.mask is not None:
                        heard = src.mask(a, b)
                        chunk = np.where(heard, chunk, 0)
                        active[a - lo : b - lo] |= heard
                    else:
                        active[a - lo : b - lo] = True
                    mix[a - lo : b - lo] += chunk
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
