"""Fill rate per BR class (C1 and C1&C2) beside the MLTrS paper, and Ray's fan-out speedup.

    python benchmarks/packing_fill.py --classes BR1-BR15 --sample 10 --time-limit 30
    python benchmarks/packing_fill.py --classes BR1,BR8 --sample 3 --time-limit 5 --jobs 2 --speedup

Each instance is solved by ``packing.solver.solve`` (whole tree, one process) with the
time limit, verified independently, and its fill rate and seconds recorded. ``--jobs``
runs that many instances at once in a process pool (timings stay per instance).
``--speedup`` times the same set of branch tasks run one after another in this
process and fanned out as Ray remote tasks. A JSON report goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import use_shared_data, write_report  # noqa: E402
from packing.instances import find_class_file, parse_selection, read_file  # noqa: E402
from packing.solver import branches, solve, warm_up  # noqa: E402
from packing.verify import verify  # noqa: E402

# Seed 002's tables: mean volume utilisation (%) per class, BR1..BR15.
MLTRS = {
    "C1": [93.81, 93.83, 93.80, 93.98, 93.97, 93.83, 93.91, 93.98, 93.97, 93.78, 93.75, 93.63, 93.43, 93.25, 93.12],
    "C1C2": [93.48, 93.41, 93.79, 93.85, 93.43, 93.65, 93.63, 91.82, 91.69, 91.55, 91.24, 91.21, 91.03, 90.78, 90.59],
}
CLTRS = {
    "C1": [95.05, 95.43, 95.47, 95.18, 95.00, 94.79, 94.24, 93.70, 93.44, 93.09, 92.81, 92.73, 92.46, 92.40, 92.40],
    "C1C2": [94.51, 94.73, 94.74, 94.41, 94.13, 93.85, 93.20, 92.26, 91.48, 90.86, 90.11, 89.51, 88.98, 88.26, 87.57],
}


def _one(job: tuple[str, int, str, str, float, int, str | None]) -> dict:
    cls, number, constraints, strategy, limit, seed, data_dir = job
    warm_up()  # load the compiled kernels outside the timed solve (a no-op after the first time)
    inst = read_file(find_class_file(cls, data_dir), [number])[0]
    sol = solve(inst, strategy, constraints, limit, seed=seed)
    report = verify(inst, sol.placements, constraints)
    return {"instance": inst.name, "class": cls, "constraints": constraints, "fill_rate": sol.fill_rate,
            "seconds": sol.seconds, "verified": report.ok, "boxes": len(sol.placements)}


def fill_table(classes, sample, constraints_list, strategy, limit, seed, jobs, data_dir) -> list[dict]:
    work = [(c, n, cons, strategy, limit, seed, data_dir)
            for cons in constraints_list for c in classes for n in range(1, sample + 1)]
    rows = []
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        for r in pool.map(_one, work):  # in order, each printed as soon as it and those before it are done
            rows.append(r)
            print(f"  [{len(rows)}/{len(work)}] {r['instance']:8s} {r['constraints']:5s} {100 * r['fill_rate']:6.2f} %"
                  f"  {r['seconds']:5.1f} s  {'ok' if r['verified'] else 'INVALID'}", file=sys.stderr, flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for cons in dict.fromkeys(r["constraints"] for r in rows):
        for cls in dict.fromkeys(r["class"] for r in rows):
            sel = [r for r in rows if r["class"] == cls and r["constraints"] == cons]
            if not sel:
                continue
            k = int(cls[2:])
            mean = 100 * sum(r["fill_rate"] for r in sel) / len(sel)
            paper = MLTRS[cons][k - 1] if 1 <= k <= 15 else None
            out.append({"class": cls, "constraints": cons, "n": len(sel), "mean_fill": mean,
                        "seconds": sum(r["seconds"] for r in sel) / len(sel),
                        "all_verified": all(r["verified"] for r in sel),
                        "mltrs": paper, "cltrs": CLTRS[cons][k - 1] if 1 <= k <= 15 else None,
                        "ratio_to_mltrs": mean / paper if paper else None})
    return out


def print_table(summary: list[dict]) -> None:
    print(f"{'class':6s} {'cons':5s} {'n':>3s} {'ours %':>8s} {'s/inst':>7s} {'MLTrS %':>8s} {'ratio':>6s} {'CLTRS %':>8s}")
    for s in summary:
        print(f"{s['class']:6s} {s['constraints']:5s} {s['n']:3d} {s['mean_fill']:8.2f} {s['seconds']:7.1f} "
              f"{s['mltrs'] or float('nan'):8.2f} {s['ratio_to_mltrs'] or float('nan'):6.3f} {s['cltrs'] or float('nan'):8.2f}")
    for cons in dict.fromkeys(s["constraints"] for s in summary):
        for name, lo, hi in (("BR1-7", 1, 7), ("BR8-15", 8, 15)):
            sel = [s for s in summary if s["constraints"] == cons and lo <= int(s["class"][2:]) <= hi]
            if sel:
                ours = sum(s["mean_fill"] for s in sel) / len(sel)
                paper = sum(s["mltrs"] for s in sel) / len(sel)
                print(f"{name:6s} {cons:5s} mean of {len(sel)} classes: ours {ours:.2f} % vs MLTrS {paper:.2f} % "
                      f"on the same classes (paper's full average {sum(MLTRS[cons][lo - 1:hi]) / (hi - lo + 1):.2f} %)")


def speedup(classes, sample, constraints, strategy, limit, seed, data_dir, branches_cap) -> dict:
    """Wall time of the same branch tasks: serial in this process vs Ray remote tasks."""
    import ray

    from orchestrator import cluster

    insts = [read_file(find_class_file(c, data_dir), [n])[0] for c in classes for n in range(1, sample + 1)]
    tasks = [(i, b) for i in insts for b in branches(i, strategy, constraints)[:branches_cap]]
    t0 = time.perf_counter()
    serial = [solve(i, strategy, constraints, limit, seed=seed, branch=b).fill_rate for i, b in tasks]
    t_serial = time.perf_counter() - t0
    cluster.connect(None)
    remote = ray.remote(num_cpus=1)(solve)
    ray.get(remote.remote(insts[0], strategy, constraints, 0.01))
    t0 = time.perf_counter()
    par = ray.get([remote.remote(i, strategy, constraints, limit, seed, b) for i, b in tasks])
    t_ray = time.perf_counter() - t0
    cpus = ray.cluster_resources().get("CPU", 0)
    ray.shutdown()
    return {"tasks": len(tasks), "per_task_limit_s": limit, "serial_s": t_serial, "ray_s": t_ray,
            "speedup": t_serial / t_ray, "cluster_cpus": cpus, "ideal": min(cpus, len(tasks)),
            "serial_mean_fill": sum(serial) / len(serial), "ray_mean_fill": sum(s.fill_rate for s in par) / len(par)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="BR1-BR15")
    ap.add_argument("--sample", type=int, default=10, help="first N instances per class")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    ap.add_argument("--constraints", default="C1,C1C2")
    ap.add_argument("--strategy", default="blocks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="instances solved at once (processes)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--speedup", action="store_true", help="also time Ray fan-out vs serial")
    ap.add_argument("--speedup-branches", type=int, default=2)
    ap.add_argument("--skip-fill", action="store_true")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    use_shared_data()
    classes = [s.cls for s in parse_selection(a.classes)]
    cons_list = [c.strip().upper().replace("&", "") for c in a.constraints.split(",") if c.strip()]
    report: dict = {"argv": sys.argv[1:], "strategy": a.strategy, "time_limit": a.time_limit, "sample": a.sample}
    if not a.skip_fill:
        rows = fill_table(classes, a.sample, cons_list, a.strategy, a.time_limit, a.seed, a.jobs, a.data_dir)
        report["instances"], report["summary"] = rows, summarise(rows)
        print_table(report["summary"])
    if a.speedup:
        sp = speedup(classes[:2], min(a.sample, 2), cons_list[0], a.strategy, a.time_limit, a.seed, a.data_dir,
                     a.speedup_branches)
        report["speedup"] = sp
        print(f"Ray fan-out: {sp['tasks']} branch tasks x {sp['per_task_limit_s']} s: serial {sp['serial_s']:.1f} s, "
              f"Ray {sp['ray_s']:.1f} s -> speedup {sp['speedup']:.2f}x on {sp['cluster_cpus']:.0f} CPUs")
    path = write_report(f"packing_fill_{a.strategy}_{time.strftime('%Y%m%d-%H%M%S')}", report, Path(a.out_dir))
    print(f"report: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
