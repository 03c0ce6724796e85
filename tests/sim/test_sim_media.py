"""Modelled media (``switchio_lab.sim.media``) against FreeSWITCH's behaviour and captures."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from switchio_lab.esl import Event, Parser
from switchio_lab.sim.media import (
    DTMF_FREQUENCIES,
    MediaError,
    Recorder,
    RtpStats,
    alaw_decode,
    alaw_encode,
    dtmf_packet_count,
    dtmf_tones,
    mos_from_r,
    parse_media,
    quality_from_flaws,
    read_wav,
    tone_amplitude,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)

RATE = 8000


# --- captures -------------------------------------------------------------------------------

def _events(data: bytes) -> list[Event]:
    return [f.event for f in Parser().feed(data) if getattr(f, "event", None) is not None]


@pytest.fixture(scope="module")
def media_events(fixture_bytes: Callable[[str], bytes]) -> list[Event]:
    return _events(fixture_bytes("call_media.esl"))


@pytest.fixture(scope="module")
def basic_events(fixture_bytes: Callable[[str], bytes]) -> list[Event]:
    return _events(fixture_bytes("call_basic.esl"))


def _rtp_vars(ev: Event) -> dict[str, str]:
    """The ``rtp_audio_in/out/rtcp`` statistics of a CHANNEL_HANGUP_COMPLETE, in order."""
    out = {}
    for key, value in ev.headers.items():
        name = key.removeprefix("variable_")
        if name.startswith(("rtp_audio_in_", "rtp_audio_out_", "rtp_audio_rtcp_")):
            out[name] = value
    return out


def _hangups(events: list[Event]) -> dict[str, Event]:
    """CHANNEL_HANGUP_COMPLETE by Call-Direction."""
    return {ev["Call-Direction"]: ev for ev in events if ev.name == "CHANNEL_HANGUP_COMPLETE"}


def _ts(ev: Event) -> float:
    return int(ev["Event-Date-Timestamp"]) / 1e6


def _peaks(samples: np.ndarray, n: int = 1) -> list[float]:
    spec = np.abs(np.fft.rfft(samples.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return sorted(float(f) for f in freqs[np.argsort(spec)[-n:]])


# --- playback specs -------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "seconds"), [
    ("tone_stream://%(300,100,1004);loops=3", 1.2),   # call_media, 3 passes of 400 ms
    ("tone_stream://%(200,0,800)", 0.2),              # call_media, uuid_broadcast
    ("tone_stream://%(100,100,350,440);loops=2", 0.4),
    ("tone_stream://%(100,100,350,440);LOOPS=2", 0.4),  # switch_stristr: any case
    ("tone_stream://L=3;%(100,100,350,440)", 0.6),    # L=: the whole script 3 times
    ("tone_stream://L=2;%(100,0,440);L=5;%(50,0,480)", 0.3),  # only the first L= counts
    ("{loops=2}tone_stream://%(100,0,800)", 0.2),     # file-handle parameter
    ("tone_stream://%(100,0,440);loops=0", 0.1),
    ("tone_stream://%(100,0,440);loops=1", 0.1),
    ("tone_stream://1234", 1.25),                     # DTMF: 2000 + 500 samples each
    ("tone_stream://d=100;w=50;12", 0.3),
    ("tone_stream://7(1000,500)", 1.5),               # digit with its own on/off
    ("tone_stream://l=2;%(100,0,440);%(100,0,480)", 0.3),  # l= repeats the next tone
    ("tone_stream://%(100,0,440)%(100,0,480)", 0.2),  # two tones in one token
    ("tone_stream://%(1000,500,0)", 0.0),             # empty map: ignored entirely
    ("tone_stream://%(100,100", 0.0),                 # syntax error drops the pass
    ("tone_stream://%(100,0,440);%(bad);%(100,0,440)", 0.1),  # ...and the rest of it
    ("tone_stream://", 0.0),
    ("silence_stream://500", 0.5),
    ("silence_stream://250,1400", 0.25),
    ("file_string://silence_stream://100!tone_stream://%(200,0,800)", 0.3),
])
def test_durations(spec: str, seconds: float) -> None:
    media = parse_media(spec)
    assert media.duration == pytest.approx(seconds)
    assert len(media.render()) == round(seconds * RATE)
    assert media.spec == spec


@pytest.mark.parametrize("spec", [
    "tone_stream://%(100,15000,800);loops=-1",
    "{loops=-1}tone_stream://%(100,100,440)",
    "silence_stream://-1",
    "silence_stream://0",
    "file_string://tone_stream://%(100,0,440)!silence_stream://-1!tone_stream://%(9,0,9)",
])
def test_forever(spec: str) -> None:
    media = parse_media(spec)
    assert media.duration == math.inf and media.forever
    assert media.sample_count() is None
    assert len(media.render(max_seconds=2.5)) == 20000
    with pytest.raises(ValueError, match="forever"):
        media.render()


def test_kinds() -> None:
    assert parse_media("tone_stream://%(1,0,1)").kind == "tone_stream"
    assert parse_media("silence_stream://1").kind == "silence_stream"
    assert parse_media("file_string://silence_stream://1").kind == "file_string"
    with pytest.raises(MediaError) as err:
        parse_media("say:hello")
    assert err.value.response == "FILE NOT FOUND"


def test_playbacks_match_capture(media_events: list[Event]) -> None:
    """PLAYBACK_START -> STOP lasted as long as the spec; playback_samples is exact."""
    starts = {ev["Playback-File-Path"]: ev for ev in media_events if ev.name == "PLAYBACK_START"}
    stops = [ev for ev in media_events if ev.name == "PLAYBACK_STOP"]
    assert len(stops) == 2
    for stop in stops:
        spec = stop["Playback-File-Path"]
        media = parse_media(spec)
        assert stop["Playback-File-Type"] == media.kind
        assert int(stop["variable_playback_samples"]) == media.sample_count(RATE)
        assert int(stop["variable_playback_ms"]) == round(media.duration * 1000)
        played = _ts(stop) - _ts(starts[spec])
        assert played == pytest.approx(media.playback_duration(), abs=0.02)
    done = [ev for ev in media_events
            if ev.name == "CHANNEL_EXECUTE_COMPLETE" and ev["Application"] == "playback"]
    assert [ev["Application-Response"] for ev in done] == ["FILE PLAYED", "FILE PLAYED"]
    assert _ts(done[0]) == _ts(stops[0])  # the app completes when the playback stops


def test_playback_duration_whole_frames() -> None:
    assert parse_media("silence_stream://30").playback_duration() == pytest.approx(0.04)
    assert parse_media("silence_stream://40").playback_duration() == pytest.approx(0.04)


def test_chunks_are_slices_of_render() -> None:
    for spec in ["tone_stream://%(30,20,1004);%(25,5,350,440);loops=4",
                 "file_string://tone_stream://%(30,20,1004)!silence_stream://70,1400"
                 "!tone_stream://5"]:
        media = parse_media(spec)
        whole = media.render()
        for lo, hi in [(0, 1), (123, 987), (399, 1601), (len(whole) - 7, len(whole))]:
            assert np.array_equal(media.chunk(RATE, lo, hi), whole[lo:hi])


# --- rendering ------------------------------------------------------------------------------

def test_tone_spectrum_1004() -> None:
    samples = parse_media("tone_stream://%(300,100,1004);loops=3").render()
    assert abs(_peaks(samples)[0] - 1004) <= 8
    on, off = samples[:2400], samples[2400:3200]
    assert np.all(off == 0) and np.count_nonzero(on) > 2000


def test_tone_level_about_minus_10_dbfs() -> None:
    assert tone_amplitude() == 10184  # teletone's default -7 dBm0 (C float math too)

    def amplitude(spec: str) -> float:  # half peak-to-peak: teletone adds a +128 offset
        samples = parse_media(spec).render().astype(np.int64)
        return (samples.max() - samples.min()) / 2

    peak = amplitude("tone_stream://%(1000,0,1004)")
    assert -11 < 20 * math.log10(peak / 32768) < -9.5
    quiet = amplitude("tone_stream://v=-20;%(1000,0,1004)")
    assert 20 * math.log10(peak / quiet) == pytest.approx(13, abs=0.1)
    fading = parse_media("tone_stream://v=-7;>=2;+=.1;%(1400,0,350,440)").render()
    assert np.abs(fading[-800:]).max() < np.abs(fading[:800]).max() / 20


def test_multifrequency_tone() -> None:
    samples = parse_media("tone_stream://%(1000,0,350,440)").render()
    assert [round(f) for f in _peaks(samples, 2)] == [350, 440]


def test_silence_and_comfort_noise() -> None:
    assert not parse_media("silence_stream://200").render().any()
    noise = parse_media("silence_stream://1000,1400").render()
    assert noise.any() and np.abs(noise).max() < 100
    assert np.array_equal(noise, parse_media("silence_stream://1000,1400").render())


def test_dtmf_tones_frequencies() -> None:
    for digit, pair in DTMF_FREQUENCIES.items():
        samples = dtmf_tones(digit, duration_ms=100, gap_ms=50)
        assert len(samples) == 1200 and not samples[800:].any()
        assert _peaks(samples[:800], 2) == pytest.approx(pair, abs=10)
    assert len(dtmf_tones("12#w", 100, 50)) == 3 * 1200 + 4000
    assert np.array_equal(dtmf_tones("a"), dtmf_tones("A"))
    with pytest.raises(ValueError):
        dtmf_tones("x")


def test_tone_stream_digits_use_teletone_table() -> None:
    """FreeSWITCH's teletone maps 7/8/9/C to 859 Hz (not 852): tone_stream://7 keeps it."""
    samples = parse_media("tone_stream://7").render()[:2000]
    assert _peaks(samples, 2) == pytest.approx([859, 1209], abs=5)


def test_dtmf_packets_per_digit(fixture_bytes: Callable[[str], bytes]) -> None:
    log = fixture_bytes("call_media.esl").decode("latin-1")
    assert log.count("packet for [1]") == dtmf_packet_count() == 15


# --- WAV ------------------------------------------------------------------------------------

def test_wav_round_trip(tmp_path: Path) -> None:
    samples = parse_media("tone_stream://%(300,100,1004);loops=3").render()
    path = write_wav(tmp_path / "a.wav", samples, RATE)
    assert path.stat().st_size == 44 + 2 * len(samples)
    back, rate = read_wav(path)
    assert rate == RATE and back.dtype == np.int16 and np.array_equal(back, samples)


def test_read_wav_formats(tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.array([100, 300, -200, -400], dtype="<i2").tobytes())
    assert read_wav(stereo)[0].tolist() == [200, -300]
    assert read_wav(stereo)[1] == 16000

    codes = ulaw_encode(np.array([0, 1000, -1000, 32000], dtype=np.int16))
    ulaw = tmp_path / "ulaw.wav"
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    ulaw.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(codes)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                     + b"data" + struct.pack("<I", len(codes)) + codes.tobytes())
    assert np.array_equal(read_wav(ulaw)[0], ulaw_decode(codes))


def test_file_media(tmp_path: Path) -> None:
    write_wav(tmp_path / "hello.wav", np.full(4800, 1000, dtype=np.int16), 16000)
    media = parse_media("hello.wav", sound_dir=tmp_path)
    assert media.kind == "file" and media.duration == pytest.approx(0.3)
    assert len(media.render(RATE)) == 2400 and len(media.render(16000)) == 4800
    assert parse_media(str(tmp_path / "hello.wav")).duration == pytest.approx(0.3)

    with pytest.raises(MediaError, match="Error Opening File") as err:
        parse_media("missing.wav", sound_dir=tmp_path)
    assert err.value.response == "FILE NOT FOUND"
    with pytest.raises(MediaError, match="Invalid file format"):
        parse_media("hello.mp3", sound_dir=tmp_path)

    joined = parse_media(f"file_string://missing.wav!{tmp_path}/hello.wav!silence_stream://100")
    assert joined.duration == pytest.approx(0.4)  # mod_file_string skips what won't open
    with pytest.raises(MediaError):
        parse_media("file_string://missing.wav!nope.wav", sound_dir=tmp_path)


# --- Recorder -------------------------------------------------------------------------------

@pytest.mark.parametrize("codec", [None, "PCMU", "PCMA"])
def test_recorder_timing(tmp_path: Path, codec: str | None) -> None:
    rec = Recorder(tmp_path / "r.wav", RATE, 1000.0, codec=codec)
    rec.add(parse_media("tone_stream://%(200,0,1004)"), 0.5)
    path = rec.close(1001.25)
    samples, rate = read_wav(path)
    assert rate == RATE and len(samples) == 10000  # exactly end - start
    nonzero = np.flatnonzero(samples)
    assert nonzero[0] == 4000 and nonzero[-1] < 5600
    assert abs(_peaks(samples[4000:5600])[0] - 1004) <= 8


def test_recorder_mixes_cuts_and_joins_late(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.wav", RATE, 0.0, codec=None)
    tone = parse_media("tone_stream://%(1000,0,400)")
    rec.add(tone, -0.5)                         # started before the recording: its last 0.5 s
    handle = rec.add(parse_media("tone_stream://%(100,0,1004);loops=-1"), 1.0)
    rec.add(dtmf_tones("5"), 1.2)               # mixed on top
    rec.cut(handle, 2.0)                        # the endless tone stopped (uuid_break)
    rec.close(3.0)
    samples, _ = read_wav(tmp_path / "r.wav")
    assert np.array_equal(samples[:4000], tone.render()[4000:])
    assert not samples[4000:8000].any()
    assert np.count_nonzero(samples[8000:16000]) > 7000
    assert not samples[16000:].any()


def test_recorder_memory_is_bounded(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "long.wav", RATE, 0.0)
    rec.add(parse_media("tone_stream://%(100,100,440);loops=-1"), 0.0)
    rec.add(parse_media("tone_stream://%(500,0,800)"), 300.0)  # flushes what is older
    assert rec.samples_written >= (300 - 5) * RATE - Recorder._BLOCK
    rec.add(dtmf_tones("1"), 10.0)  # too late for the part already written
    assert rec.dropped_samples == len(dtmf_tones("1"))
    rec.close(600.0)
    assert (tmp_path / "long.wav").stat().st_size == 44 + 2 * 600 * RATE


def test_recorder_variables_match_capture(tmp_path: Path, media_events: list[Event]) -> None:
    stop = next(ev for ev in media_events if ev.name == "RECORD_STOP")
    rec = Recorder(tmp_path / "rec.wav", RATE, 0.0)
    rec.close(int(stop["variable_record_samples"]) / RATE)
    assert rec.variables() == {k: stop[f"variable_{k}"] for k in
                               ("record_file_size", "record_samples", "record_seconds",
                                "record_ms")}


# --- G.711 ----------------------------------------------------------------------------------

def test_g711_known_values() -> None:
    assert ulaw_decode([0x00, 0x7F, 0x80, 0xFF, 0x0F, 0xF0]).tolist() == \
        [-32124, 0, 32124, 0, -16764, 120]
    assert alaw_decode([0xD5, 0x55, 0xAA, 0x2A, 0x80, 0x00]).tolist() == \
        [8, -8, 32256, -32256, 5504, -5504]
    pcm = np.array([0, -1, 1, 1000, -1000, 32767, -32768], dtype=np.int16)
    assert ulaw_encode(pcm).tolist() == [0xFF, 0x7F, 0xFF, 0xCE, 0x4E, 0x80, 0x00]
    assert alaw_encode(pcm).tolist() == [0xD5, 0x55, 0xD5, 0xFA, 0x7A, 0xAA, 0x2A]
    assert ulaw_encode(pcm).dtype == np.uint8 and ulaw_decode([0]).dtype == np.int16


def test_g711_round_trip() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(alaw_encode(alaw_decode(codes)), codes)
    ulaw_rt = ulaw_encode(ulaw_decode(codes))
    assert np.array_equal(ulaw_rt[codes != 0x7F], codes[codes != 0x7F])  # 0x7F is "-0"
    x = np.arange(-32768, 32768, dtype=np.int64)
    big = np.abs(x) > 1024
    for enc, dec, rel, small in ((ulaw_encode, ulaw_decode, 0.034, 32),
                                 (alaw_encode, alaw_decode, 0.032, 32)):
        err = np.abs(dec(enc(x)).astype(np.int64) - x)
        assert (err[big] / np.abs(x[big])).max() < rel
        assert err[~big].max() <= small
        assert np.array_equal(dec(codes ^ 0x80), -dec(codes))  # the sign bit is the sign


# --- RTP statistics -------------------------------------------------------------------------

def test_mos_formula_matches_capture(media_events: list[Event]) -> None:
    """FreeSWITCH's (quality, MOS) pairs in call_media follow do_mos()."""
    assert f"{mos_from_r(100):.2f}" == "4.50"
    for ev in _hangups(media_events).values():
        v = _rtp_vars(ev)
        r = float(v["rtp_audio_in_quality_percentage"])
        assert f"{mos_from_r(r):.2f}" == v["rtp_audio_in_mos"]
    caller = _rtp_vars(_hangups(media_events)["outbound"])
    assert caller["rtp_audio_in_flaw_total"] == "36"
    assert quality_from_flaws(40, 36) == 10 == float(caller["rtp_audio_in_quality_percentage"])
    assert quality_from_flaws(0, 0) == 100 and quality_from_flaws(40, 41) == 100


def test_hangup_forced_mos_reproduces_capture_flaws(media_events: list[Event]) -> None:
    """call_media's caller: 36 flaws, R 10 over 40 counted packets. "Late" flaws (one per
    timer tick after 2 s without a packet, each followed by the consecutive-flaw penalty of
    2) only ever reach 1, 4, 7, ... (3k + 1); 36 = 34 + 2 comes from the forced do_mos of
    switch_rtp_sync_stats() at hangup. 49 packets (40 past the 9-packet lead-in), then
    silence until hangup, give exactly the capture's numbers."""
    real = _rtp_vars(_hangups(media_events)["outbound"])
    ours = RtpStats(3.4, received=[(0.18, 0.98)]).variables()
    keys = ("rtp_audio_in_flaw_total", "rtp_audio_in_quality_percentage", "rtp_audio_in_mos")
    assert {k: ours[k] for k in keys} == {k: real[k] for k in keys}


def test_no_media_call_reproduces_call_basic(basic_events: list[Event]) -> None:
    for direction, ev in _hangups(basic_events).items():
        real = _rtp_vars(ev)
        billsec = int(ev["variable_billmsec"]) / 1000
        ours = RtpStats(billsec, sent=0, received=0).variables()
        assert list(ours) == list(real), direction  # names and order
        skip = "rtp_audio_in_skip_packet_count"
        assert abs(int(ours.pop(skip)) - int(real.pop(skip))) <= 2  # timer ticks
        assert ours == real
    assert RtpStats(0).variables()["rtp_audio_in_mos"] == "4.50"


def test_media_call_relations(media_events: list[Event]) -> None:
    """The relations between the counters in call_media hold for a modelled 5 s call."""

    def check(v: dict[str, str], digits_in: int, digits_out: int) -> None:
        n = {k.removeprefix("rtp_audio_"): int(float(x)) for k, x in v.items()}
        assert n["in_media_bytes"] == 172 * n["in_media_packet_count"]
        assert n["in_raw_bytes"] == n["in_media_bytes"] + 16 * n["in_dtmf_packet_count"]
        assert n["in_packet_count"] == n["in_media_packet_count"] + n["in_dtmf_packet_count"]
        assert n["out_media_bytes"] == 172 * n["out_media_packet_count"]
        assert n["out_raw_bytes"] == n["out_media_bytes"] + 16 * n["out_dtmf_packet_count"]
        assert n["out_packet_count"] == n["out_media_packet_count"]  # DTMF not counted out
        assert n["in_dtmf_packet_count"] == 15 * digits_in
        assert n["out_dtmf_packet_count"] == 15 * digits_out

    legs = _hangups(media_events)
    check(_rtp_vars(legs["inbound"]), 3, 2)   # callee: got "12#", sent "9*"
    check(_rtp_vars(legs["outbound"]), 2, 3)
    ours = RtpStats(5.0, dtmf_in=3, dtmf_out=2)
    assert list(ours.variables()) == list(_rtp_vars(legs["inbound"]))
    check(ours.variables(), 3, 2)
    assert ours.inbound.media_packet_count == ours.outbound.media_packet_count == 250  # 50/s
    assert ours.inbound.skip_packet_count == 0
    assert ours.variables()["rtp_audio_in_mean_interval"] == "20.00"
    assert (ours.mos, ours.quality_percentage) == (4.5, 100.0)


def test_call_media_legs_modelled(media_events: list[Event]) -> None:
    """call_media's legs from their timelines: what each sent is exact; what came in
    differs only by the packets FreeSWITCH missed at the edges of the stream."""
    legs = _hangups(media_events)
    callee = RtpStats(5.76, sent=[(0.18, 1.2)], received=[(4.78, 0.2)],
                      dtmf_in=3, dtmf_out=2).variables()
    caller = RtpStats(5.76, sent=[(4.78, 0.2)], received=[(0.18, 1.2)],
                      dtmf_in=2, dtmf_out=3).variables()
    for ours, ev in ((callee, legs["inbound"]), (caller, legs["outbound"])):
        real = _rtp_vars(ev)
        outs = [k for k in real if "_out_" in k or "rtcp" in k]
        assert {k: ours[k] for k in outs} == {k: real[k] for k in outs}
        got, real_got = int(ours["rtp_audio_in_media_packet_count"]), \
            int(real["rtp_audio_in_media_packet_count"])
        assert 0 <= got - real_got <= 2
    # the callee heard 10 packets: too few to leave the jitter lead-in, MOS untouched
    assert callee["rtp_audio_in_mos"] == "4.50"
    # the caller's stream stopped > 2 s before hangup: FreeSWITCH's "late" flaws
    assert float(caller["rtp_audio_in_quality_percentage"]) < 100
    assert int(caller["rtp_audio_in_flaw_total"]) > 0


def test_loss_lowers_mos_and_quality() -> None:
    clean = RtpStats(5.0)
    lossy = RtpStats(5.0, loss=0.05)
    worse = RtpStats(5.0, loss=0.2)
    assert lossy.inbound.media_packet_count < clean.inbound.media_packet_count
    assert lossy.inbound.flaw_total > 0
    assert 4.0 < lossy.mos < clean.mos == 4.5
    assert 90 <= lossy.quality_percentage < 100
    assert worse.mos < lossy.mos
    for s in (lossy, worse):
        assert s.mos == mos_from_r(s.quality_percentage)
    assert lossy.outbound == clean.outbound  # loss is on the way in
    assert RtpStats(5.0, loss=0.05).variables() == lossy.variables()  # seeded
    assert RtpStats(5.0, loss=0.05, seed=1).variables() != lossy.variables()


def test_jitter() -> None:
    small = RtpStats(5.0, jitter_ms=4)  # no reordering at 20 ms ptime
    assert small.mos == 4.5 and small.inbound.jitter_max_variance > 0
    assert small.inbound.mean_interval == pytest.approx(20, abs=0.5)
    big = RtpStats(5.0, jitter_ms=30)   # packets overtake each other: sequence flaws
    assert big.inbound.flaw_total > 0 and big.mos < 4.5


def test_rtp_stats_validation() -> None:
    with pytest.raises(ValueError):
        RtpStats(1.0, loss=1.5)
    with pytest.raises(ValueError):
        RtpStats(1.0, codec="OPUS")
    pcma = RtpStats(1.0, codec="PCMA", ringing_seconds=2.0)
    assert pcma.outbound.media_bytes == 50 * 172
