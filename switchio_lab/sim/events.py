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


def _line_at(text: str, key: str) -> tuple[int, int]:
    """Where ``key``'s line is in an encoded block (start, end past its newline), or (-1, -1).
    Exact: values are URL-encoded, so a raw newline only ever ends a line."""
    head = key + ": "
    if text.startswith(head):
        i = 0
    else:
        i = text.find("\n" + head)
        if i < 0:
            return -1, -1
        i += 1
    j = text.find("\n", i)
    return i, (j + 1 if j >= 0 else len(text))


class Block(dict):
    """An ordered header block whose plain encoding is cached, and kept up to date a line
    at a time as headers change (a channel's variables change one by one; re-encoding
    its ~100 lines for each was most of the switch's CPU under load, issue 16).

    ``block.set(k, v)`` moves an existing key to the end, as FreeSWITCH does when a
    channel variable is set again.
    """

    __slots__ = ("_text",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._text: str | None = None

    def set(self, key: str, value: object) -> None:
        value = str(value)
        text = self._text
        if text is not None and key in self:
            i, j = _line_at(text, key)
            text = None if i < 0 else text[:i] + text[j:]
        dict.pop(self, key, None)
        dict.__setitem__(self, key, value)
        self._text = None if text is None else f"{text}{key}: {_encode(value)}\n"

    def __setitem__(self, key: str, value: object) -> None:
        value = str(value)
        text = self._text
        if text is not None:
            line = f"{key}: {_encode(value)}\n"
            if key in self:  # it keeps its place
                i, j = _line_at(text, key)
                text = None if i < 0 else text[:i] + line + text[j:]
            else:
                text += line
        dict.__setitem__(self, key, value)
        self._text = text

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._drop(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            value = dict.pop(self, key)
            self._drop(key)
            return value
        return dict.pop(self, key, *default)

    def _drop(self, key: str) -> None:
        text = self._text
        if text is not None:
            i, j = _line_at(text, key)
            self._text = None if i < 0 else text[:i] + text[j:]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self.set(k, v)

    def clear(self) -> None:
        dict.clear(self)
        self._text = None

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def popitem(self) -> tuple[str, Any]:
        self._text = None
        return dict.popitem(self)

    def __ior__(self, other: Any) -> Block:  # type: ignore[override,misc]
        self.update(other)
        return self

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
