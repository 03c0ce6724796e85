"""The fuzz tests' strategies (tests/fuzz_inputs.py) for a longer run (issue 15).

``python bench/bench_fuzz.py [SECONDS] [--examples N]`` (default 120 s, split between the
codec and the client): mutated real captures fed to the codec (``Parser`` on what
FreeSWITCH sent, ``CommandParser`` on what clients sent) and to an ``InboundClient`` over
loopback. Prints the examples run, the documented errors by type, any other exception
(must be none), the slowest example and this process's peak RSS growth. Failing examples
go to ``bench/results/fuzz-failures.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_inputs import (  # noqa: E402
    Sample,
    after_auth,
    client_example,
    client_stream,
    codec_example,
    server_stream,
)
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from bench.support.fixtures import fixtures_dir  # noqa: E402
from bench.support.procs import peak_rss_mb, rss_mb  # noqa: E402
from switchio_lab.esl import CommandParser, Parser  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def loaders():
    cache: dict[str, bytes] = {}

    def capture(name: str) -> bytes:
        if name not in cache:
            cache[name] = (fixtures_dir() / name).read_bytes()
        return cache[name]

    def sent(name: str) -> bytes:
        key = f"sent:{name}"
        if key not in cache:
            lines = (fixtures_dir() / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            cache[key] = b"".join(o["data"].encode("latin-1") for o in map(json.loads, lines)
                                  if o["dir"] == "send")
        return cache[key]
    return capture, sent


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        self.errors: Counter[str] = Counter()
        self.undocumented: Counter[str] = Counter()
        self.slowest = 0.0
        self.failures: list[str] = []

    def run(self, fn, sample: Sample) -> None:
        t = time.perf_counter()
        try:
            self.errors.update(fn(sample))
        except Exception as exc:  # noqa: BLE001  (counted: there must be none)
            self.undocumented[type(exc).__name__] += 1
            if len(self.failures) < 20:
                self.failures.append(f"{self.name}: {sample!r}\n{traceback.format_exc()}")
        self.examples += 1
        self.slowest = max(self.slowest, time.perf_counter() - t)

    def line(self) -> str:
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        bad = ", ".join(f"{k} {v}" for k, v in self.undocumented.most_common()) or "none"
        return (f"{self.name:22s} {self.examples:6d} examples  slowest "
                f"{self.slowest * 1e3:8.1f} ms"
                f"\n{'':22s} documented errors: {errs}\n{'':22s} other exceptions: {bad}")


def batch(strategy, fn, tally: Tally, n: int) -> None:
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(sample=strategy)
    def run(sample: Sample) -> None:
        tally.run(fn, sample)
    run()


def client_fn(sample: Sample) -> list[str]:
    outcome = asyncio.run(asyncio.wait_for(client_example(sample), 60))
    return [k for k, v in outcome.errors.items() for _ in range(v)] + (
        ["bad event counted"] * outcome.bad_events) + (["reconnect"] * outcome.reconnects)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seconds", nargs="?", type=float, default=120.0)
    ap.add_argument("--examples", type=int, default=0, help="stop after N examples per part")
    args = ap.parse_args()
    quiet = logging.getLogger("switchio_lab")  # the client logs every broken stream (the
    quiet.propagate = False  # check counts its records): not printed here
    quiet.addHandler(logging.NullHandler())
    capture, sent = loaders()
    parts = [
        ("codec: server frames", server_stream(capture, limit=60_000, max_ops=16),
         lambda s: codec_example(s, Parser), 0.45),
        ("codec: client commands", client_stream(sent, max_ops=16),
         lambda s: codec_example(s, CommandParser), 0.15),
        ("client over loopback", server_stream(lambda n: after_auth(capture(n)), limit=20_000,
                                               max_ops=8), client_fn, 0.40),
    ]
    rss0, peak0 = rss_mb(), peak_rss_mb()
    print(f"fuzzing mutated real captures for {args.seconds:g} s (codec times include the "
          "step counter's profiling) "
          f"(machine shared with other jobs); RSS at start {rss0:.0f} MB")
    tallies = []
    for name, strategy, fn, share in parts:
        tally = Tally(name)
        end = time.monotonic() + args.seconds * share
        while time.monotonic() < end and not (args.examples and tally.examples >= args.examples):
            batch(strategy, fn, tally, 25 if name.startswith("client") else 200)
        tallies.append(tally)
        print(tally.line(), flush=True)
    peak = peak_rss_mb()
    print(f"peak RSS growth {peak - peak0:.1f} MB over the start's peak ({peak0:.0f} -> "
          f"{peak:.0f} MB); RSS now {rss_mb():.0f} MB")
    failures = [f for t in tallies for f in t.failures]
    if failures:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "fuzz-failures.txt").write_text("\n\n".join(failures))
        print(f"FAILURES: {len(failures)} written to bench/results/fuzz-failures.txt")
        return 1
    print("only documented errors: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
