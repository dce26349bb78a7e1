"""The per-trial view of a ForecastData for TimeMixer: preprocessing, engineered
features, the series that hold windows, the windows of each split, and the data
set's own units that trials are compared in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from data.features import FeatureOptions, PreprocessOptions, engineered_features, preprocess_series
from data.forecasting import ForecastData
from data.scalers import Scaler, fit_scaler
from data.volve import panel_series
from trainables import forecasting
from trainables.forecasting import PanelWindows
from trainables.timemixer.config import TimeMixerConfig


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
    """Windows of ``split`` over every series long enough to hold one in each split."""
    return forecasting.panel_windows(prepared.inputs, prepared.targets, prepared.marks, prepared.series, split,
                                     cfg.input_len, cfg.output_len, step, cfg.lookback_from_previous,
                                     jitter=jitter, seed=cfg.seed)


def usable_series(cfg: TimeMixerConfig, series: list[dict]) -> list[dict]:
    """Series (with their index as ``id``) holding >= 1 window in every split."""
    return forecasting.usable_series(series, cfg.input_len, cfg.output_len, cfg.lookback_from_previous)


def split_dataset(cfg: TimeMixerConfig, data: ForecastData, split: str, step: int) -> PanelWindows:
    """Windows of one split (kept for serving/ensembles/benchmarks)."""
    return panel_windows(cfg, prepare(cfg, data), split, step)


def data_units(values: np.ndarray, prepared: Prepared, data: ForecastData) -> np.ndarray:
    """Targets or forecasts re-expressed in the dataset's own scaling (standard on its
    training rows), whatever scaler this config trains with. MSE/MAE in these units
    compare across trials with different scalers and losses, so a sweep can rank them."""
    if prepared.scaler is data.scaler:
        return values
    targets = data.target_channels
    raw = prepared.scaler.inverse_transform(values, targets)
    return ((raw - data.scaler.center[targets]) / data.scaler.scale[targets]).astype(np.float32)
