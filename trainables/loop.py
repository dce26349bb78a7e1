"""The shared epoch loop: mixed precision, torch.compile, divergence checks,
validation, early stopping, checkpoint and resume.

Families supply two functions, ``train_step(model, batch, epoch) -> loss`` and
``evaluate(model) -> metrics``; everything else about training lives here once
(the optimiser, its schedule and the weight average in trainables/optim.py).
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from trainables.config import TrainConfig
from trainables.context import TrainContext, unwrap
from trainables.optim import StepSchedule, WeightAverage, make_optimizer, optimizer_step

STATE_FILE = "state.pt"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial stops with this as its status."""


class DivergenceCheck:
    """Raises TrainingDiverged once a training loss is NaN or infinite.

    Reading a CUDA loss on the host waits for the GPU and keeps the CPU from queueing
    the next steps' kernels, which costs small models much of their speed
    (benchmarks/gpu_paths.py). On accelerators the check therefore keeps a flag on the
    device and reads it every ``every`` steps and at the end of each epoch; on CPU it
    reads every loss, which costs nothing there.
    """

    def __init__(self, device: torch.device, every: int | None = None) -> None:
        self.every = every or (1 if device.type == "cpu" else 32)
        self.bad: torch.Tensor | None = None  # on the device: a non-finite loss since the last read
        self.pending = 0

    def __call__(self, loss: torch.Tensor, where: str) -> None:
        nonfinite = ~torch.isfinite(loss.detach())
        self.bad = nonfinite if self.bad is None else self.bad | nonfinite
        self.pending += 1
        if self.pending >= self.every:
            self.flush(where)

    def flush(self, where: str) -> None:
        """Read the flag now (end of an epoch, or every ``every`` steps)."""
        bad, self.bad, self.pending = self.bad, None, 0
        if bad is not None and bool(bad):
            at = f"at {where}" if self.every == 1 else f"by {where} (checked every {self.every} steps)"
            raise TrainingDiverged(f"training loss became NaN or infinite {at}")


@dataclass
class LoopResult:
    """What a finished loop hands back: the best weights loaded into ``model``."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = math.nan
    stopped_early: bool = False
    seconds: float = 0.0


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def ddp_weight_spread(model: nn.Module) -> float:
    """Largest absolute difference of any weight between ranks (0 when in sync)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return 0.0
    flat = torch.cat([p.detach().float().reshape(-1) for p in unwrap(model).parameters()])
    lowest, highest = flat.clone(), flat.clone()
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    return float((highest - lowest).abs().max())


def _improved(value: float, best: float, mode: str) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value < best if mode == "min" else value > best


def run_loop(
    model: nn.Module,
    train_loader: DataLoader,
    cfg: TrainConfig,
    ctx: TrainContext,
    train_step: Callable[[nn.Module, Any, int], torch.Tensor],
    evaluate: Callable[[nn.Module], dict[str, float]],
    monitor: str = "val_loss",
    mode: str = "min",
    optimizer: torch.optim.Optimizer | None = None,
) -> LoopResult:
    """Train ``model`` for ``cfg.epochs`` epochs and return it with its best weights.

    Every epoch is reported through ``ctx`` with its metrics and, every
    ``cfg.checkpoint_every`` epochs, a checkpoint; ``ctx.restore()`` resumes from one.
    """
    started = time.perf_counter()
    model = ctx.prepare_model(model)
    if cfg.compile != "none":
        # Compile the prepared (device / DDP) model for the training forward passes only.
        # It shares its parameters with the bare model; checkpoints, evaluate and the
        # returned model all go through unwrap(), so state dicts have no "_orig_mod." prefix.
        model = torch.compile(model, mode=cfg.compile)
    loader = ctx.prepare_loader(train_loader)
    optimizer = optimizer or make_optimizer(cfg, model.parameters())
    steps = len(loader) if cfg.max_train_batches == 0 else min(len(loader), cfg.max_train_batches)
    schedule = StepSchedule(cfg, optimizer, steps)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.precision == "fp16" and ctx.device.type == "cuda")
    diverged = DivergenceCheck(ctx.device)
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None

    history: list[dict[str, float]] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_metric, best_epoch, bad_epochs, start_epoch = math.nan, 0, 0, 0
    resume_dir = ctx.restore()
    if resume_dir:
        state = torch.load(Path(resume_dir) / STATE_FILE, map_location="cpu", weights_only=True)
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        best_state, best_metric = state["best_state"], float(state["best_metric"])
        best_epoch, bad_epochs = int(state["best_epoch"]), int(state["bad_epochs"])
        history, start_epoch = list(state["history"]), int(state["epoch"]) + 1
        if average is not None and state.get("average"):
            average.load_state_dict(state["average"])

    stopped_early = False
    for epoch in range(start_epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        model.train()
        total = torch.zeros((), device=ctx.device)
        seen = 0
        for batch_index, batch in enumerate(loader):
            if cfg.max_train_batches and batch_index >= cfg.max_train_batches:
                break
            with _autocast(ctx.device, cfg.precision):
                loss = train_step(model, batch, epoch)
            diverged(loss, f"epoch {epoch + 1}, batch {batch_index + 1}")
            optimizer_step(loss, model, optimizer, scaler, schedule, cfg.grad_clip)
            if average is not None:
                average.update(model)
            total += loss.detach()
            seen += 1
        diverged.flush(f"the end of epoch {epoch + 1}")
        train_seconds = time.perf_counter() - epoch_start
        model.eval()
        validated = average.swapped_in(model) if average else contextlib.nullcontext(unwrap(model))
        with torch.no_grad(), validated as net:
            val_metrics = evaluate(net)
        metrics = {
            "epoch": float(epoch + 1),
            "train_loss": float(total) / max(1, seen),
            "lr": float(optimizer.param_groups[0]["lr"]),
            "epoch_seconds": time.perf_counter() - epoch_start,
            "train_seconds": train_seconds,
            **val_metrics,
        }
        if ctx.world_size > 1:
            metrics["ddp_weight_max_diff"] = ddp_weight_spread(model)
        if monitor not in metrics:
            raise KeyError(f"evaluate() returned no {monitor!r}; it returned {sorted(val_metrics)}")
        if _improved(metrics[monitor], best_metric, mode):
            best_metric, best_epoch, bad_epochs = metrics[monitor], epoch + 1, 0
            best_state = average.cpu_weights() if average else _cpu_state(model)
        else:
            bad_epochs += 1
        stopped_early = cfg.patience > 0 and bad_epochs >= cfg.patience
        metrics["best_" + monitor] = best_metric
        history.append(metrics)
        checkpoint = cfg.checkpoint_every and ((epoch + 1) % cfg.checkpoint_every == 0 or stopped_early
                                               or epoch + 1 == cfg.epochs)
        if checkpoint and ctx.world_rank == 0:
            with tempfile.TemporaryDirectory(prefix="orch-ckpt-") as tmp:
                torch.save(
                    {
                        "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "best_state": best_state,
                        "best_metric": best_metric, "best_epoch": best_epoch,
                        "bad_epochs": bad_epochs, "history": history, "epoch": epoch,
                        "average": average.state_dict() if average else None,
                    },
                    Path(tmp) / STATE_FILE,
                )
                ctx.report(metrics, tmp)
        else:
            ctx.report(metrics, None)
        if stopped_early:
            break

    bare = unwrap(model)
    if best_state is not None:
        bare.load_state_dict(best_state)
    bare.eval()
    return LoopResult(
        model=bare, history=history, best_epoch=best_epoch, best_metric=best_metric,
        stopped_early=stopped_early, seconds=time.perf_counter() - started,
    )


def load_weights(model: nn.Module, checkpoint_dir: str | Path, best: bool = True) -> nn.Module:
    """Load a loop checkpoint's best (or latest) weights into ``model`` safely."""
    state = torch.load(Path(checkpoint_dir) / STATE_FILE, map_location="cpu", weights_only=True)
    weights = state["best_state"] if best and state["best_state"] is not None else state["model"]
    model.load_state_dict(weights)
    return model


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of a model's weights."""
    return copy.deepcopy(_cpu_state(model))
