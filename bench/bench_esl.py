"""ESL codec and client throughput on the 55 MB capture of 200 calls at 20 calls/s.

(a) the codec alone: frames/s, events/s and MB/s, with and without reading three
    headers of each event;
(b) events/s delivered to a callback over loopback TCP from a server process streaming
    the capture, the callback reading Event-Name, Unique-ID and variable_call_uuid —
    switchio-lab's client and greenswitch's, in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.fixtures import load_capture  # noqa: E402
from switchio_lab.esl import Parser  # noqa: E402

RUNS = 5


def codec(data: bytes, chunk: int = 65536) -> None:
    mb = len(data) / 1e6
    parse, read = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        parser = Parser()
        frames = []
        for i in range(0, len(data), chunk):
            frames += parser.feed(data[i : i + chunk])
        t1 = time.perf_counter()
        events = 0
        for f in frames:
            ev = f.event
            if ev is not None:
                _ = ev.name, ev.uuid, ev.get("variable_call_uuid")
                events += 1
        t2 = time.perf_counter()
        parse.append(t1 - t0)
        read.append(t2 - t0)
    p, r = min(parse), min(read)
    print(f"(a) codec, {mb:.1f} MB in {chunk // 1024} KiB chunks: {len(frames):,} frames, "
          f"{events:,} events (best of {RUNS})")
    print(f"    framing only        : {len(frames) / p:>10,.0f} frames/s  {mb / p:>7,.0f} MB/s")
    print(f"    + 3 headers/event   : {events / r:>10,.0f} events/s  {mb / r:>7,.0f} MB/s")


def delivery() -> None:
    server = subprocess.Popen([sys.executable, "-m", "bench.support.stream_server", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        _, port, count = server.stdout.readline().split()
        print(f"(b) events/s to a callback over loopback TCP ({count} events, 3 headers read "
              f"each; median of {RUNS} runs, one process per run)")
        results = {}
        for name in ("switchio_lab", "greenswitch"):
            rates = []
            for _ in range(RUNS):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.support.clients", name, port, count],
                    cwd=ROOT, capture_output=True, text=True, timeout=300)
                if out.returncode != 0:
                    print(f"    {name:14s}: failed: {out.stderr.strip().splitlines()[-1:]}")
                    break
                rates.append(float(out.stdout.split()[-1]))
            if rates:
                results[name] = statistics.median(rates)
                print(f"    {name:14s}: {results[name]:>10,.0f} events/s "
                      f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")
        if len(results) == 2:
            print(f"    ratio switchio_lab / greenswitch: "
                  f"{results['switchio_lab'] / results['greenswitch']:.2f}x")
    finally:
        server.kill()


if __name__ == "__main__":
    codec(load_capture())
    delivery()
