"""Helpers shared by the connection tests (client, reconnect, events, outbound).

Not a conftest: import what you need (``from _helpers import ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from replay import ScriptedServer, load_transcript

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
    replies,
)

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
                   timeout: float = 2.0) -> Event:
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

        return await asyncio.wait_for(scan(), timeout)

    async def wait_state(self, state: str, timeout: float = 2.0) -> None:
        async def scan() -> None:
            while state not in self.states:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), timeout)


# --- a scripted switch for ScriptedServer ---------------------------------------------------


def plain_event(name: str, body: str = "", **headers: object) -> Event:
    return Event.from_headers({"Event-Name": name, **{k.replace("_", "-"): v
                                                     for k, v in headers.items()}}, body)


def standard_reply(cmd: Command, index: int = 0) -> bytes | None:
    """FreeSWITCH's usual answers (texts from the captures) for a ScriptedServer."""
    name, args = cmd.name, cmd.args
    if name == "auth":
        return replies.command_reply("+OK accepted" if args == "ClueCon" else "-ERR invalid")
    if name == "event":
        fmt = args.split()[0] if args else "plain"
        return replies.command_reply(f"+OK event listener enabled {fmt}")
    if name == "nixevent":
        return replies.command_reply("+OK events nixed")
    if name == "filter":
        header, _, value = args.partition(" ")
        if header == "delete":
            return replies.command_reply(f"+OK filter deleted. [{value}]")
        return replies.command_reply(f"+OK filter added. [{header}]=[{value}]")
    if name == "myevents":
        return replies.command_reply("+OK Events Enabled")
    if name == "linger":
        return replies.command_reply(f"+OK will linger {args} seconds" if args
                                     else "+OK will linger")
    if name == "log":
        return replies.command_reply(f"+OK log level {args} [{args}]")
    if name == "api":
        return replies.api_response(f"api:{args}")
    if name == "bgapi":
        job = cmd.headers.get("Job-UUID", "00000000-0000-4000-8000-000000000000")
        return replies.command_reply(f"+OK Job-UUID: {job}", {"Job-UUID": job})
    if name == "sendevent":
        return replies.command_reply("+OK 0d0c5320-8dc9-42b0-bdaf-aaa2e4f92c3c")
    if name == "exit":
        return replies.command_reply("+OK bye") + replies.disconnect_notice()
    return replies.command_reply("+OK")


def job_event(job_uuid: str, result: str, command: str = "status") -> bytes:
    """The BACKGROUND_JOB frame FreeSWITCH sends for a finished bgapi job."""
    cmd, _, arg = command.partition(" ")
    return plain_event("BACKGROUND_JOB", result, Job_UUID=job_uuid, Job_Command=cmd,
                       Job_Command_Arg=arg).to_frame()


@contextlib.asynccontextmanager
async def scripted_server(reply: Callable[[Command, int], bytes | None] = standard_reply,
                          **kwargs: object) -> AsyncIterator[ScriptedServer]:
    """A started :class:`ScriptedServer` (``standard_reply`` by default), stopped after."""
    server = await ScriptedServer(reply, **kwargs).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        await server.stop()
        await settle(0.01)  # let its connection tasks finish (not be cancelled at teardown)


# --- ad-hoc servers -------------------------------------------------------------------------


class Peer:
    """The server side of one accepted connection, read one command at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = CommandParser()
        self.pending: list[Command] = []
        self.commands: list[Command] = []

    async def command(self, timeout: float = 2.0) -> Command:
        async def read() -> Command:
            while not self.pending:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise EOFError("client closed the connection")
                self.pending.extend(self.parser.feed(chunk))
            cmd = self.pending.pop(0)
            self.commands.append(cmd)
            return cmd

        return await asyncio.wait_for(read(), timeout)

    async def eof(self, timeout: float = 2.0) -> bytes:
        """Everything the client still sends until it closes."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def authenticate(self, greet: bool = True) -> None:
        """Ask for auth and answer like FreeSWITCH until ``auth ClueCon`` comes."""
        if greet:
            self.write(replies.auth_request())
        while True:
            cmd = await self.command()
            if cmd.line == "auth ClueCon":
                self.write(replies.command_reply("+OK accepted"))
                return
            self.write(replies.command_reply("-ERR command not found"))

    async def serve(self) -> None:
        """Answer every command with :func:`standard_reply` until the client closes."""
        while True:
            out = standard_reply(await self.command(timeout=30))
            if out:
                self.write(out)

    def close(self) -> None:
        self.writer.close()


@dataclass
class AdHocServer:
    """``asyncio.start_server`` on 127.0.0.1:0 running ``handler(peer)`` per connection."""

    handler: Callable[[Peer], Awaitable[None]]
    port: int = 0
    peers: list[Peer] = field(default_factory=list)
    accepted: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> AdHocServer:
        self._tasks: set[asyncio.Task[None]] = set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for peer in self.peers:
            peer.writer.transport.abort()
        if self._tasks:  # handlers reading see the end; cancel only those that wait otherwise
            _, stuck = await asyncio.wait(list(self._tasks), timeout=0.1)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.peers.append(peer)
        self.accepted.set()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(peer)
        except (ConnectionError, EOFError, asyncio.TimeoutError):
            pass
        finally:
            self._tasks.discard(task)

    async def peer(self, index: int = 0, timeout: float = 2.0) -> Peer:
        async def wait() -> Peer:
            while len(self.peers) <= index:
                self.accepted.clear()
                await self.accepted.wait()
            return self.peers[index]

        return await asyncio.wait_for(wait(), timeout)


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(pred: Callable[[], object], timeout: float = 2.0) -> None:
    """Poll ``pred`` until it is true (for state kept by servers and clients)."""

    async def poll() -> None:
        while not pred():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def settle(seconds: float = 0.05) -> None:
    """Let the loop run for a moment (for "nothing more happens" checks)."""
    await asyncio.sleep(seconds)
