"""A scripted Event Socket server that replays golden FreeSWITCH transcripts over TCP.

The transcript's ``recv`` chunks (what FreeSWITCH sent, with its real chunk
boundaries) are written in order; at each ``send`` entry the server waits for one whole
command from the client and records it. Tests then compare what the client made of the
bytes, and what it sent, with the capture.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from switchio_lab.esl import Command, CommandParser


def load_transcript(path: Path) -> list[tuple[float, str, bytes]]:
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
