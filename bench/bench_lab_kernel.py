"""A trivial cell's latency in a real Jupyter kernel while the lab runs 300 calls/s.

Starts an ipykernel with ``jupyter_client``, runs in it (as notebook cells would) a
``Lab`` with one embedded node, an Originator at ``--rate`` calls/s (default 300, each
call held 1 s) and the live Dashboard and OriginatorPanel; then sends ``1+1`` cells one
after another and times each round trip (execute request to the kernel's idle status),
and counts the dashboard's comm messages over that time. Targets (issue 16, target 5):
p99 < 50 ms, the dashboard <= 30 comm messages/s. ``bench_summary.py`` calls
:func:`measure`. Complements ``bench_lab.py`` (in-process loop lag).
"""

from __future__ import annotations

import argparse
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
                  apps={"answer": 1}, rate=RATE, limit=2 * RATE, duration=1.0)
panel = OriginatorPanel(orig)
dash = Dashboard(lab, originator=orig)
orig.start()
await asyncio.sleep(3)   # warm up: about RATE calls up
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


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49], q[98], max(values)


def measure(rate: int = 300, cells: int = 200) -> dict[str, float]:
    """One kernel, one run: the trivial cell's round trip idle and with the lab at
    ``rate`` calls/s (p50/p99/max, seconds), and the dashboard's comm messages/s."""
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        idle = [run_cell(kc, "1+1") for _ in range(100)]
        run_cell(kc, SETUP.replace("RATE", str(int(rate))))
        text: list[str] = []
        run_cell(kc, "import time as _t; _m0, _t0 = dash.messages_sent, _t.monotonic()")
        loaded = [run_cell(kc, "1+1") for _ in range(cells)]
        run_cell(kc, "s = orig.stats(); print(s['offered'], s['concurrent'], s['failed_total'],"
                     " s['cps'], dash.messages_sent - _m0, _t.monotonic() - _t0)", out=text)
        offered, concurrent, failed, cps, messages, seconds = "".join(text).split()
        run_cell(kc, "orig.stop(); await orig.hupall(); await lab.stop()")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    i50, i99, imax = _quantiles(idle)
    p50, p99, pmax = _quantiles(loaded)
    return {"idle_p50": i50, "idle_p99": i99, "idle_max": imax, "p50": p50, "p99": p99,
            "max": pmax, "messages_per_s": int(messages) / float(seconds),
            "offered": int(offered), "cps": float(cps), "concurrent": int(concurrent),
            "failed": int(failed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=300, help="calls/s offered (default 300)")
    rate = ap.parse_args().rate
    r = measure(rate)
    print(f"trivial cell (1+1) round trip in a real ipykernel, {rate} calls/s with the "
          "dashboard live")
    for label, key in (("kernel idle", "idle_"), (f"lab at {rate} calls/s", "")):
        print(f"    {label:34s} p50 {r[key + 'p50'] * 1000:7.1f} ms   "
              f"p99 {r[key + 'p99'] * 1000:7.1f} ms   max {r[key + 'max'] * 1000:7.1f} ms")
    print(f"    the Originator meanwhile: {r['offered']} offered ({r['cps']:.0f} calls/s), "
          f"{r['concurrent']} calls up at the end, {r['failed']} failed; dashboard "
          f"{r['messages_per_s']:.1f} comm messages/s (target: p99 < 50 ms, <= 30 msg/s)")


if __name__ == "__main__":
    sys.exit(main())
