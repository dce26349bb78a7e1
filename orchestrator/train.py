"""One training run outside a sweep: `train` in this process, or as a Ray Train DDP
gang (`--workers N`, GPUs) whose workers a sweep's trials start too. Nothing here
knows a particular model."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import Any

import torch

from orchestrator import faults, tracking
from orchestrator.config import RunOptions
from orchestrator.contexts import RayTrainContext
from orchestrator.progress import epoch_line, progress
from orchestrator.run_record import log_fit_result, log_run_start
from orchestrator.tracking import Tag
from trainables.context import LocalContext
from trainables.registry import FitResult, final_report, get_spec


@dataclass(frozen=True)
class WorkerJob:
    """Everything a Train worker needs, shipped once through the object store."""

    model: str
    params: Any
    uri: str
    run_id: str
    label: str
    with_plots: bool = True
    fault_plan: str = ""


def train_worker(config: dict[str, Any]) -> None:
    """Body of every Ray Train worker: fit, then rank 0 logs the result."""
    import ray

    job: WorkerJob = config["job"]
    data = ray.get(config["data_ref"]) if isinstance(config["data_ref"], ray.ObjectRef) else config["data_ref"]
    spec = get_spec(job.model)
    ctx = RayTrainContext(job.uri, job.run_id, job.label, spec.metric, job.fault_plan)
    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    result = spec.fit(job.params, data, ctx)
    if ctx.world_rank == 0:
        log_fit_result(job.uri, job.run_id, spec, job.params, data, result, job.with_plots)
    import ray.train

    # One last report so Tune (through TuneReportCallback) sees the final metrics.
    ray.train.report({**final_report(result, spec), "done": 1.0})


def make_trainer(run: RunOptions, job: WorkerJob, data_ref: Any, name: str, storage: str,
                 callbacks: list | None = None, max_failures: int = 0):
    """A TorchTrainer for ``run``: gloo on CPU, NCCL when workers get GPUs."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    use_gpu = run.gpus_per_worker > 0
    resources = {"CPU": run.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = run.gpus_per_worker
    return TorchTrainer(
        train_worker,
        train_loop_config={"job": job, "data_ref": data_ref, "threads": max(1, int(run.cpus_per_worker))},
        scaling_config=ScalingConfig(num_workers=run.workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=name, storage_path=storage, callbacks=callbacks or None,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )


def run_local(run: RunOptions, data: Any, uri: str, run_id: str, label: str) -> FitResult:
    """Fit in this process (no Ray), logging each epoch to MLflow as it happens."""
    spec = run.spec

    def on_report(metrics: dict[str, float], _checkpoint: str | None) -> None:
        tracking.log_metrics(uri, run_id, metrics, step=int(metrics.get("epoch", 0)))
        progress(epoch_line(label, metrics, spec.metric))

    with tempfile.TemporaryDirectory(prefix="orch-train-") as tmp:
        ctx = LocalContext(device="auto", checkpoint_root=tmp, on_report=on_report)
        result = spec.fit(run.params, data, ctx)
    log_fit_result(uri, run_id, spec, run.params, data, result)
    return result


def run_train_command(run: RunOptions, data: Any, storage: str, max_failures: int = 0) -> tuple[str, dict]:
    """The `train` command: one MLflow run, in-process or as a DDP gang."""
    uri = tracking.resolve_tracking_uri()
    experiment_id = tracking.ensure_experiment(uri, run.experiment)
    label = f"{run.model}/{run.dataset}"
    run_id = tracking.start_run(uri, experiment_id, f"train-{run.model}-{run.dataset}",
                                {Tag.KIND: "train"})
    log_run_start(uri, run_id, run, run.params, data)
    started = time.perf_counter()
    try:
        if not run.distributed:
            metrics = run_local(run, data, uri, run_id, label).metrics
        else:
            import ray

            from orchestrator import cluster

            cluster.connect(run.address)
            cluster.require_shared_tracking(uri)
            job = WorkerJob(run.model, run.params, uri, run_id, label, fault_plan=faults.current())
            trainer = make_trainer(run, job, ray.put(data), f"train-{run_id}", storage, max_failures=max_failures)
            outcome = trainer.fit()
            if outcome.error:
                raise outcome.error
            # Rank 0 logged the final metrics; read them back from the run itself.
            metrics = dict(tracking.client(uri).get_run(run_id).data.metrics)
    except BaseException as exc:
        tracking.end_run(uri, run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                         error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    tracking.log_metrics(uri, run_id, {"wall_seconds": time.perf_counter() - started})
    tracking.end_run(uri, run_id)
    return run_id, metrics
