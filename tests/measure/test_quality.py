"""E-model and PESQ scores against independent reference figures (issue 11), and the rule
that a leg without audio never gets a score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from switchio_lab.measure import quality

# Reference figures (issue 11, an independent G.107 implementation), G.711, R and MOS-CQE.
# Tolerance: the figures are given to one decimal (R) / two decimals (MOS), so half a unit
# of the last digit plus rounding slack.
R_TOL, MOS_TOL = 0.1, 0.01


@pytest.mark.parametrize(("loss", "plc", "delay", "r_ref", "mos_ref"), [
    (0.02, True, 0.0, 86.2, 4.23),
    (0.02, False, 0.0, 63.0, 3.26),
    (0.05, True, 0.0, 77.4, 3.92),
    (0.01, True, 300.0, 74.8, 3.81),
])
def test_emodel_reference_figures(loss, plc, delay, r_ref, mos_ref):
    r = quality.emodel_r(loss=loss, delay_ms=delay, codec="PCMU", plc=plc)
    assert r == pytest.approx(r_ref, abs=R_TOL)
    assert quality.r_to_mos(r) == pytest.approx(mos_ref, abs=MOS_TOL)


def test_emodel_defaults_and_shape():
    assert quality.emodel_r() == pytest.approx(93.2)
    assert quality.emodel_r(codec="PCMA") == quality.emodel_r(codec="PCMU")
    assert quality.idd(100.0) == 0.0 and quality.idd(150.0) > 0.0
    # burstier loss of the same rate rates worse; MOS-CQE clamps at both ends
    assert quality.emodel_r(0.03, burst_ratio=2.0) < quality.emodel_r(0.03)
    assert quality.r_to_mos(-5) == 1.0 and quality.r_to_mos(120) == 4.5
    assert math.isnan(quality.r_to_mos(math.nan))
    curve = quality.mos_vs_loss([0.0, 0.02, 0.05])
    assert list(curve["mos_plc"].round(2)) == pytest.approx([4.41, 4.23, 3.92], abs=MOS_TOL)
    assert (curve["mos_no_plc"] <= curve["mos_plc"]).all()


@pytest.mark.parametrize("bad", [
    dict(loss=-0.1), dict(loss=1.5), dict(burst_ratio=0.5), dict(delay_ms=-1),
    dict(codec="G729"),
])
def test_emodel_refuses_invalid_values(bad):
    with pytest.raises(ValueError):
        quality.emodel_r(**bad)


def _cdr(packets, mos, loss_rate):
    return pd.DataFrame({"rtp_audio_in_media_packet_count": packets,
                         "rtp_audio_in_mos": mos,
                         "rtp_audio_in_quality_percentage": [100.0] * len(packets),
                         "rtp_audio_in_jitter_loss_rate": loss_rate,
                         "impairment": ["clean", "clean", "loss2", "loss2"]})


def test_legs_without_audio_never_get_a_score():
    # FreeSWITCH reports 4.5 / 100 for a leg that received nothing: that is not a score
    df = quality.quality_columns(_cdr([150, 0, 147, None], [4.5, 4.5, 4.47, 4.5],
                                      [0.0, 0.0, 0.02, 0.0]))
    assert list(df["has_audio"]) == [True, False, True, False]
    for col in ("fs_mos", "fs_quality", "loss_rate", "r_factor", "emodel_mos"):
        assert df[col].isna().tolist() == [False, True, False, True], col
    assert df["loss_rate"][2] == pytest.approx(0.02 / 1.02)
    pct = quality.percentiles(df, by="impairment")
    assert pct["legs"].tolist() == [1.0, 1.0]
    assert pct.loc["clean", "fs_mos_p50"] == 4.5


def _speechlike(seconds=4.0, rate=8000, seed=1):
    """Voiced syllables (a harmonic complex on a gliding pitch, 4 Hz syllable envelope,
    pauses): enough structure for PESQ to align and score."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (np.sin(2 * np.pi * 0.5 * t) > -0.3)
    x = voiced * env + 0.01 * rng.standard_normal(len(t))
    return (x / np.abs(x).max() * 12000).astype(np.int16)


@pytest.mark.skipif(not quality.have_pesq(), reason="PESQ not installed (extra 'quality')")
def test_pesq_scores_degradation_and_refuses_silence():
    ref = _speechlike()
    same = quality.pesq_nb(ref, ref)
    assert same > 4.0  # identical audio: the top of the PESQ-NB scale (~4.5)
    lossy = ref.copy()
    rng = np.random.default_rng(3)
    frames = len(lossy) // 160
    for i in np.flatnonzero(rng.random(frames) < 0.05):  # 5 % of 20 ms frames zeroed
        lossy[i * 160:(i + 1) * 160] = 0
    assert quality.pesq_nb(ref, lossy) < same - 0.3
    assert math.isnan(quality.pesq_nb(ref, np.zeros_like(ref)))


def test_pesq_missing_is_a_clear_error(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_pesq(name, *a, **k):
        if name == "pesq":
            raise ImportError("no pesq")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_pesq)
    assert quality.have_pesq() is False
    with pytest.raises(ImportError, match=r"switchio-lab\[quality\]"):
        quality.pesq_nb(np.ones(8000), np.ones(8000))


def test_quality_report_section_counts_only_legs_with_audio():
    pytest.importorskip("bokeh")
    from bokeh.models import Div

    from switchio_lab.measure.quality_plot import quality_section, scores_figure
    df = quality.quality_columns(_cdr([150, 0, 147, 140], [4.5, 4.5, 4.47, 4.3],
                                      [0.0, 0.0, 0.02, 0.05]))
    section = quality_section(df)
    heads = [c for c in section.children if isinstance(c, Div)]
    assert "3 of 4 legs received audio" in heads[0].text
    fig = scores_figure(df)
    assert [f[0] for f in fig.x_range.factors] == ["clean", "clean", "loss2", "loss2"]
    empty = scores_figure(quality.quality_columns(_cdr([0, 0, 0, 0], [4.5] * 4, [0.0] * 4)))
    assert "no audio yet" in empty.title.text
