"""The notebook layer under load: cell latency and dashboard traffic at 100 calls/s.

A :class:`~switchio_lab.lab.Lab` with one embedded node (in this process, on this loop,
as in a notebook), an Originator placing 100 calls/s from the node to itself (each call
held 1 s: about 100 calls up), the :class:`~switchio_lab.lab.dashboard.Dashboard` and the
:class:`~switchio_lab.lab.panel.OriginatorPanel` live. Measured over ``SECONDS``:

- the latency of a trivial "cell", simulated in-process: a task that sleeps 20 ms again
  and again and records how late it woke (the time the loop spent on everything else
  that was ready: reading events, the apps, the pump), p50/p99/max, idle then loaded;
- the comm messages per second the dashboard sent (its :attr:`messages_sent`), and the
  events per second it consumed.

Targets: p99 < 100 ms, <= 30 messages/s. Runs in about 15 s.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import switchio_lab as switchio  # noqa: E402
from switchio_lab.apps.call_gen import Originator  # noqa: E402
from switchio_lab.lab import Lab  # noqa: E402
from switchio_lab.lab.dashboard import Dashboard  # noqa: E402
from switchio_lab.lab.panel import OriginatorPanel  # noqa: E402
from switchio_lab.sim import media as _media  # noqa: E402,F401  (imported before timing)

RATE = 100
SECONDS = 8.0
PERIOD = 0.02


class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()


async def probe(seconds: float) -> list[float]:
    """How late a callback scheduled every PERIOD seconds ran (seconds), for ``seconds``."""
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    end = loop.time() + seconds
    while loop.time() < end:
        due = loop.time() + PERIOD
        await asyncio.sleep(PERIOD)  # woken by the loop's timer, after the ready callbacks
        delays.append(loop.time() - due)
    return delays


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def show(name: str, delays: list[float]) -> None:
    ms = [d * 1000 for d in delays]
    print(f"  {name:<28} n={len(ms):4d}  p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms"
          f"  max {max(ms):7.2f} ms")


async def main() -> None:
    lab = await Lab.start(nodes=1, lag_warning=None)
    try:
        await lab.load_app(Answer, "answer")
        orig = Originator(lab.clients, dest_url=lab.address(0), apps={"answer": 1},
                          rate=RATE, limit=1000, duration=1.0)
        panel = OriginatorPanel(orig)
        dash = Dashboard(lab, originator=orig, interval=0.2)
        print(f"bench_lab: 1 embedded node, {RATE} calls/s held 1 s, dashboard + panel live")
        idle = await probe(2.0)
        show("trivial cell, idle lab", idle)
        orig.start()
        await asyncio.sleep(1.5)  # ramp up: calls are being hung up as fast as placed
        msgs0, ev0, t0 = dash.messages_sent, dash.events_seen, time.monotonic()
        offered0 = orig.offered
        loaded = await probe(SECONDS)
        dt = time.monotonic() - t0
        msgs, events = dash.messages_sent - msgs0, dash.events_seen - ev0
        show(f"trivial cell, {RATE} calls/s", loaded)
        print(f"  calls offered {(orig.offered - offered0) / dt:.1f}/s, up ~{orig.up}, "
              f"failed {orig.failed_total}")
        print(f"  dashboard: {events / dt:.0f} events/s in -> {msgs / dt:.1f} comm messages/s "
              f"out ({(dash.patches_sent) / max(dash.ticks, 1):.2f} PATCH-DOC per tick), "
              f"panel redraws {panel.updates}")
        p99 = pct([d * 1000 for d in loaded], 99)
        print(f"  targets: p99 < 100 ms: {'OK' if p99 < 100 else 'MISSED'} ({p99:.1f} ms); "
              f"<= 30 messages/s: {'OK' if msgs / dt <= 30 else 'MISSED'} ({msgs / dt:.1f})")
        dash.close()
        panel.close()
        await orig.shutdown()
    finally:
        await lab.stop()


if __name__ == "__main__":
    asyncio.run(main())
