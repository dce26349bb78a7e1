"""Per-trial overhead: an in-process Tune trial and a 2-worker TorchTrainer trial,
each against a minimal plain PyTorch loop running the same epochs on the same data.

    python benchmarks/trial_overhead.py [--trials 4] [--epochs 3]

Prints a ratio table and writes benchmarks/results/trial_overhead.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks.common import table, write_report  # noqa: E402
from trainables.config import build_config  # noqa: E402
from trainables.context import LocalContext  # noqa: E402
from trainables.timemixer.config import TimeMixerConfig  # noqa: E402
from trainables.timemixer.data import split_dataset  # noqa: E402
from trainables.timemixer.task import SPEC, build_model, load_data, predict_split  # noqa: E402
from data.windows import keep_batch  # noqa: E402
from data.source import builtin_source


def workload(epochs: int) -> TimeMixerConfig:
    """A small fixed TimeMixer run on synthetic wells (a few seconds per epoch)."""
    return build_config(TimeMixerConfig, {
        "input_len": 96, "output_len": 24, "d_model": 16, "d_ff": 32, "e_layers": 2, "moving_avg": 13,
        "epochs": epochs, "batch_size": 64, "patience": 0, "scheduler": "onecycle",
    })


def plain_loop(cfg: TimeMixerConfig, data) -> float:
    """The minimal loop doing a trial's work: same model, windows and optimiser,
    validation every epoch and one pass over the test split at the end."""
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    train = split_dataset(cfg, data, "train", cfg.step_len)
    val = split_dataset(cfg, data, "val", 1)
    test = split_dataset(cfg, data, "test", 1)
    loader = DataLoader(train, batch_size=cfg.batch_size, shuffle=True, collate_fn=keep_batch)
    model = build_model(cfg, data)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * len(loader),
                                                pct_start=cfg.pct_start)
    for _ in range(cfg.epochs):
        model.train()
        for x, y, xm, _ in loader:
            loss = torch.nn.functional.mse_loss(model(x, xm), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        predict_split(model, val, cfg.eval_batch_size, torch.device("cpu"), data.target_channels)
    predict_split(model, test, cfg.eval_batch_size, torch.device("cpu"), data.target_channels)
    return time.perf_counter() - started


def our_loop(cfg: TimeMixerConfig, data) -> float:
    started = time.perf_counter()
    SPEC.fit(cfg, data, LocalContext("cpu"))
    return time.perf_counter() - started


def tune_sweep(cfg: TimeMixerConfig, trials: int, workers: int, storage: str, plots: bool,
               concurrency: int = 1) -> float:
    """Wall time of a sweep of ``trials`` trials (one at a time by default)."""
    return timed_sweep(cfg, trials, workers, storage, plots, concurrency)["wall_s"]


def timed_sweep(cfg: TimeMixerConfig, trials: int, workers: int, storage: str, plots: bool,
                concurrency: int = 1) -> dict:
    """Run a sweep of ``trials`` trials; its summary plus ``wall_s`` and ``started_at``
    (epoch seconds, to place the trials' MLflow run times on the sweep's clock)."""
    from orchestrator.config import RunOptions, SweepOptions
    from orchestrator.sweep import run_sweep
    from search_spaces.space import Grid

    run = RunOptions(model="timemixer", data=builtin_source("synthetic_wells"), params=cfg, experiment="bench-overhead",
                     workers=workers)
    opts = SweepOptions(space_name="seeds", space={"seed": Grid(tuple(range(trials)))}, search="grid",
                        samples=1, concurrency=concurrency, storage=storage, trial_plots=plots,
                        name=f"overhead-w{workers}-p{int(plots)}-{int(time.time())}")
    data = load_data(cfg, builtin_source("synthetic_wells"))
    started_at, started = time.time(), time.perf_counter()
    summary = run_sweep(run, opts, data)
    return {**summary, "wall_s": time.perf_counter() - started, "started_at": started_at}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a trial gets one CPU; so does the baseline
    cfg = workload(args.epochs)
    data = load_data(cfg, builtin_source("synthetic_wells"))
    plain_loop(cfg, data), our_loop(cfg, data)  # warm-up: lazy initialisation, caches
    plain = float(np.median([plain_loop(cfg, data) for _ in range(3)]))
    ours = float(np.median([our_loop(cfg, data) for _ in range(3)]))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        from orchestrator import cluster

        cluster.connect(None)
        warm = tune_sweep(cfg, 1, 1, tmp, False)  # first sweep pays imports and worker start
        short = tune_sweep(cfg, args.trials, 1, tmp, False)
        long = tune_sweep(cfg, 3 * args.trials, 1, tmp, False)
        in_process_plots = tune_sweep(cfg, args.trials, 1, tmp, True) / args.trials
        gang = tune_sweep(cfg, 2, 2, tmp, False) / 2
    # A sweep costs a fixed start-up (trial actor: process, imports) plus a cost per
    # trial; two sweep lengths separate them.
    in_process = short / args.trials
    each_further = (long - short) / (2 * args.trials)
    startup = short - args.trials * each_further
    rows = [
        {"path": "plain PyTorch loop", "seconds_per_run": plain, "overhead_s": 0.0, "ratio": 1.0},
        {"path": "our loop, no Ray", "seconds_per_run": ours, "overhead_s": ours - plain, "ratio": ours / plain},
        {"path": f"in-process Tune trial (sweep of {args.trials}, start-up shared)", "seconds_per_run": in_process,
         "overhead_s": in_process - plain, "ratio": in_process / plain},
        {"path": "in-process Tune trial, each further trial", "seconds_per_run": each_further,
         "overhead_s": each_further - plain, "ratio": each_further / plain},
        {"path": "sweep start-up, once per sweep", "seconds_per_run": startup, "overhead_s": startup,
         "ratio": float("nan")},
        {"path": "in-process trial + plots", "seconds_per_run": in_process_plots,
         "overhead_s": in_process_plots - plain, "ratio": in_process_plots / plain},
        {"path": "2-worker TorchTrainer trial", "seconds_per_run": gang, "overhead_s": gang - plain,
         "ratio": gang / plain},
    ]
    print(table(rows, ["path", "seconds_per_run", "overhead_s", "ratio"]))
    print(f"(first, warm-up sweep of one trial: {warm:.1f} s; anchors: ~1.1 s/trial Tune overhead, "
          "~21-25 s per 2-worker gloo trial)")
    path = write_report("trial_overhead", {"trials": args.trials, "epochs": args.epochs, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
