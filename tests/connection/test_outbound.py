"""Outbound mode: FreeSWITCH's ``socket`` application dials our OutboundServer.

A small "replay client" plays FreeSWITCH: it connects to the server and writes the
``outbound_socket`` capture's ``recv`` chunks in order, waiting for one whole command at
each ``send`` entry.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from helpers import Recorder, Transcript, assert_same_commands, settle, until

from switchio_lab.connection import OutboundServer, OutboundSession
from switchio_lab.esl import Command, CommandParser, replies
from switchio_lab.testing import scaled

UUID = "5b9fb40a-6fcf-42fb-858e-2a2613590510"
TONE = "tone_stream://%(200,0,1004)"


class FakeSwitch:
    """FreeSWITCH's side of one outbound socket, replaying a transcript."""

    def __init__(self, entries: list[tuple[float, str, bytes]]) -> None:
        self.entries = entries
        self.commands: list[Command] = []
        self.finished = asyncio.Event()  # every entry played
        self.hangup = asyncio.Event()  # set it to close the socket (the linger time is over)
        self.eof = asyncio.Event()  # the server closed the socket

    async def call(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        parser = CommandParser()
        pending: list[Command] = []
        try:
            for _, direction, data in self.entries:
                if direction == "recv":
                    writer.write(data)
                    await writer.drain()
                    continue
                while not pending:
                    chunk = await reader.read(65536)
                    if not chunk:
                        self.eof.set()
                        return
                    pending.extend(parser.feed(chunk))
                self.commands.append(pending.pop(0))
            self.finished.set()
            read = asyncio.ensure_future(reader.read())
            hangup = asyncio.ensure_future(self.hangup.wait())
            await asyncio.wait({read, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if read.done() and read.result() == b"":
                self.eof.set()
            read.cancel()
            hangup.cancel()
        finally:
            writer.close()


def connect_only(t: Transcript) -> list[tuple[float, str, bytes]]:
    """The first exchange only: ``connect`` and its reply (the channel data)."""
    assert t.entries[0][1] == "send" and t.entries[1][1] == "recv"
    return t.entries[:2]


async def answer_everything(fake: FakeSwitch, port: int) -> None:
    """After the connect exchange, answer each command with +OK until the socket closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = CommandParser()
    try:
        first = True
        while chunk := await reader.read(65536):
            for cmd in parser.feed(chunk):
                fake.commands.append(cmd)
                if first:
                    writer.write(fake.entries[1][2])
                    first = False
                else:
                    writer.write(replies.command_reply("+OK"))
        fake.eof.set()
    finally:
        writer.close()


async def test_outbound_session_replays_the_capture(fixtures_dir):
    t = Transcript.load(fixtures_dir, "outbound_socket")
    results: dict[str, object] = {}
    sessions: list[OutboundSession] = []
    handled = asyncio.Event()

    async def handler(session: OutboundSession) -> None:
        sessions.append(session)
        results["rec"] = Recorder(session)
        done = session.events("CHANNEL_EXECUTE_COMPLETE")
        results["myevents"] = await session.myevents()
        results["linger"] = await session.linger()
        results["from"] = await session.getvar("sip_from_user")
        results["status"] = await session.api("status")
        results["answer"] = await session.execute("answer", event_lock=True)
        results["playback"] = await session.execute("playback", TONE)
        async for event in done:
            if event["Application"] == "playback":
                break
        results["hangup"] = await session.hangup()
        handled.set()

    fake = FakeSwitch(t.entries)
    async with OutboundServer(handler, "127.0.0.1", 0, timeout=2.0) as server:
        assert server.port != 0
        call = asyncio.ensure_future(fake.call(server.port))
        await asyncio.wait_for(handled.wait(), scaled(2))
        session = sessions[0]
        rec: Recorder = results["rec"]  # type: ignore[assignment]
        await rec.wait_state("linger")

        # the connect reply's channel data
        assert session.uuid == UUID
        assert session.channel is not None
        assert session.channel["Unique-ID"] == session.channel["Channel-Unique-ID"] == UUID
        assert session.channel["Caller-Caller-ID-Number"] == "0000000000"
        assert session.channel["Event-Name"] == "CHANNEL_DATA"
        assert session.channel["Channel-Channel-Name"] == "sofia/external/0000000000@127.0.0.1"
        assert UUID in str(session)

        assert results["myevents"] == "+OK Events Enabled"
        assert results["linger"] == "+OK will linger"
        assert results["from"] == "0000000000"
        assert results["status"] == next(f.text for f in t.replies if f.content_type ==
                                         "api/response")
        assert results["answer"] == results["playback"] == results["hangup"] == "+OK"

        # the handler returned, but FreeSWITCH keeps the socket open (linger): still live
        assert session.lingering
        assert session.connected
        assert session in server.sessions
        assert not session.closed.done()

        fake.hangup.set()  # FreeSWITCH closes the socket
        await asyncio.wait_for(session.wait_closed(), scaled(2))
        assert server.sessions == set()
        assert not session.connected
        await asyncio.wait_for(call, scaled(2))

    assert_same_commands(fake.commands, t.sends)
    assert [c.line for c in fake.commands] == [
        "connect", "myevents", "linger", "getvar sip_from_user", "api status", "sendmsg",
        "sendmsg", "sendmsg"]
    assert rec.names == t.event_names
    assert rec.events == t.events
    assert {e.uuid for e in rec.events} == {UUID}
    assert rec.states == ["linger", "closed"]
    notice = [f for f in rec.frames if f.content_type == "text/disconnect-notice"]
    assert len(notice) == 1 and notice[0].headers["Linger-Time"] == "-1"


async def test_failing_handler_is_logged_and_the_server_keeps_accepting(fixtures_dir, caplog):
    t = Transcript.load(fixtures_dir, "outbound_socket")
    calls: list[OutboundSession] = []
    served = asyncio.Event()

    async def handler(session: OutboundSession) -> None:
        calls.append(session)
        if len(calls) == 1:
            raise RuntimeError("bug in the app")
        assert await session.myevents() == "+OK"  # answer_everything's reply
        served.set()

    first, second = FakeSwitch(connect_only(t)), FakeSwitch(connect_only(t))
    with caplog.at_level(logging.ERROR, logger="switchio_lab.connection"):
        async with OutboundServer(handler, "127.0.0.1", 0, timeout=2.0) as server:
            one = asyncio.ensure_future(answer_everything(first, server.port))
            await until(lambda: len(calls) == 1)
            await settle()
            two = asyncio.ensure_future(answer_everything(second, server.port))
            await asyncio.wait_for(served.wait(), scaled(2))
            assert [c.line for c in second.commands] == ["connect", "myevents"]
            assert len(server.sessions) == 2  # both sockets are still open
        # stop() closed them
        await asyncio.wait_for(asyncio.gather(one, two), scaled(2))
    assert first.eof.is_set() and second.eof.is_set()
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1
    assert isinstance(failures[0].exc_info[1], RuntimeError)
    assert UUID in failures[0].getMessage()


async def test_stop_closes_live_sessions(fixtures_dir):
    t = Transcript.load(fixtures_dir, "outbound_socket")
    cancelled: list[OutboundSession] = []
    started: list[OutboundSession] = []

    async def handler(session: OutboundSession) -> None:
        started.append(session)
        if len(started) == 1:
            return  # the call goes on; FreeSWITCH would close the socket later
        try:
            await asyncio.Event().wait()  # a long-running call
        except asyncio.CancelledError:
            cancelled.append(session)
            raise

    fakes = [FakeSwitch(connect_only(t)) for _ in range(2)]
    server = await OutboundServer(handler, "127.0.0.1", 0, timeout=2.0).start()
    port = server.port
    calls = []
    for fake in fakes:
        calls.append(asyncio.ensure_future(fake.call(port)))
        await asyncio.wait_for(fake.finished.wait(), scaled(2))
    await until(lambda: len(started) == 2)
    assert len(server.sessions) == 2

    await asyncio.wait_for(server.stop(), scaled(2))
    await asyncio.wait_for(asyncio.gather(*calls), scaled(2))
    assert all(fake.eof.is_set() for fake in fakes)  # both sockets closed by the server
    assert cancelled == [started[1]]  # the running handler was cancelled
    assert server.sessions == set()
    for session in started:
        assert session.closed.done() and not session.connected
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
