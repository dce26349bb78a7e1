"""How a training loss updates the weights: the optimiser, its per-batch learning-rate
schedule, one update step, and a moving average of the weights.

trainables/loop.py drives them once per batch (benchmarks/gpu_paths.py times the same
step); each keeps a ``state_dict`` so a checkpoint resumes it where it stopped.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trainables.config import TrainConfig
from trainables.context import unwrap


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
    fractional epoch, as CosineAnnealingWarmRestarts documents; exponential keeps the
    rate for an epoch, then multiplies it by ``lr_gamma`` (Time-Series-Library's
    ``lradj=type1`` at 0.5, what DLinear's and many long-horizon baselines' scripts use).
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
        elif self.kind == "exponential":
            gamma, per_epoch = cfg.lr_gamma, self.steps_per_epoch
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: gamma ** (step // per_epoch))
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
