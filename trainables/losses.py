"""Losses shared across model families (pure PyTorch).

Forecast tensors are (batch, horizon, channels). Point losses return a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POINT_LOSSES = ("mse", "mae", "weighted_mae", "combined", "quantile")
QUANTILES = (0.1, 0.5, 0.9)


def horizon_weights(horizon: int, low: float = 1.0, high: float = 2.0, device=None) -> torch.Tensor:
    """Weights rising linearly from ``low`` to ``high`` over the horizon, mean-normalised."""
    w = torch.linspace(low, high, horizon, device=device)
    return w / w.mean()


def weighted_mae(pred: torch.Tensor, target: torch.Tensor, low: float = 1.0, high: float = 2.0) -> torch.Tensor:
    """MAE with later horizon steps weighted more (the guide's 1 -> 2 ramp)."""
    w = horizon_weights(pred.shape[1], low, high, pred.device).view(1, -1, 1)
    return ((pred - target).abs() * w).mean()


def trend_difference_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MAE between first differences along the horizon: penalises wrong slopes."""
    return (torch.diff(pred, dim=1) - torch.diff(target, dim=1)).abs().mean()


def combined_loss(pred: torch.Tensor, target: torch.Tensor, mse_weight: float = 0.1,
                  trend_weight: float = 0.2) -> torch.Tensor:
    """MAE + a * MSE + b * first-difference trend loss (guide values a=0.1, b=0.2)."""
    return (F.l1_loss(pred, target) + mse_weight * F.mse_loss(pred, target)
            + trend_weight * trend_difference_loss(pred, target))


def pinball_loss(pred_quantiles: torch.Tensor, target: torch.Tensor,
                 quantiles: tuple[float, ...] = QUANTILES) -> torch.Tensor:
    """Mean pinball loss; ``pred_quantiles`` is (..., n_quantiles), ``target`` (...)."""
    q = torch.tensor(quantiles, device=pred_quantiles.device, dtype=pred_quantiles.dtype)
    error = target.unsqueeze(-1) - pred_quantiles
    return torch.maximum(q * error, (q - 1) * error).mean()


def interval_coverage(pred_quantiles: torch.Tensor, target: torch.Tensor) -> float:
    """Share of targets inside [lowest, highest] predicted quantile."""
    inside = (target >= pred_quantiles[..., 0]) & (target <= pred_quantiles[..., -1])
    return float(inside.float().mean())
