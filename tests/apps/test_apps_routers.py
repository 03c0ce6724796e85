"""The routing apps end to end on two embedded nodes: Proxier, Bridger and Router.

switchio's README Router example (``readme_router.py``, verbatim) runs as written on a
Service over node 2, answering and playing to calls placed from node 1.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import readme_router  # tests/ is on sys.path: switchio's README example, verbatim

from switchio_lab import apps, marks
from switchio_lab.api import Client
from switchio_lab.apps.originator import get_originator
from switchio_lab.apps.players import TonePlay
from switchio_lab.apps.routers import (
    PROXIED_HEADER,
    Bridger,
    Proxier,
    Router,
    StopRouting,
    tracking_headers,
)
from switchio_lab.service import Service
from switchio_lab.sim import Rule
from switchio_lab.sim.media import read_wav, write_wav
from switchio_lab.testing import pause, scaled, until


@pytest.fixture
def clients(sim_clients):
    """One connected Client per node of ``sim_cluster`` (the plugin's ``sim_clients``),
    its sessions keeping their event history (``names``)."""
    for client in sim_clients:
        client.listener.keep_events = 64
    return sim_clients


def names(sess) -> list[str]:
    return [e.name for e in sess.events]


def test_builtin_routers_are_registered() -> None:
    assert [apps.get(n) for n in ("Proxier", "Bridger", "Router")] == [Proxier, Bridger, Router]


# -- Proxier ----------------------------------------------------------------------------------
async def test_proxier_sends_calls_on_to_their_request_uri(clients, sim_cluster) -> None:
    c1, c2 = clients
    await c1.load_app(TonePlay)  # answers the far end, back on node 1 ("default")
    await c2.load_app(Proxier)  # node 2 proxies whatever comes its way ("default")
    await c2.connection.subscribe("CHANNEL_BRIDGE")
    job = await c1.originate(f"target@{sim_cluster[0].sip_address()}",
                             proxy=sim_cluster[1].sip_address())
    assert (await job.wait(5)).startswith("+OK"), job.result
    await until(lambda: len(c1.listener.sessions) == 2 and len(c2.listener.sessions) == 2)
    inbound = [s for s in c2.listener.sessions.values() if s.is_inbound()][0]
    await until(lambda: "CHANNEL_BRIDGE" in names(inbound))
    assert inbound["variable_sip_req_uri"] == f"target@{sim_cluster[0].sip_address()}"
    far = [s for s in c1.listener.sessions.values() if s.is_inbound()][0]
    assert far["Caller-Destination-Number"] == "target" and far.answered
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)


async def test_a_proxier_on_a_node_calling_itself_proxies_once(sim_node, sim_client) -> None:
    """The proxied leg's Request-URI is this node again: its far end arrives marked with
    this node's Core-UUID and is left parked, not proxied again (FreeSWITCH would go on
    for 140 channels, then ``-ERR EXCHANGE_ROUTING_ERROR``)."""
    proxier = Proxier()
    await sim_client.load_app(proxier)  # "default": every call here, its far end too
    bridges = []
    sim_client.connection.on_event(bridges.append, "CHANNEL_BRIDGE")
    await sim_client.connection.subscribe("CHANNEL_BRIDGE")
    job = await sim_client.originate(f"target@{sim_node.sip_address()}")
    await until(lambda: proxier.skipped == 1)
    await pause(0.2)  # and nothing more comes
    assert proxier.proxied == 1 and len(sim_node.channels) == 4
    far = next(ch for ch in sim_node.channels.values()
               if ch.direction == "inbound" and ch.getvar(f"sip_h_{PROXIED_HEADER}"))
    assert far.getvar(f"sip_h_{PROXIED_HEADER}") == sim_node.config.core_uuid
    assert far.current_app == "park" and far.bridged is None
    assert await sim_client.api(f"uuid_answer {far.uuid}") == "+OK\n"  # someone takes it
    assert (await job.wait(scaled(5))).startswith("+OK"), job.result
    assert len(bridges) == 1 and not job.session.hungup
    await sim_client.hupall()
    await until(lambda: not sim_node.channels and not sim_client.listener.sessions)


async def test_each_node_proxies_a_call_at_most_once(clients, sim_cluster) -> None:
    """A call to node 1 via node 2, both proxying: node 2 bridges it to node 1, whose
    Proxier bridges it to its Request-URI, node 1 itself (node 2's mark does not stop it),
    and the far end, marked with both nodes, stays parked."""
    c1, c2 = clients
    n1, n2 = sim_cluster
    p1, p2 = Proxier(), Proxier()
    await c1.load_app(p1)
    await c2.load_app(p2)
    job = await c1.originate(f"ping@{n1.sip_address()}", proxy=n2.sip_address())
    await until(lambda: p1.skipped == 1)
    await pause(0.2)
    assert (p2.proxied, p2.skipped, p1.proxied, p1.skipped) == (1, 0, 1, 1)
    assert len(n1.channels) == 4 and len(n2.channels) == 2
    far = next(ch for ch in n1.channels.values() if ch.current_app == "park"
               and ch.direction == "inbound" and ch.bridged is None)
    assert far.getvar(f"sip_h_{PROXIED_HEADER}") == \
        f"{n2.config.core_uuid}+{n1.config.core_uuid}"
    await c1.hupall()
    assert (await job.wait(scaled(5))).startswith("-ERR")
    await until(lambda: not n1.channels and not n2.channels)


async def test_dialing_through_a_proxy_under_test_gets_answered(sim_cluster) -> None:
    """switchio's "device under test" flow: node 1's Originator sends every call via node 2
    (``proxy=``) to a user on node 1; node 2 proxies it back. The call's app id travels
    through node 2's bridge, so node 1's app (not the default one) answers the far end."""
    n1, n2 = sim_cluster
    dut = await Client(n2.host, n2.esl_port, reconnect=False).connect()
    orig = await get_originator([n1], dest_url=f"dial@{n1.sip_address()}",
                                proxy=n2.sip_address(), rate=20, limit=3, duration=0.5,
                                max_offered=4)
    try:
        proxier = Proxier()
        await dut.load_app(proxier)
        await orig.load_app(TonePlay, "tone")
        orig.start()
        await orig.waitwhile(timeout=scaled(15))
        assert orig.answered == orig.completed == 4 and not orig.failed, orig.stats()
        assert proxier.proxied == 4 and proxier.skipped == 0
    finally:
        await orig.shutdown(timeout=5)
        await dut.disconnect()
    await until(lambda: not n1.channels and not n2.channels)


# -- Bridger ----------------------------------------------------------------------------------
async def test_bridger_bridges_each_hop_of_a_call_as_configured(clients, sim_cluster) -> None:
    """node 1 -> hop1@node2 -> hop2@node2 -> final@node1: two parks of one call on node 2."""
    c1, c2 = clients
    n1, n2 = (n.sip_address() for n in sim_cluster)
    await c1.load_app(TonePlay, on_value="hops")
    await c2.load_app(Bridger, on_value="hops", count2bridgeargs={
        1: {"dest_url": f"hop2@{n2}"}, 2: {"dest_url": f"final@{n1}"}})
    job = await c1.originate(f"hop1@{n2}", app_id="hops")
    assert (await job.wait(5)).startswith("+OK"), job.result
    bridger = c2.apps["hops"]
    await until(lambda: bridger.bridged[job.sess_uuid] == 2)
    assert bridger.call2entries[job.sess_uuid] == 2
    assert len(c2.listener.calls) == 1  # every hop joined the caller's call
    legs = c2.listener.calls[job.sess_uuid].sessions
    assert [(s.direction, s["Caller-Destination-Number"]) for s in legs] == [
        ("inbound", "hop1"), ("outbound", "hop2"), ("inbound", "hop2"), ("outbound", "final")]
    assert all(s.answered for s in legs)
    final = [s for s in c1.listener.sessions.values() if s.is_inbound()][0]
    assert final.call.uuid == job.sess_uuid and final.answered
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)
    assert not bridger.call2entries  # forgotten once every leg hung up


async def test_bridger_on_a_node_calling_itself_bridges_an_untagged_call_once(sim_node,
                                                                              sim_client
                                                                              ) -> None:
    bridger = Bridger()
    await sim_client.load_app(bridger)
    addr = sim_node.sip_address()
    job = await sim_client.connection.bgapi(f"originate sofia/external/plain@{addr} &park()")
    await until(lambda: len(sim_node.channels) == 4 and sum(bridger.call2entries.values()) == 2)
    await pause(0.2)
    assert len(sim_node.channels) == 4  # the leg it made came back and stays parked
    (call, entries), = bridger.call2entries.items()
    assert entries == 2  # the untagged caller's call: its inbound leg, then the far end
    legs = sim_client.listener.calls[call].sessions
    assert [s.direction for s in legs] == ["inbound", "outbound", "inbound"]
    await sim_client.hupall()
    assert (await job.wait(scaled(5))).startswith("-ERR")
    await until(lambda: not sim_node.channels)


async def test_bridger_default_proxies_and_carries_the_tracking_headers(clients, sim_cluster
                                                                        ) -> None:
    c1, c2 = clients
    await c1.load_app(TonePlay, on_value="b")
    await c2.load_app(Bridger(), on_value="b")
    job = await c1.originate(f"back@{sim_cluster[0].sip_address()}", app_id="b",
                             proxy=sim_cluster[1].sip_address())
    assert (await job.wait(5)).startswith("+OK"), job.result
    inbound = next(s for s in c2.listener.sessions.values() if s.is_inbound())
    assert tracking_headers(inbound) == {"sip_h_X-switchio_call": job.sess_uuid,
                                         "sip_h_X-switchio_app": "b"}
    await until(lambda: len(c1.listener.sessions) == 2)
    assert len(c1.listener.calls) == 1  # the far end came back in the caller's call
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)


# -- Router -----------------------------------------------------------------------------------
async def test_readme_router_example_runs_as_written(clients, sim_cluster, caplog,
                                                     tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, "switchio_lab")
    c1, _ = clients
    node2 = sim_cluster[1]
    # the README guards on a variable FreeSWITCH does not set by itself: a deployment's
    # dialplan sets it before parking, as this one does
    node2.config.dialplan = [Rule(r"^(.*)$", [("set", "sofia_profile=external"), ("park", "")])]
    service = Service([node2], reconnect=False)
    sounds = None
    await service.run()
    try:
        sounds = Path(await service.pool[0].cmd("global_getvar sounds_dir"))
        clip = sounds / "en/us/callie/ivr/8000/ivr-founder_of_freesource.wav"
        clip.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(4000) / 8000
        write_wav(clip, 0.5 * np.sin(2 * np.pi * 700 * t), 8000)  # 0.5 s
        await service.apps.load_app(readme_router.router, on_value="default")
        router_client = service.pool[0]
        assert router_client.connection.is_subscribed("PLAYBACK_STOP")  # Router(subscribe=...)
        job = await c1.originate(f"welcome@{node2.sip_address()}")
        assert (await job.wait(5)).startswith("+OK"), job.result
        heard = tmp_path / "caller.wav"  # what the caller hears: the welcome clip
        await c1.cmd(f"uuid_record {job.sess_uuid} start {heard}")
        caller = c1.listener.sessions[job.sess_uuid]
        await until(lambda: caller.hungup)  # played the welcome, then hung up
        await until(lambda: not router_client.listener.sessions)
        assert caller.cause == "NORMAL_CLEARING"
        samples, rate = read_wav(heard)
        spectrum = np.abs(np.fft.rfft(samples.astype(float)))
        assert abs(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()] - 700) < 5
        callee = next(r.getMessage() for r in caplog.records if "Answered call" in r.getMessage())
        assert re.fullmatch(r"session [-0-9a-f]{36}: Answered call to \('welcome',\)", callee)
        assert readme_router.router.routed == 1 and readme_router.router.rejected == 0
        assert router_client.listener.total_answered_sessions == 1
    finally:
        await service.stop()
        if sounds is not None:  # the node's temporary directory
            shutil.rmtree(sounds.parent, ignore_errors=True)


async def test_readme_router_rejects_calls_that_fail_its_guards(clients, sim_cluster) -> None:
    c1, c2 = clients
    router = Router(guards={"Call-Direction": "inbound", "variable_sofia_profile": "external"})
    router.route("(.*)")(readme_router.welcome)
    await c2.load_app(router)
    job = await c1.originate(f"welcome@{sim_cluster[1].sip_address()}")  # no sofia_profile
    assert await job.wait(5) == "-ERR NO_ROUTE_DESTINATION\n"
    assert router.rejected == 1 and router.routed == 0
    await until(lambda: not c2.listener.sessions)
    assert c2.listener.hangup_causes == {"NO_ROUTE_DESTINATION": 1}


async def test_router_guards_routes_and_rejections(clients, sim_cluster, caplog) -> None:
    caplog.set_level(logging.INFO, "switchio_lab.apps.routers")
    c1, c2 = clients
    router = Router(guards={"Caller-Destination-Number": re.compile(r"\d{4}"),
                            "Call-Direction": "inbound"})
    seen: list[tuple[str, str, str]] = []

    @router.route(r"^1(\d+)$")
    async def first(sess, match, router, tag="?"):
        seen.append(("first", match.group(1), tag))
        if match.group(1) == "000":
            raise StopRouting  # 1000 goes no further
        if match.group(1) == "999":
            raise RuntimeError("a broken route")  # logged; routing goes on

    @router.route(r"^1", tag="kw")  # kwargs registered with the route are passed on
    async def second(sess, match, router, tag):
        assert isinstance(router, Router)
        seen.append(("second", match.group(0), tag))
        await sess.answer()

    await c2.load_app(router)  # "default": every call coming to node 2
    dest = sim_cluster[1].sip_address()

    job = await c1.originate(f"1999@{dest}")  # both routes run, second answers
    assert (await job.wait(5)).startswith("+OK")
    assert seen == [("first", "999", "?"), ("second", "1", "kw")]
    assert "a broken route" in caplog.text and "route first failed" in caplog.text

    seen.clear()
    job = await c1.originate(f"1000@{dest}", originate_timeout=1)
    await until(lambda: seen == [("first", "000", "?")])  # stopped before `second`
    await pause(0.05)
    assert router.routed == 2 and router.rejected == 0  # matched, so not rejected
    await c1.hupall()
    assert (await job.wait(5)).startswith("-ERR")

    job = await c1.originate(f"2000@{dest}")  # guards pass, no route matches
    assert await job.wait(5) == "-ERR NO_ROUTE_DESTINATION\n"
    job = await c1.originate(f"123@{dest}")  # fails the 4-digit guard
    assert await job.wait(5) == "-ERR NO_ROUTE_DESTINATION\n"
    assert router.rejected == 2 and "did not pass the guards" in caplog.text

    router.reject_cause = 486  # reject with a SIP response instead
    job = await c1.originate(f"2000@{dest}")
    assert await job.wait(5) == "-ERR USER_BUSY\n"
    router.guard = False  # or leave unrouted calls parked
    job = await c1.originate(f"2000@{dest}", originate_timeout=1)
    await pause(0.2)
    assert router.rejected == 3 and not job.done()
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)


async def test_router_bridge_route_and_extra_subscriptions(clients, sim_cluster) -> None:
    c1, c2 = clients
    router = Router(guards={"Call-Direction": "inbound"}, subscribe=("DTMF", "CALL_UPDATE"))
    assert {"CHANNEL_PARK", "DTMF", "CALL_UPDATE"} <= marks.subscriptions(router)
    assert "DTMF" not in marks.subscriptions(Router())  # per instance, not per class
    router.route(r"^out-(\w+)$", dest_url=f"bridged@{sim_cluster[0].sip_address()}")(
        Router.bridge)
    await c1.load_app(TonePlay)  # answers the far leg, back on node 1
    await c2.load_app(router)
    assert c2.connection.is_subscribed("DTMF")
    job = await c1.originate(f"out-1@{sim_cluster[1].sip_address()}")
    assert (await job.wait(5)).startswith("+OK"), job.result
    far = None

    def far_leg():
        nonlocal far
        far = next((s for s in c1.listener.sessions.values() if s.is_inbound()), None)
        return far is not None and far.answered
    await until(far_leg)
    assert far["Caller-Destination-Number"] == "bridged"
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)


def test_routes_must_be_coroutines_and_patterns_valid() -> None:
    router = Router()
    with pytest.raises(TypeError, match="must be an 'async def'"):
        router.route("x")(lambda sess, match, router: None)
    with pytest.raises(re.error):
        router.route("(unclosed")
    other = Router()

    @other.route("^9", field="Caller-Caller-ID-Number")
    async def nine(sess, match, router):
        pass
    router.route.update(other.route)
    assert len(router.route) == 1
    found = list(router.route.matches({"Caller-Caller-ID-Number": "900",
                                       "Caller-Destination-Number": "9"}))
    assert [(f, m.group(0)) for f, m, _ in found] == [(nine, "9")]
    assert not list(router.route.matches({"Caller-Destination-Number": "9"}))
