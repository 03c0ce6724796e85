"""The player apps end to end on two embedded nodes: TonePlay and PlayRec.

What is played is checked in what is recorded: WAV files read back and their spectra
peaking at the tone's (or the clip's) frequencies.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import switchio_lab as switchio
from switchio_lab import apps
from switchio_lab.apps import AppManager
from switchio_lab.apps.players import CLIP_TONES, PlayRec, RecInfo, TonePlay, default_clip
from switchio_lab.pool import NodePool
from switchio_lab.sim.media import read_wav, ulaw_decode, ulaw_encode
from switchio_lab.testing import pause, until


def peaks(samples: np.ndarray, rate: int, n: int = 1) -> list[float]:
    """The ``n`` strongest frequencies (Hz) of ``samples``, strongest first, at least
    50 Hz apart."""
    x = samples.astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    found: list[float] = []
    for i in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[i] - f) > 50 for f in found):
            found.append(float(freqs[i]))
        if len(found) == n:
            break
    return found


def loud(samples: np.ndarray) -> np.ndarray:
    """The stretch of ``samples`` with sound in it (from first to last non-silent)."""
    idx = np.flatnonzero(np.abs(samples) > 200)
    assert idx.size, "the recording is silent"
    return samples[idx[0]: idx[-1] + 1]


@pytest.fixture
def clients(sim_clients):
    """One connected Client per node of ``sim_cluster`` (the plugin's ``sim_clients``),
    its sessions keeping their event history (``sess.events``)."""
    for client in sim_clients:
        client.listener.keep_events = 64
    return sim_clients


def test_builtin_players_are_registered() -> None:
    assert apps.get("TonePlay") is TonePlay and apps.get("PlayRec") is PlayRec


async def test_toneplay_tone_reaches_the_callee_and_comes_back(clients, sim_cluster,
                                                               tmp_path: Path) -> None:
    c1, c2 = clients
    await c1.load_app(TonePlay, on_value="tone")
    await c2.load_app(TonePlay, on_value="tone")
    await c1.connection.subscribe("PLAYBACK_START")  # TonePlay itself needs no such events
    job = await c1.originate(f"tone@{sim_cluster[1].sip_address()}", app_id="tone")
    assert (await job.wait(5)).startswith("+OK")
    await until(lambda: len(c2.listener.sessions) == 1)
    callee = next(iter(c2.listener.sessions.values()))
    caller = c1.listener.sessions[job.sess_uuid]
    assert callee.call.uuid == caller.call.uuid  # one call, tagged across the two nodes
    await until(lambda: caller.get("Playback-File-Path") is not None
                and sim_cluster[1].channels[callee.uuid].current_app == "echo")
    assert caller["Playback-File-Path"] == "tone_stream://%(251,0,1004);loops=-1"
    # what the callee hears and sends back: the 1004 Hz tone (recorded on its switch)
    path = tmp_path / "callee.wav"
    stopped = callee.recv("RECORD_STOP")
    await c2.cmd(f"uuid_record {callee.uuid} start {path}")
    await pause(0.4)
    await c2.cmd(f"uuid_record {callee.uuid} stop {path}")
    await stopped
    samples, rate = read_wav(path)
    assert rate == 8000 and len(samples) >= 0.35 * rate
    assert abs(peaks(loud(samples), rate)[0] - 1004) < 5
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)
    assert caller.cause == callee.cause == "MANAGER_REQUEST" and callee.answered


async def test_playrec_records_both_legs_once_per_period(clients, sim_cluster) -> None:
    """A node calling itself: both legs on one node, one PlayRec instance per node."""
    c1, _ = clients
    got: list[RecInfo] = []
    await c1.load_app(PlayRec, on_value="playrec", callback=got.append, rec_period=60,
                      tail=0.1)
    node = sim_cluster[0]
    rec_dir = Path(await c1.cmd("global_getvar recordings_dir"))
    try:
        jobs = [await c1.originate(f"rec{i}@{node.sip_address()}", app_id="playrec")
                for i in range(3)]
        for job in jobs:
            assert (await job.wait(5)).startswith("+OK")
        await until(lambda: not c1.listener.sessions)  # every call played, then hung up
        app = c1.apps["playrec"]
        # the first call to park, not the next two (the calls park 0-2 ticks after their
        # answer, as on FreeSWITCH, so the first offered is not always the first parked)
        assert got == app.recordings and len(got) == 1
        info = got[0]
        assert info.host == node.host == "127.0.0.1"
        assert Path(info.caller_file) in {rec_dir / f"caller_{job.sess_uuid}.wav"
                                          for job in jobs}
        assert Path(info.callee_file).parent == rec_dir
        assert sorted(p.name for p in rec_dir.iterdir()) == sorted(
            Path(f).name for f in (info.caller_file, info.callee_file))
        for path in (info.caller_file, info.callee_file):
            samples, rate = read_wav(path)
            sound = loud(samples)
            assert len(sound) == pytest.approx(rate * 1.0, abs=rate * 0.05)  # the 1 s clip
            assert sorted(peaks(sound, rate, 2)) == pytest.approx(sorted(CLIP_TONES), abs=5)
        assert c1.listener.hangup_causes["NORMAL_CLEARING"] == 6
    finally:
        shutil.rmtree(rec_dir.parent, ignore_errors=True)  # the node's temporary directory


async def test_playrec_across_two_nodes_with_one_shared_instance(sim_cluster, tmp_path: Path
                                                                 ) -> None:
    """Caller on node 1, callee on node 2: one instance serves both (via AppManager)."""
    pool = await NodePool(switchio.Client(n.host, n.esl_port, reconnect=False)
                          for n in sim_cluster).connect()
    try:
        got: list[RecInfo] = []
        playrec = PlayRec()
        app_id = await AppManager(pool).load_app(playrec, "pr", callback=got.append,
                                                 rec_period=0, iterations=2, tail=0.1,
                                                 rec_dir=str(tmp_path))
        job = await pool[0].originate(f"far@{sim_cluster[1].sip_address()}", app_id=app_id)
        assert (await job.wait(5)).startswith("+OK")
        await until(lambda: got and not pool[0].listener.sessions
                    and not pool[1].listener.sessions)
        caller_file, callee_file = Path(got[0].caller_file), Path(got[0].callee_file)
        assert got[0].host == "127.0.0.1" and caller_file.parent == tmp_path
        assert caller_file.name == f"caller_{job.sess_uuid}.wav"
        assert callee_file.name.startswith("callee_") and job.sess_uuid not in callee_file.name
        for path in (caller_file, callee_file):
            samples, rate = read_wav(path)
            sound = loud(samples)
            assert len(sound) == pytest.approx(2 * rate, abs=rate * 0.1)  # played twice
            for half in (sound[: rate], sound[-rate:]):
                assert sorted(peaks(half, rate, 2)) == pytest.approx(sorted(CLIP_TONES), abs=5)
    finally:
        await pool.disconnect()


async def test_playrec_plays_until_hung_up_with_infinite_iterations(clients, sim_cluster,
                                                                    tmp_path: Path) -> None:
    c1, c2 = clients
    playrec = PlayRec()
    for client in clients:
        await client.load_app(playrec, on_value="pr", rec_period=3600, rec_dir=str(tmp_path))
    playrec.__setduration__(math.inf)
    assert playrec.iterations == math.inf
    job = await c1.originate(f"loop@{sim_cluster[1].sip_address()}", app_id="pr")
    assert (await job.wait(5)).startswith("+OK")
    caller = c1.listener.sessions[job.sess_uuid]
    await until(lambda: caller.get("Playback-File-Path") == playrec.clip)
    # the 1 s clip played once and starts again, with no hangup
    await until(lambda: [e.name for e in caller.events].count("PLAYBACK_START") == 2)
    assert not caller.hungup and len(playrec.recordings) == 0
    await caller.hangup()
    await until(lambda: not c2.listener.sessions)
    # the call was recorded (the first of its period), the files closed by the hangup
    assert sorted(p.name[:6] for p in tmp_path.iterdir()) == ["callee", "caller"]
    playrec.__setduration__(3.5)
    assert (playrec.iterations, playrec.tail) == (3, 1.0)


async def test_playrec_gives_up_on_a_clip_the_switch_cannot_play(clients, sim_cluster, caplog,
                                                                 tmp_path: Path) -> None:
    c1, _ = clients
    playrec = PlayRec()
    playrec.play_start_wait = 0.3
    await c1.load_app(playrec, on_value="pr", clip="/no/such/clip.wav", rec_period=3600,
                      rec_dir=str(tmp_path))
    job = await c1.originate(f"x@{sim_cluster[0].sip_address()}", app_id="pr")
    assert (await job.wait(5)).startswith("+OK")
    await until(lambda: not c1.listener.sessions, timeout=8)
    assert "cannot play /no/such/clip.wav" in caplog.text


def test_default_clip_is_deterministic(tmp_path: Path) -> None:
    a = default_clip(tmp_path / "a")
    b = default_clip(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes() and a.name == b.name
    assert default_clip(tmp_path / "a") == a  # written once
    samples, rate = read_wav(a)
    assert rate == 8000 and len(samples) == 8000
    assert sorted(peaks(samples, rate, 2)) == pytest.approx(sorted(CLIP_TONES), abs=2)


async def test_toneplay_caller_hung_up_before_its_park_gets_no_playback() -> None:
    """bench_media_race's silent calls: an overloaded switch answers and parks a caller
    later than the Originator's hold, so the hangup comes first. Its CHANNEL_PARK never
    comes (nothing lost on the client: the switch never sent it), and TonePlay -- which
    plays only on the caller's PARK -- sends it nothing and fails nothing."""
    from switchio_lab.sim import Node, NodeConfig
    from switchio_lab.testing import scaled

    # the caller stays in its answer->park window far longer than this test lasts
    node = await Node(NodeConfig(esl_port=0, hostname="slow",
                                 answer_park_delay=scaled(60))).start()
    client = switchio.Client(node.host, node.esl_port, reconnect=False)
    try:
        await client.connect()
        failures: list = []
        client.listener.on_app_error(failures.append)
        await client.load_app(TonePlay, on_value="tone")
        seen: list = []
        client.connection.on_event(seen.append, "CHANNEL_PARK", "CHANNEL_EXECUTE",
                                   "CHANNEL_HANGUP")
        await client.connection.subscribe("CHANNEL_PARK CHANNEL_EXECUTE CHANNEL_HANGUP")
        job = await client.originate(f"tone@{node.sip_address()}", app_id="tone")
        assert (await job.wait(scaled(5))).startswith("+OK")
        caller = client.listener.sessions[job.sess_uuid]
        assert caller.answered and node.channels[caller.uuid].state == "CS_CONSUME_MEDIA"
        await client.api(f"uuid_kill {caller.uuid}")  # the Originator's hold ran out
        await until(lambda: not node.channels and not client.listener.sessions)
        mine = [e for e in seen if e.uuid == caller.uuid]
        assert [e.name for e in mine] == ["CHANNEL_HANGUP"]  # no PARK was ever sent
        assert not [e for e in seen if e.name == "CHANNEL_EXECUTE"
                    and e["Application"] == "playback"]
        assert failures == [] and client.connection.stats.dropped == 0
    finally:
        await client.disconnect()
        await node.stop()


async def test_pesq_on_playrec_recordings_carries_the_real_losses(clients, sim_cluster,
                                                                  tmp_path: Path) -> None:
    """PESQ-NB of espeak-ng speech played by PlayRec against the callee's recording, per
    class of call (the call's ``impair_loss``): the recording loses the frames whose packets
    the network lost -- the same packets the leg's RTP statistics count.

    Issue 11's figures: codec only ~3.95, 2 % ~3.4-3.5, 5 % ~2.9-3.1. A lost 20 ms frame is
    silence here (no concealment). Over 40 loss patterns on this 9 s clip the model gives
    3.96 (codec only), 3.32 +- 0.26 (2 %) and 2.62 +- 0.22 (5 %, i.e. 0.3-0.5 below the
    figure: silence costs more than concealment). Three calls a class: the 2 % mean is held
    to the figure +- 0.55 (3 sd of a 3-call mean plus the model's -0.13), the 5 % one to
    2.2-3.1."""
    pesq = pytest.importorskip("pesq")  # noqa: F841 -- the optional 'quality' extra
    from switchio_lab.apps.players import SpeechUnavailable, speech_clip
    from switchio_lab.measure.quality import align, pesq_nb

    try:
        clip = speech_clip()
    except SpeechUnavailable:
        pytest.skip("espeak-ng is not installed")
    reference, _ = read_wav(clip)
    c1, _ = clients
    node = sim_cluster[0]
    got: list[RecInfo] = []
    cdr: dict[str, dict[str, str]] = {}
    c1.connection.on_event(
        lambda ev: cdr.__setitem__(ev.uuid, dict(ev.headers)), "CHANNEL_HANGUP_COMPLETE")
    await c1.connection.subscribe("CHANNEL_HANGUP_COMPLETE")
    await c1.load_app(PlayRec, on_value="pesq", clip=str(clip),
                      clip_length=len(reference) / 8000, callback=got.append, rec_period=0,
                      rec_dir=str(tmp_path), tail=0.2)
    classes = {"clean": 0.0, "2%": 0.02, "5%": 0.05}
    calls = {name: [] for name in classes}
    for name, loss in classes.items():
        for i in range(1 if name == "clean" else 3):
            extra = {"impair_loss": str(loss)} if loss else {}
            job = await c1.originate(f"pesq{i}@{node.sip_address()}", app_id="pesq", **extra)
            assert (await job.wait(5)).startswith("+OK")
            calls[name].append(job.sess_uuid)
    await until(lambda: len(got) == 7 and not c1.listener.sessions, timeout=40)
    by_caller = {Path(info.caller_file).stem.removeprefix("caller_"): info for info in got}
    scores: dict[str, list[float]] = {}
    for name, uuids in calls.items():
        for uuid in uuids:
            info = by_caller[uuid]
            recording, rate = read_wav(info.callee_file)
            heard_clip = align(reference, recording)
            scores.setdefault(name, []).append(pesq_nb(reference, heard_clip))
            coded = ulaw_decode(ulaw_encode(reference)).astype(float)
            silenced = int(np.sum((heard_clip == 0) & (coded != 0)))  # samples of lost frames
            callee = cdr[Path(info.callee_file).stem.removeprefix("callee_")]
            flaws = int(callee["variable_rtp_audio_in_flaw_total"])
            # the frames silenced in the recording are the packets the statistics miss
            sent = int(cdr[uuid]["variable_rtp_audio_out_media_packet_count"])
            heard = int(callee["variable_rtp_audio_in_media_packet_count"])
            assert (flaws > 0) == (name != "clean") and (sent - heard > 0) == (flaws > 0)
            # (a lost frame in a pause of the speech silences nothing that was not silent)
            assert 0.5 * (sent - heard) <= silenced / 160 <= sent - heard + 1
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["clean"] == pytest.approx(3.95, abs=0.1)
    assert mean["2%"] == pytest.approx(3.45, abs=0.55)
    assert 2.2 <= mean["5%"] <= 3.1
    assert mean["5%"] < mean["2%"] < mean["clean"]
