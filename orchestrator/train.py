"""One training run: in-process, inside a Tune trial, or as a Ray Train DDP gang.

The three ``TrainContext`` implementations the trainables see live here, with
the MLflow logging of one run (params, per-epoch metrics, final metrics, plots,
weights). Nothing here knows a particular model.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from orchestrator import faults, tracking
from orchestrator.config import RunOptions, params_dict
from trainables.config import as_dict
from trainables.context import LocalContext, pick_device
from trainables.registry import FitResult, TrainableSpec, get_spec, kept_epoch, rank_modes

WEIGHTS_FILE = "state_dict.pt"


def data_checksum(data: Any) -> str:
    return str(getattr(data, "checksum", "") or "unknown")


def log_data_source(uri: str, run_id: str, run: RunOptions, data: Any) -> None:
    """The data set a run read: the ``orch.data_source`` tag (enough to load it
    again: path or built-in name, layout keys) and MLflow's dataset tracking
    (name, digest, source, schema)."""
    from data.registry import get_info

    source = run.data
    where = source.path or get_info(source.name).source or f"generated:{source.name}"
    schema = {"keys": source.options, **dict(getattr(data, "schema", None) or {})}
    tracking.set_tags(uri, run_id, {tracking.DATA_SOURCE_TAG: source.to_json()})
    tracking.log_dataset(uri, run_id, source.name, data_checksum(data), where, schema)


def log_run_start(uri: str, run_id: str, run: RunOptions, params: Any, data: Any) -> None:
    """Params = the full resolved config; tags = seed, data checksum, code version;
    the data set as an MLflow dataset input."""
    tracking.log_params(uri, run_id, {"model": run.model, "dataset": run.dataset, **as_dict(params),
                                      "workers": run.workers, "gpus_per_worker": run.gpus_per_worker})
    tracking.set_tags(uri, run_id, {
        "orch.model": run.model, "orch.dataset": run.dataset, "orch.seed": params.seed,
        "orch.data_checksum": data_checksum(data), "orch.config_digest": tracking.config_digest(as_dict(params)),
    })
    log_data_source(uri, run_id, run, data)


def log_fit_result(uri: str, run_id: str, spec: TrainableSpec, params: Any, data: Any, result: FitResult,
                   with_plots: bool = True) -> None:
    """Final metrics, plots and the best weights (+ config) of a finished fit.

    Final metrics go one step past the last epoch, so MLflow's "latest" value of
    ``val_*`` is the restored best model's, while the epochs before stay the curve.
    """
    tracking.log_metrics(uri, run_id, result.metrics, step=len(result.history) + 1)
    log_stages(uri, run_id, result.stages)
    if with_plots:
        for name, figure in spec.plots(result, data).items():
            tracking.log_figure(uri, run_id, figure, f"plots/{name}")
    with tempfile.TemporaryDirectory(prefix="orch-model-") as tmp:
        torch.save(result.model.state_dict(), Path(tmp) / WEIGHTS_FILE)
        (Path(tmp) / "config.json").write_text(json.dumps(as_dict(params), indent=1, default=str))
        tracking.log_artifact_dir(uri, run_id, tmp, "model")


def log_stages(uri: str, run_id: str, stages: dict[str, list[dict[str, float]]]) -> None:
    """Multi-stage fits (e.g. contrastive pre-training, then fine-tuning): one child
    run per stage under the run, each with its own per-epoch curves."""
    if not stages:
        return
    run = tracking.client(uri).get_run(run_id)
    for index, (stage, history) in enumerate(stages.items()):
        child = tracking.start_run(uri, run.info.experiment_id, f"{run.info.run_name}/{stage}",
                                   {tracking.KIND_TAG: "stage", "orch.stage": stage, "orch.stage_index": str(index),
                                    **{k: v for k, v in run.data.tags.items() if k in ("orch.model", "orch.dataset",
                                                                                      "orch.seed")}},
                                   parent_run_id=run_id)
        for row in history:
            tracking.log_metrics(uri, child, row, step=int(row.get("epoch", 0)))
        tracking.end_run(uri, child)


# Ray logs an INFO line for every checkpoint a trial or worker persists and, in Ray
# Train, for every report of every worker (each one per epoch here), and streams them to
# the driver's terminal; our own progress lines say enough.
PER_EPOCH_RAY_LOGGERS = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
RAY_TRAIN_REPORT_MODULE = "ray.train.v2._internal.execution.context"  # its logger is named by its file path


def quiet_per_epoch_ray_logs() -> None:
    """Drop Ray's per-checkpoint and per-report INFO lines in this trial or worker process."""
    names = list(PER_EPOCH_RAY_LOGGERS)
    report_module = sys.modules.get(RAY_TRAIN_REPORT_MODULE)
    if report_module is not None:
        names.append(report_module.__file__)
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)


def progress(line: str) -> None:
    """Progress goes to stderr so stdout stays for results. Written, not printed: Ray
    Train replaces ``print`` in its workers with one that writes the line and logs it
    too, and both copies reach the driver's terminal."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def epoch_line(prefix: str, metrics: dict[str, float], metric: str) -> str:
    shown = [f"epoch {int(metrics.get('epoch', 0))}"]
    for key in ("train_loss", metric, "epoch_seconds"):
        if key in metrics:
            shown.append(f"{key}={metrics[key]:.4g}")
    return f"[{prefix}] " + " ".join(shown)


# Tune snapshots the whole experiment state (a few KB per trial of the sweep) whenever
# a trial has persisted ``CheckpointConfig.num_to_keep`` checkpoints since the last
# snapshot, and warns when that happens more than once in 5 s. With epochs of a few
# seconds that was every other epoch, hundreds of warnings a sweep. A trial hands Tune
# a checkpoint at most this often (its first one always), so a resume redoes the
# epoch in progress and at most this many seconds before it.
CHECKPOINT_INTERVAL_S = 10.0


class TuneTrialContext:
    """In-process Tune trial: report to Tune (metrics + checkpoint) and MLflow."""

    world_rank = 0
    world_size = 1

    def __init__(self, uri: str, run_id: str, device: str = "auto") -> None:
        self.device = pick_device(device)
        self.uri, self.run_id = uri, run_id
        self._last_checkpoint = -math.inf
        quiet_per_epoch_ray_logs()

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(self.device)

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        return loader

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        from ray import tune

        tracking.log_metrics(self.uri, self.run_id, metrics, step=int(metrics.get("epoch", 0)))
        checkpoint = None
        if checkpoint_dir and time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL_S:
            checkpoint = tune.Checkpoint.from_directory(checkpoint_dir)
            self._last_checkpoint = time.monotonic()
        tune.report(metrics, checkpoint=checkpoint)

    def restore(self) -> str | None:
        from ray import tune

        checkpoint = tune.get_checkpoint()
        return checkpoint.to_directory() if checkpoint else None


class RayTrainContext:
    """A Ray Train worker of a DDP gang; rank 0 writes MLflow and checkpoints."""

    def __init__(self, uri: str, run_id: str, label: str, metric: str, fault_plan: str = "") -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.world_rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = ray.train.torch.get_device()
        self.uri, self.run_id, self.label, self.metric = uri, run_id, label, metric
        self.fault_plan = fault_plan
        quiet_per_epoch_ray_logs()

    def prepare_model(self, model: nn.Module) -> nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        import ray.train.torch

        return ray.train.torch.prepare_data_loader(loader)

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        import ray.train

        if self.world_rank == 0:
            tracking.log_metrics(self.uri, self.run_id, metrics, step=int(metrics.get("epoch", 0)))
            progress(epoch_line(self.label, metrics, self.metric))
        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)
        faults.maybe_exit(self.fault_plan, "train_worker_exit", rank=self.world_rank,
                          epoch=int(metrics.get("epoch", 0)))

    def restore(self) -> str | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        return checkpoint.to_directory() if checkpoint else None


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

    # One last report so Tune (through TuneReportCallback) sees the final metrics, and
    # every metric a sweep may rank on (`--metric`) as it was at the kept epoch.
    kept = kept_epoch(result.history, spec) or {}
    ranked = {m: kept[m] for m in rank_modes(spec) if m in kept}
    ray.train.report({**ranked, **result.metrics, spec.metric: result.metrics.get(spec.metric, ranked.get(
        spec.metric, float("nan"))), "done": 1.0})


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
                                {tracking.KIND_TAG: "train"})
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


__all__ = ["run_train_command", "make_trainer", "train_worker", "WorkerJob", "TuneTrialContext",
           "log_run_start", "log_fit_result", "params_dict"]
