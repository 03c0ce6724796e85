"""Fidelity of the embedded switch: the golden captures replayed against it.

Runs every scenario of the conformance suite (:mod:`switchio_lab.testing.conformance`), each
on a fresh embedded node on loopback, and prints the table: event names in order per
channel lane, share of FreeSWITCH's header names, reply texts and api bodies matched,
then the main divergences of each scenario. A report, not a gate: it exits 0 whatever
the scores (``pytest tests/sim/test_sim_conformance.py`` holds the targets).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.fixtures import fixtures_dir  # noqa: E402
from switchio_lab.testing.conformance import run  # noqa: E402


def main() -> int:
    logging.basicConfig(level=logging.CRITICAL)  # the switch's own complaints are not figures
    fixtures = fixtures_dir()
    t0 = time.perf_counter()
    report = asyncio.run(run(fixtures_dir=fixtures))
    elapsed = time.perf_counter() - t0
    print("embedded switch vs FreeSWITCH 1.11.3-dev captures "
          f"({len(report.scenarios)} scenarios, {elapsed:.1f} s)")
    print(report.render(per_scenario=6))
    ok = sum(s.ok for s in report.scenarios)
    print(f"\n{ok}/{len(report.scenarios)} scenarios at target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
