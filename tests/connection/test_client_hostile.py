"""The client under hostile input: a bad event costs that event, never the connection; a
wedged stream is dropped and reopened; a flapping server is backed off; "connected" is true.
"""

from __future__ import annotations

import json

from fake_server import AdHocServer, Peer, plain_event, standard_reply
from helpers import Recorder

from switchio_lab.connection import ConnectError, InboundClient
from switchio_lab.esl import replies
from switchio_lab.testing import pause, scaled, until

DEEP = b'{"Event-Name":"HEARTBEAT","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
SURROGATE = b'{"Event-Name":"HEARTBEAT","Unique-ID":"\\ud800"}'


def json_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def client_for(port: int, **kwargs) -> InboundClient:
    kwargs.setdefault("reconnect", False)
    kwargs.setdefault("timeout", scaled(2.0))
    kwargs.setdefault("connect_timeout", scaled(2.0))
    return InboundClient("127.0.0.1", port, **kwargs)


async def test_undecodable_events_cost_only_themselves():
    """A 5,000-deep JSON array and a lone surrogate: each event is skipped and counted, the
    reply in the same read still arrives, and the connection stays up."""
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        await peer.command()  # event json ALL
        peer.write(replies.command_reply("+OK event listener enabled json"))
        cmd = await peer.command()  # api status: bad events and the reply in one write
        good = json.dumps({"Event-Name": "CUSTOM", "Event-Subclass": "a::b"}).encode()
        peer.write(json_frame(DEEP) + json_frame(SURROGATE) + json_frame(good)
                   + standard_reply(cmd))
        await peer.serve()

    async with AdHocServer(handler) as server:
        client = client_for(server.port)
        seen = []
        client.on_event(lambda ev: seen.append((ev.key, repr(ev))))
        await client.connect()
        await client.subscribe("ALL", format="json")
        assert (await client.api("status")) == "api:status"
        await until(lambda: len(seen) == 2)
        assert seen[1][0] == "a::b"  # the event after the bad ones is delivered
        assert seen[0][0] == "HEARTBEAT" and "\ufffd" not in seen[0][0]  # surrogate: U+FFFD
        assert client.stats.bad_events == 1  # the deep one (the surrogate one decodes)
        assert client.connected
        assert await client.api("status")  # and it still works
        await client.close()


async def test_frames_before_a_malformed_one_in_the_same_read_are_kept():
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        cmd = await peer.command()
        peer.write(replies.event(plain_event("HEARTBEAT")) + standard_reply(cmd)
                   + b"Content-Type: api/response\nContent-Length: oops\n\n")
        await pause(5)

    async with AdHocServer(handler) as server:
        client = client_for(server.port)
        rec = Recorder(client)
        await client.connect()
        assert (await client.api("status")) == "api:status"  # the reply before it
        await until(lambda: "closed" in rec.states)
        assert rec.names == ["HEARTBEAT"]  # the event before it
        assert "Content-Length" in str(client.last_error)


async def test_a_stream_stalled_mid_frame_is_dropped_and_reopened():
    """Half a frame, then silence: the first command times out, the client sees the wedge,
    reconnects, and the next command works (before: every later command timed out)."""
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        if len(server.peers) == 1:
            await peer.command()
            peer.write(b"Content-Type: api/response\nContent-Length: 100\n\nonly a part")
            await pause(30)
        await peer.serve()

    async with AdHocServer(handler) as server:
        client = client_for(server.port, reconnect=True, timeout=scaled(0.5),
                            backoff=(0.01, 0.05))
        await client.connect()
        try:
            await client.api("status")
        except Exception as exc:  # noqa: BLE001  (the first one times out)
            assert "no reply" in str(exc)
        await until(lambda: len(server.peers) == 2 and client.connected)
        assert (await client.api("status")) == "api:status"
        assert "stalled mid-frame" in str(client.last_error)
        await client.close()


async def test_a_flapping_server_is_backed_off():
    """A server that drops every connection right after the restore: the back-off grows
    instead of starting over at each "success" (before: ~19 reconnects a second)."""
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        if len(server.peers) == 1:
            await peer.serve()
            return
        cmd = await peer.command()  # the restore's event command
        peer.write(standard_reply(cmd))
        await pause(0.01)
        peer.close()

    async with AdHocServer(handler) as server:
        client = client_for(server.port, reconnect=True, backoff=(0.02, 0.32))
        await client.connect()
        await client.subscribe("HEARTBEAT")
        server.peers[0].close()
        await pause(1.5)
        attempts = len(server.peers) - 1
        # 0.02, 0.04, 0.08, 0.16, 0.32, 0.32 ... (x0.5-1.5 jitter): about 7 in 1.5 s, not ~30;
        # at most 5 plus one per 0.16 s (the ceiling at its shortest jitter) in the window,
        # which the time scale stretches (the back-off is not scaled)
        assert 2 <= attempts <= 5 + scaled(1.5) / 0.16, attempts
        await client.close()


async def test_reconnected_means_connected():
    """A bad event in the same read as the restore's reply (the case where an exception
    escaped the read and asyncio aborted the transport): the client must come back truly
    connected, never report "reconnected" while it has no connection."""
    async def handler(peer: Peer) -> None:
        await peer.authenticate()
        if len(server.peers) == 2:
            cmd = await peer.command()  # the restore's event command
            peer.write(standard_reply(cmd) + json_frame(DEEP))
        await peer.serve()

    async with AdHocServer(handler) as server:
        client = client_for(server.port, reconnect=True, backoff=(0.01, 0.05))
        states: list[tuple[str, bool]] = []
        client.on_state(lambda state, c: states.append((state, c.connected)))
        await client.connect()
        await client.subscribe("HEARTBEAT", format="json")
        server.peers[0].writer.transport.abort()
        await until(lambda: ("reconnected", True) in states)
        assert all(connected for state, connected in states if state == "reconnected")
        assert client.connected and client.stats.bad_events == 1
        assert await client.api("status") == "api:status"
        await client.close()


async def test_a_stream_broken_in_the_read_with_the_auth_reply_fails_connect():
    """Bad bytes in the same read as ``+OK accepted`` (found by the fuzz test): the loss
    came while authenticating, so no reconnect started; connect() said "connected" with no
    connection and every command failed NotConnected forever. Now connect() raises
    ConnectError, and a second connect() works."""
    async def handler(peer: Peer) -> None:
        if len(server.peers) == 1:
            peer.write(replies.auth_request())
            await peer.command()
            peer.write(replies.command_reply("+OK accepted")
                       + b"Content-Type: api/response\nContent-Length: 12 34\n\n")
            await pause(5)
            return
        await peer.authenticate()
        await peer.serve()

    async with AdHocServer(handler) as server:
        client = client_for(server.port, reconnect=True, backoff=(0.01, 0.05))
        states: list[str] = []
        client.on_state(lambda state, c: states.append(state))
        try:
            await client.connect()
        except ConnectError as exc:
            assert "lost right after authentication" in str(exc)
            assert "Content-Length" in str(exc)
        else:
            raise AssertionError("connect() succeeded on a broken stream")
        assert not client.connected and "connected" not in states
        await client.connect()
        assert client.connected and await client.api("status") == "api:status"
        await client.close()
