"""Fake Event Socket servers on 127.0.0.1 for the connection tests: one module, three shapes.

- :class:`ReplayServer` replays a golden transcript (what FreeSWITCH sent, chunk by chunk)
  and records what the client sends;
- :class:`ScriptedServer` answers each command with ``reply(command, conn_index)``
  (:func:`standard_reply` by default, see :func:`scripted_server`);
- :class:`AdHocServer` runs a test's own ``handler(peer)`` per connection (:class:`Peer`).

Not a conftest: import what you need (``from fake_server import ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from switchio_lab.esl import Command, CommandParser, Event, replies
from switchio_lab.testing import scaled


def load_transcript(path: Path) -> list[tuple[float, str, bytes]]:
    """A ``NAME.jsonl[.gz]`` capture as ``[(t, "send"|"recv", bytes)]``."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [(o["t"], o["dir"], o["data"].encode("latin-1")) for o in map(json.loads, fh)]


@dataclass
class ReplayServer:
    """Serve ``transcript`` to each client that connects (one at a time is enough)."""

    transcript: list[tuple[float, str, bytes]]
    host: str = "127.0.0.1"
    port: int = 0
    #: stop after this many entries (to cut a conversation short), None = all
    stop_after: int | None = None
    #: what to do at the end: "close" the socket, or "hang" (keep it open, send nothing)
    at_end: str = "close"
    commands: list[Command] = field(default_factory=list)
    connections: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> ReplayServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        parser = CommandParser()
        pending: list[Command] = []
        entries = self.transcript[: self.stop_after]
        try:
            for _, direction, data in entries:
                if direction == "recv":
                    writer.write(data)
                    await writer.drain()
                    continue
                while not pending:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    pending.extend(parser.feed(chunk))
                self.commands.append(pending.pop(0))
            if self.at_end == "hang":
                while await reader.read(65536):
                    pass
        except ConnectionError:
            pass
        finally:
            self.done.set()
            writer.close()


@dataclass
class ScriptedServer:
    """A tiny ESL server whose replies a test scripts: ``reply(command) -> bytes``.

    Records every command per connection; :meth:`drop` closes all connections (for
    reconnect tests) without stopping the listener.
    """

    reply: object  # callable(Command, conn_index) -> bytes | None
    host: str = "127.0.0.1"
    port: int = 0
    greeting: bytes = b"Content-Type: auth/request\n\n"
    log: list[list[Command]] = field(default_factory=list)

    async def start(self) -> ScriptedServer:
        self._writers: list[asyncio.StreamWriter] = []
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.close()
        self.drop()
        await self._server.wait_closed()

    def drop(self) -> None:
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.log)
        self.log.append([])
        self._writers.append(writer)
        parser = CommandParser()
        try:
            if self.greeting:
                writer.write(self.greeting)
            while chunk := await reader.read(65536):
                for cmd in parser.feed(chunk):
                    self.log[index].append(cmd)
                    out = self.reply(cmd, index)  # type: ignore[operator]
                    if out:
                        writer.write(out)
        except ConnectionError:
            pass
        finally:
            writer.close()


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
        # let its connection tasks finish (not be cancelled at teardown)
        await asyncio.sleep(scaled(0.01))


# --- ad-hoc servers -------------------------------------------------------------------------


class Peer:
    """The server side of one accepted connection, read one command at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = CommandParser()
        self.pending: list[Command] = []
        self.commands: list[Command] = []

    async def command(self, timeout: float | None = None) -> Command:
        async def read() -> Command:
            while not self.pending:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise EOFError("client closed the connection")
                self.pending.extend(self.parser.feed(chunk))
            cmd = self.pending.pop(0)
            self.commands.append(cmd)
            return cmd

        return await asyncio.wait_for(read(), scaled(2.0) if timeout is None else timeout)

    async def eof(self, timeout: float | None = None) -> bytes:
        """Everything the client still sends until it closes."""
        return await asyncio.wait_for(self.reader.read(),
                                      scaled(2.0) if timeout is None else timeout)

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
            out = standard_reply(await self.command(timeout=scaled(30)))
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
            _, stuck = await asyncio.wait(list(self._tasks), timeout=scaled(0.1))
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

    async def peer(self, index: int = 0, timeout: float | None = None) -> Peer:
        async def wait() -> Peer:
            while len(self.peers) <= index:
                self.accepted.clear()
                await self.accepted.wait()
            return self.peers[index]

        return await asyncio.wait_for(wait(), scaled(2.0) if timeout is None else timeout)
