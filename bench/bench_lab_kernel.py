"""A trivial cell's latency in a real Jupyter kernel while the lab runs 100 calls/s.

Starts an ipykernel with ``jupyter_client``, runs in it (as notebook cells would) a
``Lab`` with one embedded node, an Originator at 100 calls/s (each call held 1 s) and the
live Dashboard and OriginatorPanel; then sends ``1+1`` cells one after another and times
each round trip (execute request to the kernel's idle status). Targets: p99 < 100 ms.
Complements ``bench_lab.py`` (in-process loop lag and dashboard messages/s).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import asyncio, switchio_lab as switchio
from switchio_lab.lab import Lab
from switchio_lab.apps.call_gen import Originator
from switchio_lab.lab.dashboard import Dashboard
from switchio_lab.lab.panel import OriginatorPanel

class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

lab = await Lab.start(nodes=1)
await lab.load_app(Answer, "answer")
orig = Originator(lab.clients, dest_url=lab.address(lab.names[0], "load"),
                  apps={"answer": 1}, rate=100, limit=200, duration=1.0)
panel = OriginatorPanel(orig)
dash = Dashboard(lab, originator=orig)
orig.start()
await asyncio.sleep(3)   # warm up: about 100 calls up
"""


def run_cell(kc, code: str, timeout: float = 60, out: list[str] | None = None) -> float:
    """Send ``code``; return seconds until the kernel went idle for it (stdout to ``out``)."""
    start = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "stream" and out is not None:
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return time.perf_counter() - start


def main() -> None:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        idle = [run_cell(kc, "1+1") for _ in range(100)]
        run_cell(kc, SETUP)
        loaded = [run_cell(kc, "1+1") for _ in range(200)]
        text: list[str] = []
        run_cell(kc, "s = orig.stats(); print(s['offered'], s['concurrent'], s['failed_total'],"
                     " s['cps'], dash.messages_sent)", out=text)
        offered, concurrent, failed, cps, messages = "".join(text).split()
        run_cell(kc, "orig.stop(); await orig.hupall(); await lab.stop()")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    def show(name: str, values: list[float]) -> None:
        q = statistics.quantiles(values, n=100)
        print(f"    {name:34s} p50 {q[49] * 1000:7.1f} ms   p99 {q[98] * 1000:7.1f} ms   "
              f"max {max(values) * 1000:7.1f} ms")

    print("trivial cell (1+1) round trip in a real ipykernel, 100 calls/s with the dashboard "
          "live")
    show("kernel idle", idle)
    show("lab at 100 calls/s (~100 calls up)", loaded)
    print(f"    the Originator meanwhile: {offered} offered ({float(cps):.0f} calls/s), "
          f"{concurrent} calls up at the end, {failed} failed; dashboard sent {messages} "
          "comm messages")


if __name__ == "__main__":
    sys.exit(main())
