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
