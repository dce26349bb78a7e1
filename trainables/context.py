"""The seam between models and Ray: what a trainable may ask of its runtime.

``fit(cfg, data, ctx)`` only talks to a ``TrainContext``. The orchestrator provides
the Tune-trial and Ray-Train-worker implementations; ``LocalContext`` here runs a
trainable in plain PyTorch (tests, notebooks, `train` without Ray).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.utils.data import DataLoader


@runtime_checkable
class TrainContext(Protocol):
    """What the training loop needs from whoever runs it."""

    device: torch.device
    world_rank: int
    world_size: int

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move to the device; wrap for DDP when world_size > 1."""

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        """Shard across ranks when world_size > 1 and move batches to the device."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        """Publish one epoch's metrics (and optionally a checkpoint directory)."""

    def restore(self) -> str | None:
        """A checkpoint directory to resume from, or None for a fresh start."""


def pick_device(prefer: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cpu' / 'cuda' force a device."""
    if prefer == "cuda" or (prefer == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class LocalContext:
    """Single-process context: keeps the history and the latest checkpoint on disk.

    ``on_report`` lets a caller (the `train` command, a test) see every epoch as it
    happens, e.g. to log it to MLflow.
    """

    world_rank = 0
    world_size = 1

    def __init__(
        self,
        device: str = "auto",
        checkpoint_root: str | Path | None = None,
        resume_from: str | Path | None = None,
        on_report: Callable[[dict[str, float], str | None], None] | None = None,
    ) -> None:
        self.device = pick_device(device)
        self.history: list[dict[str, float]] = []
        self.checkpoint_root = Path(checkpoint_root) if checkpoint_root else None
        self.latest_checkpoint: str | None = None
        self._resume_from = str(resume_from) if resume_from else None
        self._on_report = on_report

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(self.device)

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        return loader

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        self.history.append(dict(metrics))
        if checkpoint_dir and self.checkpoint_root is not None:
            target = self.checkpoint_root / "latest"
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(checkpoint_dir, target)
            self.latest_checkpoint = str(target)
        if self._on_report is not None:
            self._on_report(metrics, self.latest_checkpoint)

    def restore(self) -> str | None:
        return self._resume_from


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DDP / compile wrapper."""
    inner: Any = model
    while hasattr(inner, "module") or hasattr(inner, "_orig_mod"):
        inner = getattr(inner, "module", None) or getattr(inner, "_orig_mod")
    return inner
