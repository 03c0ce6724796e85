"""The impairment model on the embedded switch: per link and direction, per call, live."""

from __future__ import annotations

import asyncio

import pytest

from switchio_lab.sim import Cluster
from switchio_lab.sim.media import Impairment, ImpairmentError, RtpStats
from switchio_lab.sim.media.impair import Timeline
from switchio_lab.testing import pause, scaled, until

TONE = "tone_stream://%(251,0,1004);loops=-1"


async def _call(n2, c1, c2, uuid: str, vars_: str = "", hold: float = 1.0):
    """A call n1 -> n2: the caller plays a tone, the callee echoes it back; returns the
    variables of both legs' CHANNEL_HANGUP_COMPLETE."""
    done: dict[str, dict[str, str]] = {}
    loop = asyncio.get_running_loop()
    callee_parked, caller_parked = loop.create_future(), loop.create_future()

    def on2(ev):
        if ev.name == "CHANNEL_PARK" and not callee_parked.done():
            callee_parked.set_result(ev)
        if ev.name == "CHANNEL_HANGUP_COMPLETE":
            done["callee"] = dict(ev.headers)

    def on1(ev):
        if ev.uuid != uuid:
            return
        if ev.name == "CHANNEL_PARK" and not caller_parked.done():
            caller_parked.set_result(ev)
        if ev.name == "CHANNEL_HANGUP_COMPLETE":
            done["caller"] = dict(ev.headers)
    c1.on_event(on1)
    c2.on_event(on2)
    job = await c1.bgapi(f"originate {{origination_uuid={uuid}{vars_}}}"
                         f"sofia/external/q@{n2.sip_address('external')} &park()")
    callee = await asyncio.wait_for(callee_parked, scaled(3))
    await c2.execute("answer", uuid=callee.uuid)
    await c2.execute("echo", uuid=callee.uuid)
    await asyncio.wait_for(caller_parked, scaled(3))
    await c1.execute("playback", TONE, uuid=uuid)
    await pause(hold)  # the call's length, not a wait for something
    await c1.api(f"uuid_kill {uuid}")
    await until(lambda: len(done) == 2)
    assert (await job.wait(scaled(3))).startswith("+OK")
    c1.remove_callback(on1)
    c2.remove_callback(on2)
    keep = ("variable_rtp_audio_in_", "variable_read_codec", "variable_write_codec",
            "variable_rtp_use_codec_name", "variable_rtp_audio_recv_pt")
    return {k: {n[9:]: v for n, v in h.items() if n.startswith(keep)}
            for k, h in done.items()}


@pytest.mark.asyncio
async def test_a_link_is_impaired_per_direction(sim_cluster: Cluster, connect):
    n1, n2 = sim_cluster
    c1, c2 = await connect(n1), await connect(n2)
    await c1.subscribe("ALL")
    await c2.subscribe("ALL")
    clean = await _call(n2, c1, c2, "imp-0")
    assert clean["callee"]["rtp_audio_in_flaw_total"] == "0"
    assert clean["callee"]["rtp_audio_in_mos"] == "4.50"
    n2.media.impair(n1, loss=0.3)  # packets n1 -> n2 only
    lossy = await _call(n2, c1, c2, "imp-1")
    assert int(lossy["callee"]["rtp_audio_in_flaw_total"]) > 0
    assert float(lossy["callee"]["rtp_audio_in_mos"]) < 4.5
    # (rtp_audio_in_jitter_loss_rate stays 0.00 here: switch_rtp.c updates it every 5 s)
    # the way back (n2 -> n1) is clean: the caller's stream of the echo has no gaps
    assert lossy["caller"]["rtp_audio_in_flaw_total"] == "0"
    n2.media.impair(n1, loss=0.0)
    # per call: the originate's variables impair that call, both ways
    per_call = await _call(n2, c1, c2, "imp-2", ",impair_loss=0.3")
    assert int(per_call["callee"]["rtp_audio_in_flaw_total"]) > 0
    assert int(per_call["caller"]["rtp_audio_in_flaw_total"]) > 0


@pytest.mark.asyncio
async def test_the_codec_is_negotiated_per_call(sim_cluster: Cluster, connect):
    n1, n2 = sim_cluster
    c1, c2 = await connect(n1), await connect(n2)
    await c1.subscribe("ALL")
    await c2.subscribe("ALL")
    default = await _call(n2, c1, c2, "codec-0", hold=0.3)
    alaw = await _call(n2, c1, c2, "codec-1", ",absolute_codec_string=PCMA", hold=0.3)
    lab = await _call(n2, c1, c2, "codec-2", ",impair_codec=pcma", hold=0.3)
    for leg in ("caller", "callee"):
        assert default[leg]["read_codec"] == default[leg]["write_codec"] == "PCMU"
        assert default[leg]["rtp_use_codec_name"] == "PCMU"
        for call in (alaw, lab):
            assert call[leg]["read_codec"] == call[leg]["write_codec"] == "PCMA"
            assert call[leg]["rtp_use_codec_name"] == "PCMA"
            assert call[leg]["rtp_audio_recv_pt"] == "8"
            # G.711 either way: the same packets and bytes
            assert call[leg]["rtp_audio_in_media_packet_count"] != "0"


def test_a_change_applies_to_packets_from_that_moment():
    line = Timeline()
    line.set(Impairment(loss=0.5), at=30.0)
    stats = RtpStats(media_seconds=60, impairments=[(t, imp) for t, _, imp in
                                                    line.segments(0.0, 60.0)], seed=3)
    heard = stats.inbound.media_packet_count
    assert 1500 + 650 < heard < 1500 + 850  # the first 30 s whole, half of the rest
    buffered = RtpStats(media_seconds=60, seed=3, impairments=[
        (0.0, Impairment(jitter_ms=20, jb_ms=20))]).inbound.media_packet_count
    deep = RtpStats(media_seconds=60, seed=3, impairments=[
        (0.0, Impairment(jitter_ms=20, jb_ms=60))]).inbound.media_packet_count
    assert buffered < 0.6 * 3000 and deep > 0.98 * 3000  # late packets: lost to the listener


async def test_invalid_impairments_are_refused_with_a_clear_message(sim_node):
    with pytest.raises(ImpairmentError, match="loss is a fraction"):
        sim_node.media.impair(sim_node, loss=1.5)
    with pytest.raises(ImpairmentError, match="jitter_dist is one of"):
        sim_node.media.impair(sim_node, jitter_ms=10, jitter_dist="cauchy")
    with pytest.raises(ImpairmentError, match="codec is one of"):
        Impairment(codec="G729")
    with pytest.raises(ImpairmentError, match="no impairment called"):
        sim_node.media.impair(sim_node, lossy=0.1)
    assert sim_node.media.impairment(sim_node) == Impairment()  # nothing changed
