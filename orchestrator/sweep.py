"""Ray Tune sweeps: the driver. It opens the sweep's MLflow parent run, saves what a
``--resume`` needs, builds the Tuner (search algorithm, scheduler, checkpoint policy)
and hands the end to ``sweep_report``. A trial's own work is in ``trial``; search
spaces are translated in ``spaces``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import ray
from ray import tune

from data.source import DataSource
from orchestrator import cluster, faults, spaces, tracking
from orchestrator.config import RunOptions, SweepOptions, ranking
from orchestrator.progress import progress
from orchestrator.run_record import log_data_source
from orchestrator.sweep_report import finish_sweep
from orchestrator.tracking import Tag
from orchestrator.trial import TrialJob, trainable
from search_spaces.space import Grid, Space, grid_size
from trainables.config import as_dict, build_config
from trainables.errors import ConfigError
from trainables.registry import get_spec

STATE_FILE = "orch_sweep.json"


def make_search_alg(opts: SweepOptions, metric: str, mode: str):
    """Optuna TPE (seeded) for 'tpe'; Tune's variant generator for 'random'/'grid'."""
    if opts.search != "tpe":
        return None
    return spaces.optuna_tpe(opts.seed, opts.samples, metric, mode)


def make_scheduler(opts: SweepOptions, metric: str, mode: str, epochs: int):
    """ASHA stops weak trials early; FIFO lets every trial finish."""
    if opts.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    # One iteration past the last epoch: the final report carries test metrics.
    return ASHAScheduler(metric=metric, mode=mode, time_attr="training_iteration",
                         max_t=epochs + 1, grace_period=max(1, epochs // 4), reduction_factor=2)


class ProgressCallback(tune.Callback):
    """One line per finished or failed trial, with the running best."""

    def __init__(self, metric: str, mode: str, total: int) -> None:
        self.metric, self.mode, self.total = metric, mode, total
        self.finished = 0
        self.best = math.nan

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        value = (trial.last_result or {}).get(self.metric, math.nan)
        if not math.isnan(value) and (math.isnan(self.best) or (value < self.best if self.mode == "min" else value > self.best)):
            self.best = value
        progress(f"[sweep] trial {self.finished}/{self.total} done ({trial.trial_id}): "
                 f"{self.metric}={value:.5g}  best={self.best:.5g}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        progress(f"[sweep] trial {self.finished}/{self.total} FAILED ({trial.trial_id}); the sweep goes on")


def default_name(run: RunOptions, opts: SweepOptions) -> str:
    return f"{run.model}-{run.dataset}-{opts.space_name}-{datetime.now():%Y%m%d-%H%M%S}"


def total_trials(opts: SweepOptions) -> int:
    """Grid searches run each grid point ``samples`` times."""
    if opts.search == "grid" or (opts.search == "random" and any(isinstance(d, Grid) for d in opts.space.values())):
        return grid_size(opts.space) * opts.samples
    return opts.samples


def _save_state(path: Path, run: RunOptions, opts: SweepOptions, parent_run_id: str, uri: str) -> None:
    state = {
        "model": run.model, "data": run.data.as_dict(), "experiment": run.experiment,
        "params": as_dict(run.params), "workers": run.workers, "gpus_per_worker": run.gpus_per_worker,
        "cpus_per_worker": run.cpus_per_worker,
        "sweep": {k: v for k, v in asdict(opts).items() if k != "space"},
        "space": spaces.to_state(opts.space),
        "parent_run_id": parent_run_id, "tracking_uri": uri,
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / STATE_FILE).write_text(json.dumps(state, indent=1, default=str))


def load_state(name_or_path: str, storage: str) -> tuple[RunOptions, SweepOptions, str, str]:
    """RunOptions, SweepOptions, parent run id and tracking URI of a saved sweep."""
    candidates = [Path(name_or_path), Path(storage) / name_or_path]
    for path in candidates:
        if (path / STATE_FILE).is_file():
            state = json.loads((path / STATE_FILE).read_text())
            spec = get_spec(state["model"])
            params = build_config(spec.config_cls, state["params"], source=str(path / STATE_FILE))
            run = RunOptions(model=state["model"], data=DataSource.from_dict(state["data"]), params=params,
                             experiment=state["experiment"],
                             workers=state["workers"], gpus_per_worker=state["gpus_per_worker"],
                             cpus_per_worker=state["cpus_per_worker"])
            sweep = dict(state["sweep"])
            sweep["space"] = spaces.from_state(state["space"])
            return run, SweepOptions(**sweep), state["parent_run_id"], state["tracking_uri"]
    raise ConfigError(f"--resume: no sweep {name_or_path!r} (looked for {STATE_FILE} in "
                      f"{', '.join(str(c) for c in candidates)})")


def make_tuner(fn: Any, space: Space, search: str, name: str, storage: str, metric: str, mode: str,
               samples: int, search_alg: Any = None, scheduler: Any = None, concurrency: int | None = None,
               time_budget_s: float | None = None, reuse_actors: bool = True,
               callbacks: list | None = None) -> tune.Tuner:
    """The Tuner every sweep here runs (training sweeps, ensembles, ``pack-tune``):
    quiet, no retries of a failed trial (its error is recorded instead), and the
    checkpoint policy below."""
    return tune.Tuner(
        fn,
        param_space=spaces.to_tune(space, search),
        tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=samples, search_alg=search_alg,
                                    scheduler=scheduler, max_concurrent_trials=concurrency or None,
                                    time_budget_s=time_budget_s or None, reuse_actors=reuse_actors),
        # A resume needs only a trial's latest checkpoint (it carries the best weights);
        # keeping every epoch's takes 458 MB for 48 seasonal-GRU trials of 48 epochs.
        # Tune snapshots the whole experiment each time a trial has persisted
        # num_to_keep of them, so trials hand one over at most every
        # contexts.CHECKPOINT_INTERVAL_S, not every epoch.
        run_config=tune.RunConfig(name=name, storage_path=storage, callbacks=callbacks, verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
    )


def fit_quietly(tuner: tune.Tuner) -> Any:
    """``tuner.fit()``, with Tune's own tables on stderr (it prints them whatever
    ``verbose`` says): stdout carries only results."""
    with contextlib.redirect_stdout(sys.stderr):
        return tuner.fit()


def run_sweep(run: RunOptions, opts: SweepOptions, data: Any, resume: bool = False,
              parent_run_id: str | None = None, uri: str | None = None, kind: str = "sweep",
              bases: tuple = (), parent_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Start (or resume) a sweep and return a summary of its best trial.

    ``kind="ensemble"`` with ``bases`` trains members: the space then holds
    ``trial.CONFIG_RANK_KEY`` (which base configuration) and ``seed``.
    """
    spec = run.spec
    metric, mode = ranking(spec, opts.metric)
    uri = uri or tracking.resolve_tracking_uri()
    cluster.connect(run.address)
    cluster.require_shared_tracking(uri)
    experiment_id = tracking.ensure_experiment(uri, run.experiment)
    name = opts.name or default_name(run, opts)
    path = Path(opts.storage) / name
    total = total_trials(opts)
    if not resume:
        parent_run_id = tracking.start_run(uri, experiment_id, name, {
            **(parent_tags or {}), Tag.KIND: kind, Tag.SWEEP: name, Tag.MODEL: run.model, Tag.DATASET: run.dataset,
            Tag.SEARCH: opts.search, Tag.SCHEDULER: opts.scheduler, Tag.SPACE: opts.space_name,
            Tag.DATA_CHECKSUM: getattr(data, "checksum", ""), Tag.METRIC: metric,
        })
        log_data_source(uri, parent_run_id, run, data)
        tracking.log_params(uri, parent_run_id, {
            "model": run.model, "dataset": run.dataset, "space": opts.space_name, "search": opts.search,
            "scheduler": opts.scheduler, "samples": opts.samples, "trials": total, "workers": run.workers,
            "sweep_seed": opts.seed, **{f"base.{k}": v for k, v in as_dict(run.params).items()},
        })
        tracking.log_dict(uri, parent_run_id, spaces.described(opts.space), "search_space.json")
        _save_state(path, run, opts, parent_run_id, uri)
    else:
        tracking.client(uri).update_run(parent_run_id, status="RUNNING")
    job = TrialJob(model=run.model, data=run.data, base_params=run.params, uri=uri, experiment_id=experiment_id,
                   parent_run_id=parent_run_id, sweep_name=name, storage=opts.storage, workers=run.workers,
                   gpus_per_worker=run.gpus_per_worker, cpus_per_worker=run.cpus_per_worker,
                   trial_plots=opts.trial_plots, bases=bases, child_kind="member" if kind == "ensemble" else "trial",
                   fault_plan=faults.current(), max_failures=opts.max_failures)
    fn = trainable(job, ray.put(data))
    progress(f"[sweep] {name}: {total} trials of {run.model} on {run.dataset} "
             f"({opts.search}, {opts.scheduler}); MLflow parent run {parent_run_id}")
    started = time.perf_counter()
    if resume:
        tuner = tune.Tuner.restore(str(path), trainable=fn, resume_unfinished=True, resume_errored=True)
    else:
        tuner = make_tuner(fn, opts.space, opts.search, name, opts.storage, metric, mode, opts.samples,
                           search_alg=make_search_alg(opts, metric, mode),
                           scheduler=make_scheduler(opts, metric, mode, run.params.epochs),
                           concurrency=opts.concurrency, time_budget_s=opts.time_budget_s,
                           reuse_actors=not run.distributed, callbacks=[ProgressCallback(metric, mode, total)])
    results = fit_quietly(tuner)
    return finish_sweep(uri, experiment_id, parent_run_id, name, spec, results, opts, total,
                        time.perf_counter() - started)
