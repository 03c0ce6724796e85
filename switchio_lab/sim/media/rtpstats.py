"""The ``rtp_audio_*`` variables and MOS FreeSWITCH reports at hangup.

From ``src/switch_rtp.c`` (``check_jitter``, ``do_mos``, ``burstr_calculate``, ``rtp_common_read``,
``switch_rtp_get_stats``) and ``set_stats`` in ``src/switch_core_media.c``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .impair import Impairment, LossPlan
from .tones import dtmf_packet_count

# --- RTP statistics -----------------------------------------------------------------------

_JITTER_LEAD_FRAMES = 10  # switch_rtp.c
_LOST_BURST_ANALYZE = 500  # switch_types.h
_LOST_BURST_CAPTURE = 1024
_RTP_HEADER = 12
_DTMF_PACKET = _RTP_HEADER + 4  # RFC 2833 event payload
_CLOCK_BASE_MS = 1_000_000_000_000  # switch_micro_time_now()/1000 is never near 0
#: bytes of payload per ms of audio
_CODEC_BYTES_PER_MS = {"PCMU": 8, "PCMA": 8, "G722": 8, "G729": 1}


def mos_from_r(r: float) -> float:
    """FreeSWITCH's MOS from its quality percentage ``R`` (``do_mos`` in ``switch_rtp.c``):
    ``1 + 0.035 R + 7e-6 R (R - 60) (100 - R)``: 100 -> 4.50, 95 -> 4.44, 10 -> 1.04."""
    return 1 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r)


def quality_from_flaws(recved: int, flaws: int) -> int:
    """FreeSWITCH's ``R``: the share of received packets that were not flaws, truncated to
    an integer percent; out-of-range values (no packets; flaws past the packet count,
    which wraps around in C's unsigned arithmetic) count as 100."""
    if recved <= 0 or flaws > recved:
        return 100
    r = int((recved - flaws) / recved * 100.0)
    return 100 if r < 0 or r > 100 else r


def freeswitch_score(lost: Sequence[bool] | np.ndarray, ptime: int = 20) -> tuple[float, float]:
    """FreeSWITCH's ``(quality_percentage, mos)`` for a stream of packets sent every
    ``ptime`` ms and received in order, ``lost[i]`` saying packet ``i`` never arrived: the
    packets are replayed through the same ``check_jitter``/``do_mos`` bookkeeping as
    :class:`RtpStats` (one model of ``switch_rtp.c``), late ticks included."""
    lost = np.asarray(lost, bool)
    sim = _Inbound()
    one_second = 1000 // ptime
    prev = None
    for i in np.flatnonzero(~lost).tolist():
        t = i * ptime
        if prev is not None:
            sim.late_ticks(max(0, round((t - prev) / ptime) - 1), one_second)
        sim.check_jitter(1 + i % 65535, _CLOCK_BASE_MS + t)
        prev = t
    sim.do_mos(True)  # switch_rtp_sync_stats() at hangup
    return sim.R, sim.mos


class _Inbound:
    """The ``switch_rtp_t`` fields behind the inbound numbers, updated the way
    ``check_jitter``/``do_mos`` in ``switch_rtp.c`` update them."""

    def __init__(self) -> None:
        self.recved = 0
        self.flaws = 0
        self.last_flaw = 0
        self.consecutive_flaws = 0
        self.R = 100.0
        self.mos = 4.5
        self.jitter_lead = 0
        self.last_proc_time = 0
        self.last_processed_seq = 0
        self.last_loss = 0
        self.loss = [0] * _LOST_BURST_CAPTURE
        self.jitter_n = 0
        self.jitter_add = 0
        self.jitter_addsq = 0
        self.mean_interval = 0.0
        self.variance = 0.0
        self.min_variance = 0.0
        self.max_variance = 0.0
        self.next_stat_check_time = 0
        self.lossrate = 0.0
        self.burstrate = 0.0

    def do_mos(self, force: bool) -> None:
        if self.recved < self.flaws:
            self.flaws = 0
        if self.recved > 0 and self.flaws and (force or self.last_flaw != self.flaws):
            was = self.consecutive_flaws
            self.consecutive_flaws += 1
            if was:  # consecutive flaws: penalty of twice the new ones
                self.flaws += 2 * max(self.flaws - self.last_flaw, 1)
            self.R = float(quality_from_flaws(self.recved, self.flaws))
            self.mos = mos_from_r(self.R)
            self.last_flaw = self.flaws
        else:
            self.consecutive_flaws = 0

    def _burstr(self) -> None:
        lost = sum(i * self.loss[i] for i in range(_LOST_BURST_ANALYZE))
        bursts = sum(self.loss[:_LOST_BURST_ANALYZE])
        received = self.recved
        if received > 0 and bursts > 0:
            self.burstrate = abs((lost / bursts) / (1.0 / (1.0 - lost / received)))
        else:
            self.burstrate = 0.0
        self.lossrate = lost / received if received > 0 else 0.0

    def check_jitter(self, seq: int, now: int) -> None:
        self.jitter_lead += 1
        if self.jitter_lead < _JITTER_LEAD_FRAMES or not self.last_proc_time:
            self.last_proc_time = now
            return
        diff_time = now - self.last_proc_time
        self.recved += 1
        if self.last_processed_seq > 0 and seq > self.last_processed_seq + 1:
            lost = seq - self.last_processed_seq - 1
            self.last_loss += 1
            if 0 < self.last_loss < _LOST_BURST_CAPTURE:
                self.loss[self.last_loss] += lost
            self.flaws += lost
        else:
            self.last_loss = 0
        self.last_processed_seq = seq
        if now > self.next_stat_check_time:
            self.next_stat_check_time = now + 5000
            self._burstr()
            self.do_mos(True)
        else:
            self.do_mos(False)
        diff_time = abs(diff_time)
        self.jitter_n += 1
        self.jitter_add += diff_time
        cur_diff = int(diff_time - self.mean_interval) if self.mean_interval else 0
        self.jitter_addsq += cur_diff * cur_diff
        self.last_proc_time = now
        self.mean_interval = self.jitter_add / self.jitter_n
        self.variance = self.jitter_addsq / self.jitter_n
        if self.variance < self.min_variance or self.min_variance == 0:
            self.min_variance = self.variance
        if self.variance > self.max_variance:
            self.max_variance = self.variance

    def late_ticks(self, empty_ticks: int, one_second: int) -> None:
        """Timer ticks without a packet: after 2 s of them every tick is a flaw
        ("We're late!" in ``rtp_common_read``), once the jitter lead-in is over."""
        for cng_count in range(empty_ticks):
            if cng_count > one_second * 2 and self.jitter_lead > _JITTER_LEAD_FRAMES:
                self.flaws += 1
                self.do_mos(False)


@dataclass
class InboundStats:
    """``rtp_audio_in_*`` (fields in FreeSWITCH's order)."""

    raw_bytes: int = 0
    media_bytes: int = 0
    packet_count: int = 0
    media_packet_count: int = 0
    skip_packet_count: int = 0
    jitter_packet_count: int = 0
    dtmf_packet_count: int = 0
    cng_packet_count: int = 0
    flush_packet_count: int = 0
    largest_jb_size: int = 0
    jitter_min_variance: float = 0.0
    jitter_max_variance: float = 0.0
    jitter_loss_rate: float = 0.0
    jitter_burst_rate: float = 0.0
    mean_interval: float = 0.0
    flaw_total: int = 0
    quality_percentage: float = 100.0
    mos: float = 4.5


@dataclass
class OutboundStats:
    """``rtp_audio_out_*`` (fields in FreeSWITCH's order)."""

    raw_bytes: int = 0
    media_bytes: int = 0
    packet_count: int = 0
    media_packet_count: int = 0
    skip_packet_count: int = 0
    dtmf_packet_count: int = 0
    cng_packet_count: int = 0


Spans = float | Sequence[tuple[float, float]] | None


def _spans(value: Spans, media_seconds: float) -> list[tuple[float, float]]:
    if value is None:
        value = media_seconds
    if isinstance(value, (int, float)):
        value = [(0.0, float(value))]
    out = []
    for start, dur in value:
        start = max(0.0, float(start))
        stop = min(media_seconds, start + float(dur))
        if stop > start:
            out.append((start, stop - start))
    return out


@dataclass
class RtpStats:
    """The RTP statistics FreeSWITCH reports for one leg at hangup.

    ``media_seconds`` is how long the leg had media (answer to hangup). ``sent`` and
    ``received`` say when audio flowed out of and into the leg: ``None`` (default) for the
    whole call, seconds from answer, or ``[(start, seconds), ...]`` spans; ``0`` models a
    leg nothing plays on (FreeSWITCH sends no RTP then: ``call_basic``). ``loss`` (0..1)
    and ``jitter_ms`` impair the received stream: each packet is lost with probability
    ``loss`` and delayed by a uniform 0..2×``jitter_ms`` (so packets can arrive out of
    order), reproducibly from ``seed``. ``dtmf_in``/``dtmf_out`` are RFC 2833 digits of
    ``dtmf_ms`` each. ``ringing_seconds`` is accepted for callers that pass the whole
    timeline; FreeSWITCH counts no RTP before answer without early media.
    ``impairments`` (``[(seconds from answer, Impairment), ...]``, each in force for the
    packets sent from then on) replaces ``loss``/``jitter_ms`` with the full model of
    :class:`~.impair.Impairment`: random and bursty loss, one-way delay, jitter and a jitter
    buffer whose late packets are lost to the listener. ``plan`` (a
    :class:`~.impair.LossPlan` over the same impairments) decides each packet's loss and
    jitter instead of ``seed``, so a recording made from the same plan lost the same frames.

    The received stream is replayed through the bookkeeping of ``switch_rtp.c``
    (``check_jitter``, ``do_mos``, the timer's "late" flaws), so flaws, the quality
    percentage ``R`` and the MOS are FreeSWITCH's numbers for that stream.
    """

    media_seconds: float
    sent: Spans = None
    received: Spans = None
    ptime: int = 20
    codec: str = "PCMU"
    loss: float = 0.0
    jitter_ms: float = 0.0
    dtmf_in: int = 0
    dtmf_out: int = 0
    dtmf_ms: int = 250
    seed: int = 0
    ringing_seconds: float = 0.0
    impairments: Sequence[tuple[float, Impairment]] | None = None
    plan: LossPlan | None = None
    inbound: InboundStats = field(init=False)
    outbound: OutboundStats = field(init=False)
    rtcp_packet_count: int = field(init=False, default=0)
    rtcp_octet_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.codec not in _CODEC_BYTES_PER_MS:
            raise ValueError(f"unknown codec {self.codec!r}")
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError("loss is a fraction 0..1")
        if self.ptime <= 0:
            raise ValueError("ptime must be positive")
        self.media_seconds = max(0.0, float(self.media_seconds))
        payload = _CODEC_BYTES_PER_MS[self.codec] * self.ptime
        self.packet_bytes = _RTP_HEADER + payload
        per_digit = dtmf_packet_count(self.dtmf_ms, self.ptime)
        dtmf_in, dtmf_out = self.dtmf_in * per_digit, self.dtmf_out * per_digit
        rng = np.random.default_rng(self.seed)

        sent = sum(self._packets(d) for _, d in _spans(self.sent, self.media_seconds))
        self.outbound = OutboundStats(
            raw_bytes=sent * self.packet_bytes + dtmf_out * _DTMF_PACKET,
            media_bytes=sent * self.packet_bytes,
            packet_count=sent,
            media_packet_count=sent,
            dtmf_packet_count=dtmf_out,
        )
        sim, reads, skip = self._receive(rng)
        self.inbound = InboundStats(
            raw_bytes=reads * self.packet_bytes + dtmf_in * _DTMF_PACKET,
            media_bytes=reads * self.packet_bytes,
            packet_count=reads + dtmf_in,
            media_packet_count=reads,
            skip_packet_count=skip,
            dtmf_packet_count=dtmf_in,
            jitter_min_variance=sim.min_variance,
            jitter_max_variance=sim.max_variance,
            jitter_loss_rate=sim.lossrate,
            jitter_burst_rate=sim.burstrate,
            mean_interval=sim.mean_interval,
            flaw_total=sim.flaws,
            quality_percentage=sim.R,
            mos=sim.mos,
        )

    def _packets(self, seconds: float) -> int:
        return int(seconds * 1000 / self.ptime + 1e-9)

    def _receive(self, rng: np.random.Generator) -> tuple[_Inbound, int, int]:
        media_ms = self.media_seconds * 1000
        send = [start * 1000 + np.arange(self._packets(d)) * self.ptime
                for start, d in _spans(self.received, self.media_seconds)]
        send_ms = np.concatenate(send) if send else np.zeros(0)
        seq0 = int(rng.integers(1, 65536))
        seqs = (seq0 + np.arange(len(send_ms))) % 65536
        if self.impairments is not None:
            return self._replay(*self._impaired(send_ms, seqs, rng), media_ms)
        keep = rng.random(len(send_ms)) >= self.loss if self.loss else np.ones(len(send_ms), bool)
        delay = (rng.uniform(0, 2 * self.jitter_ms, len(send_ms)) if self.jitter_ms
                 else np.zeros(len(send_ms)))
        arrival = send_ms + delay
        keep &= arrival < media_ms
        order = np.argsort(arrival[keep], kind="stable")
        return self._replay(arrival[keep][order], seqs[keep][order], media_ms)

    def _impaired(self, send_ms: np.ndarray, seqs: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Arrival times and sequence numbers, in arrival order, of the packets the
        impairments let through to the listener."""
        media_ms = self.media_seconds * 1000
        n = len(send_ms)
        changes = sorted(self.impairments or [], key=lambda c: c[0])
        if not changes or changes[0][0] > 0:
            changes.insert(0, (0.0, Impairment()))
        starts = np.array([c[0] * 1000 for c in changes])
        which = np.searchsorted(starts, send_ms, side="right") - 1
        keep = np.ones(n, bool)
        arrival = send_ms.astype("float64").copy()
        for i, (_, imp) in enumerate(changes):
            idx = np.flatnonzero(which == i)
            if not len(idx):
                continue
            if self.plan is not None:
                k = (send_ms[idx] // self.ptime).astype(np.int64)
                keep[idx] &= ~self.plan.lost(k)
                jitter = self.plan.jitter(k)
            else:
                keep[idx] &= ~imp.lost(len(idx), rng)
                jitter = imp.jitter(len(idx), rng)
            if imp.jb_ms is not None:  # late for the buffer: lost to the listener
                keep[idx] &= jitter <= imp.jb_ms
                arrival[idx] += imp.delay_ms + imp.jb_ms  # played out on the buffer's clock
            else:
                arrival[idx] += imp.delay_ms + jitter
        keep &= arrival < media_ms
        order = np.argsort(arrival[keep], kind="stable")
        return arrival[keep][order], seqs[keep][order]

    def _replay(self, arrival: np.ndarray, seqs: np.ndarray, media_ms: float
                ) -> tuple[_Inbound, int, int]:
        sim = _Inbound()
        one_second = 1000 // self.ptime
        prev = None
        for t, seq in zip(arrival.tolist(), seqs.tolist(), strict=True):
            if prev is not None:
                sim.late_ticks(max(0, round((t - prev) / self.ptime) - 1), one_second)
            sim.check_jitter(int(seq), _CLOCK_BASE_MS + int(t))
            prev = t
        if prev is not None:
            sim.late_ticks(int((media_ms - prev) / self.ptime), one_second)
        # at hangup switch_rtp_sync_stats() calls do_mos(rtp_session, SWITCH_TRUE): R is
        # recomputed over every packet received, and a forced call while the last
        # packets were flaws adds one more penalty of 2 (call_media's caller: 34 + 2 = 36
        # flaws, R = 10 over 40 packets; "late" flaws alone only ever reach 3k + 1)
        sim.do_mos(True)
        ticks = int(media_ms / self.ptime + 1e-9)
        return sim, len(arrival), max(0, ticks - len(arrival))

    @property
    def mos(self) -> float:
        return self.inbound.mos

    @property
    def quality_percentage(self) -> float:
        return self.inbound.quality_percentage

    def variables(self, prefix: str = "audio") -> dict[str, str]:
        """``{"rtp_audio_in_raw_bytes": "2268", ...}`` in the order and format FreeSWITCH's
        ``set_stats`` (``switch_core_media.c``) sets them: integers plain, doubles ``%0.2f``."""
        out: dict[str, str] = {}
        for direction, stats in (("in", self.inbound), ("out", self.outbound)):
            for f in dataclasses.fields(stats):
                value = getattr(stats, f.name)
                text = f"{value:.2f}" if isinstance(value, float) else str(value)
                out[f"rtp_{prefix}_{direction}_{f.name}"] = text
        out[f"rtp_{prefix}_rtcp_packet_count"] = str(self.rtcp_packet_count)
        out[f"rtp_{prefix}_rtcp_octet_count"] = str(self.rtcp_octet_count)
        return out
