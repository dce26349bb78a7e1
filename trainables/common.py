"""Steps every family takes the same way: seeding, counting parameters and
predicting a whole data set batch by batch."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

# The file a run's best weights are saved as, under its MLflow ``model/`` artifact
# (beside ``config.json``); ``init_from`` and ensembles read it back.
WEIGHTS_FILE = "state_dict.pt"


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def n_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values; the logged metric ``n_parameters`` counts all of
    them (frozen ones too), since that is the model's size on disk and in memory."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def predict_batches(model: nn.Module, dataset: Any, batch_size: int,
                    forward: Callable[[nn.Module, Any], Sequence[torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """Run ``forward(model, batch)`` over ``dataset`` in order, in eval mode without
    gradients, and concatenate each of the tensors it returns along the first axis
    (as float32 on the CPU).

    ``dataset`` gathers a batch at once through ``__getitems__(indices)``; ``forward``
    moves the batch to the model's device and returns a tuple of tensors.
    """
    model.eval()
    parts: list[list[torch.Tensor]] = []
    for lo in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(lo, min(len(dataset), lo + batch_size))))
        outputs = forward(model, batch)
        if not parts:
            parts = [[] for _ in outputs]
        for collected, tensor in zip(parts, outputs):
            collected.append(tensor.detach().float().cpu())
    return tuple(torch.cat(collected) for collected in parts)
