"""The inbound client against hosts that misbehave: dead, silent, rude, slow, garbled.

Every test bounds its waits: a fault must end in a typed error, never in a hang.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_server import (
    AdHocServer,
    Peer,
    ScriptedServer,
    plain_event,
    scripted_server,
    standard_reply,
)
from helpers import Recorder, settle, unused_port

from switchio_lab.connection import (
    AuthenticationError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    InboundClient,
    NotConnected,
    ProtocolError,
)
from switchio_lab.esl import Command, replies
from switchio_lab.testing import scaled

PASSWORD = "S3cret-pw"


def client_for(port: int, **kwargs) -> InboundClient:
    kwargs.setdefault("reconnect", False)
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("connect_timeout", 2.0)
    kwargs.setdefault("backoff", (0.01, 0.05))
    return InboundClient("127.0.0.1", port, **kwargs)


def lines(server: ScriptedServer, index: int = 0) -> list[str]:
    return [c.line for c in server.log[index]]


# --- cannot connect ----------------------------------------------------------------------------


async def test_dead_host_fails_fast():
    port = unused_port()
    client = client_for(port, reconnect=True, connect_timeout=scaled(10))
    rec = Recorder(client)
    start = time.monotonic()
    with pytest.raises(ConnectError) as info:
        await client.connect()
    assert time.monotonic() - start < scaled(5)  # refused at once: no wait for the timeout
    assert not isinstance(info.value, AuthenticationError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert not client.connected
    assert rec.states == []
    with pytest.raises(NotConnected):
        await client.api("status")


@pytest.mark.parametrize("greets", [False, True], ids=["no-auth-request", "no-auth-reply"])
async def test_silent_host_times_out(greets):
    """Accepts the connection, then never asks for auth (or never answers it)."""
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handler(peer: Peer) -> None:
        if greets:
            peer.write(replies.auth_request())
        received.set_result(await peer.eof(timeout=5))

    async with AdHocServer(handler) as server:
        client = client_for(server.port, password=PASSWORD, connect_timeout=0.2,
                            reconnect=True)
        rec = Recorder(client)
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            await client.connect()
        elapsed = time.monotonic() - start
        assert 0.2 <= elapsed < scaled(2.0)  # fired, and not after 10x
        message = str(info.value)
        assert f"127.0.0.1:{server.port}" in message
        assert PASSWORD not in message
        if greets:
            assert "authentication failed" in message and "auth ********" in message
        else:
            assert "did not ask for authentication within 0.2 s" in message
        # the client closed the socket (having sent at most its auth) ...
        sent = await asyncio.wait_for(received, scaled(1))
        assert sent == (f"auth {PASSWORD}\n\n".encode() if greets else b"")
        # ... and the failed attempt does not turn into a reconnect loop
        await settle(0.2)
        assert len(server.peers) == 1
        assert rec.states == []


async def test_rude_rejection():
    async def handler(peer: Peer) -> None:
        peer.write(replies.rude_rejection())
        # FreeSWITCH closes right after; a late close must not matter
        await asyncio.sleep(scaled(0.1))
        peer.close()

    async with AdHocServer(handler) as server:
        client = client_for(server.port, reconnect=True)
        rec = Recorder(client)
        with pytest.raises(ConnectError) as info:
            await client.connect()
        assert not isinstance(info.value, AuthenticationError)
        assert "refused" in str(info.value) and "Access Denied, go away." in str(info.value)
        assert f"127.0.0.1:{server.port}" in str(info.value)
        assert client.disconnect_notice is not None
        assert client.disconnect_notice.content_type == "text/rude-rejection"
        await settle(0.2)
        assert len(server.peers) == 1
        assert rec.states == []


# --- the connection breaks ------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [
    b"Content-Type: api/response\nContent-Length: 100\n\n0123456789",
    b"Content-Type: api/resp",
], ids=["mid-body", "mid-header"])
async def test_server_closes_mid_frame(partial):
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        await peer.command()
        peer.write(partial)
        peer.close()

    async with AdHocServer(handler) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        with pytest.raises(ConnectionLost) as info:
            await asyncio.wait_for(client.api("status"), scaled(2))
        assert "'api status'" in str(info.value)
        assert "connection lost" in str(info.value)
        await rec.wait_state("closed")
        assert rec.states == ["connected", "closed"]
        assert not client.connected
        with pytest.raises(NotConnected):
            await client.api("status")


async def test_command_timeout_and_late_reply_goes_nowhere():
    """A reply that comes after its command timed out must not answer the next command."""

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api a":
            return None  # slow: answered together with b
        if cmd.line == "api b":
            return replies.api_response("reply to a") + replies.api_response("reply to b")
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        await client.connect()
        start = time.monotonic()
        with pytest.raises(CommandTimeout) as info:
            await client.api("a", timeout=0.1)
        assert 0.1 <= time.monotonic() - start < scaled(1.0)  # fired, and not after 10x
        assert isinstance(info.value, TimeoutError)
        assert "'api a'" in str(info.value) and "0.1 s" in str(info.value)
        assert client.connected  # a timeout is not a reason to drop the connection

        assert await client.api("b") == "reply to b"
        assert await client.api("c") == "api:c"
        assert await client.api("d") == "api:d"
        assert lines(server) == ["auth ClueCon", "api a", "api b", "api c", "api d"]
        await client.close()


async def test_garbage_is_a_protocol_error():
    garbage = b"HTTP/1.1 400 Bad Request\nServer: nginx\n\n"

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api status":
            return garbage
        if cmd.line == "api version":
            return None
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        pending = [asyncio.ensure_future(client.api("version")),
                   asyncio.ensure_future(client.api("status"))]
        done, _ = await asyncio.wait(pending, timeout=scaled(2))
        assert len(done) == 2  # nothing hangs
        for task, line in zip(pending, ["api version", "api status"], strict=True):
            exc = task.exception()
            assert isinstance(exc, ConnectionLost)
            assert "protocol error" in str(exc) and f"'{line}'" in str(exc)

        err = client.last_error
        assert isinstance(err, ProtocolError)
        # where the garbage starts: after the auth request and the auth reply
        assert err.position == len(replies.auth_request() + replies.command_reply("+OK accepted"))
        assert err.data.startswith(b"HTTP/1.1 400")
        await rec.wait_state("closed")
        assert not client.connected
        with pytest.raises(NotConnected):
            await client.api("status")


async def test_final_disconnect_notice_then_close():
    """Everything in the last read is handled: a linger notice, events after it, the reply,
    and the goodbye; then a command still waiting fails with a clear reason."""
    uuid = "0b4d2e87-92ec-41b3-bc5c-93a456c2da3d"

    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        await peer.command()  # api status
        await peer.command()  # api version: never answered
        peer.write(
            replies.linger_notice(uuid, "sofia/external/0000000000@127.0.0.1", 3)
            + plain_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=uuid).to_frame()
            + replies.api_response("UP")
            + plain_event("CHANNEL_DESTROY", Unique_ID=uuid).to_frame()
            + replies.disconnect_notice(uuid))
        peer.close()

    async with AdHocServer(handler) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        status = asyncio.ensure_future(client.api("status"))
        version = asyncio.ensure_future(client.api("version"))
        assert await asyncio.wait_for(status, scaled(2)) == "UP"
        with pytest.raises(ConnectionLost) as info:
            await asyncio.wait_for(version, scaled(2))
        assert "the server said goodbye" in str(info.value) and "'api version'" in str(info.value)
        await rec.wait_state("closed")
        assert rec.names == ["CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"]
        assert rec.states == ["connected", "linger", "closed"]
        assert client.lingering
        notice = client.disconnect_notice
        assert notice is not None and notice.text == replies.GOODBYE
        assert notice.headers["Content-Disposition"] == "disconnect"


# --- what the client writes ---------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda c: c.api("status\nevent plain ALL"),
    lambda c: c.api("status\r"),
    lambda c: c.bgapi("status\nexit"),
    lambda c: c.bgapi("status", job_uuid="abc\nexit"),
    lambda c: c.filter("Unique-ID", "x\nnoevents"),
    lambda c: c.myevents("uuid\nexit"),
    lambda c: c.log("7\nexit"),
    lambda c: c.execute("answer", uuid="u\nexit"),
    lambda c: c.sendmsg("u", "execute", {"execute-app-name": "answer\nexit"}),
    lambda c: c.sendevent("CUSTOM", {"Event-Subclass": "a\nb"}),
    lambda c: c.sendevent("CUSTOM\nexit"),
], ids=["api", "api-cr", "bgapi", "bgapi-job-uuid", "filter", "myevents", "log", "execute-uuid",
        "sendmsg-header", "sendevent-header", "sendevent-name"])
async def test_newline_in_argument_raises_and_sends_nothing(call):
    async with scripted_server() as server:
        client = client_for(server.port)
        await client.connect()
        with pytest.raises(ValueError, match="newline"):
            await call(client)
        await settle()
        assert lines(server) == ["auth ClueCon"]
        assert client.pending_jobs == 0
        # and the connection is still in step
        assert await client.api("status") == "api:status"
        assert lines(server) == ["auth ClueCon", "api status"]
        await client.close()


async def test_newline_in_execute_argument_goes_in_a_body():
    async with scripted_server() as server:
        client = client_for(server.port)
        await client.connect()
        arg = "line one\nline two: é"
        assert await client.execute("speak", arg, "u-1") == "+OK"
        cmd = server.log[0][-1]
        assert cmd.line == "sendmsg u-1"
        assert cmd.headers["execute-app-name"] == "speak"
        assert "execute-app-arg" not in cmd.headers
        assert cmd.headers["content-type"] == "text/plain"
        assert cmd.body == arg.encode()
        await client.close()


async def test_huge_commands_arrive_whole():
    """Trap 9: a long command is written whole, and concurrent ones do not interleave."""
    mib = 1 << 20
    big_reply = "x" * (2 * mib)

    def reply(cmd: Command, index: int) -> bytes | None:
        if cmd.line == "api big":
            return replies.api_response(big_reply)
        return standard_reply(cmd, index)

    async with scripted_server(reply) as server:
        client = client_for(server.port)
        await client.connect()
        bodies = [ch * (mib // 2) for ch in "éàü"]  # 2 bytes a character: 1 MiB each
        results = await asyncio.gather(*(
            client.sendevent("CUSTOM", {"Event-Subclass": f"lab::big{i}"}, body)
            for i, body in enumerate(bodies)))
        assert all(r.startswith("+OK ") for r in results)
        got = server.log[0][1:]
        assert [c.line for c in got] == ["sendevent CUSTOM"] * 3
        for i, (cmd, body) in enumerate(zip(got, bodies, strict=True)):
            assert cmd.headers["Event-Subclass"] == f"lab::big{i}"
            assert cmd.headers["Content-Length"] == str(mib)
            assert cmd.body == body.encode()
        # the stream is still in step, and a 2 MiB api body comes back whole
        assert await client.api("big") == big_reply
        assert await client.api("status") == "api:status"
        await client.close()
