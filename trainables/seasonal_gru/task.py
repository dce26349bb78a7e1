"""The seasonal-loss GRU as a trainable: loading, the model, the objective,
prediction, the paper's metrics, ``fit`` and the registry entry. Config, per-trial
data, plots and serving live in the sibling modules.

J = MSE + lambda_S * seasonal(h, k, T) + sum lambda_T * trend_T(w) (eqs. 24-25),
trained with RMSProp and gradient clipping (Table 1). Metrics are in EUR/MWh
after inverting eq. 26, on the tiled forecasts of a whole split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data.source import DataSource
from data.epf import EpfData, load_prices, persistence
from data.price_layout import DATA_KEYS
from data.windows import WindowDataset, keep_batch
from trainables import losses
from trainables.common import n_parameters, predict_batches, seed_everything
from trainables.context import TrainContext
from trainables.loop import run_loop
from trainables.registry import FitResult, TrainableSpec
from trainables.seasonal_gru.config import HOURS_PER_DAY, SeasonalGRUConfig
from trainables.seasonal_gru.data import eval_dataset, split_dataset
from trainables.seasonal_gru.model import RecurrentForecaster
from trainables.seasonal_gru.plots import plots


def load_data(cfg: SeasonalGRUConfig, source: DataSource) -> EpfData:
    """An hourly price file (FR.csv, or the user's market) over its layout's periods
    with eq. 26 fitted on the training rows; ``exogenous`` uses the layout's
    forecast columns when it names any."""
    return load_prices(source, cfg.clip_quantile, cfg.smooth_days, cfg.exogenous)


def build_model(cfg: SeasonalGRUConfig, data: EpfData) -> RecurrentForecaster:
    return build_network(cfg, data.features.shape[1])


def build_network(cfg: SeasonalGRUConfig, known_features: int) -> RecurrentForecaster:
    """The forecaster for ``known_features`` data feature columns (plus the price lags)."""
    return RecurrentForecaster(known_features + len(cfg.price_lags), cfg.hidden, cfg.layers, cfg.cell,
                               cfg.dropout, cfg.level_window, len(cfg.price_lags))


def objective(cfg: SeasonalGRUConfig, pred: torch.Tensor, target: torch.Tensor,
              hidden: torch.Tensor | None) -> torch.Tensor:
    """Eq. 24: main MSE plus the weighted seasonal and trend losses."""
    loss = F.mse_loss(pred, target)
    if cfg.lambda_s and hidden is not None:
        loss = loss + cfg.lambda_s * losses.seasonal_loss(hidden, cfg.season_k, cfg.season_period)
    if any(cfg.trend_weights.values()):
        loss = loss + losses.trend_losses(pred, target, cfg.trend_weights, cfg.trend_window, cfg.trend_stride)
    return loss


def _forward(model: torch.nn.Module, batch: Any, device: torch.device):
    x, y, past_features, future_features = (t.to(device, non_blocking=True) for t in batch)
    pred, hidden = model(x, past_features, future_features)
    return pred, y, hidden


def predict_z(model: torch.nn.Module, dataset: WindowDataset, batch_size: int, device: torch.device) -> np.ndarray:
    """Forecasts of every window, concatenated in time order (eq. 26 units)."""
    (pred,) = predict_batches(model, dataset, batch_size, lambda net, batch: _forward(net, batch, device)[:1])
    return pred.numpy().reshape(-1)


def predict_prices(model: torch.nn.Module, cfg: SeasonalGRUConfig, data: EpfData, split: str,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Forecast prices (EUR/MWh) for every row of a split."""
    z = predict_z(model, eval_dataset(cfg, data, split), cfg.eval_batch_size, torch.device(device))
    return data.to_prices(z, np.arange(*data.splits[split]))


def predict_split(model: torch.nn.Module, cfg: SeasonalGRUConfig, data: EpfData,
                  split: str) -> tuple[np.ndarray, np.ndarray]:
    """(forecast, truth) prices of every row of a split: what an ensemble adapter
    needs (members' forecasts average in EUR/MWh, scored by ``price_metrics``)."""
    device = next(model.parameters()).device
    return predict_prices(model, cfg, data, split, device), data.prices[slice(*data.splits[split])]


def price_metrics(pred: np.ndarray, truth: np.ndarray, width: int = HOURS_PER_DAY) -> dict[str, float]:
    """RMSE, MAE (eqs. 28-29) and MAE of daily max / min (eqs. 30-31, non-overlapping
    windows of ``width`` hours from the first row)."""
    pred, truth = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    err = pred - truth
    days = len(truth) // width
    p, t = pred[:days * width].reshape(days, width), truth[:days * width].reshape(days, width)
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mae_max": float(np.mean(np.abs(p.max(axis=1) - t.max(axis=1)))),
        "mae_min": float(np.mean(np.abs(p.min(axis=1) - t.min(axis=1)))),
    }


def prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}


def fit(cfg: SeasonalGRUConfig, data: EpfData, ctx: TrainContext) -> FitResult:
    """Train on the training period (FR: 2012-01..2015-11), select the epoch on the
    validation period (December 2015), score the test period (2016H1)."""
    seed_everything(cfg.seed)
    train_set = split_dataset(cfg, data, "train", cfg.train_stride)
    val_set, test_set = eval_dataset(cfg, data, "val"), eval_dataset(cfg, data, "test")
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, collate_fn=keep_batch,
                        generator=torch.Generator().manual_seed(cfg.seed))
    model = build_model(cfg, data)
    val_rows, test_rows = np.arange(*data.splits["val"]), np.arange(*data.splits["test"])

    def train_step(net: torch.nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        pred, y, hidden = _forward(net, batch, ctx.device)
        return objective(cfg, pred, y, hidden)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        z = predict_z(net, val_set, cfg.eval_batch_size, ctx.device)
        val_prices = data.to_prices(z, val_rows)
        return {"val_loss": float(np.mean((z - data.z[val_rows]) ** 2)),
                **prefixed(price_metrics(val_prices, data.prices[val_rows]), "val")}

    result = run_loop(model, loader, cfg, ctx, train_step, evaluate, monitor="val_loss", mode="min")
    val_pred = data.to_prices(predict_z(result.model, val_set, cfg.eval_batch_size, ctx.device), val_rows)
    test_pred = data.to_prices(predict_z(result.model, test_set, cfg.eval_batch_size, ctx.device), test_rows)
    naive = persistence(data.prices, data.splits["test"], cfg.horizon)
    metrics = {
        "val_loss": result.best_metric,
        **prefixed(price_metrics(val_pred, data.prices[val_rows]), "val"),
        **prefixed(price_metrics(test_pred, data.prices[test_rows]), "test"),
        **prefixed(price_metrics(naive, data.prices[test_rows]), "test_naive"),
        "best_epoch": float(result.best_epoch),
        "epochs_run": float(len(result.history)),
        "n_parameters": float(n_parameters(result.model)),
        "fit_seconds": result.seconds,
    }
    outputs = {"val_pred": val_pred, "test_pred": test_pred, "val_rows": val_rows, "test_rows": test_rows}
    return FitResult(metrics=metrics, model=result.model, history=result.history, outputs=outputs)


SPEC = TrainableSpec(
    name="seasonal_gru",
    config_cls=SeasonalGRUConfig,
    datasets=("epf_fr",),
    default_dataset="epf_fr",
    load_data=load_data,
    fit=fit,
    plots=plots,
    metric="val_loss",
    mode="min",
    rankable={"val_rmse": "min", "val_mae": "min", "val_mae_max": "min", "val_mae_min": "min"},
    smoke_overrides={"epochs": 1, "max_train_batches": 3, "lag_window": 2, "hidden": 8, "batch_size": 16},
    data_keys=DATA_KEYS,
    description="RNN/LSTM/GRU day-ahead price forecaster with seasonal and trend losses (seed 002)",
)
