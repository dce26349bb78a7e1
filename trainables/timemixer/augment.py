"""The seed guide's batch augmentations: Gaussian input noise and mixup act on whole
batches in the training step (window-start jitter is ``PanelWindows``'s, in
``trainables.forecasting``)."""

from __future__ import annotations

import numpy as np
import torch


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Gaussian input noise (training only; scaled units)."""
    return x + std * torch.randn_like(x) if std > 0 else x


def mixup_pairs(batch_size: int, prob: float, alpha: float, generator: np.random.Generator
                ) -> tuple[float, torch.Tensor] | None:
    """With probability ``prob``: lambda ~ Beta(alpha, alpha) and a random partner
    permutation; else None (the batch is used as is)."""
    if prob <= 0 or generator.random() >= prob:
        return None
    lam = float(generator.beta(alpha, alpha))
    return lam, torch.from_numpy(generator.permutation(batch_size))


def mix(tensor: torch.Tensor, lam: float, perm: torch.Tensor) -> torch.Tensor:
    """lam * a + (1 - lam) * a[perm]: shapes are kept."""
    return lam * tensor + (1.0 - lam) * tensor[perm.to(tensor.device)]
