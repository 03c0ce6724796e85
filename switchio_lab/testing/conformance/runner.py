"""Running scenarios against a fresh embedded switch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from ...sim import PARK_ALL, Node, NodeConfig, Rule
from .compare import compare
from .replay import SocketAppServer, replay, replay_outbound
from .report import Report, ScenarioReport
from .scenario import SCENARIOS, Scenario


# -- running against the embedded switch ------------------------------------------------------
async def _start_node(extra_rules: list | None = None, verbose_events: bool = False):
    cfg = NodeConfig(host="127.0.0.1", esl_port=0, hostname="vm",
                     sip={"internal": 5060, "external": 5080},
                     dialplan=[*(extra_rules or []), *PARK_ALL],
                     verbose_events=verbose_events)
    return await Node(cfg).start()


async def _stop_node(node, notes: list[str]) -> None:
    try:
        await asyncio.wait_for(node.stop(), 3.0)
    except asyncio.TimeoutError:
        notes.append("node.stop() did not finish in 3 s (channels never destroyed)")
    except Exception as exc:
        notes.append(f"node.stop() failed: {exc!r}")


async def run_scenario(scenario: str | Scenario,
                       fixtures_dir: str | Path | None = None) -> ScenarioReport:
    """Start a fresh embedded node, replay ``scenario`` on it, stop it, compare."""
    sc = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario, fixtures_dir)
    started = time.monotonic()
    notes: list[str] = []
    # the switch set as the recording's FreeSWITCH was (verbose_events on for the captures
    # of 2026-11-26, off -- FreeSWITCH's default -- for those of 2026-12-02)
    verbose = bool(sc.verbose_events)
    if sc.kind == "outbound":
        server = await SocketAppServer.start()
        rule = Rule(r"^outbound$", [("socket", f"{server.address} async full")])
        node = await _start_node([rule], verbose)
        try:
            capture = await replay_outbound(sc, node.host, node.esl_port, server)
        finally:
            await server.close()
            await _stop_node(node, notes)
    else:
        node = await _start_node(verbose_events=verbose)
        try:
            capture = await replay(sc, node.host, node.esl_port)
        finally:
            await _stop_node(node, notes)
    capture.notes.extend(notes)
    report = compare(sc, capture)
    report.seconds = time.monotonic() - started
    return report


async def run(names: Iterable[str] | None = None,
              fixtures_dir: str | Path | None = None) -> Report:
    """Run scenarios one after another, each on its own node."""
    out = []
    for name in names or SCENARIOS:
        out.append(await run_scenario(name, fixtures_dir))
    return Report(out)


def self_check(names: Iterable[str] | None = None,
               fixtures_dir: str | Path | None = None) -> Report:
    """Each recording compared with itself: must be 100% everywhere (the comparator's proof)."""
    out = []
    for name in names or SCENARIOS:
        sc = Scenario.load(name, fixtures_dir)
        out.append(compare(sc, sc.recorded))
    return Report(out)
