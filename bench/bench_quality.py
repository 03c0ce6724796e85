"""The cost of media modelling: calls/s one embedded node sustains when every call carries
audio both ways and is impaired, and memory per call.

The node (a separate process) answers each inbound leg and echoes; the caller plays a tone
from its originate (``&playback(tone_stream://...)``). The node->node link carries random
plus bursty loss, delay, jitter and a 40 ms jitter buffer, and every call adds its own
``impair_loss`` on the originate, so each leg's hangup replays ~150 packets through the
``switch_rtp.c`` model. Calls are held 3 s. A rate is *sustained* when every originate
succeeds, answers keep pace (within 5 % of offered), every leg reports received audio, and
the node's CPU stays under one core. The client subscribes to CHANNEL_HANGUP_COMPLETE only.

Memory: the node's RSS growth with 1,000 such calls held up at once, over the calls.

``python bench/bench_quality.py``
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

HOLD = 3.0
STEP = 6.0
TONE = "tone_stream://%(251,0,1004);loops=-1"


async def serve() -> None:
    from switchio_lab.sim import Node, NodeConfig, Rule
    node = await Node(NodeConfig(esl_port=0, hostname="bench", max_sessions=100_000,
                                 sps=100_000, invite_delay=0.0,
                                 dialplan=[Rule(r".*", [("answer", ""), ("echo", "")])])).start()
    node.media.impair(node, loss=0.01, burst_loss=0.02, mean_burst=3, delay_ms=40,
                      jitter_ms=10, jitter_dist="normal", jb_ms=40)
    print(f"READY {node.esl_port} {node.sip_address('external')}", flush=True)
    await asyncio.Event().wait()


async def offered(client: InboundClient, addr: str, pid: int, rate: float, legs: dict
                  ) -> tuple[float, float, int, int, float]:
    loop = asyncio.get_running_loop()
    n = int(rate * STEP)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()

    async def one(i: int) -> str:
        uuid = f"q-{rate}-{i}"
        job = await client.bgapi(f"originate {{origination_uuid={uuid},impair_loss=0.01}}"
                                 f"sofia/external/e{i}@{addr} &playback({TONE})")
        result = await job.wait(60)
        if result.startswith("+OK"):
            loop.call_later(HOLD, lambda: asyncio.ensure_future(client.api(f"uuid_kill {uuid}")))
        return result

    start, jobs = loop.time(), []
    for i in range(n):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        jobs.append(asyncio.ensure_future(one(i)))
    results = await asyncio.gather(*jobs)
    ok = sum(r.startswith("+OK") for r in results)
    await asyncio.sleep(HOLD + 0.2)  # the last calls' hold and hangup
    cpu = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
    prefix = f"q-{rate}-"
    for _ in range(50):  # the last hangups' events may still be on their way
        if sum(k.startswith(prefix) for k in legs) >= ok:
            break
        await asyncio.sleep(0.2)
    mine = [v for k, v in legs.items() if k.startswith(prefix)]
    heard = sum(1 for v, _ in mine if v > 0)
    mos = sum(m for _, m in mine) / len(mine) if mine else float("nan")
    return ok / STEP, cpu, n - ok, heard, mos


async def main() -> None:
    server, port, addr = start_server([str(Path(__file__)), "--serve"])
    try:
        client = InboundClient("127.0.0.1", port, reconnect=False, timeout=60)
        await client.connect()
        legs: dict[str, tuple[int, float]] = {}

        def hung(ev) -> None:
            if ev.get("Call-Direction") == "outbound":
                legs[ev.uuid] = (int(ev.get("variable_rtp_audio_in_media_packet_count") or 0),
                                 float(ev.get("variable_rtp_audio_in_mos") or "nan"))
        client.on_event(hung, "CHANNEL_HANGUP_COMPLETE")
        await client.subscribe("CHANNEL_HANGUP_COMPLETE")
        print("memory: 1,000 calls held up at once, audio both ways, impaired")
        rss0 = rss_mb(server.pid)
        jobs = []
        for i in range(1000):
            jobs.append(await client.bgapi(
                f"originate {{origination_uuid=m-{i},impair_loss=0.01}}"
                f"sofia/external/m{i}@{addr} &playback({TONE})"))
            if i % 200 == 199:
                await asyncio.sleep(0.2)
        up = sum([(await j.wait(60)).startswith("+OK") for j in jobs])
        await asyncio.sleep(1.0)
        rss1 = rss_mb(server.pid)
        print(f"    calls up {up}/1000; node RSS {rss0:.0f} MB -> {rss1:.0f} MB: "
              f"{(rss1 - rss0) * 1024 / max(up, 1):.1f} KiB per call (2 legs, playing, echoing)")
        t = time.perf_counter()
        await client.api("hupall")
        for _ in range(100):
            if sum(k.startswith("m-") for k in legs) >= up:
                break
            await asyncio.sleep(0.1)
        print(f"    hangup of all {up} calls (stats replayed per leg) reported in "
              f"{time.perf_counter() - t:.2f} s")
        print(f"calls with audio both ways (tone + echo), impaired link + per-call loss, "
              f"{HOLD:.0f} s hold, {STEP:.0f} s per step")
        best = 0.0
        for rate in (50, 100, 150, 200, 300):
            got, cpu, failed, heard, mos = await offered(client, addr, server.pid,
                                                              rate, legs)
            n = int(rate * STEP)
            ok = failed == 0 and got >= 0.95 * rate and cpu < 1.0 and heard == n
            best = rate if ok else best
            print(f"    offered {rate:>4}/s: answered {got:6.1f}/s, node CPU {cpu * 100:5.1f}% "
                  f"of a core, {failed} failed, callers with audio {heard}/{n} "
                  f"(mean FreeSWITCH MOS {mos:.2f}) -> {'ok' if ok else 'NOT sustained'}")
            if not ok:
                break
        print(f"    sustained: {best:.0f} calls/s with audio and impairments")
        await client.api("hupall")
        await client.close()
    finally:
        server.kill()


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(serve())
    else:
        asyncio.run(main())
