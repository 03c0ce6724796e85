"""The embedded switch under load: one node process, this process drives it.

(b)+(c) first, on a fresh node (so its memory growth is the calls'):
(a) calls/s one node sustains with a client subscribed to ``event plain ALL``: calls are
    originated (both legs answered and parked) and hung up after a short hold, at
    rising offered rates; a rate is *sustained* when every originate succeeds, answers
    keep pace (achieved within 5% of offered) and the node's CPU stays under one core;
(b) concurrent calls: 2,000 calls held up at once, all answered;
(c) memory per idle call: the node's RSS growth divided by the calls held.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.procs import cpu_seconds, rss_mb, start_server  # noqa: E402
from switchio_lab.connection import InboundClient  # noqa: E402


async def offered_rate(client: InboundClient, addr: str, pid: int, rate: float,
                       seconds: float = 5.0, hold: float = 1.0) -> tuple[float, float, int]:
    """Offer ``rate`` calls/s for ``seconds``; return (answered/s, node CPU share, failures)."""
    jobs = []
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()

    async def one(i: int) -> str:
        job = await client.bgapi(f"originate {{origination_uuid=bench-{rate}-{i}}}"
                                 f"sofia/external/b{i}@{addr} &park()")
        result = await job.wait(30)
        if result.startswith("+OK"):
            loop.call_later(hold, lambda: asyncio.ensure_future(
                client.api(f"uuid_kill bench-{rate}-{i}")))
        return result

    start = loop.time()
    for i in range(n):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        jobs.append(asyncio.ensure_future(one(i)))
    results = await asyncio.gather(*jobs)
    elapsed = time.perf_counter() - t0
    cpu = (cpu_seconds(pid) - cpu0) / elapsed
    ok = sum(r.startswith("+OK") for r in results)
    await asyncio.sleep(hold + 0.5)
    return ok / seconds, cpu, n - ok


async def main() -> None:
    server, port, addr = start_server()
    try:
        client = InboundClient("127.0.0.1", port, reconnect=False, timeout=60)
        await client.connect()
        events = 0

        def count(_event) -> None:
            nonlocal events
            events += 1
        client.on_event(count)
        await client.subscribe("ALL")
        print("(b)+(c) 2,000 concurrent answered calls (parked both legs)")
        rss0 = rss_mb(server.pid)
        n = 2000
        jobs = []
        for i in range(n):
            jobs.append(await client.bgapi(
                f"originate {{origination_uuid=hold-{i}}}sofia/external/h{i}@{addr} &park()"))
            if i % 200 == 199:
                await asyncio.sleep(0.2)
        results = [await j.wait(60) for j in jobs]
        up = sum(r.startswith("+OK") for r in results)
        await asyncio.sleep(1.0)
        count_text = await client.api("show channels count")
        rss1 = rss_mb(server.pid)
        print(f"    calls up: {up}/{n}; node says:{count_text.strip().splitlines()[-1]!r}")
        print(f"    node RSS {rss0:.0f} MB -> {rss1:.0f} MB: "
              f"{(rss1 - rss0) * 1024 / max(up, 1):.1f} KiB per idle call (2 legs)")
        await client.api("hupall")
        await asyncio.sleep(1.0)
        print("(a) calls/s on one node, client subscribed to 'event plain ALL', 1 s hold, "
              "5 s per step")
        best = 0.0
        for rate in (50, 100, 200, 300, 400, 500):
            e0 = events
            got, cpu, failed = await offered_rate(client, addr, server.pid, rate)
            ok = failed == 0 and got >= 0.95 * rate and cpu < 1.0
            best = rate if ok else best
            print(f"    offered {rate:>4}/s: answered {got:7.1f}/s, node CPU {cpu * 100:5.1f}% "
                  f"of a core, {failed} failed, {(events - e0) / 5.0:,.0f} events/s "
                  f"{'ok' if ok else 'NOT sustained'}")
            if not ok:
                break
        print(f"    sustained: {best:.0f} calls/s")

        await client.api("hupall")
        await client.close()
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main())
