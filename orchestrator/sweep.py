"""Ray Tune sweeps: search space translation, search algorithm, scheduler, trials,
MLflow parent/child runs, resume.

Trials of one worker train inside the Tune trial itself; trials of several workers
(or with GPUs) start a Ray Train ``TorchTrainer`` gang from the trial function,
reporting back through ``TuneReportCallback``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ray
from ray import tune

from data.source import DataSource
from orchestrator import cluster, faults, tracking
from orchestrator.config import RunOptions, SweepOptions
from orchestrator.train import (TuneTrialContext, WorkerJob, log_data_source, log_fit_result, log_run_start, make_trainer,
                                progress)
from search_spaces.space import Choice, Grid, IntRange, LogUniform, Space, Uniform, grid_size
from trainables.config import as_dict, build_config
from trainables.errors import ConfigError
from trainables.registry import get_spec, kept_epoch, rank_modes

STATE_FILE = "orch_sweep.json"
TRIAL_TAG = "orch.trial_id"
SWEEP_TAG = "orch.sweep"


def to_tune_space(space: Space, search: str) -> dict[str, Any]:
    """Our Ray-free domains as Tune samplers (grids become choices under TPE)."""
    out: dict[str, Any] = {}
    for key, domain in space.items():
        if isinstance(domain, Grid):
            out[key] = tune.choice(list(domain.values)) if search == "tpe" else tune.grid_search(list(domain.values))
        elif isinstance(domain, Choice):
            out[key] = tune.choice(list(domain.values))
        elif isinstance(domain, Uniform):
            out[key] = tune.uniform(domain.low, domain.high)
        elif isinstance(domain, LogUniform):
            out[key] = tune.loguniform(domain.low, domain.high)
        elif isinstance(domain, IntRange):
            out[key] = tune.randint(domain.low, domain.high + 1) if domain.step == 1 else \
                tune.qrandint(domain.low, domain.high, domain.step)
        else:  # pragma: no cover - the vocabulary is closed
            raise ConfigError(f"search space: unsupported domain for {key!r}: {domain!r}")
    return out


def make_search_alg(opts: SweepOptions, metric: str, mode: str):
    """Optuna TPE (seeded) for 'tpe'; Tune's variant generator for 'random'/'grid'."""
    if opts.search != "tpe":
        return None
    return optuna_tpe(opts.seed, opts.samples, metric, mode)


def optuna_tpe(seed: int, samples: int, metric: str, mode: str):
    """Optuna's TPE sampler behind Tune, seeded; a third of the trials (2-10) random first."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, samples // 3)))
    return OptunaSearch(metric=metric, mode=mode, sampler=sampler)


def make_scheduler(opts: SweepOptions, metric: str, mode: str, epochs: int):
    """ASHA stops weak trials early; FIFO lets every trial finish."""
    if opts.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    # One iteration past the last epoch: the final report carries test metrics.
    return ASHAScheduler(metric=metric, mode=mode, time_attr="training_iteration",
                         max_t=epochs + 1, grace_period=max(1, epochs // 4), reduction_factor=2)


@dataclass(frozen=True)
class TrialJob:
    """What every trial of a sweep shares (pickled once into the trial function)."""

    model: str
    data: DataSource
    base_params: Any
    uri: str
    experiment_id: str
    parent_run_id: str
    sweep_name: str
    storage: str
    workers: int
    gpus_per_worker: float
    cpus_per_worker: float
    trial_plots: bool
    # Ensembles: the configurations members start from, picked by "member_rank".
    bases: tuple = ()
    child_kind: str = "trial"
    fault_plan: str = ""
    max_failures: int = 0
    metric: str = ""  # what the sweep ranks trials on ("" = the family's own metric)


def ranking(spec: Any, opts: SweepOptions) -> tuple[str, str]:
    """The metric a sweep ranks trials on (``--metric`` or the family's own) and its mode."""
    metric = opts.metric or spec.metric
    return metric, rank_modes(spec)[metric]


def _run_options(job: TrialJob, params: Any) -> RunOptions:
    return RunOptions(model=job.model, data=job.data, params=params, workers=job.workers,
                      gpus_per_worker=job.gpus_per_worker, cpus_per_worker=job.cpus_per_worker)


def _trial_run(job: TrialJob, trial_id: str, trial_name: str,
               extra_tags: dict[str, str]) -> tuple[str, dict[str, float] | None]:
    """The trial's MLflow child run, and its final metrics if it already finished.

    A resumed sweep may start a trial again whose run finished just before the
    driver died (Tune's own state is saved periodically): that trial is not
    trained twice; its recorded result is reported instead. An unfinished run is
    reused, so a resume never duplicates runs.
    """
    client = tracking.client(job.uri)
    existing = tracking.find_child(job.uri, job.experiment_id, job.parent_run_id, TRIAL_TAG, trial_id)
    if existing:
        run = client.get_run(existing)
        if run.info.status == "FINISHED" and run.data.tags.get("orch.complete") == "1":
            return existing, dict(run.data.metrics)
        client.update_run(existing, status="RUNNING")
        return existing, None
    tags = {tracking.KIND_TAG: job.child_kind, TRIAL_TAG: trial_id, SWEEP_TAG: job.sweep_name, **extra_tags}
    run_id = tracking.start_run(job.uri, job.experiment_id, trial_name, tags, parent_run_id=job.parent_run_id)
    return run_id, None


def run_trial(config: dict[str, Any], job: TrialJob, data_box: list) -> None:
    """One trial: resolve its config, train (in-process or DDP), log, report."""
    import torch

    context = tune.get_context()
    trial_id = context.get_trial_id()
    spec = get_spec(job.model)
    config = dict(config)
    base, extra_tags = job.base_params, {}
    if "member_rank" in config:  # an ensemble member: one of the sweep's top configurations
        rank = int(config.pop("member_rank"))
        base = job.bases[rank]
        extra_tags = {tracking.MEMBER_RANK_TAG: str(rank), "orch.seed": str(config.get("seed", base.seed))}
    params = build_config(spec.config_cls, config, source="search space", base=base)
    run_id, recorded = _trial_run(job, trial_id, context.get_trial_name(), extra_tags)
    if recorded is not None:
        tune.report({**recorded, "done": 1.0})
        return
    run = _run_options(job, params)
    data_ref = data_box[0]
    data = ray.get(data_ref)
    log_run_start(job.uri, run_id, run, params, data)
    try:
        if not run.distributed:
            torch.set_num_threads(max(1, int(job.cpus_per_worker)))
            result = spec.fit(params, data, TuneTrialContext(job.uri, run_id))
            log_fit_result(job.uri, run_id, spec, params, data, result, job.trial_plots)
            final = dict(result.metrics)
            kept = kept_epoch(result.history, spec)
            metric = job.metric or spec.metric
            if kept and metric in kept:
                final[metric] = kept[metric]
        else:
            from ray.tune.integration.ray_train import TuneReportCallback

            worker_job = WorkerJob(job.model, params, job.uri, run_id, f"trial {trial_id}", job.trial_plots,
                                   job.fault_plan)
            trainer = make_trainer(run, worker_job, data_ref, f"{job.sweep_name}-{trial_id}",
                                   job.storage, callbacks=[TuneReportCallback()], max_failures=job.max_failures)
            outcome = trainer.fit()
            if outcome.error:
                raise outcome.error
            final = {}
    except Exception as exc:
        tracking.end_run(job.uri, run_id, "FAILED", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    tracking.set_tags(job.uri, run_id, {"orch.complete": "1"})
    tracking.end_run(job.uri, run_id)
    if final:
        tune.report({**final, "done": 1.0})


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
        "space": {k: [type(d).__name__, asdict(d)] for k, d in opts.space.items()},
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
            kinds = {cls.__name__: cls for cls in (Choice, Grid, IntRange, LogUniform, Uniform)}
            sweep["space"] = {k: kinds[name](**{f: tuple(v) if isinstance(v, list) else v for f, v in fields.items()})
                              for k, (name, fields) in state["space"].items()}
            return run, SweepOptions(**sweep), state["parent_run_id"], state["tracking_uri"]
    raise ConfigError(f"--resume: no sweep {name_or_path!r} (looked for {STATE_FILE} in "
                      f"{', '.join(str(c) for c in candidates)})")


def _trainable(job: TrialJob, data_ref: Any, run: RunOptions):
    fn = tune.with_parameters(run_trial, job=job, data_box=[data_ref])
    if run.distributed:
        # The trial only drives its Train gang; the gang's workers hold the CPUs.
        # (a non-empty bundle that takes no CPU: a 1-byte logical memory request).
        return tune.with_resources(fn, {"cpu": 0, "memory": 1})
    resources = {"cpu": run.cpus_per_worker}
    if run.gpus_per_worker:
        resources["gpu"] = run.gpus_per_worker
    return tune.with_resources(fn, resources)


def run_sweep(run: RunOptions, opts: SweepOptions, data: Any, resume: bool = False,
              parent_run_id: str | None = None, uri: str | None = None, kind: str = "sweep",
              bases: tuple = (), parent_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Start (or resume) a sweep and return a summary of its best trial.

    ``kind="ensemble"`` with ``bases`` trains members: the space then holds
    ``member_rank`` (which base configuration) and ``seed``.
    """
    spec = run.spec
    metric, mode = ranking(spec, opts)
    uri = uri or tracking.resolve_tracking_uri()
    cluster.connect(run.address)
    cluster.require_shared_tracking(uri)
    experiment_id = tracking.ensure_experiment(uri, run.experiment)
    name = opts.name or default_name(run, opts)
    path = Path(opts.storage) / name
    total = total_trials(opts)
    if not resume:
        parent_run_id = tracking.start_run(uri, experiment_id, name, {
            **(parent_tags or {}), tracking.KIND_TAG: kind, SWEEP_TAG: name, "orch.model": run.model, "orch.dataset": run.dataset,
            "orch.search": opts.search, "orch.scheduler": opts.scheduler, "orch.space": opts.space_name,
            "orch.data_checksum": getattr(data, "checksum", ""), tracking.METRIC_TAG: metric,
        })
        log_data_source(uri, parent_run_id, run, data)
        tracking.log_params(uri, parent_run_id, {
            "model": run.model, "dataset": run.dataset, "space": opts.space_name, "search": opts.search,
            "scheduler": opts.scheduler, "samples": opts.samples, "trials": total, "workers": run.workers,
            "sweep_seed": opts.seed, **{f"base.{k}": v for k, v in as_dict(run.params).items()},
        })
        tracking.log_dict(uri, parent_run_id, {k: repr(v) for k, v in opts.space.items()}, "search_space.json")
        _save_state(path, run, opts, parent_run_id, uri)
    else:
        tracking.client(uri).update_run(parent_run_id, status="RUNNING")
    job = TrialJob(run.model, run.data, run.params, uri, experiment_id, parent_run_id, name, opts.storage,
                   run.workers, run.gpus_per_worker, run.cpus_per_worker, opts.trial_plots, bases,
                   "member" if kind == "ensemble" else "trial", faults.current(), opts.max_failures, metric)
    trainable = _trainable(job, ray.put(data), run)
    callbacks = [ProgressCallback(metric, mode, total)]
    progress(f"[sweep] {name}: {total} trials of {run.model} on {run.dataset} "
             f"({opts.search}, {opts.scheduler}); MLflow parent run {parent_run_id}")
    started = time.perf_counter()
    if resume:
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=to_tune_space(opts.space, opts.search),
            tune_config=tune.TuneConfig(
                metric=metric, mode=mode, num_samples=opts.samples,
                search_alg=make_search_alg(opts, metric, mode),
                scheduler=make_scheduler(opts, metric, mode, run.params.epochs),
                max_concurrent_trials=opts.concurrency or None,
                time_budget_s=opts.time_budget_s or None,
                reuse_actors=not run.distributed,
            ),
            # A resume needs only a trial's latest checkpoint (it carries the best weights);
            # keeping every epoch's filled 458 MB for 48 seasonal-GRU trials of 48 epochs.
            # Tune snapshots the whole experiment each time a trial has persisted
            # num_to_keep of them, so trials hand one over at most every
            # train.CHECKPOINT_INTERVAL_S, not every epoch.
            run_config=tune.RunConfig(name=name, storage_path=opts.storage, callbacks=callbacks,
                                      verbose=0, failure_config=tune.FailureConfig(max_failures=0),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
        )
    with contextlib.redirect_stdout(sys.stderr):  # Tune prints its own tables whatever `verbose` says
        results = tuner.fit()
    summary = finish_sweep(uri, experiment_id, parent_run_id, name, spec, results, opts, total,
                           time.perf_counter() - started)
    return summary


def _close_orphans(uri: str, experiment_id: str, parent_run_id: str, errors: dict[str, str],
                   interrupted: bool) -> None:
    """Child runs left RUNNING: errored -> FAILED; interrupted -> KILLED (a resume
    reuses them); otherwise the scheduler stopped them early -> FINISHED."""
    children = tracking.client(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{tracking.PARENT_TAG}` = '{parent_run_id}' "
                                       f"and attributes.status = 'RUNNING'")
    for child in children:
        trial_id = child.data.tags.get(TRIAL_TAG, "")
        if trial_id in errors:
            tracking.end_run(uri, child.info.run_id, "FAILED", error=errors[trial_id])
        elif interrupted:
            tracking.end_run(uri, child.info.run_id, "KILLED")
        else:
            tracking.set_tags(uri, child.info.run_id, {"orch.stopped_early": "scheduler"})
            tracking.end_run(uri, child.info.run_id)


def _was_interrupted(results: Any, rows: list[dict], total: int, opts: SweepOptions, seconds: float) -> bool:
    """True when trials are left to run (Ctrl-C, a dead driver), not when a time
    budget ran out by design."""
    if opts.time_budget_s and seconds >= opts.time_budget_s:
        return False
    try:
        statuses = [trial.status for trial in results._experiment_analysis.trials]
    except AttributeError:  # pragma: no cover - private API moved: fall back to counting
        statuses = ["TERMINATED"] * len(rows)
    return len(statuses) < total or any(status not in ("TERMINATED", "ERROR") for status in statuses)


def finish_sweep(uri: str, experiment_id: str, parent_run_id: str, name: str, spec: Any, results: Any,
                 opts: SweepOptions, total: int, seconds: float) -> dict[str, Any]:
    """Best config and metric on the parent; best trial's plot copied up; a sweep plot."""
    errors: dict[str, str] = {}
    rows = []
    for result in results:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        if result.error:
            errors[str(trial_id)] = f"{type(result.error).__name__}: {result.error}".splitlines()[0][:500]
        rows.append({"trial_id": trial_id, "config": result.config or {}, "metrics": metrics,
                     "error": bool(result.error)})
    interrupted = _was_interrupted(results, rows, total, opts, seconds)
    _close_orphans(uri, experiment_id, parent_run_id, errors, interrupted)
    metric, mode = ranking(spec, opts)
    finished = [r for r in rows if not r["error"] and metric in r["metrics"] and
                ("done" in r["metrics"] or opts.scheduler == "asha")]
    summary: dict[str, Any] = {"name": name, "parent_run_id": parent_run_id, "trials": len(rows),
                               "failed": len(errors), "seconds": seconds, "tracking_uri": uri}
    tracking.log_metrics(uri, parent_run_id, {"trials_finished": len(finished), "trials_failed": len(errors),
                                              "sweep_seconds": seconds})
    if finished:
        pick = min if mode == "min" else max
        best = pick(finished, key=lambda r: r["metrics"][metric])
        summary.update(best_trial=best["trial_id"], best_config=best["config"],
                       best_metric=best["metrics"][metric], metric=metric,
                       best_metrics={k: v for k, v in best["metrics"].items()
                                     if isinstance(v, float) and (k.startswith("test_") or k.startswith("val_"))})
        tracking.log_params(uri, parent_run_id, {f"best.{k}": v for k, v in best["config"].items()})
        tracking.log_metrics(uri, parent_run_id, {f"best_{metric}": best["metrics"][metric],
                                                  **{f"best_{k}": v for k, v in summary["best_metrics"].items()}})
        tracking.set_tags(uri, parent_run_id, {"orch.best_trial": best["trial_id"]})
        _copy_best_plot(uri, experiment_id, parent_run_id, str(best["trial_id"]))
        _log_sweep_plot(uri, parent_run_id, finished, metric, opts)
    status = "KILLED" if interrupted else "FINISHED"
    if interrupted:
        tracking.set_tags(uri, parent_run_id, {"orch.resume": f"python -m orchestrator sweep --resume {name}"})
    tracking.end_run(uri, parent_run_id, status)
    summary["interrupted"] = interrupted
    return summary


def _copy_best_plot(uri: str, experiment_id: str, parent_run_id: str, trial_id: str) -> None:
    child = tracking.find_child(uri, experiment_id, parent_run_id, TRIAL_TAG, trial_id)
    if not child:
        return
    client = tracking.client(uri)
    try:
        files = [f.path for f in client.list_artifacts(child, "plots")]
    except Exception:  # noqa: BLE001 - a missing plot must not fail the sweep
        return
    for artifact in files:
        local = client.download_artifacts(child, artifact)
        client.log_artifact(parent_run_id, local, "best_trial")


def _log_sweep_plot(uri: str, parent_run_id: str, rows: list[dict], metric: str, opts: SweepOptions) -> None:
    """The metric against each searched parameter (numeric or categorical)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in opts.space if any(k in r["config"] for r in rows)] or ["trial"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    values = [r["metrics"][metric] for r in rows]
    for ax, key in zip(axes[0], keys):
        xs = [r["config"].get(key, i) if key != "trial" else i for i, r in enumerate(rows)]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, values, s=18)
            if isinstance(opts.space.get(key), LogUniform):
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], values, s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    fig.suptitle(f"{len(rows)} trials")
    fig.tight_layout()
    tracking.log_figure(uri, parent_run_id, fig, "plots/metric_vs_params.png")
