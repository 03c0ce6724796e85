"""``reload mod_event_socket``: the node drops every ESL connection and listens again.

switchio's reconnect test does this to a real FreeSWITCH; here an InboundClient with
``reconnect=True`` comes back on its own and restores what it had asked for.
"""

from __future__ import annotations

import asyncio

import pytest

from switchio_lab.connection import InboundClient
from switchio_lab.esl import Event
from switchio_lab.testing import scaled, until

pytestmark = pytest.mark.asyncio

OK = "+OK module unloaded\n+OK Reloading XML\n+OK module loaded\n"


async def test_reload_mod_event_socket_drops_everyone_and_clients_come_back(sim_node) -> None:
    client = InboundClient(sim_node.host, sim_node.esl_port, reconnect=True,
                           backoff=(0.01, 0.1), timeout=scaled(3))
    other = InboundClient(sim_node.host, sim_node.esl_port, reconnect=False)
    await client.connect()
    await other.connect()
    # a connection that never authenticated goes too
    reader, writer = await asyncio.open_connection(sim_node.host, sim_node.esl_port)
    assert b"auth/request" in await reader.readuntil(b"\n\n")
    states: list[str] = []
    client.on_state(lambda state, conn: states.append(state))
    await client.subscribe("CHANNEL_CREATE")
    await client.filter("Call-Direction", "inbound")
    created: list[Event] = []
    client.on_event(created.append, "CHANNEL_CREATE")
    try:
        assert await client.api("reload mod_event_socket") == OK  # the reply comes first
        await until(lambda: "reconnected" in states and client.connected)
        assert "disconnected" in states and client.stats.reconnects == 1
        await until(lambda: not other.connected)
        assert await reader.read() == b""  # dropped without a disconnect-notice
        # the subscription and the filter were restored on the new connection
        addr = sim_node.sip_address()
        job = await client.bgapi(f"originate sofia/external/back@{addr} &park()")
        await until(lambda: created)
        assert [e["Call-Direction"] for e in created] == ["inbound"]
        await client.api("hupall")
        assert (await job.wait(scaled(3))).startswith("-ERR")
        assert len(sim_node.connections) == 1  # only the client is back
    finally:
        writer.close()
        await other.close()
        await client.close()


async def test_reload_of_other_modules(esl_client, sim_node) -> None:
    assert await esl_client.api("reload mod_sofia") == OK  # no effect here
    assert esl_client.connected
    assert await esl_client.api("reload -f mod_nope") == (
        "-ERR unloading module [No such module!]\n+OK Reloading XML\n"
        "-ERR loading module [module load file routine returned an error]\n")
    assert await esl_client.api("reload") == "-USAGE: [-f] <mod_name>\n"
    assert esl_client.connected and len(sim_node.connections) == 1
