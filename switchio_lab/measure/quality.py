"""Voice-quality scores: the ITU-T G.107 E-model, PESQ (ITU-T P.862, optional), and the
quality columns of a CDR DataFrame.

Three scores, each from its own source (see ``docs/quality.rst``):

- FreeSWITCH's own ``rtp_audio_in_mos`` / ``rtp_audio_in_quality_percentage``, read from the
  CDR as the switch reported them (the embedded switch models ``switch_rtp.c`` for them in
  :mod:`switchio_lab.sim.media.rtpstats`; nothing here recomputes them);
- the E-model (:func:`emodel_r`, :func:`r_to_mos`): a planning formula from loss, burst
  ratio, one-way delay and codec;
- PESQ-NB (:func:`pesq_nb`) on real audio, through the ``pesq`` package (the ``quality``
  extra). The P.862 reference code it wraps is licensed by ITU-T/its authors for evaluation
  only: check the licence before you ship it.

A leg that received no audio gets no score: NaN in every quality column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: G.107 default ``Ro - Is`` (all other parameters at their defaults): R = 93.2
R_DEFAULT = 93.2


@dataclass(frozen=True)
class Codec:
    """E-model equipment impairment of a codec (G.113 Appendix I): ``ie`` and the
    packet-loss robustness ``bpl`` with and without packet-loss concealment."""

    name: str
    ie: float
    bpl_plc: float
    bpl_no_plc: float


#: G.711 (PCMU/PCMA): Ie 0; Bpl 25.1 with PLC (G.711 Appendix I), 4.3 without
CODECS = {
    "PCMU": Codec("PCMU", 0.0, 25.1, 4.3),
    "PCMA": Codec("PCMA", 0.0, 25.1, 4.3),
}


def _codec(codec: str | Codec) -> Codec:
    if isinstance(codec, Codec):
        return codec
    try:
        return CODECS[str(codec).upper()]
    except KeyError:
        raise ValueError(f"no E-model figures for codec {codec!r} (known: "
                         f"{', '.join(sorted(CODECS))})") from None


def ie_eff(loss: float, burst_ratio: float = 1.0, codec: str | Codec = "PCMU",
           plc: bool = True) -> float:
    """G.107 effective equipment impairment ``Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR +
    Bpl)``, ``loss`` a fraction 0..1 (``Ppl`` is in percent)."""
    if not 0.0 <= loss <= 1.0:
        raise ValueError(f"loss is a fraction 0..1, got {loss!r}")
    if not burst_ratio >= 1.0:
        raise ValueError(f"burst ratio is >= 1 (1 = random loss), got {burst_ratio!r}")
    c = _codec(codec)
    ppl = 100.0 * loss
    bpl = c.bpl_plc if plc else c.bpl_no_plc
    return c.ie + (95.0 - c.ie) * ppl / (ppl / burst_ratio + bpl)


def idd(delay_ms: float) -> float:
    """G.107 delay impairment ``Idd`` for an absolute one-way delay ``Ta`` (ms): 0 up to
    100 ms, then ``25 ((1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2)``, ``X = log2(Ta/100)``."""
    if delay_ms < 0:
        raise ValueError(f"delay is >= 0 ms, got {delay_ms!r}")
    if delay_ms <= 100.0:
        return 0.0
    x = math.log10(delay_ms / 100.0) / math.log10(2.0)
    return 25.0 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)


def emodel_r(loss: float = 0.0, burst_ratio: float = 1.0, delay_ms: float = 0.0,
             codec: str | Codec = "PCMU", plc: bool = True, r0: float = R_DEFAULT) -> float:
    """The E-model's transmission rating ``R = (Ro - Is) - Idd - Ie,eff`` with the other
    G.107 parameters at their defaults (``r0`` = 93.2; echo terms at defaults)."""
    return r0 - idd(delay_ms) - ie_eff(loss, burst_ratio, codec, plc)


def r_to_mos(r: float) -> float:
    """G.107 MOS-CQE from R: 1 below 0, 4.5 above 100, else
    ``1 + 0.035 R + R (R - 60)(100 - R) 7e-6``."""
    if r != r:
        return math.nan
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def emodel_mos(loss: float = 0.0, burst_ratio: float = 1.0, delay_ms: float = 0.0,
               codec: str | Codec = "PCMU", plc: bool = True) -> float:
    """MOS-CQE of :func:`emodel_r`."""
    return r_to_mos(emodel_r(loss, burst_ratio, delay_ms, codec, plc))


# --- PESQ (optional) ------------------------------------------------------------------------

def have_pesq() -> bool:
    """Whether the optional ``pesq`` package (``pip install switchio-lab[quality]``) is
    importable."""
    try:
        import pesq  # noqa: F401
    except ImportError:
        return False
    return True


def pesq_nb(reference: np.ndarray, degraded: np.ndarray, rate: int = 8000) -> float:
    """PESQ-NB (P.862 raw score mapped to MOS-LQO by the ``pesq`` package) of ``degraded``
    against ``reference`` (int16 or float mono samples at ``rate`` Hz, 8000 or 16000). NaN
    when either is silent or too short to score; :class:`ImportError` with the install hint
    when ``pesq`` is missing."""
    try:
        from pesq import PesqError, pesq
    except ImportError as exc:
        raise ImportError("PESQ needs the optional 'pesq' package: "
                          "pip install 'switchio-lab[quality]'") from exc
    ref = np.asarray(reference, dtype="float64")
    deg = np.asarray(degraded, dtype="float64")
    n = min(len(ref), len(deg))
    if n < rate // 4 or not np.any(ref[:n]) or not np.any(deg[:n]):
        return math.nan
    try:
        return float(pesq(rate, ref[:n], deg[:n], "nb"))
    except PesqError:
        return math.nan



def align(reference: np.ndarray, recording: np.ndarray) -> np.ndarray:
    """The stretch of ``recording`` that lines up with ``reference`` (same length, found by
    cross-correlation; zero-padded where the recording is short): a call recording starts
    before the clip and ends after it, and PESQ scores two signals of one length."""
    ref = np.asarray(reference, dtype="float64")
    rec = np.asarray(recording, dtype="float64")
    if not len(ref) or not len(rec):
        return np.zeros(len(ref))
    n = 1 << int(np.ceil(np.log2(len(ref) + len(rec))))
    corr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(corr[: len(rec)]))  # the recording lags the reference
    out = np.zeros(len(ref))
    part = rec[lag: lag + len(ref)]
    out[: len(part)] = part
    return out


# --- CDR columns ----------------------------------------------------------------------------

QUALITY_COLUMNS = ["has_audio", "fs_mos", "fs_quality", "loss_rate", "r_factor", "emodel_mos"]


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(math.nan, index=df.index, dtype="float64")
    return pd.to_numeric(df[col], errors="coerce").astype("float64")


def quality_columns(df: pd.DataFrame, delay_ms: float | pd.Series = 0.0, plc: bool = True,
                    codec: str = "PCMU") -> pd.DataFrame:
    """``df`` (a CDR frame, one row per leg) with :data:`QUALITY_COLUMNS` added:
    ``has_audio`` (the leg received media packets), ``fs_mos``/``fs_quality`` (FreeSWITCH's
    ``rtp_audio_in_mos``/``_quality_percentage``), ``loss_rate`` (lost over expected media
    packets, from FreeSWITCH's ``rtp_audio_in_jitter_loss_rate``, which is lost/received),
    ``r_factor``/``emodel_mos`` (E-model at that loss, random, with ``delay_ms``). Legs
    without audio have NaN in every score."""
    out = df.copy()
    packets = _num(df, "rtp_audio_in_media_packet_count")
    audio = packets.fillna(0) > 0
    out["has_audio"] = audio
    out["fs_mos"] = _num(df, "rtp_audio_in_mos").where(audio)
    out["fs_quality"] = _num(df, "rtp_audio_in_quality_percentage").where(audio)
    lr = _num(df, "rtp_audio_in_jitter_loss_rate").fillna(0.0)
    out["loss_rate"] = (lr / (1.0 + lr)).where(audio)
    delay = delay_ms if isinstance(delay_ms, pd.Series) else pd.Series(
        float(delay_ms), index=df.index)
    r = [emodel_r(float(loss), 1.0, float(d), codec, plc) if ok else math.nan
         for loss, d, ok in zip(out["loss_rate"].fillna(0.0), delay, audio, strict=True)]
    out["r_factor"] = pd.Series(r, index=df.index, dtype="float64")
    out["emodel_mos"] = out["r_factor"].map(r_to_mos)
    return out


def percentiles(df: pd.DataFrame, by: str, columns: tuple[str, ...] = ("fs_mos", "emodel_mos"),
                q: tuple[float, ...] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
    """Per class (``by``, e.g. an ``impairment`` column): legs with audio, and the ``q``
    quantiles of each score column. Legs without audio do not count."""
    legs = df[df["has_audio"]] if "has_audio" in df.columns else df
    rows = {}
    for key, g in legs.groupby(by, sort=True):
        row: dict[str, float] = {"legs": float(len(g))}
        for col in columns:
            if col in g.columns:
                s = g[col].dropna()
                for p in q:
                    row[f"{col}_p{round(p * 100):02d}"] = float(s.quantile(p)) if len(s) \
                        else math.nan
        rows[key] = row
    return pd.DataFrame(rows).T.rename_axis(by)


def mos_vs_loss(losses: np.ndarray | list[float] | None = None, delay_ms: float = 0.0,
                burst_ratio: float = 1.0, codec: str = "PCMU") -> pd.DataFrame:
    """E-model curve data: ``loss`` (fraction) with ``r_plc``/``mos_plc`` and
    ``r_no_plc``/``mos_no_plc``."""
    losses = np.linspace(0.0, 0.1, 41) if losses is None else np.asarray(losses, float)
    rows = []
    for loss in losses:
        r1 = emodel_r(float(loss), burst_ratio, delay_ms, codec, True)
        r2 = emodel_r(float(loss), burst_ratio, delay_ms, codec, False)
        rows.append({"loss": float(loss), "r_plc": r1, "mos_plc": r_to_mos(r1),
                     "r_no_plc": r2, "mos_no_plc": r_to_mos(r2)})
    return pd.DataFrame(rows)
