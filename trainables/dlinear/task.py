"""DLinear as a trainable: loading, the model, the training step, ``fit`` and the
registry entry. The windows, scores, plots and export pipeline are the forecasting
families' shared ones (``trainables.forecasting``, ``trainables.plots``,
``trainables.forecast_serving``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from data.forecasting import ForecastData
from data.source import DataSource
from data.table_data import DATA_KEYS, load_forecast
from data.volve import panel_series
from data.windows import keep_batch
from trainables import forecasting
from trainables.common import n_parameters, predict_batches, seed_everything
from trainables.context import TrainContext
from trainables.dlinear.config import DLinearConfig
from trainables.dlinear.model import DLinear
from trainables.forecasting import PanelWindows, forecast_metrics, target_channels_of
from trainables.loop import run_loop
from trainables.plots import forecast_figures
from trainables.registry import FitResult, TrainableSpec


def load_data(cfg: DLinearConfig, source: DataSource) -> ForecastData:
    """Read and scale the data set once (on the driver): a built-in set and the
    user's ``--data`` file take the same path, the file plus its layout keys."""
    return load_forecast(source, features=cfg.features, target=cfg.target)


def build_model(cfg: DLinearConfig, data: Any) -> DLinear:
    return DLinear(cfg.input_len, cfg.output_len, data.n_channels, cfg.moving_avg, cfg.individual)


def preflight(cfg: DLinearConfig, data: ForecastData) -> None:
    """Every split must hold at least one window of the configured lengths."""
    forecasting.usable_series(panel_series(data), cfg.input_len, cfg.output_len, cfg.lookback_from_previous)


def split_windows(cfg: DLinearConfig, data: ForecastData, split: str, step: int = 1) -> PanelWindows:
    """Windows of ``split`` over every series long enough to hold one in each split;
    DLinear reads no calendar marks."""
    return forecasting.panel_windows(data.values, data.values, None, panel_series(data), split, cfg.input_len,
                                     cfg.output_len, step, cfg.lookback_from_previous, seed=cfg.seed)


def loss_of(cfg: DLinearConfig, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    err = pred - truth
    return (err**2).mean() if cfg.loss == "mse" else err.abs().mean()


def _forward(model: torch.nn.Module, batch, device: torch.device, targets: list[int]) -> tuple[torch.Tensor, ...]:
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    pred = target_channels_of(model(x), targets)
    return pred, y[..., targets] if y.shape[-1] != len(targets) else y


def predict_split(model: torch.nn.Module, dataset: PanelWindows, batch_size: int, device: torch.device,
                  targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts and truths of the target channels for every window of a split (scaled)."""
    pred, truth = predict_batches(model, dataset, batch_size, lambda net, batch: _forward(net, batch, device, targets))
    return pred.numpy(), truth.numpy()


def fit(cfg: DLinearConfig, data: ForecastData, ctx: TrainContext) -> FitResult:
    """Train on the train split, early-stop on validation MSE, score the test split."""
    seed_everything(cfg.seed)
    train_set = split_windows(cfg, data, "train", cfg.step_len)
    val_set, test_set = split_windows(cfg, data, "val"), split_windows(cfg, data, "test")
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, collate_fn=keep_batch,
                        generator=torch.Generator().manual_seed(cfg.seed))
    model = build_model(cfg, data)
    targets = data.target_channels

    def train_step(net: torch.nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        return loss_of(cfg, *_forward(net, batch, ctx.device, targets))

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        pred, truth = predict_split(net, val_set, cfg.eval_batch_size, ctx.device, targets)
        loss = loss_of(cfg, torch.from_numpy(pred), torch.from_numpy(truth))
        return {"val_loss": float(loss), **forecast_metrics(pred, truth, "val")}

    result = run_loop(model, loader, cfg, ctx, train_step, evaluate, monitor=SPEC.metric, mode=SPEC.mode)
    val_pred, val_truth = predict_split(result.model, val_set, cfg.eval_batch_size, ctx.device, targets)
    test_pred, test_truth = predict_split(result.model, test_set, cfg.eval_batch_size, ctx.device, targets)
    raw_err = data.scaler.inverse_transform(test_pred, targets) - data.scaler.inverse_transform(test_truth, targets)
    batches = len(loader) if not cfg.max_train_batches else min(len(loader), cfg.max_train_batches)
    train_windows = min(len(train_set), batches * cfg.batch_size) * len(result.history)
    metrics = {
        **forecast_metrics(val_pred, val_truth, "val"),
        **forecast_metrics(test_pred, test_truth, "test"),
        "test_mae_raw": float(np.mean(np.abs(raw_err))),
        "test_rmse_raw": float(np.sqrt(np.mean(raw_err**2))),
        "best_epoch": float(result.best_epoch),
        "epochs_run": float(len(result.history)),
        "n_parameters": float(n_parameters(result.model)),
        "train_samples_per_s": train_windows / (sum(h["train_seconds"] for h in result.history) or float("nan")),
        "fit_seconds": result.seconds,
    }
    examples = np.linspace(0, len(test_set) - 1, num=min(3, len(test_set))).astype(int)
    outputs = {
        "val_pred": val_pred, "test_pred": test_pred, "test_truth": test_truth,
        "test_series": test_set.series_id.numpy(), "test_starts": test_set.starts.numpy(),
        "scaler": data.scaler,
        "examples": {"index": examples, "input": np.stack([test_set[i][0].numpy() for i in examples]),
                     "pred": test_pred[examples], "truth": test_truth[examples]},
    }
    return FitResult(metrics=metrics, model=result.model, history=result.history, outputs=outputs)


SPEC = TrainableSpec(
    name="dlinear",
    config_cls=DLinearConfig,
    datasets=("etth1", "ettm1", "synthetic_wells", "volve"),
    default_dataset="synthetic_wells",
    load_data=load_data,
    data_keys=DATA_KEYS,
    fit=fit,
    plots=forecast_figures,
    preflight=preflight,
    metric="val_mse",
    mode="min",
    rankable={"val_mae": "min", "val_loss": "min"},
    smoke_overrides={"input_len": 48, "output_len": 24, "moving_avg": 13, "epochs": 2, "batch_size": 64,
                     "max_train_batches": 8, "eval_batch_size": 1024},
    description="DLinear trend + remainder linear forecaster (Zeng et al., AAAI 2023)",
)
