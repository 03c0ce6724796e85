"""Bridges, SIP profiles and verbose events on the embedded switch, as FreeSWITCH does them.

The captures behind each test: ``call_bridge_xheaders`` and ``call_bridge`` (what a
bridge's new leg carries), ``call_internal_profile`` (the profile a call arrives on), and
the README's note on ``verbose_events`` (which events carry the channel variables).
"""

from __future__ import annotations

import asyncio

import pytest

from switchio_lab.connection import InboundClient
from switchio_lab.esl import Event
from switchio_lab.sim import PARK_ALL, Node, NodeConfig, Rule
from switchio_lab.testing import scaled, until

pytestmark = pytest.mark.asyncio

CALLER = "189dd348-2ee9-468d-af4f-0801b0175c05"


def first(events: list[Event], name: str, uuid: str) -> Event:
    return next(e for e in events if e.name == name and e.uuid == uuid)


async def bridged_call(client: InboundClient, node: Node, events: list[Event]
                       ) -> tuple[str, str, str]:
    """call_bridge_xheaders' flow: caller -> callee, the callee bridges to ``far``, the far
    callee is answered. Returns the callee's, the bridge leg's and the far callee's uuids."""
    addr = node.sip_address()
    job = await client.bgapi(
        f"originate {{origination_uuid={CALLER},switchio_app=lab,sip_h_X-switchio_app=lab,"
        f"sip_h_X-Lab-Trace=t-7}}sofia/external/first@{addr} &park()")
    await until(lambda: any(e.name == "CHANNEL_PARK" for e in events))
    callee = next(e.uuid for e in events if e.name == "CHANNEL_PARK")
    await client.sendmsg(callee, "execute", {"execute-app-name": "bridge",
                                             "execute-app-arg": f"sofia/external/far@{addr}"})
    await until(lambda: len({e.uuid for e in events if e.name == "CHANNEL_PARK"}) == 2)
    far = next(e.uuid for e in events if e.name == "CHANNEL_PARK" and e.uuid != callee)
    assert await client.api(f"uuid_answer {far}") == "+OK\n"
    assert await job.wait(scaled(3)) == f"+OK {CALLER}\n"
    await until(lambda: any(e.name == "CHANNEL_BRIDGE" for e in events))
    leg = next(e["Bridge-B-Unique-ID"] for e in events if e.name == "CHANNEL_BRIDGE")
    return callee, leg, far


async def test_a_bridge_passes_x_headers_on_and_its_leg_joins_the_call(esl_client, sim_node
                                                                       ) -> None:
    events: list[Event] = []
    esl_client.on_event(events.append)
    await esl_client.subscribe("ALL")
    callee, leg, far = await bridged_call(esl_client, sim_node, events)
    legs = {"caller": CALLER, "callee": callee, "leg": leg, "far": far}
    creates = {name: first(events, "CHANNEL_CREATE", uuid) for name, uuid in legs.items()}
    # the SIP X-headers are on all four channels, the bridge's leg has them from its birth
    for ev in creates.values():
        assert ev["variable_sip_h_X-switchio_app"] == "lab", ev.name
        assert ev["variable_sip_h_X-Lab-Trace"] == "t-7"
    # a plain channel variable stays on the caller
    assert [n for n, ev in creates.items() if ev.get("variable_switchio_app")] == ["caller"]
    # the bridge's leg belongs to the bridging leg's call, and knows who made it
    b = creates["leg"]
    assert b["Channel-Call-UUID"] == b["variable_call_uuid"] == callee
    assert b["Other-Type"] == "originator" and b["Other-Leg-Unique-ID"] == callee
    assert b["variable_originating_leg_uuid"] == b["variable_originator"] == callee
    assert b["variable_signal_bond"] == callee
    assert b["Caller-Context"] == "switchio" and b["Caller-Dialplan"] == "XML"
    bridge = first(events, "CHANNEL_BRIDGE", callee)
    assert bridge["Other-Type"] == "originatee" and bridge["Other-Leg-Unique-ID"] == leg
    # one hop less for the far callee
    assert creates["callee"]["variable_max_forwards"] == "70"
    assert b["variable_max_forwards"] == creates["far"]["variable_max_forwards"] == "69"
    await esl_client.api(f"uuid_kill {CALLER}")
    await until(lambda: not sim_node.channels)
    # the bridge's leg is its own call again once it is reported
    done = first(events, "CHANNEL_HANGUP_COMPLETE", leg)
    assert done["Channel-Call-UUID"] == done["variable_call_uuid"] == leg


async def test_a_routing_loop_ends_with_exchange_routing_error(connect) -> None:
    """Every call to ``loop`` is bridged to ``loop`` on the same node: Max-Forwards runs out
    after 70 hops, 140 channels, and the failure travels back to the first caller."""
    cfg = NodeConfig(esl_port=0, dialplan=[Rule(r"^loop$", [("bridge", "sofia/external/"
                                                             "loop@127.0.0.1:5080")]),
                                           *PARK_ALL])
    node = await Node(cfg).start()
    try:
        client = await connect(node)
        causes: list[str] = []
        client.on_event(lambda e: causes.append(e["Hangup-Cause"]), "CHANNEL_HANGUP")
        await client.subscribe("CHANNEL_HANGUP")
        reply = await client.api("originate sofia/external/loop@127.0.0.1:5080 &park()",
                                 timeout=scaled(20))
        assert reply == "-ERR EXCHANGE_ROUTING_ERROR\n"
        await until(lambda: not node.channels, timeout=scaled(10))
        assert node.sessions_since_start == 140
        assert set(causes) == {"EXCHANGE_ROUTING_ERROR"} and len(causes) == 140
    finally:
        await node.stop()


async def test_continue_on_fail_keeps_a_failed_bridge_up(esl_client, sim_node) -> None:
    events: list[Event] = []
    esl_client.on_event(events.append)
    await esl_client.subscribe("CHANNEL_PARK CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP")
    job = await esl_client.bgapi(f"originate sofia/external/x@{sim_node.sip_address()} "
                                 "&park()")
    await until(lambda: any(e.name == "CHANNEL_PARK" for e in events))
    callee = next(e.uuid for e in events if e.name == "CHANNEL_PARK")
    await esl_client.api(f"uuid_setvar {callee} continue_on_fail USER_BUSY,41")
    for target, cause in (("error/USER_BUSY", "USER_BUSY"),
                          ("sofia/external/x@127.0.0.99:5999", "NORMAL_TEMPORARY_FAILURE")):
        await esl_client.sendmsg(callee, "execute", {"execute-app-name": "bridge",
                                                     "execute-app-arg": target})
        await until(lambda t=target: any(e.name == "CHANNEL_EXECUTE_COMPLETE"
                                         and e.get("Application-Data") == t for e in events))
        assert sim_node.find(callee).getvar("originate_disposition") == cause
    # listed: it goes on (only the leg to nowhere hung up)
    assert not any(e.name == "CHANNEL_HANGUP" and e.uuid == callee for e in events)
    await esl_client.api(f"uuid_setvar {callee} continue_on_fail false")
    await esl_client.sendmsg(callee, "execute", {"execute-app-name": "bridge",
                                                 "execute-app-arg": "error/CALL_REJECTED"})
    await until(lambda: any(e.name == "CHANNEL_HANGUP" and e.uuid == callee for e in events))
    hangup = first(events, "CHANNEL_HANGUP", callee)
    assert hangup["Hangup-Cause"] == "CALL_REJECTED"  # the failure's cause
    assert await job.wait(scaled(3)) == "-ERR CALL_REJECTED\n"


async def test_a_call_arrives_on_the_profile_of_the_port_it_was_sent_to(esl_client, sim_node
                                                                        ) -> None:
    """From the external profile to port 5060: the callee is on ``internal``."""
    events: list[Event] = []
    esl_client.on_event(events.append, "CHANNEL_CREATE")
    await esl_client.subscribe("CHANNEL_CREATE")
    uuid = "e5f2bf74-9f12-422e-b16f-a94526f25781"
    job = await esl_client.bgapi(f"originate {{origination_uuid={uuid}}}"
                                 f"sofia/external/int@{sim_node.sip_address('internal')} &park()")
    await until(lambda: len(events) == 2)
    caller, callee = first(events, "CHANNEL_CREATE", uuid), next(e for e in events
                                                                 if e.uuid != uuid)
    assert callee["Channel-Name"] == "sofia/internal/0000000000@127.0.0.1"
    assert callee["variable_sofia_profile_name"] == "internal"
    assert callee["variable_recovery_profile_name"] == "internal"
    assert callee["variable_sofia_profile_url"] == "sip:mod_sofia@127.0.0.1:5060"
    assert callee["variable_sip_req_port"] == callee["variable_sip_to_port"] == "5060"
    assert callee["variable_sip_network_port"] == "5080"  # sent from the external profile
    assert callee.get("variable_sip_profile_name") is None  # outbound legs only
    assert caller["Channel-Name"] == "sofia/external/int@127.0.0.1:5060"
    assert caller["variable_sip_profile_name"] == caller["variable_sofia_profile_name"] == \
        "external"
    await esl_client.api("hupall")
    assert (await job.wait(scaled(3))).startswith("-ERR")


async def test_internal_to_internal_via_has_no_default_port(esl_client, sim_node) -> None:
    events: list[Event] = []
    esl_client.on_event(events.append, "CHANNEL_CREATE")
    await esl_client.subscribe("CHANNEL_CREATE")
    job = await esl_client.bgapi(
        f"originate sofia/internal/int@{sim_node.sip_address('internal')} &park()")
    await until(lambda: len(events) == 2)
    callee = next(e for e in events if e["Call-Direction"] == "inbound")
    assert callee["variable_sip_full_via"].startswith("SIP/2.0/UDP 127.0.0.1;rport=5060;")
    assert callee["variable_sip_network_port"] == "5060"
    assert callee.get("variable_sip_via_port") is None  # 5060 is the default: not sent
    await esl_client.api("hupall")
    assert (await job.wait(scaled(3))).startswith("-ERR")


async def test_verbose_events_decides_which_events_carry_the_variables(esl_client, sim_node
                                                                       ) -> None:
    """Off (FreeSWITCH's default): CHANNEL_STATE, CALLSTATE, CODEC and CHANNEL_OUTGOING
    carry no ``variable_*``; CHANNEL_CREATE, PARK, HANGUP ... still do. On: all do."""
    events: list[Event] = []
    esl_client.on_event(events.append)
    await esl_client.subscribe("ALL")
    addr = sim_node.sip_address()

    async def call() -> dict[str, set[bool]]:
        events.clear()
        job = await esl_client.bgapi(f"originate sofia/external/v@{addr} &park()")
        await until(lambda: any(e.name == "CHANNEL_PARK" for e in events))
        await esl_client.api("hupall")
        assert (await job.wait(scaled(3))).startswith("-ERR")
        await until(lambda: not sim_node.channels)
        await asyncio.sleep(0)
        out: dict[str, set[bool]] = {}
        for e in events:
            if e.uuid:
                out.setdefault(e.name, set()).add(any(k.startswith("variable_") for k in e))
        return out

    quiet = await call()
    for name in ("CHANNEL_STATE", "CHANNEL_CALLSTATE", "CODEC", "CHANNEL_OUTGOING"):
        assert quiet[name] == {False}, name
    for name in ("CHANNEL_CREATE", "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_HANGUP",
                 "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"):
        assert quiet[name] == {True}, name
    assert await esl_client.api("fsctl verbose_events on") == "+OK verbose_events is on \n"
    loud = await call()
    assert all(flags == {True} for flags in loud.values()), loud
    assert await esl_client.api("fsctl verbose_events off") == "+OK verbose_events is off \n"
    assert NodeConfig().verbose_events is False
