"""TimeMixer as a trainable: config, data, loss, metrics, plots, registry entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data.ett import load_ett
from data.forecasting import ForecastData
from data.synthetic import load_synthetic_wells
from data.windows import WindowDataset, keep_batch, require_windows, window_starts
from trainables import losses
from trainables.config import TrainConfig, check
from trainables.context import TrainContext
from trainables.loop import run_loop
from trainables.registry import FitResult, TrainableSpec
from trainables.timemixer.model import TimeMixer, TimeMixerShape, count_parameters

DOWN_SAMPLING = ("avg", "max", "conv")
DECOMPOSITIONS = ("moving_avg", "dft")
LOSSES = ("mse", "mae", "weighted_mae", "combined")


@dataclass(frozen=True)
class TimeMixerConfig(TrainConfig):
    """Defaults are the reference ETTh1 settings (TimeMixer's long-term scripts)."""

    # windows and data
    input_len: int = 96
    output_len: int = 96
    step_len: int = 1
    features: str = "M"  # M: all channels -> all; S: target -> target
    target: str = "OT"
    scaler: str = "standard"
    lookback_from_previous: bool = True
    use_marks: bool = True
    # architecture
    d_model: int = 16
    d_ff: int = 32
    e_layers: int = 2
    down_sampling_layers: int = 3
    down_sampling_window: int = 2
    down_sampling_method: str = "avg"
    decomposition: str = "moving_avg"
    moving_avg: int = 25
    top_k: int = 5
    channel_independence: bool = True
    dropout: float = 0.1
    use_norm: bool = True
    # objective
    loss: str = "mse"
    mse_weight: float = 0.1  # combined loss: MAE + mse_weight*MSE + trend_weight*trend
    trend_weight: float = 0.2
    eval_batch_size: int = 512
    # reference training settings
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    scheduler: str = "onecycle"
    pct_start: float = 0.2
    patience: int = 10
    seed: int = 2021

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.input_len >= 2, "input_len", "an integer >= 2", self.input_len)
        check(self.output_len >= 1, "output_len", "an integer >= 1", self.output_len)
        check(self.step_len >= 1, "step_len", "an integer >= 1", self.step_len)
        check(self.features in ("M", "S"), "features", "'M' or 'S'", self.features)
        check(self.d_model >= 1, "d_model", "an integer >= 1", self.d_model)
        check(self.d_ff >= 1, "d_ff", "an integer >= 1", self.d_ff)
        check(self.e_layers >= 1, "e_layers", "an integer >= 1", self.e_layers)
        check(self.down_sampling_layers >= 0, "down_sampling_layers", "an integer >= 0", self.down_sampling_layers)
        check(self.down_sampling_window >= 1, "down_sampling_window", "an integer >= 1", self.down_sampling_window)
        check(self.input_len // self.down_sampling_window ** self.down_sampling_layers >= 1,
              "down_sampling_layers", f"few enough that input_len={self.input_len} keeps >= 1 step",
              self.down_sampling_layers)
        check(self.down_sampling_method in DOWN_SAMPLING, "down_sampling_method", f"one of {DOWN_SAMPLING}",
              self.down_sampling_method)
        check(self.decomposition in DECOMPOSITIONS, "decomposition", f"one of {DECOMPOSITIONS}", self.decomposition)
        check(self.moving_avg >= 1, "moving_avg", "an integer >= 1", self.moving_avg)
        check(self.top_k >= 1, "top_k", "an integer >= 1", self.top_k)
        check(0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)", self.dropout)
        check(self.loss in LOSSES, "loss", f"one of {LOSSES}", self.loss)
        check(self.mse_weight >= 0, "mse_weight", "a number >= 0", self.mse_weight)
        check(self.trend_weight >= 0, "trend_weight", "a number >= 0", self.trend_weight)
        check(self.eval_batch_size >= 1, "eval_batch_size", "an integer >= 1", self.eval_batch_size)


# The seed guide passes these; TimeMixer has neither, and silently ignoring them
# (as the reference code does) would make a sweep over them meaningless.
TimeMixerConfig.REJECTED_KEYS = {
    "n_heads": "TimeMixer has no attention heads (the reference code silently ignores n_heads)",
    "d_layers": "TimeMixer has no decoder layers (the reference code silently ignores d_layers)",
}


def load_data(cfg: TimeMixerConfig, dataset: str, data_dir: str | None) -> ForecastData:
    """Read and scale the dataset once (on the driver)."""
    if dataset in ("etth1", "ettm1"):
        return load_ett(dataset, data_dir, target=cfg.target, features=cfg.features, scaler=cfg.scaler)
    if dataset == "synthetic_wells":
        return load_synthetic_wells(seed=0, scaler=cfg.scaler)
    raise ValueError(f"timemixer has no loader for dataset {dataset!r}")


def build_model(cfg: TimeMixerConfig, data: ForecastData) -> TimeMixer:
    marks = data.marks.shape[1] if (cfg.use_marks and data.marks is not None) else 0
    shape = TimeMixerShape(
        input_len=cfg.input_len, output_len=cfg.output_len, channels=data.n_channels,
        d_model=cfg.d_model, d_ff=cfg.d_ff, e_layers=cfg.e_layers,
        down_sampling_layers=cfg.down_sampling_layers, down_sampling_window=cfg.down_sampling_window,
        down_sampling_method=cfg.down_sampling_method, decomposition=cfg.decomposition,
        moving_avg=cfg.moving_avg, top_k=cfg.top_k, channel_independence=cfg.channel_independence,
        dropout=cfg.dropout, use_norm=cfg.use_norm, mark_features=marks,
    )
    return TimeMixer(shape)


def split_dataset(cfg: TimeMixerConfig, data: ForecastData, split: str, step: int) -> WindowDataset:
    bounds = data.splits[split]
    starts = window_starts(bounds, cfg.input_len, cfg.output_len, step, cfg.lookback_from_previous)
    require_windows(starts, split, bounds, cfg.input_len, cfg.output_len, f"dataset {data.name}")
    return WindowDataset(data.values, starts, cfg.input_len, cfg.output_len,
                         data.marks if cfg.use_marks else None, data.target_channels)


def preflight(cfg: TimeMixerConfig, data: ForecastData) -> None:
    """Every split must hold at least one window of the configured lengths."""
    for split in ("train", "val", "test"):
        split_dataset(cfg, data, split, cfg.step_len if split == "train" else 1)


def objective(cfg: TimeMixerConfig, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if cfg.loss == "mae":
        return F.l1_loss(pred, target)
    if cfg.loss == "weighted_mae":
        return losses.weighted_mae(pred, target)
    if cfg.loss == "combined":
        return losses.combined_loss(pred, target, cfg.mse_weight, cfg.trend_weight)
    return F.mse_loss(pred, target)


def _forward(model: torch.nn.Module, batch, device: torch.device, targets: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    marks = batch[2].to(device, non_blocking=True) if len(batch) > 2 else None
    pred = model(x, marks)
    if len(targets) != pred.shape[-1]:
        pred = pred[..., targets]
    return pred, y


@torch.no_grad()
def predict_split(model: torch.nn.Module, dataset: WindowDataset, batch_size: int, device: torch.device,
                  targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and truths for every window of a split (scaled units)."""
    model.eval()
    preds, truths = [], []
    for lo in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(lo, min(len(dataset), lo + batch_size))))
        pred, y = _forward(model, batch, device, targets)
        preds.append(pred.float().cpu())
        truths.append(y.float().cpu())
    return torch.cat(preds).numpy(), torch.cat(truths).numpy()


def forecast_metrics(pred: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
    err = pred - truth
    return {f"{prefix}_mse": float(np.mean(err**2)), f"{prefix}_mae": float(np.mean(np.abs(err)))}


def fit(cfg: TimeMixerConfig, data: ForecastData, ctx: TrainContext) -> FitResult:
    """Train on the train split, early-stop on validation, score the test split."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    train_set = split_dataset(cfg, data, "train", cfg.step_len)
    val_set = split_dataset(cfg, data, "val", 1)
    test_set = split_dataset(cfg, data, "test", 1)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, collate_fn=keep_batch,
                        generator=torch.Generator().manual_seed(cfg.seed))
    model = build_model(cfg, data)
    targets = data.target_channels

    def train_step(net: torch.nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        pred, y = _forward(net, batch, ctx.device, targets)
        return objective(cfg, pred, y)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        pred, truth = predict_split(net, val_set, cfg.eval_batch_size, ctx.device, targets)
        metrics = forecast_metrics(pred, truth, "val")
        loss = objective(cfg, torch.from_numpy(pred), torch.from_numpy(truth))
        return {"val_loss": float(loss), **metrics}

    result = run_loop(model, loader, cfg, ctx, train_step, evaluate, monitor="val_loss", mode="min")
    test_pred, test_truth = predict_split(result.model, test_set, cfg.eval_batch_size, ctx.device, targets)
    val_pred, val_truth = predict_split(result.model, val_set, cfg.eval_batch_size, ctx.device, targets)
    train_windows = sum(len(train_set) if not cfg.max_train_batches else
                        min(len(train_set), cfg.max_train_batches * cfg.batch_size) for _ in result.history)
    train_seconds = sum(h["train_seconds"] for h in result.history) or float("nan")
    metrics = {
        **forecast_metrics(val_pred, val_truth, "val"),
        **forecast_metrics(test_pred, test_truth, "test"),
        "test_mae_raw": float(np.mean(np.abs(
            data.scaler.inverse_transform(test_pred, targets) - data.scaler.inverse_transform(test_truth, targets)))),
        "best_epoch": float(result.best_epoch),
        "epochs_run": float(len(result.history)),
        "n_parameters": float(count_parameters(result.model)),
        "train_samples_per_s": train_windows / train_seconds,
        "fit_seconds": result.seconds,
    }
    examples = np.linspace(0, len(test_set) - 1, num=min(3, len(test_set))).astype(int)
    history_x = np.stack([test_set[i][0].numpy() for i in examples])
    outputs = {
        "val_pred": val_pred, "test_pred": test_pred,
        "examples": {"index": examples, "input": history_x, "pred": test_pred[examples], "truth": test_truth[examples]},
    }
    return FitResult(metrics=metrics, model=result.model, history=result.history, outputs=outputs)


def plots(result: FitResult, data: ForecastData) -> dict[str, Any]:
    """Forecast against truth on a few test windows (target channel, original units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = result.outputs["examples"]
    channel = len(data.target_channels) - 1  # last target channel (OT for ETT)
    source = data.target_channels[channel]
    fig, axes = plt.subplots(len(ex["index"]), 1, figsize=(10, 2.6 * len(ex["index"])), squeeze=False)
    for row, ax in enumerate(axes[:, 0]):
        history = data.scaler.inverse_transform(ex["input"][row][:, source], [source])
        truth = data.scaler.inverse_transform(ex["truth"][row][:, channel], [source])
        pred = data.scaler.inverse_transform(ex["pred"][row][:, channel], [source])
        t_hist = np.arange(len(history))
        t_future = np.arange(len(history), len(history) + len(truth))
        ax.plot(t_hist, history, color="0.4", lw=1, label="input")
        ax.plot(t_future, truth, color="C0", lw=1.2, label="truth")
        ax.plot(t_future, pred, color="C3", lw=1.2, label="forecast")
        ax.set_ylabel(data.columns[source])
        ax.set_title(f"test window {int(ex['index'][row])}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    curves, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [h["epoch"] for h in result.history]
    ax.plot(epochs, [h["train_loss"] for h in result.history], label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in result.history], label="val loss")
    ax.set_xlabel("epoch")
    ax.legend()
    curves.tight_layout()
    return {"forecast_vs_truth.png": fig, "learning_curve.png": curves}


SPEC = TrainableSpec(
    name="timemixer",
    config_cls=TimeMixerConfig,
    datasets=("etth1", "ettm1", "synthetic_wells"),
    default_dataset="synthetic_wells",
    load_data=load_data,
    fit=fit,
    plots=plots,
    preflight=preflight,
    metric="val_loss",
    mode="min",
    smoke_overrides={
        "input_len": 48, "output_len": 24, "d_model": 8, "d_ff": 16, "e_layers": 1,
        "down_sampling_layers": 2, "epochs": 2, "batch_size": 64, "max_train_batches": 8,
        "eval_batch_size": 1024, "moving_avg": 13,
    },
    description="TimeMixer long-horizon forecaster (Wang et al., ICLR 2024)",
)
