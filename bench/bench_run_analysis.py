"""Out-of-core run analysis: scan a saved run of 10 million CDR rows with bounded memory.

Writes (once; kept under ``bench/results/``) synthetic runs of 1 and 10 million CDR rows
(``measure.scan.write_synthetic_run``: the full CDR schema, 2 legs a call, three rate steps,
5% busy, 0.1% lost; Parquet parts of 500,000 rows) and scans each with
``measure.scan.scan_run`` in a fresh process, printing the scan's time and the process's
peak RSS (``ru_maxrss``). For scale, the same for a process that only imports (the
baseline) and for ``measure.load`` of the 1 million row run into memory. Memory is bounded
when the 10 M scan's peak is about the 1 M scan's.

``python bench/bench_run_analysis.py [--rows N ...]``; the first run also writes the runs
(the 10 M one takes 1-3 minutes on 2 loaded cores, ~340 MB of Parquet); later runs reuse them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.procs import peak_rss_mb  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STEPS = ((200.0, 1.0), (400.0, 1.0), (800.0, 2.0))


def run_dir(rows: int) -> Path:
    return RESULTS / f"synthetic-run-{rows // 1_000_000}M"


def child(mode: str, path: str, batch: int) -> None:
    from switchio_lab.measure import load
    from switchio_lab.measure.scan import scan_run, write_synthetic_run

    out: dict[str, object] = {"mode": mode}
    t0 = time.perf_counter()
    if mode == "write":
        rows = int(batch)
        write_synthetic_run(path, rows // 2, steps=STEPS, chunk=500_000, seed=7)
    elif mode == "scan":
        scan = scan_run(path, batch_size=batch)
        s = scan.summary()
        out.update(rows=scan.rows, batches=scan.batches, offered=scan.offered,
                   asr=round(scan.asr, 4), pdd_p50=s["pdd_p50"], pdd_p99=s["pdd_p99"],
                   peak_cps=s["peak_cps"], peak_concurrency=s["peak_concurrency"],
                   steps=len(scan.rate_steps()))
    elif mode == "load":
        df = load(path, tables=["cdr"])["cdr"]
        out.update(rows=len(df))
    out.update(seconds=round(time.perf_counter() - t0, 2), peak_rss_mb=round(peak_rss_mb(), 1))
    print(json.dumps(out))


def spawn(mode: str, path: Path | str, batch: int = 0) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(batch)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ensure_run(rows: int) -> tuple[Path, float | None]:
    path = run_dir(rows)
    if (path / "cdr").is_dir() and any((path / "cdr").glob("part-*.parquet")):
        return path, None
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = spawn("write", path, rows)
    return path, result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=262_144)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "N"))
    args = parser.parse_args()
    if args.child:
        mode, path, n = args.child
        child(mode, path, int(n))
        return
    print("(the machine may be shared: times are wall-clock, RSS is this process's own)")
    base = spawn("none", "-")
    print(f"{'baseline: imports only':34} {'':>11} {'':>8} {base['peak_rss_mb']:>9.0f} MB")
    print(f"{'what':34} {'rows':>11} {'time s':>8} {'peak RSS':>12}   result")
    for rows in args.rows:
        path, wrote = ensure_run(rows)
        size = sum(p.stat().st_size for p in (path / "cdr").glob("*.parquet")) / 2**20
        if wrote is not None:
            print(f"{'write synthetic run':34} {rows:>11,} {wrote:>8.1f} {'':>12}   "
                  f"{size:.0f} MB Parquet")
        r = spawn("scan", path, args.batch)
        rate = r["rows"] / r["seconds"] / 1e6 if r["seconds"] else float("nan")
        print(f"{'scan_run (batch ' + format(args.batch, ',') + ')':34} {r['rows']:>11,} "
              f"{r['seconds']:>8.1f} {r['peak_rss_mb']:>9.0f} MB   {rate:.1f} M rows/s; "
              f"{r['offered']:,} calls, ASR {r['asr']:.3f}, PDD p50/p99 "
              f"{r['pdd_p50'] * 1000:.1f}/{r['pdd_p99'] * 1000:.1f} ms, peak "
              f"{r['peak_cps']:.0f} cps, {r['peak_concurrency']:,} up, {r['steps']} steps")
        if rows <= 1_000_000:
            m = spawn("load", path)
            print(f"{'measure.load (in memory)':34} {m['rows']:>11,} {m['seconds']:>8.1f} "
                  f"{m['peak_rss_mb']:>9.0f} MB")


if __name__ == "__main__":
    main()
