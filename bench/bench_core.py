"""The call-control core on the 55 MB capture of 200 calls at 20 calls/s.

(a) events/s through a :class:`~switchio_lab.api.Client`: the capture's events streamed
    over loopback TCP by a server process (``bench.support.stream_server``), parsed by
    the connection, tracked by the :class:`~switchio_lab.handlers.EventListener`
    (sessions, calls, jobs) and dispatched to one app callback (on every
    CHANNEL_STATE, the most frequent event); timed from the subscription to the last
    event dispatched. Also the listener's dispatch alone, on pre-parsed events.
(b) memory per tracked session (tracemalloc): N sessions made by the listener from
    freshly parsed copies of the capture's events -- with their CHANNEL_CREATE only, and
    with every event of the leg up to its hangup (a call in progress).

``python bench/bench_core.py [--profile]``: ``--profile`` prints cProfile's top functions
of ``EventListener.dispatch`` on the capture.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.fixtures import event_stream, load_capture  # noqa: E402
from switchio_lab import Client, callback  # noqa: E402
from switchio_lab.esl import Event, Parser  # noqa: E402
from switchio_lab.handlers import EventListener  # noqa: E402

RUNS = 5
TARGET = 50_000


class StateCounter:
    """The one app callback: counts CHANNEL_STATE per session (reads two headers)."""

    def __init__(self) -> None:
        self.seen = 0

    @callback("CHANNEL_STATE")
    def on_state(self, sess) -> None:
        self.seen += 1
        sess.vars["state"] = sess.get("Channel-State")


async def _one_run(port: int, count: int) -> tuple[float, Client, StateCounter]:
    client = Client("127.0.0.1", port, reconnect=False)
    app = StateCounter()
    await client.load_app(app)  # before connect: the server reads one `event` command only
    done = asyncio.get_running_loop().create_future()
    listener = client.listener

    def last(_event: Event) -> None:  # registered after the listener: sees it done
        if listener.events_seen >= count and not done.done():
            done.set_result(time.perf_counter())

    client.connection.on_event(last)
    await client.connection.connect()
    start = time.perf_counter()
    await client.connect()  # subscribes to the listener's and the app's events
    end = await asyncio.wait_for(done, 120)
    rate = count / (end - start)
    await client.connection.close()
    return rate, client, app


def through_client() -> None:
    server = subprocess.Popen([sys.executable, "-m", "bench.support.stream_server", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        _, port, count = server.stdout.readline().split()
        rates = []
        for _ in range(RUNS):
            gc.collect()
            rate, client, app = asyncio.run(_one_run(int(port), int(count)))
            rates.append(rate)
        lst = client.listener
        print(f"(a) Client over loopback TCP, {int(count):,} events (median of {RUNS} runs)")
        print(f"    listener + sessions + 1 app callback: {statistics.median(rates):>9,.0f} "
              f"events/s  (runs: {', '.join(f'{r:,.0f}' for r in rates)}; target "
              f"{TARGET:,})")
        print(f"    last run: {lst.total_sessions} sessions, {lst.total_calls} calls tracked, "
              f"{app.seen} callbacks, {lst.count_sessions()} sessions left, "
              f"{lst.handler_errors} errors")
    finally:
        server.kill()
        server.wait()


class _FakeConn:
    connected = False
    event_names: set[str] = set()

    def _subscribed(self, name: str) -> bool:
        return True


class _FakeClient:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.connection = _FakeConn()
        self.listener = EventListener(self)  # type: ignore[arg-type]


def _parsed(payload: bytes) -> list[Event]:
    return [f.event for f in Parser().feed(payload) if f.event is not None]


def dispatch_only(payload: bytes, profile: bool) -> None:
    best = []
    for _ in range(RUNS):
        events = _parsed(payload)  # fresh: header lookups are cached per event
        fake = _FakeClient()
        fake.listener.add_app("default", StateCounter())
        gc.collect()
        t0 = time.perf_counter()
        dispatch = fake.listener.dispatch
        for ev in events:
            dispatch(ev)
        best.append(len(events) / (time.perf_counter() - t0))
    print(f"    EventListener.dispatch alone (pre-parsed): {max(best):>9,.0f} events/s "
          f"(best of {RUNS})")
    if profile:
        events = _parsed(payload)
        fake = _FakeClient()
        fake.listener.add_app("default", StateCounter())
        prof = cProfile.Profile()
        prof.enable()
        for ev in events:
            fake.listener.dispatch(ev)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(14)


def memory(payload: bytes) -> None:
    frames = Parser().feed(payload)
    ends = [f.position for f in frames[1:]] + [len(payload)]
    by_leg: dict[str, list[bytes]] = defaultdict(list)
    creates: list[bytes] = []
    hung: set[str] = set()
    for f, end in zip(frames, ends, strict=True):
        ev = f.event
        if ev is None or not ev.uuid:
            continue
        chunk = payload[f.position:end]
        if ev.name == "CHANNEL_CREATE":
            creates.append(chunk)
        if ev.name == "CHANNEL_HANGUP":
            hung.add(ev.uuid)
        if ev.uuid not in hung:
            by_leg[ev.uuid].append(chunk)
    print(f"(b) memory per tracked session (tracemalloc; {len(creates)} legs of the capture)")
    for label, chunks in (("CHANNEL_CREATE only", creates),
                          ("every event up to its hangup",
                           [c for leg in by_leg.values() for c in leg])):
        fake = _FakeClient()
        fake.listener.add_app("default", StateCounter())
        data = b"".join(chunks)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for ev in _parsed(data):  # parsed here: the events' bytes are counted
            fake.listener.dispatch(ev)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        n = fake.listener.count_sessions()
        events = len(chunks) / max(n, 1)
        print(f"    {label:30s}: {(after - before) / n / 1024:>7.1f} KiB/session "
              f"({n} sessions, {events:.1f} events each, {len(data) / n / 1024:.1f} KiB of "
              "event text each)")


if __name__ == "__main__":
    payload, _count = event_stream(load_capture())
    through_client()
    dispatch_only(payload, "--profile" in sys.argv)
    memory(payload)
