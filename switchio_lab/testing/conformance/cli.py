"""The conformance command line (``python -m switchio_lab.testing.conformance``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .runner import run, self_check
from .scenario import SCENARIOS, fixtures_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchio_lab.testing.conformance",
        description="Replay the golden FreeSWITCH captures against the embedded switch and "
                    "compare what it says.")
    parser.add_argument("--scenario", "-s", action="append", choices=SCENARIOS,
                        metavar="NAME", help="a scenario to run (repeatable; default: all)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="directory of NAME.jsonl captures (default: $SWITCHIO_LAB_FIXTURES "
                             "or ../shared/fixtures/freeswitch)")
    parser.add_argument("--divergences", "-n", type=int, default=8,
                        help="divergences listed per scenario (default 8)")
    parser.add_argument("--self-check", action="store_true",
                        help="compare each recording with itself instead (must be 100%%)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any scenario is below target")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the switch's logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    fixtures = args.fixtures or fixtures_path()
    if not fixtures.is_dir():
        print(f"golden captures not found at {fixtures} (set $SWITCHIO_LAB_FIXTURES or "
              "--fixtures)", file=sys.stderr)
        return 2
    if args.self_check:
        report = self_check(args.scenario, fixtures)
    else:
        report = asyncio.run(run(args.scenario, fixtures))
    print(report.render(args.divergences))
    return 1 if args.strict and not report.ok else 0

