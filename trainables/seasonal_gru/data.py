"""The per-trial view of an EpfData for the seasonal GRU: its feature columns (the
data's known-in-advance columns plus lagged prices) and the windows of each split."""

from __future__ import annotations

import numpy as np

from data.epf import EpfData
from data.windows import WindowDataset, require_windows, window_starts
from trainables.seasonal_gru.config import SeasonalGRUConfig


def model_features(cfg: SeasonalGRUConfig, data: EpfData) -> np.ndarray:
    """Known-in-advance features per row: the data's calendar / slot-mean / exogenous
    columns plus the z-price ``lag`` hours back for each of ``price_lags``.

    The lagged prices hand the network the same hour 1, 2, 3 and 7 days back at
    every forecast hour instead of making it carry them across 24-168 steps.
    """
    return with_price_lags(data.features, data.z, cfg.price_lags)


def with_price_lags(features: np.ndarray, z: np.ndarray, price_lags: tuple[int, ...]) -> np.ndarray:
    """``features`` plus one column per lag: z ``lag`` rows back (0 before the first).
    The lag columns come last: the model's level shift finds them there."""
    columns = [features]
    for lag in price_lags:
        lagged = np.zeros_like(z)
        lagged[lag:] = z[:-lag]
        columns.append(lagged[:, None])
    return np.concatenate(columns, axis=1).astype(np.float32)


def split_dataset(cfg: SeasonalGRUConfig, data: EpfData, split: str, step: int) -> WindowDataset:
    """Windows whose targets lie in ``split``; inputs may reach into earlier rows,
    but never before the row where every price lag exists."""
    bounds = data.splits[split]
    first_row = max(cfg.price_lags, default=0)
    starts = window_starts(bounds, cfg.input_len, cfg.horizon, step, series_start=first_row)
    require_windows(starts, split, bounds, cfg.input_len, cfg.horizon, f"data set {data.schema.get('file', 'epf')}")
    return WindowDataset(data.z[:, None], starts, cfg.input_len, cfg.horizon, model_features(cfg, data))


def eval_dataset(cfg: SeasonalGRUConfig, data: EpfData, split: str) -> WindowDataset:
    """Forecasts that tile the split exactly: one per day (or hour), from its start."""
    dataset = split_dataset(cfg, data, split, cfg.horizon)
    lo, hi = data.splits[split]
    if len(dataset) * cfg.horizon != hi - lo:
        raise ValueError(f"{split}: {hi - lo} rows are not a whole number of {cfg.horizon}-hour forecasts")
    return dataset
