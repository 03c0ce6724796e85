"""The seed page's examples run as written against a two-node embedded cluster."""

from __future__ import annotations

import asyncio

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


async def test_toneplay_plays_on_the_caller_and_echoes_on_the_callee(clients, sim_cluster):
    c1, c2 = clients
    await c1.load_app(seed_apps.TonePlay, on_value="tone")
    await c2.load_app(seed_apps.TonePlay, on_value="tone")
    played = []
    c1.connection.on_event(played.append, "PLAYBACK_START")
    await c1.connection.subscribe("PLAYBACK_START")
    job = await c1.originate(f"doggy@{sim_cluster[1].sip_address()}", app_id="tone")
    assert (await job.wait(scaled(5))).startswith("+OK")
    await until(lambda: played)
    assert played[0]["Playback-File-Path"].startswith("tone_stream://%(251,0,1004)")
    assert played[0].uuid == job.sess_uuid
    callee = next(iter(sim_cluster[1].channels.values()))
    await until(lambda: callee.current_app == "echo")
    await asyncio.sleep(scaled(0.3))  # echo a while: the call is up when hung up
    hangups = []
    c2.connection.on_event(hangups.append, "CHANNEL_HANGUP_COMPLETE")
    await c2.connection.subscribe("CHANNEL_HANGUP_COMPLETE")
    await c1.hupall()
    await until(lambda: hangups)
    stats = hangups[0]
    assert int(stats["variable_rtp_audio_in_media_packet_count"]) > 10  # heard the tone
    assert int(stats["variable_rtp_audio_out_media_packet_count"]) > 10  # echoed it back


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
