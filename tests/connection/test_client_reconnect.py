"""Reconnecting: what is restored, what fails, what waits, and when it stops.

Also trap 10's other half: a bgapi job whose BACKGROUND_JOB comes in the same read as
(or even before) the ``+OK Job-UUID`` reply must still resolve.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from fake_server import (
    AdHocServer,
    Peer,
    ScriptedServer,
    job_event,
    plain_event,
    scripted_server,
    standard_reply,
)
from helpers import Recorder, settle, until

from switchio_lab.connection import (
    AuthenticationError,
    ConnectionLost,
    InboundClient,
    NotConnected,
    ProtocolError,
)
from switchio_lab.esl import Command, replies
from switchio_lab.testing import scaled

UUID = "0b4d2e87-92ec-41b3-bc5c-93a456c2da3d"
JOB = "7b2e0d1c-0000-4000-8000-000000000001"


def client_for(port: int, **kwargs) -> InboundClient:
    kwargs.setdefault("backoff", (0.01, 0.1))
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("connect_timeout", 1.0)
    return InboundClient("127.0.0.1", port, **kwargs)


def lines(server: ScriptedServer, index: int) -> list[str]:
    return [c.line for c in server.log[index]]


@pytest.fixture
async def server():
    async with scripted_server() as srv:
        yield srv


def fs_subscription(line: str) -> tuple[set[str], set[str]]:
    """How mod_event_socket reads ``event <fmt> <words>``: every word after CUSTOM is a
    subclass name, whatever it looks like."""
    names: set[str] = set()
    subclasses: set[str] = set()
    custom = False
    for word in line.split()[2:]:
        if custom:
            subclasses.add(word)
        else:
            names.add(word)
            custom = word == "CUSTOM"
    return names, subclasses


# --- what a reconnect restores --------------------------------------------------------------


async def test_reconnect_restores_subscriptions_filters_myevents_linger_log(server):
    client = client_for(server.port)
    rec = Recorder(client)
    await client.connect()
    await client.subscribe("CHANNEL_CREATE CHANNEL_ANSWER", "CHANNEL_HANGUP")
    await client.filter("Call-Direction", "inbound")
    await client.filter("Unique-ID", UUID)
    await client.myevents(UUID)
    await client.linger(5)
    await client.log(7)
    stream = client.events()
    before = lines(server, 0)

    server.drop()
    await rec.wait_state("reconnected")

    assert rec.states == ["connected", "disconnected", "reconnected"]
    assert client.stats.reconnects == 1
    assert client.connected
    after = lines(server, 1)
    assert after == [
        "auth ClueCon",
        "event plain CHANNEL_ANSWER CHANNEL_CREATE CHANNEL_HANGUP",
        "filter Call-Direction inbound",
        f"filter Unique-ID {UUID}",
        f"myevents {UUID}",
        "linger 5",
        "log 7",
    ]
    assert after[2:] == before[2:]  # the same filters, myevents, linger and log, in order
    # the client's picture did not change, and the new connection works
    assert client.event_names == {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP"}
    assert client.filters == [("Call-Direction", "inbound"), ("Unique-ID", UUID)]
    assert await client.api("status") == "api:status"
    assert lines(server, 1)[-1] == "api status"
    # streams and callbacks survive the reconnect
    assert not stream.closed
    await client.close()
    assert rec.states[-1] == "closed"


async def test_reconnect_restores_custom_subclasses_after_custom():
    fired = plain_event("CUSTOM", Event_Subclass="sofia::register").to_frame()

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api fire":
            return fired + replies.api_response("+OK")
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        await client.subscribe("CHANNEL_ANSWER HEARTBEAT")
        await client.subscribe("CUSTOM sofia::register conference::maintenance")
        await client.subscribe("PLAYBACK_START", "RECORD_STOP")
        names, subclasses = set(), set()
        for line in lines(server, 0)[1:]:
            n, s = fs_subscription(line)
            names |= n
            subclasses |= s
        assert subclasses == {"sofia::register", "conference::maintenance"}

        server.drop()
        await rec.wait_state("reconnected")
        restored = [line for line in lines(server, 1) if line.startswith("event ")]
        assert len(restored) == 1
        assert fs_subscription(restored[0]) == (names, subclasses)
        assert await client.api("fire") == "+OK"
        assert rec.events[-1].subclass == "sofia::register"
        await client.close()


async def test_restore_command_rejected_does_not_loop(caplog):
    """A restore command the new connection refuses (the myevents session is gone) is
    logged; the client stays connected instead of reconnecting for ever."""

    def reply(cmd: Command, index: int) -> bytes | None:
        if index > 0 and cmd.name == "myevents":
            return replies.command_reply("-ERR invalid uuid")
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        await client.myevents(UUID)
        await client.linger(5)
        with caplog.at_level(logging.WARNING, logger="switchio_lab.connection"):
            server.drop()
            await rec.wait_state("reconnected")
            await settle(0.2)
        assert len(server.log) == 2
        assert lines(server, 1) == ["auth ClueCon", f"myevents {UUID}", "linger 5"]
        assert rec.states == ["connected", "disconnected", "reconnected"]
        assert any("-ERR invalid uuid" in r.getMessage() for r in caplog.records)
        assert await client.api("status") == "api:status"
        await client.close()


# --- what fails, what waits ---------------------------------------------------------------------


async def test_in_flight_commands_and_jobs_fail_on_drop():
    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api hang":
            return None
        return standard_reply(cmd, index)  # bgapi: +OK Job-UUID, but no BACKGROUND_JOB

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        job = await client.bgapi("originate sofia/external/x &park()", job_uuid=JOB)
        hang = asyncio.ensure_future(client.api("hang"))
        await until(lambda: "api hang" in lines(server, 0))

        server.drop()
        with pytest.raises(ConnectionLost) as info:
            await asyncio.wait_for(hang, scaled(1))
        assert "connection lost" in str(info.value) and "'api hang'" in str(info.value)
        with pytest.raises(ConnectionLost) as info:
            await job.wait(scaled(1))
        assert JOB in str(info.value) and "originate sofia/external/x &park()" in str(info.value)
        assert job.done() and job.success is False and job.result is None

        await rec.wait_state("reconnected")
        assert client.pending_jobs == 0
        # a new job on the new connection works (BACKGROUND_JOB re-subscribed on restore)
        assert "event plain BACKGROUND_JOB" in lines(server, 1)
        await client.close()


async def test_command_issued_while_disconnected_waits_for_the_reconnect(server):
    client = client_for(server.port, backoff=(0.05, 0.1))
    rec = Recorder(client)
    waiting: list[asyncio.Future[str]] = []
    client.on_state(lambda state, c: waiting.append(asyncio.ensure_future(c.api("later")))
                    if state == "disconnected" else None)
    await client.connect()
    await client.subscribe("CHANNEL_CREATE")

    server.drop()
    await rec.wait_state("disconnected")
    assert await asyncio.wait_for(waiting[0], scaled(2)) == "api:later"
    assert rec.states == ["connected", "disconnected", "reconnected"]
    # sent on the new connection, after authentication and the restored subscription
    assert lines(server, 1) == ["auth ClueCon", "event plain CHANNEL_CREATE", "api later"]
    await client.close()


async def test_command_issued_during_the_reconnect_handshake_waits():
    """A command must not slip in before ``auth`` while the new connection authenticates."""
    greet = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if len(server.peers) > 1:
            await greet.wait()
        await peer.authenticate()
        await peer.serve()

    async with AdHocServer(handler) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        await client.subscribe("CHANNEL_CREATE")
        server.peers[0].writer.transport.abort()
        second = await server.peer(1)
        await settle(0.05)  # connected again, waiting for auth/request
        early = asyncio.ensure_future(client.api("early"))
        await settle(0.05)
        greet.set()
        assert await asyncio.wait_for(early, scaled(2)) == "api:early"
        assert [c.line for c in second.commands] == [
            "auth ClueCon", "event plain CHANNEL_CREATE", "api early"]
        assert rec.states == ["connected", "disconnected", "reconnected"]
        await client.close()


# --- when reconnecting stops ---------------------------------------------------------------------


async def test_password_rejected_on_reconnect_stops(caplog):
    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.name == "auth" and index > 0:
            return replies.command_reply("-ERR invalid")
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port, timeout=30.0)  # waiting commands must not sit 30 s
        rec = Recorder(client)
        waiting: list[asyncio.Future[str]] = []
        client.on_state(lambda state, c: waiting.append(asyncio.ensure_future(c.api("later")))
                        if state == "disconnected" else None)
        await client.connect()
        server.drop()
        await rec.wait_state("closed")

        assert rec.states == ["connected", "disconnected", "closed"]
        assert isinstance(client.last_error, AuthenticationError)
        assert f"127.0.0.1:{server.port}" in str(client.last_error)
        assert "ClueCon" not in str(client.last_error)
        with pytest.raises(NotConnected):
            await asyncio.wait_for(waiting[0], scaled(1))
        await settle(0.2)
        assert len(server.log) == 2  # no more attempts
        assert not client.connected
        assert client.stats.reconnects == 0
        with pytest.raises(NotConnected):
            await client.api("status")
        await client.close()
        assert rec.states == ["connected", "disconnected", "closed"]


@pytest.mark.parametrize("phase", ["backoff", "handshake"])
async def test_close_stops_reconnecting(phase):
    async with scripted_server(standard_reply) as server:
        client = client_for(server.port, backoff=(0.01, 0.02), connect_timeout=5.0)
        rec = Recorder(client)
        waiting: list[asyncio.Future[str]] = []
        client.on_state(lambda state, c: waiting.append(asyncio.ensure_future(c.api("later")))
                        if state == "disconnected" else None)
        await client.connect()
        # later connections are refused (backoff: attempts keep failing), or never
        # asked to authenticate (handshake: the attempt hangs until connect_timeout)
        server.greeting = replies.rude_rejection() if phase == "backoff" else b""
        server.drop()
        await until(lambda: len(server.log) >= (4 if phase == "backoff" else 2))
        await settle(0.02)

        await client.close()
        assert rec.states == ["connected", "disconnected", "closed"]
        with pytest.raises(NotConnected):
            await asyncio.wait_for(waiting[0], scaled(1))
        attempts = len(server.log)
        await settle(0.2)
        assert len(server.log) == attempts
        assert not client.connected
        await client.close()  # idempotent
        assert rec.states == ["connected", "disconnected", "closed"]


async def test_protocol_error_reconnects_and_is_not_blamed_later():
    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api garbage":
            return b"garbage\n\n"
        if cmd.line == "api hang":
            return None
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        with pytest.raises(ConnectionLost, match="protocol error"):
            await client.api("garbage")
        await rec.wait_state("reconnected")
        assert isinstance(client.last_error, ProtocolError)
        hang = asyncio.ensure_future(client.api("hang"))
        await until(lambda: "api hang" in lines(server, 1))
        server.drop()
        with pytest.raises(ConnectionLost) as info:
            await asyncio.wait_for(hang, scaled(1))
        assert "protocol error" not in str(info.value)
        assert "'api hang'" in str(info.value)
        await until(lambda: client.stats.reconnects == 2)
        await client.close()


# --- trap 10: the job result can come with (or before) the bgapi reply ---------------------------


@pytest.mark.parametrize("order", ["same-write-after", "same-write-before"])
async def test_job_resolves_when_result_comes_with_the_reply(order):
    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.name == "bgapi":
            job = cmd.headers["Job-UUID"]
            ack = replies.command_reply(f"+OK Job-UUID: {job}", {"Job-UUID": job})
            result = job_event(job, f"+OK {UUID}\n", cmd.args)
            return ack + result if order == "same-write-after" else result + ack
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        await client.connect()
        for command in ["originate sofia/external/a &park()", "status"]:
            job = await client.bgapi(command)
            assert await job.wait(scaled(1)) == f"+OK {UUID}\n"
            assert job.success is True
            assert job.uuid_created == UUID
            assert job.event is not None
            assert job.event["Job-Command"] == command.split()[0]
        assert client.pending_jobs == 0
        await client.close()
