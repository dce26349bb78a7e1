"""TimeMixer's objective: the main loss (also validation's ``val_loss``), the seed
guide's trend-statistic, seasonal and multi-task losses on top, and the quantile
scores of ``loss=quantile``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainables import losses
from trainables.timemixer.config import TimeMixerConfig


def point(pred: torch.Tensor) -> torch.Tensor:
    """The point forecast: the median when the model outputs quantiles."""
    return pred[..., len(losses.QUANTILES) // 2] if pred.dim() == 4 else pred


def objective(cfg: TimeMixerConfig, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The main loss (also the validation metric)."""
    if cfg.loss == "quantile":
        return losses.pinball_loss(pred, target, losses.QUANTILES)
    if cfg.loss == "mae":
        return F.l1_loss(pred, target)
    if cfg.loss == "weighted_mae":
        return losses.weighted_mae(pred, target)
    if cfg.loss == "combined":
        return losses.combined_loss(pred, target, cfg.mse_weight, cfg.trend_weight)
    return F.mse_loss(pred, target)


def trend_stat_weights(cfg: TimeMixerConfig) -> dict[str, float]:
    return {"mean": cfg.trend_mean_weight, "max": cfg.trend_max_weight, "min": cfg.trend_min_weight,
            "var": cfg.trend_var_weight}


def multitask_targets(x: torch.Tensor, y: torch.Tensor, targets: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Trend direction (up = 1) and decline rate of each window, in units of the
    input window's spread: (mean of the horizon - mean of the last input steps) / std."""
    xt = x[..., targets]
    recent = xt[:, -min(24, xt.shape[1]):].mean(dim=1)
    spread = xt.std(dim=1, unbiased=False) + 1e-3
    rate = (y.mean(dim=1) - recent) / spread
    return (rate > 0).float(), rate


def training_loss(cfg: TimeMixerConfig, out: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                  targets: list[int]) -> torch.Tensor:
    """Main loss + trend-statistic losses + seasonal loss + multi-task losses."""
    pred = out["forecast"]
    loss = objective(cfg, pred, y)
    weights = trend_stat_weights(cfg)
    if any(weights.values()):
        loss = loss + losses.trend_losses(point(pred), y, weights, cfg.trend_window)
    if cfg.seasonal_weight > 0:
        loss = loss + cfg.seasonal_weight * losses.seasonal_loss(out["hidden"], 1, cfg.season_period)
    if cfg.multitask:
        direction, rate = multitask_targets(x, y, targets)
        loss = loss + cfg.direction_weight * F.binary_cross_entropy_with_logits(
            out["direction_logit"][..., targets], direction)
        loss = loss + cfg.decline_weight * F.smooth_l1_loss(out["decline_rate"][..., targets], rate)
    return loss


def quantile_metrics(full: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
    q, t = torch.from_numpy(full), torch.from_numpy(truth)
    return {f"{prefix}_pinball": float(losses.pinball_loss(q, t, losses.QUANTILES)),
            f"{prefix}_coverage_80": losses.interval_coverage(q, t)}
