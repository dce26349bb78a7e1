"""`pack-tune`: the packing solver's own parameters tuned with Ray Tune and Optuna.

    python -m orchestrator pack-tune --instances BR1,BR8 --limit 3 --constraints C1 \
        --time-limit 5 --space default --samples 16

A trial is one configuration drawn from a space of ``search_spaces/packing.py``
(dotted keys into ``packing.solver.SolverParams``). It solves every selected instance
in its own process with ``--time-limit`` seconds each (whole tree, no branch fan-out:
the trials are the parallel unit), verifies every packing and reports the mean fill
rate; Optuna's TPE proposes the next configuration. MLflow gets one parent run and
one child run per trial (its parameters, each instance's fill rate); the parent ends
with the best configuration, written as the `pack --set` flags that reuse it, and a
plot of fill rate over trials. All input is validated before Ray starts.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator import cluster, spaces, tracking
from orchestrator.pack import add_solve_flags, check_solve_flags, load_instances
from orchestrator.pack_record import data_checksum, input_label, log_input, solver_params_dict
from orchestrator.sweep import ProgressCallback, fit_quietly, make_tuner
from orchestrator.tracking import Tag
from packing.geometry import Instance
from packing.solver import SolverParams, solve, with_overrides
from packing.verify import verify
from search_spaces import get_space
from search_spaces.space import Space
from trainables.errors import ConfigError

METRIC = "mean_fill_rate"


@dataclass(frozen=True)
class PackTuneOptions:
    """The validated command line."""

    instances: str  # the --instances value
    limit: int
    constraints: str
    time_limit: float
    strategy: str
    space_name: str
    space: Space
    samples: int
    seed: int
    concurrency: int | None
    data_dir: str | None
    experiment: str
    address: str | None
    storage: str


def register(subparsers: Any) -> None:
    """Add the `pack-tune` sub-command."""
    p = subparsers.add_parser("pack-tune", help="tune the packing solver's parameters with Ray Tune + Optuna")
    add_solve_flags(p, limit=3, time_limit=5.0, time_help="seconds per instance in a trial")
    p.add_argument("--space", default="default", help="search space in search_spaces/packing.py (default default)")
    p.add_argument("--samples", type=int, default=16, help="trials (default 16)")
    p.add_argument("--concurrency", type=int, default=None, help="trials at once (default: one per CPU)")
    p.add_argument("--storage", default="ray_results", help="directory for Ray Tune results (default ./ray_results)")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> PackTuneOptions:
    """Check every flag, and every key and value type of the space; ConfigError on bad input."""
    constraints = check_solve_flags(args)
    if args.samples is None or args.samples < 1:
        raise ConfigError(f"--samples: expected a positive number of trials, got {args.samples}")
    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigError(f"--concurrency: expected a positive number, got {args.concurrency}")
    space = get_space("packing", args.space)
    for key, domain in space.items():
        try:
            with_overrides(SolverParams(), {key: spaces.example_value(domain)})
        except ValueError as exc:
            raise ConfigError(f"--space {args.space}: {exc}") from None
    return PackTuneOptions(args.instances, args.limit, constraints, float(args.time_limit), args.strategy,
                           args.space, space, args.samples, int(args.seed or 0), args.concurrency, args.data_dir,
                           args.experiment or "orchestrator", args.address, str(Path(args.storage).resolve()))


def run(args: argparse.Namespace) -> int:
    """Validate, tune, report the best configuration. Returns the exit code."""
    opts = options(args)
    instances = load_instances(opts.instances, opts.limit, opts.data_dir)
    uri = tracking.resolve_tracking_uri()
    cluster.connect(opts.address)
    cluster.require_shared_tracking(uri)
    experiment_id = tracking.ensure_experiment(uri, opts.experiment)
    # the Tune run directory's name: no "/" or "," from instance lists, and not too long
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", input_label(opts.instances))[:40]
    name = f"pack-tune-{label}-{opts.constraints}-{datetime.now():%Y%m%d-%H%M%S}"
    parent = tracking.start_run(uri, experiment_id, name, {
        Tag.KIND: "pack-tune", Tag.STRATEGY: opts.strategy, Tag.CONSTRAINTS: opts.constraints,
        Tag.SPACE: opts.space_name, Tag.DATA_CHECKSUM: data_checksum(opts.instances, opts.data_dir),
    })
    log_input(uri, parent, opts.instances, opts.data_dir, len(instances))
    tracking.log_params(uri, parent, {
        "instances": opts.instances, "limit": opts.limit, "constraints": opts.constraints, "time_limit": opts.time_limit,
        "strategy": opts.strategy, "space": opts.space_name, "samples": opts.samples, "seed": opts.seed,
        "n_instances": len(instances),
    })
    tracking.log_dict(uri, parent, spaces.described(opts.space), "search_space.json")
    trial = tune.with_parameters(run_trial, instances=instances, opts=opts, uri=uri, experiment_id=experiment_id,
                                 parent=parent)
    tuner = make_tuner(tune.with_resources(trial, {"cpu": 1}), opts.space, "tpe", name, opts.storage, METRIC, "max",
                       opts.samples, search_alg=spaces.optuna_tpe(opts.seed, opts.samples, METRIC, "max"),
                       concurrency=opts.concurrency, callbacks=[ProgressCallback(METRIC, "max", opts.samples)])
    print(f"[pack-tune] {name}: {opts.samples} trials x {len(instances)} instances x {opts.time_limit:g} s "
          f"({opts.space_name} space); MLflow parent run {parent}", file=sys.stderr)
    try:
        results = fit_quietly(tuner)
        rows = [r.metrics for r in results if r.metrics and METRIC in r.metrics]
        if not rows:
            raise RuntimeError("pack-tune: no trial finished")
        best = results.get_best_result(METRIC, "max")
    except BaseException as exc:
        tracking.end_run(uri, parent, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                         f"{type(exc).__name__}: {exc}")
        raise
    flags = " ".join(f"--set {k}={_flag_value(v)}" for k, v in sorted(best.config.items()))
    tracking.log_params(uri, parent, {f"best.{k}": v for k, v in best.config.items()})
    tracking.log_metrics(uri, parent, {f"best_{METRIC}": best.metrics[METRIC], "trials": len(rows)})
    tracking.log_text(uri, parent, flags + "\n", "best_pack_flags.txt")
    tracking.log_figure(uri, parent, _plot(rows), "fill_rate_over_trials.png")
    tracking.end_run(uri, parent)
    print(f"best {METRIC} {100 * best.metrics[METRIC]:.2f} % over {len(rows)} trials; reuse it: "
          f"python -m orchestrator pack --instances {opts.instances} --constraints {opts.constraints} {flags}\n"
          f"{tracking.ui_hint(uri)}", file=sys.stderr)
    print(flags)
    return 0


def run_trial(config: dict[str, Any], instances: tuple[Instance, ...], opts: PackTuneOptions, uri: str,
              experiment_id: str, parent: str) -> None:
    """One configuration on every instance: solve, verify, log, report the mean fill rate."""
    params = with_overrides(SolverParams(), config)
    trial_id = tune.get_context().get_trial_id()
    run_id = tracking.start_run(uri, experiment_id, f"trial-{trial_id}",
                                {Tag.KIND: "pack-trial", Tag.TRIAL: trial_id}, parent_run_id=parent)
    tracking.log_params(uri, run_id, {**solver_params_dict(params), "time_limit": opts.time_limit,
                                      "constraints": opts.constraints, "strategy": opts.strategy, "seed": opts.seed})
    fills, started = [], time.perf_counter()
    try:
        for inst in instances:
            sol = solve(inst, opts.strategy, opts.constraints, opts.time_limit, seed=opts.seed, params=params)
            report = verify(inst, sol.placements, opts.constraints)
            if not report.ok:
                raise RuntimeError(f"{inst.name}: packing failed verification: {report.problems[:2]}")
            fills.append(sol.fill_rate)
            tracking.log_metrics(uri, run_id, {f"fill_rate.{inst.name.replace('/', '_')}": sol.fill_rate})
    except BaseException as exc:
        tracking.end_run(uri, run_id, "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    result = {METRIC: sum(fills) / len(fills), "min_fill_rate": min(fills),
              "seconds": time.perf_counter() - started}
    tracking.log_metrics(uri, run_id, result)
    tracking.end_run(uri, run_id)
    tune.report(result)


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _plot(rows: list[dict[str, Any]]):
    """Each trial's mean fill rate in trial order, with the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [100 * r[METRIC] for r in rows]
    best, running = -math.inf, []
    for v in values:
        best = max(best, v)
        running.append(best)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(values) + 1), values, "o", label="trial")
    ax.plot(range(1, len(values) + 1), running, "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("mean fill rate (%)")
    ax.legend()
    fig.tight_layout()
    return fig
