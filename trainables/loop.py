"""The shared epoch loop: optimiser, schedule, mixed precision, clipping, early
stopping, checkpoint and resume.

Families supply two functions, ``train_step(model, batch, epoch) -> loss`` and
``evaluate(model) -> metrics``; everything else about training lives here once.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from trainables.config import TrainConfig
from trainables.context import TrainContext, unwrap

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


def optimizer_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, schedule: StepSchedule, grad_clip: float) -> None:
    """One update from a training loss: backward (scaled for fp16), clipping, optimiser
    and schedule step. Shared by run_loop and benchmarks/gpu_paths.py."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    schedule.step()


class WeightAverage:
    """An exponential moving average of the weights (Polyak averaging).

    A network's weights keep wandering around a minimum from step to step; their
    running average sits nearer its centre, so it usually generalises a little better
    and varies less between seeds, a cheap part of what a seed ensemble buys. Until
    ``1 / (1 - decay)`` updates have been made it is the plain mean of all of them
    (update n uses ``min(decay, (n - 1) / n)``), so it never holds the initial
    weights. Integer buffers are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (self.updates - 1) / self.updates)
        for name, value in unwrap(model).state_dict().items():
            average = self.shadow[name]
            if average.is_floating_point():
                average.lerp_(value.detach(), 1 - decay)
            else:
                average.copy_(value)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module):
        """Run the block with the averaged weights in ``model``, then put its own back."""
        bare = unwrap(model)
        own = {k: v.detach().clone() for k, v in bare.state_dict().items()}
        bare.load_state_dict(self.shadow)
        try:
            yield bare
        finally:
            bare.load_state_dict(own)

    def cpu_weights(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the averaged weights, as a model's state dict."""
        return {k: v.to("cpu", copy=True) for k, v in self.shadow.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "shadow": self.cpu_weights()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)


@dataclass
class LoopResult:
    """What a finished loop hands back: the best weights loaded into ``model``."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = math.nan
    stopped_early: bool = False
    seconds: float = 0.0


def make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam, AdamW, RMSprop or SGD with the config's lr and weight decay."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class StepSchedule:
    """A per-batch learning-rate schedule behind one ``step()`` call.

    OneCycle and warm-up + cosine are stepped every batch; warm restarts take the
    fractional epoch, as CosineAnnealingWarmRestarts documents.
    """

    def __init__(self, cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> None:
        self.kind = cfg.scheduler
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.step_count = 0
        total = cfg.epochs * self.steps_per_epoch
        self.scheduler: Any = None
        if self.kind == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=cfg.lr, total_steps=total, pct_start=cfg.pct_start
            )
        elif self.kind == "cosine":
            warmup = cfg.warmup_epochs * self.steps_per_epoch
            eta_ratio = cfg.eta_min / cfg.lr

            def factor(step: int) -> float:
                if step < warmup:
                    return (step + 1) / warmup
                progress = (step - warmup) / max(1, total - warmup)
                return eta_ratio + (1 - eta_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

            self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        elif self.kind == "cosine_restarts":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                optimizer, T_0=cfg.t0, T_mult=cfg.t_mult, eta_min=cfg.eta_min
            )

    def step(self) -> None:
        self.step_count += 1
        if self.scheduler is None:
            return
        if self.kind == "cosine_restarts":
            self.scheduler.step(self.step_count / self.steps_per_epoch)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        inner = self.scheduler.state_dict() if self.scheduler is not None else {}
        return {"step_count": self.step_count, "inner": inner}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        if self.scheduler is not None and state["inner"]:
            self.scheduler.load_state_dict(state["inner"])


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
