"""The user's subscriptions and filters against what bgapi needs for itself (issue 10.1).

``bgapi`` needs BACKGROUND_JOB: the client subscribes to it, and adds ``filter Event-Name
BACKGROUND_JOB`` while the user has filters (FreeSWITCH ORs filters, so that lets the
results through). Both are the client's own: the user's filters behave exactly as asked
(deleting the last one leaves the connection unfiltered), and nothing the client added
for itself reaches the user's callbacks or streams. On the embedded switch.
"""

from __future__ import annotations

import asyncio

from helpers import Recorder

from switchio_lab.connection import InboundClient
from switchio_lab.testing import pause, scaled, until

SUBCLASS = "lab::issue10"


async def fire(client: InboundClient, marker: str) -> None:
    await client.sendevent("CUSTOM", {"Event-Subclass": SUBCLASS, "X-Marker": marker})


def markers(rec: Recorder) -> list[str]:
    return [e.get("X-Marker") for e in rec.events if e.subclass == SUBCLASS]


async def job_done(client: InboundClient, command: str = "status") -> None:
    job = await client.bgapi(command)
    assert (await job.wait(scaled(2))).startswith("UP ")


async def test_deleting_the_last_user_filter_unfilters_the_connection(sim_node, connect):
    client = await connect(sim_node)
    rec = Recorder(client)
    await client.subscribe("CUSTOM", SUBCLASS)
    await client.filter("X-Marker", "kept")
    await job_done(client)  # adds the client's own BACKGROUND_JOB filter

    await fire(client, "kept")
    await fire(client, "dropped")  # filtered out, as the user asked
    await until(lambda: markers(rec) == ["kept"])

    await client.filter_delete("X-Marker", "kept")
    await fire(client, "after")  # unfiltered: everything subscribed comes again
    await until(lambda: markers(rec) == ["kept", "after"])
    assert client.filters == [] and client.subscriptions.server_filters == []
    # the next job needs no filter now; its result still arrives
    await job_done(client)
    assert client.subscriptions.server_filters == []
    assert "BACKGROUND_JOB" not in rec.names


async def test_deleting_a_header_keeps_the_job_filter_while_user_filters_remain(sim_node,
                                                                                  connect):
    client = await connect(sim_node)
    await client.subscribe("CUSTOM", SUBCLASS)
    await client.filter("X-Marker", "a")
    await client.filter("Event-Name", "CUSTOM")
    await job_done(client)
    assert client.subscriptions.own_filters == [("Event-Name", "BACKGROUND_JOB")]
    # "filter delete Event-Name" removes the client's filter on the server too
    await client.filter_delete("Event-Name")
    assert client.filters == [("X-Marker", "a")]
    assert client.subscriptions.own_filters == []
    await job_done(client)  # asked again, for itself
    assert client.subscriptions.own_filters == [("Event-Name", "BACKGROUND_JOB")]
    await client.filter_delete("all")
    assert client.subscriptions.server_filters == []


async def test_job_results_reach_no_callback_the_user_did_not_ask_for(sim_node, connect):
    client = await connect(sim_node)
    rec = Recorder(client)  # a callback for every event
    stream = client.events()
    await client.subscribe("CUSTOM", SUBCLASS)
    job = await client.bgapi("status")
    assert "UP" in await job.wait(scaled(2))
    assert client.event_names == {"CUSTOM", SUBCLASS}  # the user's, not the client's own
    await fire(client, "one")
    await until(lambda: markers(rec) == ["one"])
    assert rec.names == ["CUSTOM"]
    first = await asyncio.wait_for(stream.__anext__(), scaled(2))
    assert first.subclass == SUBCLASS  # the stream never saw the job result either

    # a user filter that BACKGROUND_JOB does not pass: the user still gets none of them,
    # even when they subscribe to BACKGROUND_JOB themselves
    await client.subscribe("BACKGROUND_JOB")
    await client.filter("X-Marker", "one")
    job = await client.bgapi("status")
    assert "UP" in await job.wait(scaled(2))
    await pause(0.1)
    assert "BACKGROUND_JOB" not in rec.names
    # once unfiltered, a subscribed BACKGROUND_JOB is the user's again
    await client.filter_delete("X-Marker", "one")
    job = await client.bgapi("status")
    await job.wait(scaled(2))
    await until(lambda: rec.names.count("BACKGROUND_JOB") == 1)
    assert rec.events[-1]["Job-UUID"] == job.uuid


async def test_a_pending_job_survives_the_users_first_filter(sim_node, connect):
    client = await connect(sim_node)
    await client.subscribe("CHANNEL_PARK")
    parked: list[str] = []
    client.on_event(lambda e: parked.append(e["Unique-ID"]), "CHANNEL_PARK")
    job = await client.bgapi(f"originate sofia/external/x@{sim_node.sip_address()} &park")
    await until(lambda: len(parked) == 1)  # the callee is parked, unanswered: the job waits
    (callee,) = parked
    assert not job.done()
    await client.filter("Unique-ID", callee)  # the first filter, while the job waits
    assert (await client.api(f"uuid_answer {callee}")).startswith("+OK")
    assert (await job.wait(scaled(3))).startswith("+OK")
    assert client.filters == [("Unique-ID", callee)]
    assert client.subscriptions.own_filters == [("Event-Name", "BACKGROUND_JOB")]
    await client.api("hupall")


async def test_reconnect_restores_the_users_and_the_clients_own_apart(sim_node):
    client = InboundClient(sim_node.host, sim_node.esl_port, reconnect=True,
                           backoff=(0.01, 0.1), timeout=scaled(3))
    await client.connect()
    try:
        rec = Recorder(client)
        await client.subscribe("CUSTOM", SUBCLASS)
        await client.filter("X-Marker", "kept")
        await job_done(client)

        for listener in list(sim_node.listeners):
            listener.transport.abort()
        await rec.wait_state("reconnected")
        subs = client.subscriptions
        assert client.filters == [("X-Marker", "kept")]
        assert client.event_names == {"CUSTOM", SUBCLASS}
        assert subs.own_names == {"BACKGROUND_JOB"}
        assert subs.server_filters == [("X-Marker", "kept"), ("Event-Name", "BACKGROUND_JOB")]
        (server_side,) = sim_node.listeners
        assert server_side.filters == subs.server_filters
        assert server_side.names >= {"CUSTOM", "BACKGROUND_JOB"}

        await job_done(client)  # the restored own subscription and filter carry jobs
        await client.filter_delete("X-Marker", "kept")
        assert server_side.filters == []
        await fire(client, "after")
        await until(lambda: markers(rec) == ["after"])
        assert "BACKGROUND_JOB" not in rec.names
    finally:
        await client.close()
