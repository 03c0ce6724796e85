"""The embedded switch's calls, end to end over loopback TCP through the real client."""

from __future__ import annotations

import asyncio
import logging

import pytest

from switchio_lab.connection import AuthenticationError, CommandError, InboundClient
from switchio_lab.esl import Event
from switchio_lab.sim import Cluster, Node, NodeConfig, Rule
from switchio_lab.testing import pause

pytestmark = pytest.mark.asyncio


async def wait_for(client: InboundClient, name: str, pred=lambda e: True,
                   timeout: float = 3.0) -> Event:
    """The next event ``name`` matching ``pred`` (subscribe before triggering it)."""
    fut = asyncio.get_running_loop().create_future()

    def cb(ev: Event) -> None:
        if not fut.done() and pred(ev):
            fut.set_result(ev)
    client.on_event(cb, name)
    try:
        return await asyncio.wait_for(fut, timeout)
    finally:
        client.remove_callback(cb)


def lanes(events: list[Event]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        if e.uuid:
            out.setdefault(e.uuid, []).append(e.name)
    return out


CALLER_LANE = [
    "CHANNEL_OUTGOING", "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_STATE",
    "CHANNEL_STATE", "CODEC", "CODEC", "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "CALL_UPDATE",
    "CHANNEL_STATE", "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_HANGUP", "CHANNEL_UNPARK",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_STATE"]
CALLEE_LANE = [
    "CHANNEL_STATE", "CODEC", "CODEC", "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_CALLSTATE",
    "CHANNEL_STATE", "CHANNEL_STATE", "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_ANSWER",
    "CHANNEL_CALLSTATE", "CHANNEL_HANGUP", "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY", "CHANNEL_STATE"]


async def test_a_call_between_two_nodes(sim_cluster: Cluster, connect) -> None:
    """The caller leg lives on node 1, the callee leg on node 2, each with its own events."""
    n1, n2 = sim_cluster
    c1, c2 = await connect(n1), await connect(n2)
    ev1: list[Event] = []
    ev2: list[Event] = []
    c1.on_event(ev1.append)
    c2.on_event(ev2.append)
    await c1.subscribe("ALL")
    await c2.subscribe("ALL")
    parked = asyncio.ensure_future(wait_for(c2, "CHANNEL_PARK"))
    job = await c1.bgapi(f"originate {{origination_uuid=aaaa-1,sip_h_X-Lab=t-1}}"
                         f"sofia/external/doggy@{n2.sip_address('external')} &park()")
    callee = await parked
    assert callee["Call-Direction"] == "inbound"
    assert callee["variable_sip_h_X-Lab"] == "t-1"
    assert callee["Caller-Destination-Number"] == "doggy"
    caller_parked = asyncio.ensure_future(wait_for(c1, "CHANNEL_PARK"))
    assert await c2.api(f"uuid_answer {callee.uuid}") == "+OK\n"
    assert await job.wait(3) == "+OK aaaa-1\n"
    await caller_parked  # the caller parks a tick after its answer (answer_park_delay)
    hung = asyncio.ensure_future(wait_for(c2, "CHANNEL_DESTROY"))
    assert await c1.api("uuid_kill aaaa-1") == "+OK\n"
    await hung
    await pause(0.05)
    assert lanes(ev1) == {"aaaa-1": CALLER_LANE}
    assert lanes(ev2) == {callee.uuid: CALLEE_LANE}
    complete = [e for e in ev2 if e.name == "CHANNEL_HANGUP_COMPLETE"][0]
    assert complete["variable_hangup_cause"] == "NORMAL_CLEARING"
    assert complete["variable_sip_hangup_disposition"] == "recv_bye"
    assert float(complete["variable_rtp_audio_in_mos"]) == pytest.approx(4.5)
    assert n1.channels == {} and n2.channels == {}


@pytest.mark.parametrize(("dest", "cause"), [
    ("error/USER_BUSY", "USER_BUSY"),
    ("foo/bar", "CHAN_NOT_IMPLEMENTED"),
    ("sofia/external/nobody@127.0.0.1:5999", "NORMAL_TEMPORARY_FAILURE"),
    ("sofia/nosuchprofile/x@127.0.0.1:5080", "INVALID_PROFILE"),
])
async def test_originate_failures(esl_client: InboundClient, dest: str, cause: str) -> None:
    assert await esl_client.api(f"originate {dest} &park()") == f"-ERR {cause}\n"
    job = await esl_client.bgapi(f"originate {dest} &park()")
    assert await job.wait(3) == f"-ERR {cause}\n"
    assert job.success is False and job.cause == cause


async def test_busy_callee_and_no_answer(esl_client: InboundClient, sim_node: Node) -> None:
    """A callee that responds 486 fails the originate with USER_BUSY; one that never
    answers fails it with NO_ANSWER after originate_timeout (the callee: ORIGINATOR_CANCEL)."""
    sim_node.config.dialplan[:0] = [Rule(r"^busy$", [("respond", "486")])]
    await esl_client.subscribe("CHANNEL_HANGUP_COMPLETE")
    addr = sim_node.sip_address("external")
    assert await esl_client.api(f"originate sofia/external/busy@{addr} &park()") == \
        "-ERR USER_BUSY\n"
    causes: dict[str, str] = {}
    esl_client.on_event(lambda e: causes.__setitem__(e["Call-Direction"], e["Hangup-Cause"]),
                        "CHANNEL_HANGUP_COMPLETE")
    reply = await esl_client.api(
        f"originate {{originate_timeout=1}}sofia/external/ring@{addr} &park()")
    assert reply == "-ERR NO_ANSWER\n"
    await pause(0.1)
    assert causes == {"outbound": "NO_ANSWER", "inbound": "ORIGINATOR_CANCEL"}


async def test_capacity_limits(esl_client: InboundClient, sim_node: Node) -> None:
    """Past max_sessions (and past the sessions-per-second limit) originates fail."""
    addr = sim_node.sip_address("external")
    assert await esl_client.api("fsctl max_sessions 2") == "+OK max sessions: 2\n"
    job = await esl_client.bgapi(f"originate sofia/external/a@{addr} &park()")
    await pause(0.05)  # caller and callee: two sessions
    assert await esl_client.api(f"originate sofia/external/b@{addr} &park()") == \
        "-ERR SWITCH_CONGESTION\n"
    await esl_client.api("hupall")
    assert (await job.wait(3)).startswith("-ERR")
    await esl_client.api("fsctl max_sessions 100")
    await pause(1.05)  # the sessions above leave the one-second sps window
    await esl_client.api("fsctl sps 1")
    first = await esl_client.api("originate error/USER_BUSY &park()")  # no session made
    assert first == "-ERR USER_BUSY\n"
    assert await esl_client.api("originate sofia/external/nobody@127.0.0.99:5999 &park()") \
        == "-ERR NORMAL_TEMPORARY_FAILURE\n"
    assert await esl_client.api("originate sofia/external/nobody@127.0.0.99:5999 &park()") \
        == "-ERR SWITCH_CONGESTION\n"


async def test_wrong_password_is_refused_and_never_logged(sim_node: Node, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = InboundClient(sim_node.host, sim_node.esl_port, password="s3cret-Wr0ng",
                           reconnect=False)
    with pytest.raises(AuthenticationError) as err:
        await client.connect()
    assert f"{sim_node.host}:{sim_node.esl_port}" in str(err.value)
    assert "s3cret-Wr0ng" not in caplog.text and "s3cret-Wr0ng" not in str(err.value)


async def test_commands_for_missing_channels_and_unknown_commands(esl_client) -> None:
    assert await esl_client.api("uuid_kill nope") == "-ERR No such channel!\n"
    assert await esl_client.api("bogus_thing 1") == "-ERR bogus_thing Command not found!\n"
    with pytest.raises(CommandError) as err:
        await esl_client.sendmsg("nope", "execute", {"execute-app-name": "answer"})
    assert err.value.reply == "-ERR invalid session id [nope]"
    assert (await esl_client.api("originate")).startswith("-USAGE: ")


async def test_node_stop_drops_connections_and_ends_calls(connect) -> None:
    node = await Node(NodeConfig(esl_port=0)).start()
    client = await connect(node)
    states: list[str] = []
    client.on_state(lambda state, conn: states.append(state))
    await client.subscribe("CHANNEL_HANGUP_COMPLETE")
    causes: list[str] = []
    client.on_event(lambda e: causes.append(e["Hangup-Cause"]), "CHANNEL_HANGUP_COMPLETE")
    await client.bgapi(f"originate sofia/external/x@{node.sip_address()} &park()")
    await pause(0.05)
    await node.stop()
    await pause(0.05)
    assert causes == ["SYSTEM_SHUTDOWN", "SYSTEM_SHUTDOWN"]
    assert "closed" in states
    assert node.channels == {}


async def test_a_client_that_never_reads_is_dropped_and_others_go_on(connect) -> None:
    """FreeSWITCH queues events for a stuck listener, then drops it after too many lost."""
    node = await Node(NodeConfig(esl_port=0, listener_queue=50, listener_max_lost=20)).start()
    try:
        reader, writer = await asyncio.open_connection(node.host, node.esl_port)
        await reader.readuntil(b"\n\n")
        writer.write(b"auth ClueCon\n\nevent plain ALL\n\n")
        await writer.drain()
        await pause(0.05)
        writer.transport.pause_reading()  # a client that stops reading
        healthy = await connect(node)
        body = "x" * 200_000
        for i in range(200):
            await healthy.sendevent("CUSTOM", {"Event-Subclass": "lab::flood", "N": i}, body)
        await pause(0.2)
        stuck = [li for li in node.listeners if li.lost]
        assert not stuck  # dropped: no longer a listener
        assert await healthy.api("hostname") == "switchio-lab"
        writer.close()
    finally:
        await node.stop()


async def test_malformed_input_gets_an_error_and_spares_other_connections(esl_client,
                                                                          sim_node) -> None:
    reader, writer = await asyncio.open_connection(sim_node.host, sim_node.esl_port)
    await reader.readuntil(b"\n\n")
    writer.write(b"auth ClueCon\n\napi status\nContent-Length: banana\n\n")
    data = await asyncio.wait_for(reader.read(), 3)
    assert b"Reply-Text: -ERR" in data
    assert await esl_client.api("hostname") == "switchio-lab-1"


async def test_heartbeat(connect) -> None:
    node = await Node(NodeConfig(esl_port=0, heartbeat=0.05)).start()
    try:
        client = await connect(node)
        await client.subscribe("HEARTBEAT")
        beat = await wait_for(client, "HEARTBEAT")
        assert beat["Event-Info"] == "System Ready"
        assert beat["Session-Count"] == "0"
    finally:
        await node.stop()


async def test_a_node_stops_and_starts_again(connect) -> None:
    """A stopped node can be started again on the same address and takes calls."""
    node = await Node(NodeConfig(esl_port=0)).start()
    port = node.esl_port
    await node.stop()
    await node.start()
    try:
        assert node.esl_port == port
        client = await connect(node)
        assert await client.api("hostname") == "switchio-lab"
        job = await client.bgapi(f"originate sofia/external/x@{node.sip_address()} &park()")
        await pause(0.05)
        assert len(node.channels) == 2
        await client.api("hupall")
        assert (await job.wait(3)).startswith("-ERR")
    finally:
        await node.stop()


async def test_answer_delay_is_a_distribution(connect) -> None:
    """NodeConfig.answer_delay: the answer application takes that long on inbound legs."""
    node = await Node(NodeConfig(esl_port=0, answer_delay=(0.15, 0.2),
                                 dialplan=[Rule(".*", [("answer", ""), ("park", "")])])).start()
    try:
        client = await connect(node)
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = await client.api(f"originate sofia/external/x@{node.sip_address()} &park()")
        took = loop.time() - start
        # at least the shortest answer delay (a busy machine may add to it, never take away)
        assert reply.startswith("+OK") and took >= 0.15
        await client.api("hupall")
    finally:
        await node.stop()
