"""Test-only helpers (not fixtures) shared by the connection and core tests.

Golden transcripts parsed (:class:`Transcript`), command comparison, a :class:`Recorder`
of what a connection reports, ports, and waits. The waits are :func:`until` (from
:mod:`switchio_lab.testing`) and :func:`settle` (for "nothing more happens" checks), both
scaled by ``$SWITCHIO_LAB_TIME_SCALE``. The fake servers are in :mod:`fake_server`.

Not a conftest: import what you need (``from helpers import ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fake_server import load_transcript

from switchio_lab.connection import Connection
from switchio_lab.esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    LOG_DATA,
    Command,
    CommandParser,
    Event,
    Frame,
    Parser,
)
from switchio_lab.testing import scaled, until

__all__ = ["Recorder", "Transcript", "assert_same_commands", "reply_value", "scaled",
           "settle", "unused_port", "until"]

# --- golden transcripts --------------------------------------------------------------------


@dataclass
class Transcript:
    """One golden capture, parsed: what the client sent and what FreeSWITCH answered."""

    name: str
    entries: list[tuple[float, str, bytes]]
    esl: bytes

    @classmethod
    def load(cls, fixtures_dir: Path, name: str) -> Transcript:
        t = cls(name, load_transcript(fixtures_dir / f"{name}.jsonl"),
                (fixtures_dir / f"{name}.esl").read_bytes())
        # the replay serves the recv chunks: they must be the .esl byte for byte
        assert b"".join(d for _, direction, d in t.entries if direction == "recv") == t.esl
        return t

    @property
    def sends(self) -> list[Command]:
        """The client's commands, one per ``send`` entry."""
        out: list[Command] = []
        for _, direction, data in self.entries:
            if direction == "send":
                cmds = CommandParser().feed(data)
                assert len(cmds) == 1, (self.name, data)
                out.extend(cmds)
        return out

    @property
    def frames(self) -> list[Frame]:
        return Parser().feed(self.esl)

    @property
    def events(self) -> list[Event]:
        return [f.event for f in self.frames if f.is_event]  # type: ignore[misc]

    @property
    def event_names(self) -> list[str]:
        return [e.name for e in self.events]

    @property
    def replies(self) -> list[Frame]:
        """command/reply and api/response frames, in order (one per command)."""
        return [f for f in self.frames if f.content_type in (COMMAND_REPLY, API_RESPONSE)]

    @property
    def logs(self) -> list[Frame]:
        return [f for f in self.frames if f.content_type == LOG_DATA]

    @property
    def job_results(self) -> dict[str, str]:
        """Job-UUID -> BACKGROUND_JOB body."""
        return {e["Job-UUID"]: e.body for e in self.events if e.name == "BACKGROUND_JOB"}

    def reply_for(self, index: int) -> Frame:
        """The reply to the ``index``-th command (replies come in command order)."""
        return self.replies[index]


def reply_value(frame: Frame) -> str:
    """What the client hands back for a reply frame: Reply-Text or the api body."""
    return frame.reply_text if frame.content_type == COMMAND_REPLY else frame.text


def assert_same_commands(got: Iterable[Command], want: Iterable[Command]) -> None:
    """The server saw exactly the transcript's commands: lines, headers and bodies.

    The one documented difference: the client always sends a ``Job-UUID`` header with
    ``bgapi`` (it registers the job before sending), where the capture may have none.
    """
    got, want = list(got), list(want)
    assert [c.line for c in got] == [c.line for c in want]
    for g, w in zip(got, want, strict=True):
        headers = dict(g.headers)
        if g.name == "bgapi" and "Job-UUID" not in w.headers:
            headers.pop("Job-UUID", None)
        assert (g.line, headers, g.body) == (w.line, w.headers, w.body)


# --- watching a connection ------------------------------------------------------------------


class Recorder:
    """Every event and state a connection reports, with ``await wait(pred)``."""

    def __init__(self, conn: Connection) -> None:
        self.events: list[Event] = []
        self.states: list[str] = []
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()
        conn.on_event(self._on_event)
        conn.on_state(self._on_state)
        conn.on_frame(self._on_frame)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def _on_state(self, state: str, conn: Connection) -> None:
        self.states.append(state)
        self._changed.set()

    def _on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def mark(self) -> int:
        return len(self.events)

    async def wait(self, pred: Callable[[Event], bool], since: int = 0,
                   timeout: float | None = None) -> Event:
        """The first event (at index >= ``since``) for which ``pred`` is true."""

        async def scan() -> Event:
            i = since
            while True:
                while i < len(self.events):
                    event = self.events[i]
                    i += 1
                    if pred(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), scaled(2.0) if timeout is None else timeout)

    async def wait_state(self, state: str, timeout: float | None = None) -> None:
        async def scan() -> None:
            while state not in self.states:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), scaled(2.0) if timeout is None else timeout)


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def settle(seconds: float = 0.05) -> None:
    """Let the loop run for ``scaled(seconds)`` (for "nothing more happens" checks only:
    to wait for something, use :func:`until`)."""
    await asyncio.sleep(scaled(seconds))


def wait_until(pred, timeout=5.0):
    """For blocking (switchio-style) tests: poll ``pred`` with ``time.sleep`` -- the compat
    loop thread keeps handling events meanwhile; fails after ``scaled(timeout)`` s."""
    import time

    from switchio_lab.testing import scaled

    end = time.monotonic() + scaled(timeout)
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"not true within {scaled(timeout)} s")
        time.sleep(0.01)
