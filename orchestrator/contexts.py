"""The ``TrainContext`` a fit sees inside Ray: a Tune trial (one worker, in the
trial's own process) or a worker of a Ray Train DDP gang. Both report every epoch to
Tune and MLflow; ``trainables.context.LocalContext`` is the plain-process third."""

from __future__ import annotations

import math
import time

from torch import nn
from torch.utils.data import DataLoader

from orchestrator import faults, tracking
from orchestrator.progress import epoch_line, progress, quiet_per_epoch_ray_logs
from trainables.context import pick_device

# Tune snapshots the whole experiment state (a few KB per trial of the sweep) whenever
# a trial has persisted ``CheckpointConfig.num_to_keep`` checkpoints since the last
# snapshot, and warns when that happens more than once in 5 s: with a checkpoint every
# epoch of a few seconds, hundreds of warnings a sweep. A trial hands Tune
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
