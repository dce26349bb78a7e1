"""Fill rate against wall time for 1 and 2 search workers per instance, side by side in one run.

    python -m benchmarks.packing_parallel --classes BR1,BR7,BR12 --sample 5 --constraints C1,C1C2 \
        --times 5,10,30 --workers 1,2

Every instance is solved as ``pack`` solves it: ``workers`` processes running
``packing.solver.solve(worker=k, workers=N)`` with the whole wall budget each, started
together, the best verified packing counting. A pool of ``--cores`` processes (default:
this machine's CPUs) runs cores // N instances side by side, so 1 worker uses every
core with several instances at once and N workers one instance at a time. Every
packing is verified. The table gives the mean fill per class and constraint set for
every (workers, seconds), the targets of the parallel search (N workers at T against 1
worker at T on every class, and against 1 worker at N x T on the class mean: 1 worker
also runs at N x T for every T), and each worker's completions per second (the per-worker rate the
README's scaling model starts from). A JSON report goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import use_shared_data, write_report  # noqa: E402
from packing.instances import find_class_file, parse_selection, read_file  # noqa: E402
from packing.solver import solve, warm_up  # noqa: E402
from packing.verify import verify  # noqa: E402

# fontanf/packingsolver (C++ tree search, one thread), first 5 instances, C1, 30 s (shared/ANCHORS.md)
PACKINGSOLVER_C1_30S = {"BR1": 94.70, "BR7": 96.35, "BR12": 95.52}


def _worker(job: tuple[str, int, str, float, int, int, int, str | None]) -> dict:
    cls, number, constraints, limit, seed, worker, workers, data_dir = job
    inst = read_file(find_class_file(cls, data_dir), [number])[0]
    sol = solve(inst, "blocks", constraints, limit, seed=seed, worker=worker, workers=workers)
    report = verify(inst, sol.placements, constraints)
    return {"instance": inst.name, "worker": worker, "fill_rate": sol.fill_rate if report.ok else 0.0,
            "verified": report.ok, "seconds": sol.seconds, "evals": dict(sol.stats)["evals"],
            "started": time.time() - sol.seconds}


def run_grid(pool, classes, sample, constraints, limit, workers, seed, data_dir) -> list[dict]:
    """One (constraints, seconds, workers) cell: every instance, its workers started together."""
    jobs = [(c, n, constraints, limit, seed, k, workers, data_dir)
            for c in classes for n in range(1, sample + 1) for k in range(workers)]
    t0 = time.perf_counter()
    parts = list(pool.map(_worker, jobs))
    wall = time.perf_counter() - t0
    rows = []
    for i in range(0, len(parts), workers):
        group = parts[i:i + workers]
        best = max(group, key=lambda r: (r["fill_rate"], -r["worker"]))
        spread = max(r["started"] for r in group) - min(r["started"] for r in group)
        rows.append({"instance": group[0]["instance"], "class": group[0]["instance"].split("/")[0],
                     "constraints": constraints, "seconds_budget": limit, "workers": workers,
                     "fill_rate": best["fill_rate"], "best_worker": best["worker"],
                     "verified": all(r["verified"] for r in group),
                     "wall_s": max(r["seconds"] for r in group) + spread,
                     "worker_fills": [r["fill_rate"] for r in group],
                     "evals_per_s": [r["evals"] / max(r["seconds"], 1e-9) for r in group]})
        print(f"  {constraints:5s} {limit:4g} s  {workers} w  {rows[-1]['instance']:8s} "
              f"{100 * rows[-1]['fill_rate']:6.2f} %  (worker {best['worker']})  "
              f"{'ok' if rows[-1]['verified'] else 'INVALID'}", file=sys.stderr, flush=True)
    print(f"  cell {constraints} {limit:g} s x {workers} workers: {wall:.1f} s wall", file=sys.stderr, flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = dict.fromkeys((r["constraints"], r["class"], r["workers"], r["seconds_budget"]) for r in rows)
    for cons, cls, w, t in keys:
        sel = [r for r in rows if (r["constraints"], r["class"], r["workers"], r["seconds_budget"]) == (cons, cls, w, t)]
        rates = [x for r in sel for x in r["evals_per_s"]]
        out.append({"constraints": cons, "class": cls, "workers": w, "seconds": t, "n": len(sel),
                    "mean_fill": 100 * sum(r["fill_rate"] for r in sel) / len(sel),
                    "all_verified": all(r["verified"] for r in sel),
                    "max_wall_s": max(r["wall_s"] for r in sel),
                    "evals_per_worker_s": sum(rates) / len(rates)})
    return out


def targets(summary: list[dict], workers: list[int]) -> list[dict]:
    """N workers at T against 1 worker at T (every class) and 1 worker at 2T (class mean)."""
    cell = {(s["constraints"], s["class"], s["workers"], s["seconds"]): s["mean_fill"] for s in summary}
    out = []
    for (cons, cls, w, t), fill in cell.items():
        if w == 1:
            continue
        one_t = cell.get((cons, cls, 1, t))
        one_2t = cell.get((cons, cls, 1, w * t))
        out.append({"constraints": cons, "class": cls, "workers": w, "seconds": t, "fill": fill,
                    "one_worker_same_t": one_t, "holds_same_t": None if one_t is None else fill >= one_t - 1e-9,
                    f"one_worker_{w}t": one_2t, "holds_nt": None if one_2t is None else fill >= one_2t - 1e-9})
    return out


def print_table(summary: list[dict], checks: list[dict], times: list[float], workers: list[int]) -> None:
    cols = [(w, t) for t in times for w in workers]
    print(f"{'cons':5s} {'class':6s} " + " ".join(f"{f'{w}w {t:g}s':>9s}" for w, t in cols) + "  packingsolver 30s")
    cell = {(s["constraints"], s["class"], s["workers"], s["seconds"]): s for s in summary}
    for cons, cls in dict.fromkeys((s["constraints"], s["class"]) for s in summary):
        vals = [cell.get((cons, cls, w, t)) for w, t in cols]
        ref = PACKINGSOLVER_C1_30S.get(cls) if cons == "C1" else None
        print(f"{cons:5s} {cls:6s} " + " ".join(f"{v['mean_fill']:9.2f}" if v else f"{'-':>9s}" for v in vals)
              + (f"  {ref:.2f}" if ref else ""))
    for c in checks:
        n = c["workers"]
        same = "n/a" if c["holds_same_t"] is None else ("yes" if c["holds_same_t"] else "NO")
        nt = "n/a" if c["holds_nt"] is None else ("yes" if c["holds_nt"] else "NO")
        print(f"  {c['constraints']:5s} {c['class']:5s} {n} workers at {c['seconds']:g} s {c['fill']:.2f}: "
              f">= 1 worker at {c['seconds']:g} s ({c['one_worker_same_t'] or float('nan'):.2f}) {same}; "
              f">= 1 worker at {n * c['seconds']:g} s ({c[f'one_worker_{n}t'] or float('nan'):.2f}) {nt}")
    for w in workers:
        sel = [s for s in summary if s["workers"] == w]
        if sel:
            print(f"  completions per second per worker, {w} worker(s): "
                  f"{sum(s['evals_per_worker_s'] for s in sel) / len(sel):.0f} (mean over cells)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="BR1,BR7,BR12")
    ap.add_argument("--sample", type=int, default=5, help="first N instances per class")
    ap.add_argument("--constraints", default="C1,C1C2")
    ap.add_argument("--times", default="5,10,30", help="wall seconds per instance")
    ap.add_argument("--workers", default="1,2", help="search workers per instance")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="processes in all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    use_shared_data()
    classes = [s.cls for s in parse_selection(a.classes)]
    cons_list = [c.strip().upper().replace("&", "") for c in a.constraints.split(",") if c.strip()]
    times = [float(t) for t in a.times.split(",")]
    workers = [int(w) for w in a.workers.split(",")]
    # 1 worker also at N x T for every N > 1 and T, the budget N workers at T use in all
    one_worker_times = sorted({w * t for w in workers if w > 1 for t in times} - set(times)) if 1 in workers else []
    if any(w > a.cores for w in workers):
        ap.error(f"--workers: at most --cores ({a.cores}) workers per instance")
    report: dict = {"argv": sys.argv[1:], "cores": a.cores, "load_before": os.getloadavg(), "rows": []}
    started = time.perf_counter()
    with ProcessPoolExecutor(a.cores, initializer=warm_up) as pool:
        list(pool.map(time.sleep, [0.5] * a.cores))  # every process started and warmed before the clock runs
        for t in sorted(set(times) | set(one_worker_times)):
            for cons in cons_list:
                for w in workers:
                    if t in times or (w == 1 and t in one_worker_times):
                        report["rows"] += run_grid(pool, classes, a.sample, cons, t, w, a.seed, a.data_dir)
    report["wall_s"] = time.perf_counter() - started
    report["load_after"] = os.getloadavg()
    report["summary"] = summarise(report["rows"])
    report["targets"] = targets(report["summary"], workers)
    print_table(report["summary"], report["targets"], sorted(set(times) | set(one_worker_times)), workers)
    print(f"every packing verified: {all(r['verified'] for r in report['rows'])}; "
          f"load average before {report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f}")
    path = write_report(f"packing_parallel_{time.strftime('%Y%m%d-%H%M%S')}", report, Path(a.out_dir))
    print(f"report: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
