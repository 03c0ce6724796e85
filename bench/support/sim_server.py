"""Run one embedded node for benchmarks: ``python -m bench.support.sim_server``.

Inbound calls are answered and parked (so both legs are answered). Prints
``READY <esl_port> <sip_address>`` and serves until killed.
"""

from __future__ import annotations

import asyncio
import sys

from switchio_lab.sim import Node, NodeConfig, Rule


async def main() -> None:
    node = await Node(NodeConfig(esl_port=0, hostname="bench", max_sessions=100_000,
                                 sps=100_000, invite_delay=0.0,
                                 dialplan=[Rule(r".*", [("answer", ""), ("park", "")])])).start()
    print(f"READY {node.esl_port} {node.sip_address('external')}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
