"""A family's real training step, taken from its own ``fit``: the untrained model,
its loader, config and ``train_step`` exactly as ``fit`` hands them to ``run_loop``,
and that step run as run_loop's per-batch body, for benchmarks that time it.

No benchmark re-implements a family's step (its windows, augmentation and loss),
so what is timed is what a trial trains.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.config import TrainConfig
from trainables.context import LocalContext, TrainContext
from trainables.loop import DivergenceCheck, _autocast, run_loop
from trainables.optim import StepSchedule, make_optimizer, optimizer_step
from trainables.registry import FAMILIES


@dataclass
class Captured:
    """What a family's ``fit`` hands to ``run_loop``: the untrained model, its loader,
    config, context and the family's own training step."""

    model: nn.Module
    loader: Any
    cfg: TrainConfig
    ctx: TrainContext
    train_step: Callable[[nn.Module, Any, int], torch.Tensor]
    optimizer: torch.optim.Optimizer | None


class _Captured(Exception):
    def __init__(self, captured: Captured) -> None:
        super().__init__("captured")
        self.captured = captured


def capture(model: str, cfg: TrainConfig, data: Any, device: torch.device) -> Captured:
    """Run ``SPEC.fit`` up to its ``run_loop`` call and keep what it would train.

    bearing and seasonal_gru build their train_step as a closure inside fit, so
    stopping fit at run_loop is the one way to time the real step (same model, data
    windows, augmentation and loss) without re-implementing it here.
    """
    module = importlib.import_module(FAMILIES[model])
    package = FAMILIES[model].rsplit(".", 1)[0] + "."
    # every module of the family that calls the loop (bearing's stages are their own module)
    callers = [m for name, m in list(sys.modules.items()) if name.startswith(package)
               and getattr(m, "run_loop", None) is run_loop]

    def stop_at_loop(net, train_loader, loop_cfg, ctx, train_step, evaluate, monitor="val_loss", mode="min",
                     optimizer=None):
        raise _Captured(Captured(net, train_loader, loop_cfg, ctx, train_step, optimizer))

    for caller in callers:
        caller.run_loop = stop_at_loop
    try:
        module.SPEC.fit(cfg, data, LocalContext(device.type))
    except _Captured as found:
        return found.captured
    finally:
        for caller in callers:
            caller.run_loop = run_loop
    raise RuntimeError(f"{model}: fit returned without calling run_loop")


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def device_batches(loader: Any, device: torch.device, count: int, batch_size: int) -> list[Any]:
    """``count`` full batches from the loader (cycled when it has fewer), on the device.

    Short last batches are dropped so that a compiled step never recompiles for a
    new shape in the middle of the timed steps.
    """
    full = []
    for batch in loader:
        if len(batch[0]) == batch_size:
            full.append(to_device(batch, device))
        if len(full) == count:
            break
    if not full:
        raise RuntimeError(f"the loader holds no full batch of {batch_size}")
    return [full[i % len(full)] for i in range(count)]


class Stepper:
    """run_loop's per-batch body (no epochs, evaluation or checkpoints), built from
    the loop's own pieces: autocast, DivergenceCheck and optimizer_step.

    fp16's GradScaler is left out: only fp32 and bf16 are benchmarked.
    """

    def __init__(self, captured: Captured, model: nn.Module, precision: str, total_steps: int) -> None:
        self.model, self.train_step, self.precision = model, captured.train_step, precision
        self.cfg, self.device = captured.cfg, captured.ctx.device
        self.optimizer = captured.optimizer or make_optimizer(self.cfg, model.parameters())
        # one "epoch" of exactly total_steps, so OneCycle never steps past its end
        self.schedule = StepSchedule(dataclasses.replace(self.cfg, epochs=1), self.optimizer, total_steps)
        self.diverged = DivergenceCheck(self.device)
        self.no_scaler = torch.amp.GradScaler("cuda", enabled=False)  # fp32 / bf16 need no loss scaling
        self.done = 0

    def step(self, batch: Any) -> torch.Tensor:
        with _autocast(self.device, self.precision):
            loss = self.train_step(self.model, batch, 0)
        self.diverged(loss, f"step {self.done + 1}")  # as in run_loop: a host read every 32 steps on CUDA
        optimizer_step(loss, self.model, self.optimizer, self.no_scaler, self.schedule, self.cfg.grad_clip)
        self.done += 1
        return loss.detach()
