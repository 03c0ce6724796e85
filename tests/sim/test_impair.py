"""FreeSWITCH's own MOS (the switch_rtp.c model) on loss patterns, and the loss models."""

from __future__ import annotations

import numpy as np
import pytest

from switchio_lab.sim.media import (
    ImpairmentError,
    burst_ratio,
    freeswitch_score,
    gilbert_elliott_loss,
    mos_from_r,
    random_loss,
)

N = 3000  # 60 s of 20 ms packets


def _mean_mos(make, runs=20):
    return float(np.mean([freeswitch_score(make(np.random.default_rng(s)))[1]
                          for s in range(runs)]))


def test_freeswitch_score_reference_no_loss_and_one_loss():
    # issue 11 reference figures (60 s / 3,000 packets), MOS printed to 2 decimals
    assert freeswitch_score(np.zeros(N, bool)) == (100.0, 4.5)
    one = np.zeros(N, bool)
    one[N // 2] = True
    r, mos = freeswitch_score(one)
    assert r == 99.0 and mos == pytest.approx(4.49, abs=0.005)
    assert mos == mos_from_r(99)


def test_freeswitch_rates_bursty_loss_no_worse_than_random():
    # the quirk: a burst is one sequence gap (one flaw event), so bursts cost no extra
    rand = _mean_mos(lambda g: random_loss(N, 0.02, g))
    bursty = _mean_mos(lambda g: gilbert_elliott_loss(N, 0.02, 3, g))
    assert bursty >= rand - 0.005
    assert _mean_mos(lambda g: random_loss(N, 0.05, g)) < rand


def _reference_score(lost: np.ndarray) -> float:
    """The accounting issue 11's reference figures follow: every sequence gap costs its lost
    packets plus a penalty of 2 (R over the packets past the 9-packet lead-in)."""
    got = np.flatnonzero(~lost)
    gaps = np.diff(got) - 1
    gaps = gaps[gaps > 0]
    recved = len(got) - 9
    return mos_from_r(int((recved - (gaps.sum() + 2 * len(gaps))) / recved * 100.0))


def test_reference_figures_follow_a_penalty_on_every_gap():
    # what the independent implementation did: it reproduces all its figures
    mean = lambda make: float(np.mean([_reference_score(make(np.random.default_rng(s)))  # noqa: E731
                                       for s in range(20)]))
    assert mean(lambda g: random_loss(N, 0.02, g)) == pytest.approx(4.42, abs=0.02)
    assert mean(lambda g: random_loss(N, 0.05, g)) == pytest.approx(4.19, abs=0.03)
    assert mean(lambda g: gilbert_elliott_loss(N, 0.02, 3, g)) == pytest.approx(4.46, abs=0.02)


@pytest.mark.xfail(strict=True, reason=(
    "issue 11's figures (2 % random 4.42, 5 % 4.19, GE 2 %/3 4.46) charge every sequence gap "
    "its lost packets + a penalty of 2 (see test_reference_figures_follow_a_penalty_on_every_gap)."
    " switch_rtp.c does not: do_mos() adds the penalty only `if (rtp_session->consecutive_flaws++)`"
    ", and its `else { rtp_session->consecutive_flaws = 0; }` runs on every check_jitter() call"
    " that brings no new flaw, so an isolated gap costs only `flaws += lost`; the forced call"
    " (`current_time > next_stat_check_time`, every 5 s; switch_rtp_sync_stats at hangup) is"
    " too rare to matter. Our model gives ~4.47 / 4.42 / 4.48 and reproduces call_media's 36"
    " flaws / R 10 exactly (test_hangup_forced_mos_reproduces_capture_flaws)."))
def test_freeswitch_score_reference_random_loss():
    assert _mean_mos(lambda g: random_loss(N, 0.02, g)) == pytest.approx(4.42, abs=0.02)
    assert _mean_mos(lambda g: random_loss(N, 0.05, g)) == pytest.approx(4.19, abs=0.03)


def test_loss_models_rates_and_bursts():
    g = np.random.default_rng(7)
    n = 200_000
    assert random_loss(n, 0.03, g).mean() == pytest.approx(0.03, abs=0.002)
    lost = gilbert_elliott_loss(n, 0.03, 4.0, g)
    assert lost.mean() == pytest.approx(0.03, abs=0.004)
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    bursts = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert bursts.mean() == pytest.approx(4.0, rel=0.1)
    assert burst_ratio(0.03, 1 / 0.97) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(-0.1, 2), (1.0, 2), ("x", 2), (0.6, 1.0),
                                             (0.1, 0.5)])
def test_loss_models_refuse_invalid_values(rate, burst):
    with pytest.raises(ImpairmentError):
        gilbert_elliott_loss(10, rate, burst, np.random.default_rng(0))


def test_loss_plan_is_one_fate_per_packet_shared_by_stats():
    from switchio_lab.sim.media import Impairment, LossPlan, RtpStats

    imp = Impairment(burst_loss=0.05, mean_burst=4)
    plan = LossPlan(7, lambda k: imp)
    k = np.arange(20_000)
    lost = plan.lost(k)
    assert lost.mean() == pytest.approx(0.05, abs=0.01)
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    assert (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).mean() == pytest.approx(
        4, rel=0.15)  # bursts kept across calls of the plan, in order
    assert np.array_equal(plan.lost(k[::-1])[::-1], lost)  # decided once: asked again, same
    # a jitter buffer drops what comes later than it; without one nothing more is unheard
    jb = Impairment(jitter_ms=20, jitter_dist="normal", jb_ms=20)
    jplan = LossPlan(3, lambda k: jb)
    late = jplan.jitter(k[:2000]) > 20
    assert np.array_equal(jplan.unheard(k[:2000]), late) and 0.2 < late.mean() < 0.5
    # the statistics lose exactly the plan's packets: 3000 sent, the plan's losses missing
    stats = RtpStats(60.0, impairments=[(0.0, imp)], plan=LossPlan(7, lambda k: imp))
    assert stats.inbound.media_packet_count == 3000 - int(lost[:3000].sum())
