"""Sweep efficiency: 16 trials of a fixed small workload on the machine's CPUs,
against the ideal (total trial compute / parallel slots) and a serial plain loop.

    python benchmarks/sweep_efficiency.py [--trials 16] [--epochs 2]

The per-trial compute is the plain PyTorch loop of benchmarks/trial_overhead.py run
with one thread (what each trial gets). A second ideal runs that loop in as many
processes at once as there are slots, which separates the machine's own parallel
slow-down (shared caches and memory bandwidth) from the orchestrator's overhead,
and the trials' MLflow start / end times split that overhead into the start-up before
the first trial, the trials' own excess and the rest. Prints ratios, writes JSON.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import table, write_report  # noqa: E402
from benchmarks.trial_overhead import plain_loop, timed_sweep, tune_sweep, workload  # noqa: E402
from trainables.timemixer.task import load_data  # noqa: E402
from data.source import builtin_source


def _timed_plain_loop(epochs: int, barrier, results) -> None:
    torch.set_num_threads(1)
    cfg = workload(epochs)
    data = load_data(cfg, builtin_source("synthetic_wells"))
    plain_loop(cfg, data)  # warm-up: imports, lazy initialisation
    barrier.wait()  # the timed loops start together
    results.put(plain_loop(cfg, data))


def concurrent_per_trial(epochs: int, slots: int) -> float:
    """Mean time of one plain loop while ``slots`` of them run at once, one process each."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(slots), context.Queue()
    workers = [context.Process(target=_timed_plain_loop, args=(epochs, barrier, results)) for _ in range(slots)]
    for worker in workers:
        worker.start()
    times = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return float(np.mean(times))


def where_the_time_went(sweep: dict, per_trial: float, slots: int) -> dict[str, float]:
    """Split the sweep's overhead (slot-seconds over the ideal) using its trials'
    MLflow start / end times: the start-up before the first trial runs, the trials'
    own excess over the plain loop (in-trial logging, the first trial's imports),
    and what is left (between trials, after the last one)."""
    from orchestrator import tracking

    uri = sweep["tracking_uri"]
    children = tracking.children(uri, tracking.client(uri).get_run(sweep["parent_run_id"]))
    starts = sorted(run.info.start_time / 1000 - sweep["started_at"] for run in children)
    durations = sorted((run.info.end_time - run.info.start_time) / 1000 for run in children)
    overhead = sweep["wall_s"] * slots - per_trial * len(children)
    startup = starts[0] * slots
    in_trials = sum(durations) - per_trial * len(children)
    return {"startup_s": starts[0], "trial_median_s": float(np.median(durations)),
            "trial_slowest_s": float(durations[-1]),
            "overhead_slot_s": overhead, "startup_slot_s": startup, "in_trials_slot_s": in_trials,
            "rest_slot_s": overhead - startup - in_trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--plots", action="store_true", help="per-trial plots on (default off)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = workload(args.epochs)
    data = load_data(cfg, builtin_source("synthetic_wells"))
    per_trial = float(np.median([plain_loop(cfg, data) for _ in range(3)]))
    slots = int(os.cpu_count() or 1)
    serial = per_trial * args.trials
    ideal = serial / slots
    parallel_ideal = concurrent_per_trial(args.epochs, slots) * args.trials / slots
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        from orchestrator import cluster

        cluster.connect(None)
        tune_sweep(cfg, 2, 1, tmp, False, concurrency=0)  # warm-up: worker processes, imports, store
        sweep = timed_sweep(cfg, args.trials, 1, tmp, args.plots, concurrency=0)
        wall = sweep["wall_s"]  # run_sweep's own time: the synthetic data is made before it
        split = where_the_time_went(sweep, per_trial, slots)
    rows = [
        {"what": "serial plain loop", "seconds": serial, "vs_ideal": serial / ideal},
        {"what": f"ideal ({slots} slots)", "seconds": ideal, "vs_ideal": 1.0},
        {"what": f"{slots} plain loops at once", "seconds": parallel_ideal, "vs_ideal": parallel_ideal / ideal},
        {"what": "our sweep", "seconds": wall, "vs_ideal": wall / ideal},
    ]
    print(table(rows, ["what", "seconds", "vs_ideal"]))
    print(f"per-trial compute {per_trial:.2f} s; sweep overhead per trial "
          f"{(wall - ideal) * slots / args.trials:.2f} s-slot; target: sweep <= 1.15 x ideal; "
          f"against {slots} plain loops at once: {wall / parallel_ideal:.2f} x")
    print(f"where the overhead went ({split['overhead_slot_s']:.1f} slot-s): start-up until the first trial "
          f"runs {split['startup_s']:.1f} s ({split['startup_slot_s']:.1f} slot-s); inside the trials "
          f"{split['in_trials_slot_s']:.1f} slot-s (median trial {split['trial_median_s']:.2f} s, slowest "
          f"{split['trial_slowest_s']:.2f} s, plain loop {per_trial:.2f} s); between and after trials "
          f"{split['rest_slot_s']:.1f} slot-s")
    path = write_report("sweep_efficiency", {"trials": args.trials, "epochs": args.epochs, "slots": slots,
                                             "per_trial_s": per_trial, "parallel_ideal_s": parallel_ideal,
                                             "rows": rows, "overhead_split": split})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
