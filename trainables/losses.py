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


# --- Seasonal and trend losses (seed 002: "seasonal and trend losses for RNN
# forecasting"). Shared so any forecaster with hidden states / horizons can add them.

TREND_STATS = ("mean", "max", "min", "var")


def seasonal_loss(hidden: torch.Tensor, k: int = 1, period: int = 24) -> torch.Tensor:
    """Eq. 19: mean over t and hidden units of (h_t - h_{t+kT})^2.

    ``hidden`` is (batch, time, units). Zero exactly when the hidden sequence repeats
    with period kT; it pulls an RNN's state towards the series' daily cycle.
    """
    lag = k * period
    if hidden.dim() != 3 or hidden.shape[1] <= lag:
        raise ValueError(f"seasonal_loss: need (batch, time > {lag}, units), got {tuple(hidden.shape)}")
    return (hidden[:, lag:] - hidden[:, :-lag]).pow(2).mean()


def window_statistic(values: torch.Tensor, width: int, stat: str, stride: int = 1) -> torch.Tensor:
    """MEAN / MAX / MIN / VAR (population) over windows of ``width`` along dim 1.

    ``values`` is (batch, time) or (batch, time, channels); the result is
    (batch, windows, channels). Windows slide by ``stride``; stride = width gives
    the non-overlapping daily windows of the MAE_MAX / MAE_MIN metrics.
    """
    if stat not in TREND_STATS:
        raise ValueError(f"window_statistic: stat must be one of {TREND_STATS}, got {stat!r}")
    if values.dim() == 2:
        values = values.unsqueeze(-1)
    if values.shape[1] < width:
        raise ValueError(f"window_statistic: {values.shape[1]} steps are fewer than the width {width}")
    windows = values.unfold(1, width, stride)  # (batch, windows, channels, width)
    if stat == "mean":
        return windows.mean(-1)
    if stat == "max":
        return windows.amax(-1)
    if stat == "min":
        return windows.amin(-1)
    return windows.var(-1, unbiased=False)


def trend_loss(pred: torch.Tensor, target: torch.Tensor, width: int = 24, stat: str = "max",
               stride: int = 1) -> torch.Tensor:
    """Eqs. 20-23: mean squared gap between a window statistic of pred and of truth."""
    gap = window_statistic(pred, width, stat, stride) - window_statistic(target, width, stat, stride)
    return gap.pow(2).mean()


def trend_losses(pred: torch.Tensor, target: torch.Tensor, weights: dict[str, float], width: int = 24,
                 stride: int = 1) -> torch.Tensor:
    """Eq. 25: sum of lambda_T * trend loss over the statistics with non-zero weight."""
    total = pred.new_zeros(())
    for stat, weight in weights.items():
        if weight:
            total = total + weight * trend_loss(pred, target, width, stat, stride)
    return total
