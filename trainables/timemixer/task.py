"""TimeMixer as a trainable: loading, the model, the objective, the training step,
``fit`` and the registry entry. Config, per-trial data, plots and serving live in
the sibling modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from data.forecasting import ForecastData
from data.source import DataSource
from data.table_data import DATA_KEYS, load_forecast
from data.volve import panel_series
from data.windows import keep_batch
from trainables import losses
from trainables.common import WEIGHTS_FILE, n_parameters, predict_batches, seed_everything
from trainables.context import TrainContext, unwrap
from trainables.errors import ConfigError
from trainables.forecasting import PanelWindows, forecast_metrics, target_channels_of
from trainables.loop import run_loop
from trainables.plots import forecast_figures
from trainables.registry import FitResult, TrainableSpec
from trainables.timemixer.augment import add_noise, mix, mixup_pairs
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.data import data_units, n_mark_features, panel_windows, prepare, usable_series
from trainables.timemixer.model import TimeMixer, TimeMixerShape
from trainables.timemixer.objective import objective, point, quantile_metrics, training_loss


def load_data(cfg: TimeMixerConfig, source: DataSource) -> ForecastData:
    """Read and scale the data set once (on the driver): a built-in set and the
    user's ``--data`` file take the same path, the file plus its layout keys."""
    return load_forecast(source, features=cfg.features, target=cfg.target, scaler=cfg.scaler)


def build_model(cfg: TimeMixerConfig, data: Any) -> TimeMixer:
    n_series = len(panel_series(data)) if (cfg.series_embedding and hasattr(data, "meta")) else 0
    shape = TimeMixerShape(
        input_len=cfg.input_len, output_len=cfg.output_len, channels=data.n_channels,
        d_model=cfg.d_model, d_ff=cfg.d_ff, e_layers=cfg.e_layers,
        down_sampling_layers=cfg.down_sampling_layers, down_sampling_window=cfg.down_sampling_window,
        down_sampling_method=cfg.down_sampling_method, decomposition=cfg.decomposition,
        moving_avg=cfg.moving_avg, top_k=cfg.top_k, channel_independence=cfg.channel_independence,
        dropout=cfg.dropout, use_norm=cfg.use_norm, mark_features=n_mark_features(cfg, data),
        n_outputs=len(losses.QUANTILES) if cfg.loss == "quantile" else 1,
        n_series=n_series, aux_heads=cfg.multitask,
    )
    return TimeMixer(shape)


def load_initial_weights(model: torch.nn.Module, path: str) -> None:
    """Two-stage training: load an earlier run's weights (``state_dict.pt`` or a
    directory holding one, or a loop checkpoint ``state.pt``), tensors only."""
    source = Path(path).expanduser()
    if source.is_dir():
        found = sorted(source.rglob(WEIGHTS_FILE)) or sorted(source.rglob("state.pt"))
        if not found:
            raise ConfigError(f"init_from: no {WEIGHTS_FILE} or state.pt under {source}")
        source = found[0]
    if not source.is_file():
        raise ConfigError(f"init_from: {source} does not exist")
    state = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and "best_state" in state:
        state = state["best_state"] or state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"init_from: {source} does not fit this model's architecture "
                          f"({str(exc).splitlines()[0]}); keep the architecture settings of the first stage") from exc


def preflight(cfg: TimeMixerConfig, data: ForecastData) -> None:
    """Every split must hold at least one window of the configured lengths."""
    usable_series(cfg, panel_series(data))
    n_mark_features(cfg, data)


def _forward(model: torch.nn.Module, batch, device: torch.device, targets: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    marks = batch[2].to(device, non_blocking=True) if len(batch) > 2 and batch[2].shape[-1] else None
    series = batch[3].to(device) if len(batch) > 3 and getattr(model, "series_embedding", None) is not None else None
    pred = model(x, marks, series)
    return target_channels_of(pred, targets), y[..., targets] if y.shape[-1] != len(targets) else y


def predict_split(model: torch.nn.Module, dataset: PanelWindows, batch_size: int, device: torch.device,
                  targets: list[int], quantiles: bool = False):
    """Point predictions and truths for every window of a split (scaled units);
    with ``quantiles`` also the (n, horizon, channels, 3) quantile forecasts."""
    full, truth = predict_batches(model, dataset, batch_size, lambda net, batch: _forward(net, batch, device, targets))
    truth = truth.numpy()
    if quantiles:
        return point(full).numpy(), truth, full.numpy()
    return point(full).numpy(), truth


def make_train_step(cfg: TimeMixerConfig, ctx: TrainContext, targets: list[int]):
    """The training step with noise, mixup and the auxiliary losses."""
    rng = np.random.default_rng(cfg.seed + 1)

    def train_step(net: torch.nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        x, y = batch[0].to(ctx.device), batch[1].to(ctx.device)
        y = y[..., targets] if y.shape[-1] != len(targets) else y
        marks = batch[2].to(ctx.device) if batch[2].shape[-1] else None
        bare = unwrap(net)
        series = batch[3].to(ctx.device) if bare.series_embedding is not None else None
        x = add_noise(x, cfg.noise_std)
        pair = mixup_pairs(x.shape[0], cfg.mixup_prob, cfg.mixup_alpha, rng)
        if pair is not None:
            lam, perm = pair
            x, y = mix(x, lam, perm), mix(y, lam, perm)
            marks = None if marks is None else mix(marks, lam, perm)
            if series is not None:
                series = mix(bare.series_vectors(series), lam, perm)
        out = net(x, marks, series, all_outputs=True)
        out = {**out, "forecast": target_channels_of(out["forecast"], targets)}
        return training_loss(cfg, out, x, y, targets)

    return train_step


def fit(cfg: TimeMixerConfig, data: ForecastData, ctx: TrainContext) -> FitResult:
    """Train on the train split, early-stop on validation, score the test split."""
    seed_everything(cfg.seed)
    prepared = prepare(cfg, data)
    train_set = panel_windows(cfg, prepared, "train", cfg.step_len, jitter=cfg.jitter)
    val_set = panel_windows(cfg, prepared, "val", 1)
    test_set = panel_windows(cfg, prepared, "test", 1)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, collate_fn=keep_batch,
                        generator=torch.Generator().manual_seed(cfg.seed))
    model = build_model(cfg, data)
    if cfg.init_from:
        load_initial_weights(model, cfg.init_from)
    targets = data.target_channels
    quantile = cfg.loss == "quantile"

    def scores(pred: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
        return forecast_metrics(data_units(pred, prepared, data), data_units(truth, prepared, data), prefix)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        pred, truth, *full = predict_split(net, val_set, cfg.eval_batch_size, ctx.device, targets, quantile)
        metrics = scores(pred, truth, "val")
        scored = torch.from_numpy(full[0] if quantile else pred)
        return {"val_loss": float(objective(cfg, scored, torch.from_numpy(truth))), **metrics}

    # Early stopping and the sweep both rank on val_mse (data units), not on val_loss:
    # the loss differs between trials that search `loss` or `scaler`.
    result = run_loop(model, loader, cfg, ctx, make_train_step(cfg, ctx, targets), evaluate,
                      monitor=SPEC.metric, mode=SPEC.mode)
    test_pred, test_truth, *test_full = predict_split(result.model, test_set, cfg.eval_batch_size, ctx.device,
                                                      targets, quantile)
    val_pred, val_truth, *val_full = predict_split(result.model, val_set, cfg.eval_batch_size, ctx.device,
                                                   targets, quantile)
    train_windows = sum(len(train_set) if not cfg.max_train_batches else
                        min(len(train_set), cfg.max_train_batches * cfg.batch_size) for _ in result.history)
    train_seconds = sum(h["train_seconds"] for h in result.history) or float("nan")
    scaler = prepared.scaler
    metrics = {
        **scores(val_pred, val_truth, "val"),
        **scores(test_pred, test_truth, "test"),
        "test_mae_raw": float(np.mean(np.abs(
            scaler.inverse_transform(test_pred, targets) - scaler.inverse_transform(test_truth, targets)))),
        "best_epoch": float(result.best_epoch),
        "epochs_run": float(len(result.history)),
        "n_parameters": float(n_parameters(result.model)),
        "train_samples_per_s": train_windows / train_seconds,
        "fit_seconds": result.seconds,
    }
    if quantile:
        metrics.update(quantile_metrics(val_full[0], val_truth, "val"))
        metrics.update(quantile_metrics(test_full[0], test_truth, "test"))
    examples = np.linspace(0, len(test_set) - 1, num=min(3, len(test_set))).astype(int)
    history_x = np.stack([test_set[i][0].numpy() for i in examples])
    outputs = {
        "val_pred": val_pred, "test_pred": test_pred, "test_truth": test_truth,
        "test_series": test_set.series_id.numpy(), "test_starts": test_set.starts.numpy(),
        "scaler": scaler,
        "examples": {"index": examples, "input": history_x, "pred": test_pred[examples], "truth": test_truth[examples]},
    }
    if quantile:
        outputs["test_quantiles"] = test_full[0]
    return FitResult(metrics=metrics, model=result.model, history=result.history, outputs=outputs)


SPEC = TrainableSpec(
    name="timemixer",
    config_cls=TimeMixerConfig,
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
    smoke_overrides={
        "input_len": 48, "output_len": 24, "d_model": 8, "d_ff": 16, "e_layers": 1,
        "down_sampling_layers": 2, "epochs": 2, "batch_size": 64, "max_train_batches": 8,
        "eval_batch_size": 1024, "moving_avg": 13,
    },
    description="TimeMixer long-horizon forecaster (Wang et al., ICLR 2024)",
)
