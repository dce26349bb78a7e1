"""TimeMixer as a trainable: config, data, loss, metrics, plots, registry entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data.errors import DataError
from data.features import FeatureOptions, PreprocessOptions, engineered_features, preprocess_series
from data.forecasting import ForecastData
from data.source import DataSource
from data.scalers import Scaler, fit_scaler
from data.tables import DATA_KEYS, load_forecast
from data.volve import panel_series
from data.windows import keep_batch, window_starts
from trainables import losses
from trainables.config import TrainConfig, check
from trainables.errors import ConfigError
from trainables.timemixer.augment import PanelWindows, add_noise, mix, mixup_pairs
from trainables.context import TrainContext, unwrap
from trainables.loop import run_loop
from trainables.plots import learning_curve
from trainables.registry import FitResult, TrainableSpec
from trainables.timemixer.model import TimeMixer, TimeMixerShape, count_parameters

DOWN_SAMPLING = ("avg", "max", "conv")
DECOMPOSITIONS = ("moving_avg", "dft")
LOSSES = ("mse", "mae", "weighted_mae", "combined", "quantile")
WEIGHTS_FILE = "state_dict.pt"  # what the orchestrator logs under a run's model/ artifact


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
    # Calendar marks off by default: the reference tiles marks across channels out of
    # step with its channel-independent batch, so in effect it has none; aligned marks
    # let the model key on day-of-year over a one-year train split and overfit
    # (ETTh1 h=96 test MSE 0.455 with, 0.375 without).
    use_marks: bool = False
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
    # shared seasonal/trend losses (seed 002), added to any main loss
    trend_mean_weight: float = 0.0
    trend_max_weight: float = 0.0
    trend_min_weight: float = 0.0
    trend_var_weight: float = 0.0
    trend_window: int = 24
    seasonal_weight: float = 0.0  # on the finest-scale hidden states
    season_period: int = 24
    # multi-task heads: value + trend direction + decline rate
    multitask: bool = False
    direction_weight: float = 0.2
    decline_weight: float = 0.1
    eval_batch_size: int = 512
    # augmentation (training only)
    noise_std: float = 0.0  # Gaussian input noise, scaled units
    jitter: int = 0  # window-start jitter, +- steps, clamped to the series and split
    mixup_prob: float = 0.0
    mixup_alpha: float = 0.2
    # features (causal; fed to the model as per-step covariates next to the calendar)
    feat_cumulative: bool = False
    feat_rate_change: bool = False
    feat_rolling: int = 0  # trailing window of mean/std/min/max/slope; 0 = off
    segment_norm: int = 0  # causal segment normalisation window as a feature; 0 = off
    series_embedding: bool = False  # learned per-series (per-well) embedding
    # input preprocessing (training statistics only; targets untouched)
    smooth_window: int = 0  # causal Savitzky-Golay; 0 = off
    smooth_order: int = 3
    clip_sigma: float = 0.0  # clip inputs at mean +- k std of the training rows; 0 = off
    # two-stage training: start from an earlier run's weights (file or directory)
    init_from: str = ""
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
        for name in ("trend_mean_weight", "trend_max_weight", "trend_min_weight", "trend_var_weight",
                     "seasonal_weight", "direction_weight", "decline_weight", "noise_std"):
            check(getattr(self, name) >= 0, name, "a number >= 0", getattr(self, name))
        check(1 <= self.trend_window <= self.output_len, "trend_window", f"an integer in [1, output_len={self.output_len}]",
              self.trend_window)
        check(self.season_period >= 1, "season_period", "an integer >= 1", self.season_period)
        check(self.seasonal_weight == 0 or self.season_period < self.input_len, "season_period",
              f"shorter than input_len={self.input_len} when seasonal_weight > 0", self.season_period)
        check(self.jitter >= 0, "jitter", "an integer >= 0", self.jitter)
        check(0 <= self.mixup_prob <= 1, "mixup_prob", "a number in [0, 1]", self.mixup_prob)
        check(self.mixup_alpha > 0, "mixup_alpha", "a number > 0", self.mixup_alpha)
        check(self.feat_rolling >= 0 and self.feat_rolling != 1, "feat_rolling", "0 (off) or an integer >= 2",
              self.feat_rolling)
        check(self.segment_norm >= 0 and self.segment_norm != 1, "segment_norm", "0 (off) or an integer >= 2",
              self.segment_norm)
        check(self.smooth_window >= 0 and self.smooth_window != 1, "smooth_window", "0 (off) or an integer >= 2",
              self.smooth_window)
        check(self.smooth_window == 0 or 0 <= self.smooth_order < self.smooth_window, "smooth_order",
              f"an integer in [0, smooth_window={self.smooth_window})", self.smooth_order)
        check(self.clip_sigma >= 0, "clip_sigma", "a number >= 0 (0 = off)", self.clip_sigma)


# The seed guide passes these; TimeMixer has neither, and silently ignoring them
# (as the reference code does) would make a sweep over them meaningless.
TimeMixerConfig.REJECTED_KEYS = {
    "n_heads": "TimeMixer has no attention heads (the reference code silently ignores n_heads)",
    "d_layers": "TimeMixer has no decoder layers (the reference code silently ignores d_layers)",
}


def load_data(cfg: TimeMixerConfig, source: DataSource) -> ForecastData:
    """Read and scale the data set once (on the driver): a built-in set and the
    user's ``--data`` file take the same path, the file plus its layout keys."""
    return load_forecast(source, features=cfg.features, target=cfg.target, scaler=cfg.scaler)


# --- the per-trial view of the data: preprocessing, features, windows -----------

def feature_options(cfg: TimeMixerConfig) -> FeatureOptions:
    return FeatureOptions(cfg.feat_cumulative, cfg.feat_rate_change, cfg.feat_rolling, cfg.segment_norm)


def preprocess_options(cfg: TimeMixerConfig) -> PreprocessOptions:
    return PreprocessOptions(cfg.smooth_window, cfg.smooth_order, cfg.clip_sigma)


def n_mark_features(cfg: TimeMixerConfig, data: Any) -> int:
    """Calendar columns (when used) + engineered feature columns."""
    calendar = data.marks.shape[1] if (cfg.use_marks and data.marks is not None) else 0
    per_channel = (int(cfg.feat_cumulative) + int(cfg.feat_rate_change) + 5 * int(cfg.feat_rolling > 0)
                   + int(cfg.segment_norm > 0))
    return calendar + per_channel * len(getattr(data, "target_channels", []))


@dataclass(frozen=True)
class Prepared:
    """What a trial trains on, derived from ForecastData with this config's options.

    ``inputs`` may be preprocessed; ``targets`` are the scaled raw series (all
    channels, scored against); both are (rows, channels) float32.
    """

    inputs: np.ndarray
    targets: np.ndarray
    marks: np.ndarray | None
    scaler: Scaler
    series: list[dict]


def _train_rows(series: list[dict]) -> np.ndarray:
    return np.concatenate([np.arange(*s["splits"]["train"]) for s in series])


def prepare(cfg: TimeMixerConfig, data: ForecastData) -> Prepared:
    """Rescale, preprocess inputs and compute features per series, training
    statistics only. At the defaults this is ``data`` itself, unchanged."""
    series = panel_series(data)
    pre, feats = preprocess_options(cfg), feature_options(cfg)
    if cfg.scaler == data.scaler.kind and not pre.any and not feats.any:
        marks = data.marks if cfg.use_marks else None
        return Prepared(data.values, data.values, marks, data.scaler, series)
    raw = data.raw().astype(np.float64)
    scaler = data.scaler if cfg.scaler == data.scaler.kind else fit_scaler(raw[_train_rows(series)], cfg.scaler)
    targets = data.values if scaler is data.scaler else scaler.transform(raw)
    processed = raw.copy()
    feature_parts = []
    for s in series:
        rows = slice(s["lo"], s["hi"])
        train = (s["splits"]["train"][0] - s["lo"], s["splits"]["train"][1] - s["lo"])
        if pre.any:
            processed[rows] = preprocess_series(raw[rows], train, pre)
        feature_parts.append(engineered_features(processed[rows][:, data.target_channels], feats))
    inputs = scaler.transform(processed) if pre.any else targets
    marks = data.marks if cfg.use_marks else None
    if feats.any:
        features = np.concatenate(feature_parts, axis=0)
        features = fit_scaler(features[_train_rows(series)], "standard").transform(features)
        marks = features if marks is None else np.concatenate([marks, features], axis=1).astype(np.float32)
    return Prepared(inputs, targets, marks, scaler, series)


def panel_windows(cfg: TimeMixerConfig, prepared: Prepared, split: str, step: int,
                  jitter: int = 0) -> PanelWindows:
    """Windows of ``split`` over every series long enough to hold one in each split.

    A series too short for input_len + output_len in any split is left out; when
    none is long enough a DataError says how long the longest one is.
    """
    starts, bounds, ids = [], [], []
    for sid, s in enumerate(usable_series(cfg, prepared.series)):
        lo, hi = s["splits"][split]
        found = window_starts((lo, hi), cfg.input_len, cfg.output_len, step, cfg.lookback_from_previous, s["lo"])
        first = max(s["lo"], lo - cfg.input_len) if cfg.lookback_from_previous else lo
        last = hi - cfg.input_len - cfg.output_len
        starts.append(found)
        bounds.append(np.tile([first, last], (len(found), 1)))
        ids.append(np.full(len(found), s["id"]))
    return PanelWindows(prepared.inputs, prepared.targets, prepared.marks, np.concatenate(starts),
                        np.concatenate(bounds), np.concatenate(ids), cfg.input_len, cfg.output_len,
                        jitter=jitter, seed=cfg.seed)


def usable_series(cfg: TimeMixerConfig, series: list[dict]) -> list[dict]:
    """Series (with their index as ``id``) holding >= 1 window in every split."""
    usable = []
    for sid, s in enumerate(series):
        counts = [len(window_starts(s["splits"][k], cfg.input_len, cfg.output_len, 1, cfg.lookback_from_previous,
                                    s["lo"])) for k in ("train", "val", "test")]
        if min(counts) > 0:
            usable.append({**s, "id": sid})
    if not usable:
        longest = max(series, key=lambda s: s["hi"] - s["lo"])
        sizes = {k: v[1] - v[0] for k, v in longest["splits"].items()}
        raise DataError(
            f"every series is too short for input_len={cfg.input_len} + output_len={cfg.output_len}: the longest "
            f"of {len(series)}, series {longest['name']!r} ({longest['hi'] - longest['lo']} rows; splits {sizes}), "
            "holds no window in every split; use shorter windows or a longer series")
    return usable


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


def split_dataset(cfg: TimeMixerConfig, data: ForecastData, split: str, step: int) -> PanelWindows:
    """Windows of one split (kept for serving/ensembles/benchmarks)."""
    return panel_windows(cfg, prepare(cfg, data), split, step)


def preflight(cfg: TimeMixerConfig, data: ForecastData) -> None:
    """Every split must hold at least one window of the configured lengths."""
    usable_series(cfg, panel_series(data))
    n_mark_features(cfg, data)


# --- objective -----------------------------------------------------------------

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


def _select(pred: torch.Tensor, targets: list[int]) -> torch.Tensor:
    channels = pred.shape[2]
    return pred[:, :, targets] if len(targets) != channels else pred


def _forward(model: torch.nn.Module, batch, device: torch.device, targets: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    marks = batch[2].to(device, non_blocking=True) if len(batch) > 2 and batch[2].shape[-1] else None
    series = batch[3].to(device) if len(batch) > 3 and getattr(model, "series_embedding", None) is not None else None
    pred = model(x, marks, series)
    return _select(pred, targets), y[..., targets] if y.shape[-1] != len(targets) else y


@torch.no_grad()
def predict_split(model: torch.nn.Module, dataset: PanelWindows, batch_size: int, device: torch.device,
                  targets: list[int], quantiles: bool = False):
    """Point predictions and truths for every window of a split (scaled units);
    with ``quantiles`` also the (n, horizon, channels, 3) quantile forecasts."""
    model.eval()
    preds, truths = [], []
    for lo in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(lo, min(len(dataset), lo + batch_size))))
        pred, y = _forward(model, batch, device, targets)
        preds.append(pred.float().cpu())
        truths.append(y.float().cpu())
    full, truth = torch.cat(preds), torch.cat(truths).numpy()
    if quantiles:
        return point(full).numpy(), truth, full.numpy()
    return point(full).numpy(), truth


def forecast_metrics(pred: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
    err = pred - truth
    return {f"{prefix}_mse": float(np.mean(err**2)), f"{prefix}_mae": float(np.mean(np.abs(err)))}


def data_units(values: np.ndarray, prepared: Prepared, data: ForecastData) -> np.ndarray:
    """Targets or forecasts re-expressed in the dataset's own scaling (standard on its
    training rows), whatever scaler this config trains with. MSE/MAE in these units
    compare across trials with different scalers and losses, so a sweep can rank them."""
    if prepared.scaler is data.scaler:
        return values
    targets = data.target_channels
    raw = prepared.scaler.inverse_transform(values, targets)
    return ((raw - data.scaler.center[targets]) / data.scaler.scale[targets]).astype(np.float32)


def quantile_metrics(full: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
    q, t = torch.from_numpy(full), torch.from_numpy(truth)
    return {f"{prefix}_pinball": float(losses.pinball_loss(q, t, losses.QUANTILES)),
            f"{prefix}_coverage_80": losses.interval_coverage(q, t)}


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
        out = net.forward_all(x, marks, series) if net is bare else _ddp_forward_all(net, x, marks, series)
        out = {**out, "forecast": _select(out["forecast"], targets)}
        return training_loss(cfg, out, x, y, targets)

    return train_step


def _ddp_forward_all(net: torch.nn.Module, x, marks, series) -> dict[str, torch.Tensor]:
    """DDP only syncs gradients (and torch.compile only compiles) through ``__call__``:
    route forward_all through it."""
    bare = unwrap(net)
    bare.forward = bare.forward_all
    try:
        return net(x, marks, series)
    finally:
        del bare.forward


def fit(cfg: TimeMixerConfig, data: ForecastData, ctx: TrainContext) -> FitResult:
    """Train on the train split, early-stop on validation, score the test split."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
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
        "n_parameters": float(count_parameters(result.model)),
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


def plots(result: FitResult, data: ForecastData) -> dict[str, Any]:
    """Forecast against truth on a few test windows (target channel, original units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = result.outputs["examples"]
    scaler = result.outputs.get("scaler", data.scaler)
    channel = len(data.target_channels) - 1  # last target channel (OT for ETT)
    source = data.target_channels[channel]
    fig, axes = plt.subplots(len(ex["index"]), 1, figsize=(10, 2.6 * len(ex["index"])), squeeze=False)
    for row, ax in enumerate(axes[:, 0]):
        history = scaler.inverse_transform(ex["input"][row][:, source], [source])
        truth = scaler.inverse_transform(ex["truth"][row][:, channel], [source])
        pred = scaler.inverse_transform(ex["pred"][row][:, channel], [source])
        t_hist = np.arange(len(history))
        t_future = np.arange(len(history), len(history) + len(truth))
        ax.plot(t_hist, history, color="0.4", lw=1, label="input")
        ax.plot(t_future, truth, color="C0", lw=1.2, label="truth")
        ax.plot(t_future, pred, color="C3", lw=1.2, label="forecast")
        ax.set_ylabel(data.columns[source])
        ax.set_title(f"test window {int(ex['index'][row])}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    curves = learning_curve(result.history)
    return {"forecast_vs_truth.png": fig, "learning_curve.png": curves}


SPEC = TrainableSpec(
    name="timemixer",
    config_cls=TimeMixerConfig,
    datasets=("etth1", "ettm1", "synthetic_wells", "volve"),
    default_dataset="synthetic_wells",
    load_data=load_data,
    data_keys=DATA_KEYS,
    fit=fit,
    plots=plots,
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
