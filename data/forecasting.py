"""The in-memory form of a forecasting dataset, shared by every forecaster.

``ForecastData`` holds the whole series once (scaled with training statistics),
its calendar features and the row ranges of the chronological splits. It is built
on the driver and shipped to trials; windows are cut from it lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.errors import DataError
from data.scalers import Scaler, fit_scaler

SPLITS = ("train", "val", "test")


def calendar_features(timestamps: pd.DatetimeIndex | np.ndarray, freq: str) -> np.ndarray:
    """Informer-style 'timeF' features in [-0.5, 0.5]: finer fields for finer freq.

    ``freq`` is 't' (minutes), 'h' (hours) or 'd' (days).
    """
    ts = pd.DatetimeIndex(timestamps)
    columns = []
    if freq == "t":
        columns.append(ts.minute / 59.0 - 0.5)
    if freq in ("t", "h"):
        columns.append(ts.hour / 23.0 - 0.5)
    columns += [
        ts.day_of_week / 6.0 - 0.5,
        (ts.day - 1) / 30.0 - 0.5,
        (ts.day_of_year - 1) / 365.0 - 0.5,
    ]
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)


@dataclass
class ForecastData:
    """A scaled multichannel series with chronological splits."""

    name: str
    values: np.ndarray  # (rows, channels) float32, scaled
    columns: list[str]
    target_channels: list[int]
    splits: dict[str, tuple[int, int]]  # target row ranges [lo, hi)
    scaler: Scaler
    checksum: str
    timestamps: np.ndarray  # datetime64[ns], one per row
    freq: str
    marks: np.ndarray | None = None  # calendar features (rows, k)
    meta: dict = field(default_factory=dict)
    schema: dict = field(default_factory=dict)  # what MLflow's dataset input records (columns, series, freq)

    @property
    def n_channels(self) -> int:
        return self.values.shape[1]

    def raw(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Unscaled values (for plots and metrics in original units)."""
        part = self.values if rows is None else self.values[rows]
        return self.scaler.inverse_transform(part)


def build_forecast_data(
    name: str,
    frame: pd.DataFrame,
    time_column: str,
    value_columns: list[str],
    target_columns: list[str],
    splits: dict[str, tuple[int, int]],
    freq: str,
    checksum: str,
    scaler: str = "standard",
) -> ForecastData:
    """Scale with statistics of the training rows only and package the splits."""
    for split in SPLITS:
        if split not in splits:
            raise DataError(f"{name}: split {split!r} missing")
    lo, hi = splits["train"]
    values = frame[value_columns].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).argmax())
        raise DataError(f"{name}: non-finite value in row {bad} of columns {value_columns}")
    fitted = fit_scaler(values[lo:hi], scaler)
    timestamps = pd.to_datetime(frame[time_column]).to_numpy()
    return ForecastData(
        name=name,
        values=fitted.transform(values),
        columns=list(value_columns),
        target_channels=[value_columns.index(c) for c in target_columns],
        splits=dict(splits),
        scaler=fitted,
        checksum=checksum,
        timestamps=timestamps,
        freq=freq,
        marks=calendar_features(timestamps, freq),
    )
