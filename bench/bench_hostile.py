"""Hostile clients against the embedded switch: peak RSS growth per hostile connection.

Each scenario runs on a fresh node process (``switchio-lab sim``), so the growth of its
peak RSS (VmHWM) over its idle RSS is that one connection's cost (issue 15):

1. a flood before auth: 16 MB of ``x\\n\\n`` sent, the replies never read;
2. 12 MB of ``api status`` queued behind a blocking ``api originate``, never read;
3. a ``log 7`` client that never reads while 3,000 calls make debug log lines;

and, during each, a canary client's ``api status`` round trip (p50/max, ms) on its own
connection: a hostile connection must not stall the node. Prints one line per scenario.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.procs import Sim, status_kb  # noqa: E402
from switchio_lab.connection import InboundClient  # noqa: E402


async def flood(writer: asyncio.StreamWriter, command: bytes, total: int) -> None:
    block = command * (64 * 1024 // len(command))
    sent = 0
    while sent < total:
        writer.write(block)
        sent += len(block)
        try:
            await asyncio.wait_for(writer.drain(), 1.0)
        except asyncio.TimeoutError:
            return  # TCP pushes back: the switch stopped reading; the rest waits in buffers


async def canary(port: int, stop: asyncio.Event) -> list[float]:
    lat: list[float] = []
    async with InboundClient("127.0.0.1", port, reconnect=False) as client:
        while not stop.is_set():
            t = time.perf_counter()
            await client.api("status")
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.05)
    return lat


async def hostile(kind: str, port: int, sip: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readuntil(b"\n\n")
    if kind == "pre-auth flood":
        await flood(writer, b"x\n\n", 16 * 1024 * 1024)
    elif kind == "behind blocking api":
        writer.write(b"auth ClueCon\n\n")
        await reader.readuntil(b"\n\n")
        writer.write(b"api originate {originate_timeout=60}sofia/external/park@"
                     + sip.encode() + b" &park()\n\n")
        await flood(writer, b"api status\n\n", 12 * 1024 * 1024)
    else:  # log 7, never read
        writer.write(b"auth ClueCon\n\nlog 7\n\n")
        await asyncio.sleep(0.2)
        async with InboundClient("127.0.0.1", port, reconnect=False) as client:
            jobs = [await client.bgapi(f"originate {{originate_timeout=1}}"
                                       f"sofia/external/c{i}@{sip} &park()")
                    for i in range(3000)]
            await asyncio.gather(*(job.wait(60) for job in jobs), return_exceptions=True)
    await asyncio.sleep(2.0)
    writer.transport.abort()


async def scenario(kind: str) -> None:
    sim = Sim("--sps", "100000").start()
    proc, port, sip = sim.proc, sim.esl, sim.sip
    try:
        await asyncio.sleep(0.5)
        base = status_kb(proc.pid, "VmRSS")
        stop = asyncio.Event()
        watch = asyncio.ensure_future(canary(port, stop))
        t = time.perf_counter()
        await hostile(kind, port, sip)
        stop.set()
        lat = await watch
        peak = status_kb(proc.pid, "VmHWM")
        print(f"{kind:22s} peak RSS growth {(peak - base) / 1024:7.1f} MB  "
              f"canary api p50 {statistics.median(lat):6.1f} ms  max {max(lat):7.1f} ms  "
              f"({len(lat)} round trips, {time.perf_counter() - t:.1f} s)", flush=True)
    finally:
        sim.kill9()


async def main() -> None:
    print("hostile clients vs one embedded node (fresh process each)")
    for kind in ("pre-auth flood", "behind blocking api", "log 7 non-reader"):
        await scenario(kind)


if __name__ == "__main__":
    asyncio.run(main())
