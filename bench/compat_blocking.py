"""What switchio_lab.compat's background loop thread costs a blocking call.

Runs N ``api status`` round trips against an embedded node three ways: the async client
awaited on the loop thread, compat's blocking ``Client.api`` from the main thread (a
submit to the loop thread and a wait per call), and ``job.get()`` of N originates.
Prints calls per second and the median per call. usage: bench/compat_blocking.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

import switchio_lab.compat as switchio
from switchio_lab.compat import loop
from switchio_lab.sim import Node, NodeConfig


def main(n: int = 500) -> None:
    node = loop.run(Node(NodeConfig(esl_port=0, hostname="bench")).start())
    try:
        with switchio.get_client(node.host, node.esl_port) as client:
            core = client.core

            async def async_round_trips() -> list[float]:
                out = []
                for _ in range(n):
                    t = time.perf_counter()
                    await core.api("status")
                    out.append(time.perf_counter() - t)
                return out

            a = loop.run(async_round_trips())
            b = []
            for _ in range(n):
                t = time.perf_counter()
                client.api("status")
                b.append(time.perf_counter() - t)
            for name, xs in (("async await (loop thread)", a), ("compat blocking api()", b)):
                med = 1e6 * statistics.median(xs)
                print(f"{name:28s} {n / sum(xs):8.0f} calls/s  median {med:7.0f} us")
            extra = 1e6 * (statistics.median(b) - statistics.median(a))
            print(f"{'compat overhead per call':28s} {extra:7.0f} us (median)")
    finally:
        loop.run(node.stop())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
