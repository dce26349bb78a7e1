"""One Tune trial of a sweep or an ensemble: resolve its config, train in the trial's
own process or as a Ray Train DDP gang, record it as an MLflow child run, report.

Trials of one worker train inside the Tune trial itself; trials of several workers
(or with GPUs) start a ``TorchTrainer`` gang from the trial function, which reports
back through ``TuneReportCallback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray
from ray import tune

from data.source import DataSource
from orchestrator import tracking
from orchestrator.config import RunOptions
from orchestrator.contexts import TuneTrialContext
from orchestrator.run_record import log_fit_result, log_run_start
from orchestrator.tracking import Tag
from orchestrator.train import WorkerJob, make_trainer
from trainables.config import build_config
from trainables.registry import final_report, get_spec

# An ensemble's search space names the configuration a member starts from by its
# rank among the source sweep's best (0 = best), beside the member's seed.
CONFIG_RANK_KEY = "member_rank"


@dataclass(frozen=True, kw_only=True)
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
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    trial_plots: bool = True
    # Ensembles: the configurations members start from, by CONFIG_RANK_KEY.
    bases: tuple = ()
    child_kind: str = "trial"
    fault_plan: str = ""
    max_failures: int = 0

    def run_options(self, params: Any) -> RunOptions:
        return RunOptions(model=self.model, data=self.data, params=params, workers=self.workers,
                          gpus_per_worker=self.gpus_per_worker, cpus_per_worker=self.cpus_per_worker)


def trainable(job: TrialJob, data_ref: Any):
    """The trial function with its job and data bound, holding the resources it uses."""
    fn = tune.with_parameters(run_trial, job=job, data_box=[data_ref])
    if job.workers > 1 or job.gpus_per_worker > 0:
        # The trial only drives its Train gang; the gang's workers hold the CPUs.
        # (a non-empty bundle that takes no CPU: a 1-byte logical memory request).
        return tune.with_resources(fn, {"cpu": 0, "memory": 1})
    resources = {"cpu": job.cpus_per_worker}
    if job.gpus_per_worker:
        resources["gpu"] = job.gpus_per_worker
    return tune.with_resources(fn, resources)


def trial_run(job: TrialJob, trial_id: str, trial_name: str,
              extra_tags: dict[str, str]) -> tuple[str, dict[str, float] | None]:
    """The trial's MLflow child run, and its final metrics if it already finished.

    A resumed sweep may start a trial again whose run finished just before the
    driver died (Tune's own state is saved periodically): that trial is not
    trained twice; its recorded result is reported instead. An unfinished run is
    reused, so a resume never duplicates runs.
    """
    client = tracking.client(job.uri)
    existing = tracking.find_child(job.uri, job.experiment_id, job.parent_run_id, Tag.TRIAL, trial_id)
    if existing:
        run = client.get_run(existing)
        if run.info.status == "FINISHED" and run.data.tags.get(Tag.COMPLETE) == "1":
            return existing, dict(run.data.metrics)
        client.update_run(existing, status="RUNNING")
        return existing, None
    tags = {Tag.KIND: job.child_kind, Tag.TRIAL: trial_id, Tag.SWEEP: job.sweep_name, **extra_tags}
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
    if CONFIG_RANK_KEY in config:  # an ensemble member: one of the sweep's top configurations
        config_rank = int(config.pop(CONFIG_RANK_KEY))
        base = job.bases[config_rank]
        extra_tags = {Tag.MEMBER_RANK: str(config_rank), Tag.SEED: str(config.get("seed", base.seed))}
    params = build_config(spec.config_cls, config, source="search space", base=base)
    run_id, recorded = trial_run(job, trial_id, context.get_trial_name(), extra_tags)
    if recorded is not None:
        tune.report({**recorded, "done": 1.0})
        return
    run = job.run_options(params)
    data_ref = data_box[0]
    data = ray.get(data_ref)
    log_run_start(job.uri, run_id, run, params, data)
    try:
        if not run.distributed:
            torch.set_num_threads(max(1, int(job.cpus_per_worker)))
            result = spec.fit(params, data, TuneTrialContext(job.uri, run_id))
            log_fit_result(job.uri, run_id, spec, params, data, result, job.trial_plots)
            final = final_report(result, spec)
        else:
            from ray.tune.integration.ray_train import TuneReportCallback

            worker_job = WorkerJob(job.model, params, job.uri, run_id, f"trial {trial_id}", job.trial_plots,
                                   job.fault_plan)
            trainer = make_trainer(run, worker_job, data_ref, f"{job.sweep_name}-{trial_id}",
                                   job.storage, callbacks=[TuneReportCallback()], max_failures=job.max_failures)
            outcome = trainer.fit()
            if outcome.error:
                raise outcome.error
            final = {}  # the gang's rank 0 reported the final metrics
    except Exception as exc:
        tracking.end_run(job.uri, run_id, "FAILED", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    tracking.set_tags(job.uri, run_id, {Tag.COMPLETE: "1"})
    tracking.end_run(job.uri, run_id)
    if final:
        tune.report({**final, "done": 1.0})
