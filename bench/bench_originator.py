"""The Originator against one embedded node in its own process, ``limit`` 1,000.

(a) the highest offered rate it holds within 5% for 30 s: 5 s probes at rising rates
    find the candidate, then 30 s runs confirm it (stepping down if one fails). A rate
    is *held* when the calls offered over the run are within 5% of ``rate`` x seconds,
    none failed and every call was answered. The hold time is 0.9 x limit / rate, so
    about 900 calls are up in steady state and the limit only gates the rate when the
    node answers late; every run is measured in steady state, after a warm-up of one
    hold time (+1 s), when calls are being hung up as fast as they are placed;
(b) the client's CPU share at 100 calls/s (about 900 calls up), from
    ``time.process_time()`` over a 15 s steady-state interval, and the node's.

The node (``bench.support.sim_server``) answers and parks every inbound call; the calls
go from the node to itself, so it runs both legs of each call. Runs in 2-4 minutes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.procs import cpu_seconds, start_server  # noqa: E402
from switchio_lab.api import Client  # noqa: E402
from switchio_lab.apps.originator import Originator  # noqa: E402

LIMIT = 1000
PROBE_SECONDS = 5.0
HOLD_SECONDS = 30.0
PROBE_RATES = (150, 200, 250, 300, 350, 400, 500, 600, 800)


async def run(orig: Originator, pid: int, rate: float, seconds: float,
              warmup: float = 0.0) -> dict[str, float]:
    """Offer ``rate`` calls/s for ``warmup`` + ``seconds``; figures over the last
    ``seconds``; then hang everything up."""
    orig.reset()
    orig.configure(rate=rate, limit=LIMIT, duration=0.9 * LIMIT / rate)
    loop = asyncio.get_running_loop()
    orig.start()
    t_start = loop.time()
    if warmup:
        await asyncio.sleep(warmup)
    offered0, skipped0 = orig.offered, orig.stats()["skipped"]
    cpu0, node0, t0 = time.process_time(), cpu_seconds(pid), loop.time()
    peak, lowest = 0, None
    while loop.time() < t0 + seconds:
        await asyncio.sleep(0.25)
        if loop.time() - t_start > 0.9 * LIMIT / rate + 1:  # steady state
            lowest = orig.concurrent if lowest is None else min(lowest, orig.concurrent)
        peak = max(peak, orig.concurrent)
    elapsed = loop.time() - t0
    offered = orig.offered - offered0
    skipped = orig.stats()["skipped"] - skipped0
    cpu = (time.process_time() - cpu0) / elapsed
    node_cpu = (cpu_seconds(pid) - node0) / elapsed
    orig.stop()
    await asyncio.sleep(0.5)  # the last originates get their answer
    s = orig.stats()
    await orig.hupall(timeout=60)
    return {"rate": rate, "offered_rate": offered / elapsed, "skipped": skipped,
            "failed": s["failed_total"], "answered": s["answered"], "all": s["offered"],
            "unanswered": s["active"], "peak": peak, "steady_low": lowest or 0,
            "cpu": cpu, "node_cpu": node_cpu}


def held(r: dict[str, float]) -> bool:
    return (abs(r["offered_rate"] - r["rate"]) <= 0.05 * r["rate"] and not r["failed"]
            and not r["unanswered"] and r["answered"] == r["all"])


def show(label: str, r: dict[str, float]) -> None:
    print(f"    {label} {r['rate']:>5.0f}/s: offered {r['offered_rate']:7.1f}/s "
          f"({(r['offered_rate'] / r['rate'] - 1) * 100:+5.1f}%), skipped {r['skipped']:4.0f}, "
          f"failed {r['failed']:3.0f}, up {r['steady_low']:4.0f}..{r['peak']:4.0f}, "
          f"client CPU {r['cpu'] * 100:5.1f}%, node CPU {r['node_cpu'] * 100:5.1f}% "
          f"{'held' if held(r) else 'NOT held'}", flush=True)


async def main() -> None:
    t_bench = time.perf_counter()
    server, port, addr = start_server()
    try:
        client = Client("127.0.0.1", port, reconnect=False, timeout=60)
        await client.connect()
        orig = Originator(client, dest_url=f"bench@{addr}", limit=LIMIT)
        print(f"(a) highest rate held within 5% for {HOLD_SECONDS:.0f} s, limit {LIMIT}, "
              "hold 0.9 x limit / rate (node and client on one machine, "
              f"{PROBE_SECONDS:.0f} s probes first)")
        best = None
        for rate in PROBE_RATES:
            r = await run(orig, server.pid, rate, PROBE_SECONDS, warmup=0.9 * LIMIT / rate + 1)
            show("probe", r)
            if not held(r):
                break
            best = rate
        confirmed = None
        candidate = best
        tries = 0
        while candidate and tries < 2 and time.perf_counter() - t_bench < 150:
            r = await run(orig, server.pid, candidate, HOLD_SECONDS,
                          warmup=0.9 * LIMIT / candidate + 1)
            show(f"{HOLD_SECONDS:.0f} s ", r)
            tries += 1
            if held(r):
                confirmed = candidate
                break
            candidate -= 50
        print(f"    held for {HOLD_SECONDS:.0f} s: "
              f"{f'{confirmed} calls/s' if confirmed else 'none of the rates tried'}")

        print("(b) client CPU at 100 calls/s, limit 1000, 9 s hold (~900 calls up), "
              "measured over 15 s after 10 s of ramp-up")
        r = await run(orig, server.pid, 100, 15.0, warmup=10.0)
        show("steady", r)
        print(f"    client: {r['cpu'] * 100:.1f}% of a core = {r['cpu'] / 100 * 1e3:.2f} ms "
              f"of CPU per call (events of both legs, originate, hangup); node: "
              f"{r['node_cpu'] * 100:.1f}%")
        await orig.shutdown()
        await client.disconnect()
        print(f"(total {time.perf_counter() - t_bench:.0f} s)")
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main())
