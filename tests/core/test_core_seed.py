"""The seed page's examples run as written against a two-node embedded cluster."""

from __future__ import annotations

import pytest
import seed_apps  # tests/ is on sys.path: the seed page's examples, verbatim

from switchio_lab.testing import scaled, until

pytestmark = pytest.mark.asyncio




@pytest.fixture
def clients(sim_clients):
    """One connected Client per node of ``sim_cluster`` (the plugin's ``sim_clients``)."""
    return sim_clients


async def test_counter_callback_counts_answered_sessions(clients, sim_cluster) -> None:
    c1, c2 = clients
    seed_apps.num_calls = 0
    await c1.load_app(seed_apps, on_value="count")  # a module is a namespace too
    await c2.load_app(seed_apps.TonePlay, on_value="count")  # answers the callee on node 2
    for _ in range(3):
        job = await c1.originate(f"doggy@{sim_cluster[1].sip_address()}", app_id="count")
        assert (await job.wait(scaled(5))).startswith("+OK")
    await until(lambda: seed_apps.num_calls >= 3)
    assert seed_apps.num_calls == 3  # one answered caller leg per call on node 1
    assert c1.listener.count_calls() == 3 and c2.listener.count_calls() == 3
    await c1.hupall()
    await until(lambda: c1.listener.count_calls() == 0 and c2.listener.count_calls() == 0)


async def test_toneplay_as_written_races_the_callers_park(clients, sim_cluster):
    """The seed page's TonePlay plays on the caller's CHANNEL_ANSWER, where FreeSWITCH's
    caller is still in CS_CONSUME_MEDIA (``call_answer_race``): its playback fails with
    PLAYBACK ERROR (after a PLAYBACK_START/STOP in the window, at times) and the call stays
    up, silent. The embedded switch does the same (the
    window is widened here so a loaded machine's client is inside it); the built-in
    :class:`~switchio_lab.apps.players.TonePlay` plays on the caller's CHANNEL_PARK."""
    c1, c2 = clients
    sim_cluster[0].config.answer_park_delay = scaled(0.5)
    await c1.load_app(seed_apps.TonePlay, on_value="tone")
    await c2.load_app(seed_apps.TonePlay, on_value="tone")
    seen = []
    c1.connection.on_event(seen.append, "PLAYBACK_START")
    c1.connection.on_event(seen.append, "CHANNEL_EXECUTE_COMPLETE")
    await c1.connection.subscribe("PLAYBACK_START CHANNEL_EXECUTE_COMPLETE")
    job = await c1.originate(f"doggy@{sim_cluster[1].sip_address()}", app_id="tone")
    assert (await job.wait(scaled(5))).startswith("+OK")
    await until(lambda: any(e.get("Application") == "playback" for e in seen))
    done = next(e for e in seen if e.get("Application") == "playback")
    assert done.uuid == job.sess_uuid and done["Channel-State"] == "CS_CONSUME_MEDIA"
    assert done["Application-Response"] == "PLAYBACK ERROR"
    # a PLAYBACK_START may come first (FreeSWITCH sent one on half the raced calls), in
    # the same window, never a playing one
    assert all(e["Channel-State"] == "CS_CONSUME_MEDIA" and seen.index(e) < seen.index(done)
               for e in seen if e.name == "PLAYBACK_START")
    await until(lambda: sim_cluster[0].channels[job.sess_uuid].current_app == "park")
    await c1.hupall()
    await until(lambda: c1.listener.count_calls() == 0 and c2.listener.count_calls() == 0)



async def test_proxier_bridges_to_the_request_uri(clients, sim_cluster):
    """A call sent via node 2 (fs_path) to node 1's user: node 2's Proxier bridges it on.

    Only node 2 proxies. The app id (``sip_h_X-switchio_app=proxy``) travels with the call
    through the bridge, as FreeSWITCH passes X-headers on (``call_bridge_xheaders``): a
    Proxier of this seed page under "proxy" on node 1 would bridge the far leg again, to
    node 1 itself, and so on (FreeSWITCH: 140 channels, then ``-ERR EXCHANGE_ROUTING_ERROR``;
    the built-in :class:`~switchio_lab.apps.routers.Proxier` does not).
    """
    c1, c2 = clients
    for client in clients:
        await client.load_app(seed_apps.TonePlay, on_value="default")
    await c1.load_app(seed_apps.TonePlay, on_value="proxy")  # the call's legs on node 1
    await c2.load_app(seed_apps.Proxier, on_value="proxy")
    job = await c1.originate(f"target@{sim_cluster[0].sip_address()}", app_id="proxy",
                             proxy=sim_cluster[1].sip_address())
    assert (await job.wait(scaled(5))).startswith("+OK"), job.result
    # node 2 has the proxied leg and the bridged leg; node 1 the caller and the far callee
    await until(lambda: c2.listener.count_sessions() == 2 and c1.listener.count_sessions() == 2)
    far = [s for s in c1.listener.sessions.values() if s.is_inbound()][0]
    assert far["Caller-Destination-Number"] == "target"
    await until(lambda: far.answered)
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)
