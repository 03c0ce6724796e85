"""Issue 16's targets in one table: each figure min/median/max of 3 runs, OK or short.

Runs last under ``make bench`` (sorted names). Each row is measured here, by the same
means as the other scripts:

- raw client events/s: ``bench.support.clients switchio_lab`` against the capture stream
  server (one process per run, 3 headers read per event), as ``bench_esl.py`` (b);
- full listener events/s: a ``Client`` with session tracking and one app callback, as
  ``bench_core.py`` (a);
- memory per tracked session (tracemalloc, every event of each leg up to its hangup,
  the events parsed inside the trace), as ``bench_core.py`` (b);
- 50,000 concurrent sessions: the listener's RSS growth, and the dispatch cost per event
  with 100 and with 50,000 sessions tracked (flat: within 1.5x);
- ``Session.get`` of a missing header after 1, 16 and 64 events (flat: within 1.5x);
- the embedded switch's calls/s with an ``event plain ALL`` subscriber (600/s offered
  for 5 s, each call held 1 s; the rate achieved is the calls answered over the time
  their answers took; sustained = every originate succeeds, achieved within 5 % of
  offered, node CPU under one core), and its RSS peak while 4,000 held calls hang up at once.

- the notebook at 300 calls/s (``bench_lab_kernel.measure``: a real ipykernel running a
  Lab, an Originator at 300 calls/s and the live dashboard): a trivial cell's round-trip
  p99, and the dashboard's comm messages/s.

``python bench/bench_summary.py [streams memory sessions get switch notebook]`` runs only
the steps named.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_core, bench_sim  # noqa: E402
from bench.support.fixtures import event_stream, load_capture  # noqa: E402
from bench.support.procs import rss_mb, start_server  # noqa: E402
from switchio_lab.connection import InboundClient  # noqa: E402
from switchio_lab.esl import Event, Parser  # noqa: E402

RUNS = 3
rows: list[tuple[str, list[float], str, str, bool]] = []


def row(name: str, values: list[float], unit: str, goal: str, ok: bool) -> None:
    rows.append((name, values, unit, goal, ok))


def streams() -> None:
    server = subprocess.Popen([sys.executable, "-m", "bench.support.stream_server", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        _, port, count = server.stdout.readline().split()
        raw = []
        for _ in range(RUNS):
            out = subprocess.run([sys.executable, "-m", "bench.support.clients", "switchio_lab",
                                  port, count], cwd=ROOT, capture_output=True, text=True,
                                 timeout=300, check=True)
            raw.append(float(out.stdout.split()[-1]))
        row("raw client", raw, "events/s", ">= 220,000", statistics.median(raw) >= 220_000)
        bare = [asyncio.run(_bare_read(int(port), int(count))) for _ in range(RUNS)]
        row("  (context) loopback read, no parsing", bare, "events/s", "ceiling of the two",
            True)
        full = []
        for _ in range(RUNS):
            gc.collect()
            rate, _client, _app = asyncio.run(bench_core._one_run(int(port), int(count)))
            full.append(rate)
        row("full listener", full, "events/s", ">= 150,000", statistics.median(full) >= 150_000)
    finally:
        server.kill()
        server.wait()


async def _bare_read(port: int, count: int) -> float:
    """The stream's events/s through an asyncio protocol that only counts the bytes: what
    this machine's loopback and event loop allow before any parsing."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    total = len(event_stream(load_capture())[0]) if not _PAYLOAD else len(_PAYLOAD[0])

    class Counter(asyncio.Protocol):
        got = 0
        start = 0.0

        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if self.start == 0.0:
                if data.startswith(b"Content-Type: auth/request"):
                    self.transport.write(b"auth ClueCon\n\n")
                elif b"+OK accepted" in data:
                    self.start = time.perf_counter()
                    self.transport.write(b"event plain ALL\n\n")
                return
            self.got += len(data)
            if self.got >= total and not done.done():
                done.set_result(time.perf_counter() - self.start)

    transport, _ = await loop.create_connection(Counter, "127.0.0.1", port)
    try:
        return count / await asyncio.wait_for(done, 120)
    finally:
        transport.close()


_PAYLOAD: list[bytes] = []


def _leg_chunks(payload: bytes) -> list[bytes]:
    frames = Parser().feed(payload)
    ends = [f.position for f in frames[1:]] + [len(payload)]
    hung: set[str] = set()
    chunks = []
    for f, end in zip(frames, ends, strict=True):
        ev = f.event
        if ev is None or not ev.uuid:
            continue
        if ev.name == "CHANNEL_HANGUP":
            hung.add(ev.uuid)
        if ev.uuid not in hung:
            chunks.append(payload[f.position:end])
    return chunks


def memory(payload: bytes) -> None:
    data = b"".join(_leg_chunks(payload))
    per = []
    for _ in range(RUNS):
        fake = bench_core._FakeClient()
        fake.listener.add_app("default", bench_core.StateCounter())
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for ev in bench_core._parsed(data):
            fake.listener.dispatch(ev)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        per.append((after - before) / fake.listener.count_sessions() / 1024)
    row("memory per tracked session", per, "KiB", "<= 8", statistics.median(per) <= 8)


def _first(payload: bytes, name: str) -> Event:
    for f in Parser().feed(payload):
        ev = f.event
        if ev is not None and ev.name == name and ev.uuid:
            return ev
    raise SystemExit(f"no {name} in the capture")


def _as(ev: Event, uuid: str) -> Event:
    return Event(ev.raw.replace(ev.uuid.encode(), uuid.encode()))


def many_sessions(payload: bytes, n: int = 50_000) -> None:
    create, state = _first(payload, "CHANNEL_CREATE"), _first(payload, "CHANNEL_STATE")
    rss, small, large = [], [], []
    for _ in range(RUNS):
        fake = bench_core._FakeClient()
        fake.listener.add_app("default", bench_core.StateCounter())
        dispatch = fake.listener.dispatch

        def cost(uuids: list[str], dispatch=dispatch) -> float:
            events = [_as(state, u) for u in uuids]
            t0 = time.perf_counter()
            for ev in events:
                dispatch(ev)
            return (time.perf_counter() - t0) / len(events) * 1e6
        gc.collect()
        rss0 = rss_mb()
        uuids = [f"{i:08d}-5e55-4a11-9000-{i:012d}" for i in range(n)]
        for u in uuids[:100]:
            dispatch(_as(create, u))
        small.append(cost(uuids[:100] * 20))
        for u in uuids[100:]:
            dispatch(_as(create, u))
            dispatch(_as(state, u))  # two events each: a leg in progress
        gc.collect()
        rss.append(rss_mb() - rss0)
        large.append(cost(uuids[::25]))
        del fake
        gc.collect()
    row(f"RSS of {n:,} sessions", rss, "MB", "well under 1,000", statistics.median(rss) < 500)
    ratio = [b / a for a, b in zip(small, large, strict=True)]
    row("dispatch/event, 100 sessions", small, "us", "", True)
    row(f"dispatch/event, {n:,} sessions", large, "us", "<= 1.5x the 100-session cost",
        statistics.median(ratio) <= 1.5)


def missing_get(payload: bytes) -> None:
    create, state = _first(payload, "CHANNEL_CREATE"), _first(payload, "CHANNEL_STATE")
    per: dict[int, list[float]] = {1: [], 16: [], 64: []}
    for _ in range(RUNS):
        for kept in per:
            fake = bench_core._FakeClient()
            fake.listener.dispatch(_as(create, "get-bench"))
            for _i in range(kept - 1):
                fake.listener.dispatch(_as(state, "get-bench"))
            sess = fake.listener.sessions["get-bench"]
            get = sess.get
            t0 = time.perf_counter()
            for _i in range(20_000):
                get("No-Such-Header")
            per[kept].append((time.perf_counter() - t0) / 20_000 * 1e6)
    for kept, values in per.items():
        flat = statistics.median(values) <= 1.5 * statistics.median(per[1])
        row(f"Session.get missing, {kept} events", values, "us", "flat (<= 1.5x 1 event)", flat)


async def _switch() -> None:
    server, port, addr = start_server()
    try:
        async def subscriber() -> InboundClient:
            client = InboundClient("127.0.0.1", port, reconnect=False, timeout=60,
                                    connect_timeout=30)  # a busy node answers late
            await client.connect()
            client.on_event(lambda _e: None)
            await client.subscribe("ALL")
            return client
        rates: list[float] = []
        clean: list[bool] = []  # every originate succeeded, node CPU under one core
        for _ in range(RUNS):
            client = await subscriber()
            t0, cpu0 = time.perf_counter(), bench_sim.cpu_seconds(server.pid)
            try:
                got, _cpu, failed = await bench_sim.offered_rate(client, addr, server.pid, 600)
            except Exception:  # no result in 30 s, or the node dropped a subscriber behind
                got, failed = 0.0, 1
            # offered_rate's figure is answered calls / 5 s however long they took; the rate
            # achieved is over the time the answers really took (it returns hold + 0.5 s
            # after the last one), and the node's CPU share over that same time
            took = max(5.0, time.perf_counter() - t0 - 1.5)
            cpu = (bench_sim.cpu_seconds(server.pid) - cpu0) / (took + 1.5)
            achieved = got * 5.0 / took
            rates.append(achieved)
            clean.append(failed == 0 and cpu < 1.0)
            await client.close()
            helper = await subscriber()
            await helper.api("hupall")
            await helper.close()
            await asyncio.sleep(1.0)
        client = await subscriber()
        row("switch calls/s, ALL subscriber", rates, "calls/s", ">= 600 (of 600 offered)",
            statistics.median(rates) >= 0.95 * 600 and sum(clean) * 2 > len(clean))
        n = 4000
        jobs = []
        for i in range(n):
            jobs.append(await client.bgapi(
                f"originate {{origination_uuid=held-{i}}}sofia/external/h{i}@{addr} &park()"))
            if i % 200 == 199:
                await asyncio.sleep(0.2)
        results = [await j.wait(120) for j in jobs]
        up = sum(r.startswith("+OK") for r in results)
        await asyncio.sleep(1.0)
        held = rss_mb(server.pid)
        peak = held
        done = asyncio.ensure_future(client.api("hupall"))
        end = time.monotonic() + 30
        while time.monotonic() < end:
            peak = max(peak, rss_mb(server.pid))
            count = (await client.api("show channels count")).strip().splitlines()[-1]
            if done.done() and count.startswith("0 "):
                break
            await asyncio.sleep(0.05)
        row(f"switch RSS spike, hupall of {up:,} calls", [peak - held], "MB",
            "<= 100 over held", peak - held <= 100)
        await client.close()
    finally:
        server.kill()
        server.wait()


def notebook(rate: int = 300) -> None:
    from bench import bench_lab_kernel

    p99, msgs, cps = [], [], []
    for _ in range(RUNS):
        r = bench_lab_kernel.measure(rate)
        p99.append(r["p99"] * 1000)
        msgs.append(r["messages_per_s"])
        cps.append(r["cps"])
    row(f"notebook cell p99, {rate} calls/s offered", p99, "ms", "< 50",
        statistics.median(p99) < 50)
    row("  calls/s the Originator reached", cps, "calls/s", f"~{rate}",
        statistics.median(cps) >= 0.9 * rate)
    row("  dashboard comm messages/s", msgs, "msg/s", "<= 30", max(msgs) <= 30)


def table() -> None:
    print("Issue 16 targets (min / median / max of runs; machine shared with other jobs)")
    print(f"  {'target':38s} {'min':>10s} {'median':>10s} {'max':>10s} {'unit':9s} "
          f"{'goal':30s} result")
    for name, values, unit, goal, ok in rows:
        lo, med, hi = min(values), statistics.median(values), max(values)
        fmt = (lambda v: f"{v:,.0f}") if med >= 100 else (lambda v: f"{v:.2f}")
        print(f"  {name:38s} {fmt(lo):>10s} {fmt(med):>10s} {fmt(hi):>10s} {unit:9s} "
              f"{goal:30s} {'OK' if ok else 'short'}")


if __name__ == "__main__":
    only = set(sys.argv[1:])
    payload, _count = event_stream(load_capture())
    _PAYLOAD.append(payload)
    steps = {"streams": streams, "memory": lambda: memory(payload),
             "sessions": lambda: many_sessions(payload), "get": lambda: missing_get(payload),
             "switch": lambda: asyncio.run(_switch()), "notebook": notebook}
    for step_name, step in steps.items():
        if not only or step_name in only:
            try:
                step()
            except Exception as exc:  # the table still prints what was measured
                print(f"step {step_name} failed: {type(exc).__name__}: {exc}")
                row(f"{step_name} (failed)", [0.0], "", "", False)
    table()
