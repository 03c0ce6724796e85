"""Events the embedded switch fires: cheap to build, serialized once per format.

A :class:`SimEvent` is a list of header blocks (ordered dicts of decoded values). The
plain encoding of each block is cached where the block is reused (a channel's caller
profile and variables change rarely but appear in every event of the channel), so a
node can fire thousands of 100-header events per second.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from ..esl import Event
from ..esl.encoding import url_encode
from .fs_text import fs_url_encode


@lru_cache(maxsize=1 << 16)
def _encode(value: str) -> str:
    """FreeSWITCH's encoding of a header value (an existing ``%XX`` is kept as is)."""
    return fs_url_encode(value) if "%" in value else url_encode(value)


class Block(dict):
    """An ordered header block whose plain encoding is cached until it changes.

    ``block.set(k, v)`` moves an existing key to the end, as FreeSWITCH does when a
    channel variable is set again.
    """

    __slots__ = ("_text",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._text: str | None = None

    def set(self, key: str, value: object) -> None:
        self.pop(key, None)
        dict.__setitem__(self, key, str(value))
        self._text = None

    def __setitem__(self, key: str, value: object) -> None:
        dict.__setitem__(self, key, str(value))
        self._text = None

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._text = None

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self._text = None
        return dict.pop(self, key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self.set(k, v)

    def clear(self) -> None:
        dict.clear(self)
        self._text = None

    def plain(self) -> str:
        text = self._text
        if text is None:
            text = self._text = encode_block(self)
        return text


def encode_block(block: dict[str, str]) -> str:
    return "".join(f"{k}: {_encode(v)}\n" for k, v in block.items())


class SimEvent:
    """One fired event: ``name``, ordered header ``blocks`` and an optional ``body``."""

    __slots__ = ("name", "blocks", "body", "_frames", "_headers")

    def __init__(self, name: str, blocks: list[dict[str, str]], body: str = "") -> None:
        self.name = name
        self.blocks = blocks
        self.body = body
        self._frames: dict[str, bytes] = {}
        self._headers: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        for block in self.blocks:
            value = block.get(name)
            if value is not None:
                return value
        return default

    @property
    def uuid(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            merged: dict[str, str] = {}
            for block in self.blocks:
                for k, v in block.items():
                    merged.setdefault(k, v)
            self._headers = merged
        return self._headers

    def frame(self, fmt: str = "plain") -> bytes:
        """The whole wire frame in ``fmt`` (cached: one serialization per format)."""
        data = self._frames.get(fmt)
        if data is None:
            if fmt == "plain":
                text = "".join(b.plain() if isinstance(b, Block) else encode_block(b)
                               for b in self.blocks)
                if self.body:
                    raw = self.body.encode("utf-8")
                    payload = f"{text}Content-Length: {len(raw)}\n\n".encode() + raw
                else:
                    payload = (text + "\n").encode("utf-8")
                data = (f"Content-Length: {len(payload)}\nContent-Type: text/event-plain\n\n"
                        .encode() + payload)
            else:
                data = Event.from_headers(self.headers(), self.body).to_frame(fmt)
            self._frames[fmt] = data
        return data

    def to_event(self) -> Event:
        return Event.from_headers(self.headers(), self.body)

    def __repr__(self) -> str:
        return f"<SimEvent {self.name} {self.uuid}>"


_date_cache: list[Any] = [0, None]


def date_headers(us: int) -> tuple[str, str, str]:
    """(Event-Date-Local, Event-Date-GMT, Event-Date-Timestamp) for ``us`` microseconds
    since the epoch."""
    sec = us // 1_000_000
    if _date_cache[0] != sec or _date_cache[1] is None:
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
        gmt = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(sec))
        _date_cache[0] = sec
        _date_cache[1] = (local, gmt)
    local, gmt = _date_cache[1]
    return local, gmt, str(us)


class Clock:
    """FreeSWITCH's cached clock: what it stamps events and channel times with.

    FreeSWITCH reads the time once per timer tick (20 ms) and stamps everything raised in
    that tick with the same value, so timestamps move in ``tick`` steps. ``stamp(t)``
    maps a real time ``t`` (``time.time()``) to that value, in microseconds: the start of
    its tick on a grid whose phase is the clock's creation. ``tick`` 0: exact times.
    """

    __slots__ = ("tick_us", "phase_us")

    def __init__(self, tick: float = 0.02, origin: float | None = None) -> None:
        self.tick_us = max(0, int(round(tick * 1_000_000)))
        self.phase_us = int(round((time.time() if origin is None else origin) * 1_000_000))

    def stamp(self, t: float | None = None) -> int:
        """Microseconds since the epoch of real time ``t`` (default: now), on the grid."""
        us = int(round((time.time() if t is None else t) * 1_000_000))
        tick = self.tick_us
        if tick <= 0:
            return us
        return us - (us - self.phase_us) % tick

    def seconds(self, t: float | None = None) -> float:
        """:meth:`stamp` in seconds."""
        return self.stamp(t) / 1_000_000
