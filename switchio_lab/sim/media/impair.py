"""Loss patterns for modelled RTP streams: independent (random) loss and Gilbert–Elliott
bursty loss, as boolean "lost" masks over a stream's packets.

The two-state Gilbert model used for bursty loss: in the *good* state no packet is lost, in
the *bad* state every packet is; ``p`` (good -> bad) and ``q`` (bad -> good) follow from the
loss ``rate`` and the ``mean_burst`` length (in packets): ``q = 1 / mean_burst`` and
``p = rate q / (1 - rate)``, so the stationary loss is ``rate`` and bursts are geometric with
mean ``mean_burst``. ``mean_burst = 1 / (1 - rate)`` is the random-loss case (G.113's
``BurstR = 1``); G.107 calls ``BurstR = mean_burst (1 - rate)`` the burst ratio.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


class ImpairmentError(ValueError):
    """An impairment value out of range (the message says which and why)."""


def check_rate(name: str, rate: float) -> float:
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise ImpairmentError(f"{name} must be a number, got {rate!r}") from None
    if not 0.0 <= rate < 1.0 or rate != rate:
        raise ImpairmentError(f"{name} is a fraction in [0, 1), got {rate!r}")
    return rate


def random_loss(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` packets, each lost independently with probability ``rate``."""
    rate = check_rate("loss", rate)
    if rate == 0.0:
        return np.zeros(n, bool)
    return rng.random(n) < rate


def gilbert_elliott_loss(n: int, rate: float, mean_burst: float,
                         rng: np.random.Generator) -> np.ndarray:
    """``n`` packets lost in bursts: loss ``rate`` overall, bursts of ``mean_burst`` packets
    on average (geometric), starting in the stationary state."""
    rate = check_rate("burst loss", rate)
    try:
        mean_burst = float(mean_burst)
    except (TypeError, ValueError):
        raise ImpairmentError(f"mean burst must be a number, got {mean_burst!r}") from None
    if not mean_burst >= 1.0:
        raise ImpairmentError(f"mean burst is a packet count >= 1, got {mean_burst!r}")
    if rate == 0.0 or n == 0:
        return np.zeros(n, bool)
    q = 1.0 / mean_burst
    p = rate * q / (1.0 - rate)
    if p > 1.0:
        raise ImpairmentError(
            f"a loss rate of {rate:g} needs bursts of at least {1 / (1 - rate):.3g} packets "
            f"on average (mean burst {mean_burst:g} is too short)")
    u = rng.random(n)
    lost = np.empty(n, bool)
    bad = bool(rng.random() < rate)
    for i in range(n):  # a two-state chain: sequential by nature
        lost[i] = bad
        bad = u[i] >= q if bad else u[i] < p
    return lost


def burst_ratio(rate: float, mean_burst: float) -> float:
    """G.107's ``BurstR`` for a Gilbert stream: mean burst length over the mean burst
    length of random loss at the same rate (``1 / (1 - rate)``)."""
    return float(mean_burst) * (1.0 - float(rate))


# --- the impairment of one direction of a link, or of one call -------------------------------

JITTER_DISTRIBUTIONS = ("uniform", "normal", "exponential")
CODECS = ("PCMU", "PCMA")
#: channel variables (on the originate) that impair one call: name -> Impairment field
CALL_VARIABLES = {
    "impair_loss": "loss",
    "impair_burst_loss": "burst_loss",
    "impair_mean_burst": "mean_burst",
    "impair_delay_ms": "delay_ms",
    "impair_jitter_ms": "jitter_ms",
    "impair_jitter_dist": "jitter_dist",
    "impair_jb_ms": "jb_ms",
    "impair_codec": "codec",
}


@dataclass(frozen=True)
class Impairment:
    """What the network does to one direction of a stream.

    ``loss``: independent loss (fraction). ``burst_loss``/``mean_burst``: Gilbert–Elliott
    loss (fraction, mean burst in packets), on top of ``loss``. ``delay_ms``: one-way delay.
    ``jitter_ms``: the scale of the extra per-packet delay, drawn from ``jitter_dist``
    (``uniform`` 0..2×, ``normal`` |N(0, σ)|, ``exponential`` with that mean). ``jb_ms``: a
    jitter buffer that deep (ms of delay variation it absorbs): packets later than that are
    lost to the listener; ``None`` for no buffer (late packets play out of order, as the
    ``switch_rtp.c`` statistics see them). ``codec``: PCMU or PCMA.
    """

    loss: float = 0.0
    burst_loss: float = 0.0
    mean_burst: float = 1.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_dist: str = "uniform"
    jb_ms: float | None = None
    codec: str = "PCMU"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "loss", check_rate("loss", self.loss))
        set_(self, "burst_loss", check_rate("burst_loss", self.burst_loss))
        for name in ("mean_burst", "delay_ms", "jitter_ms"):
            set_(self, name, _number(name, getattr(self, name)))
        if self.mean_burst < 1.0:
            raise ImpairmentError(f"mean_burst is a packet count >= 1, got {self.mean_burst:g}")
        if self.burst_loss and self.burst_loss * (1 / self.mean_burst) / (
                1 - self.burst_loss) > 1:
            raise ImpairmentError(
                f"burst_loss {self.burst_loss:g} needs mean_burst >= "
                f"{1 / (1 - self.burst_loss):.3g}")
        for name in ("delay_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ImpairmentError(f"{name} is >= 0 ms, got {getattr(self, name):g}")
        if self.jb_ms is not None:
            set_(self, "jb_ms", _number("jb_ms", self.jb_ms))
            if self.jb_ms < 0:
                raise ImpairmentError(f"jb_ms is >= 0 ms (or None), got {self.jb_ms:g}")
        if self.jitter_dist not in JITTER_DISTRIBUTIONS:
            raise ImpairmentError(f"jitter_dist is one of {', '.join(JITTER_DISTRIBUTIONS)}, "
                                  f"got {self.jitter_dist!r}")
        codec = str(self.codec).upper()
        if codec not in CODECS:
            raise ImpairmentError(f"codec is one of {', '.join(CODECS)}, got {self.codec!r}")
        set_(self, "codec", codec)

    @property
    def clean(self) -> bool:
        return not (self.loss or self.burst_loss or self.delay_ms or self.jitter_ms)

    def replace(self, **changes: Any) -> Impairment:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ImpairmentError(f"no impairment called {', '.join(sorted(unknown))} "
                                  f"(known: {', '.join(f.name for f in fields(self))})")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_variables(cls, variables: dict[str, str | None],
                       base: Impairment | None = None) -> Impairment | None:
        """The impairment the ``impair_*`` channel variables set over ``base`` (None when
        none is set); ``impair_jb_ms`` of ``none`` or empty means no buffer."""
        changes: dict[str, Any] = {}
        for var, name in CALL_VARIABLES.items():
            value = variables.get(var)
            if value is None or value == "":
                continue
            if name in ("jitter_dist", "codec"):
                changes[name] = value
            elif name == "jb_ms" and str(value).lower() == "none":
                changes[name] = None
            else:
                changes[name] = _number(var, value)
        if not changes:
            return None
        return (base or cls()).replace(**changes)

    def lost(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Which of ``n`` packets the network loses."""
        lost = random_loss(n, self.loss, rng)
        if self.burst_loss:
            lost |= gilbert_elliott_loss(n, self.burst_loss, self.mean_burst, rng)
        return lost

    def jitter(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The extra delay (ms, >= 0) of ``n`` packets."""
        if not self.jitter_ms:
            return np.zeros(n)
        if self.jitter_dist == "uniform":
            return rng.uniform(0, 2 * self.jitter_ms, n)
        if self.jitter_dist == "normal":
            return np.abs(rng.normal(0.0, self.jitter_ms, n))
        return rng.exponential(self.jitter_ms, n)


def _number(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ImpairmentError(f"{name} must be a number, got {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise ImpairmentError(f"{name} must be finite, got {value!r}")
    return out


CLEAN = Impairment()


class Timeline:
    """An impairment that changes over time: each change applies to packets sent from
    that moment on (``at(t)``)."""

    def __init__(self, first: Impairment = CLEAN, since: float = 0.0) -> None:
        self.changes: list[tuple[float, Impairment]] = [(since, first)]

    @property
    def current(self) -> Impairment:
        return self.changes[-1][1]

    def set(self, impairment: Impairment, at: float) -> None:
        while len(self.changes) > 1 and self.changes[-1][0] >= at:
            self.changes.pop()
        self.changes.append((at, impairment))
        if len(self.changes) > 64:  # keep the recent past only (calls shorter than that)
            del self.changes[1:-64]

    def segments(self, start: float, end: float) -> list[tuple[float, float, Impairment]]:
        """``(from, to, impairment)`` covering ``start``..``end``."""
        out = []
        for i, (t, imp) in enumerate(self.changes):
            nxt = self.changes[i + 1][0] if i + 1 < len(self.changes) else float("inf")
            lo, hi = max(t, start) if i else start, min(nxt, end)
            if hi > lo:
                out.append((lo, hi, imp))
        return out


class LossPlan:
    """The fate of each packet of one received stream, decided once, in order, and shared
    by everything that needs it: the recording of the listener (a lost frame is silence
    there) and the RTP statistics at hangup (a lost packet is a sequence gap there).

    Packet ``k`` is the one sent ``k × ptime`` ms after ``t0`` (the listener's answer);
    ``impairment_at(k)`` is the impairment in force when it was sent. Gilbert–Elliott loss
    keeps its chain state from packet to packet, so bursts span the whole stream.
    """

    def __init__(self, seed: int, impairment_at: Any, ptime: int = 20) -> None:
        self.ptime = ptime
        self.impairment_at = impairment_at
        self._rng = np.random.default_rng(seed)
        self._lost: list[bool] = []
        self._jitter: list[float] = []
        self._bad = False  # Gilbert–Elliott state

    def _extend(self, upto: int) -> None:
        rng = self._rng
        while len(self._lost) <= upto:
            imp = self.impairment_at(len(self._lost))
            lost = bool(imp.loss) and rng.random() < imp.loss
            if imp.burst_loss:
                q = 1.0 / imp.mean_burst
                p = imp.burst_loss * q / (1.0 - imp.burst_loss)
                lost = lost or self._bad
                self._bad = rng.random() >= q if self._bad else rng.random() < p
            else:
                self._bad = False
            self._lost.append(lost)
            self._jitter.append(float(imp.jitter(1, rng)[0]) if imp.jitter_ms else 0.0)

    def lost(self, k: np.ndarray) -> np.ndarray:
        """Which packets ``k`` the network loses (before any jitter buffer)."""
        k = np.asarray(k, np.int64)
        if len(k):
            self._extend(int(k.max()))
        return np.asarray(self._lost, bool)[k] if len(k) else np.zeros(0, bool)

    def jitter(self, k: np.ndarray) -> np.ndarray:
        """The extra delay (ms) of packets ``k``."""
        k = np.asarray(k, np.int64)
        if len(k):
            self._extend(int(k.max()))
        return np.asarray(self._jitter)[k] if len(k) else np.zeros(0)

    def unheard(self, k: np.ndarray) -> np.ndarray:
        """Which packets ``k`` the listener never plays: lost, or later than its jitter
        buffer (with no buffer a late packet still plays, out of order)."""
        k = np.asarray(k, np.int64)
        out = self.lost(k)
        jit = self.jitter(k)
        for i, kk in enumerate(k.tolist()):
            jb = self.impairment_at(kk).jb_ms
            if jb is not None and jit[i] > jb:
                out[i] = True
        return out
