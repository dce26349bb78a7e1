"""ETT-small readers (ETTh1, ETTm1) with the standard 12/4/4-month split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.forecasting import ForecastData, build_forecast_data
from data.registry import dataset_file, file_sha256

ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ROWS_PER_MONTH = {"etth1": 30 * 24, "ettm1": 30 * 24 * 4}
FREQ = {"etth1": "h", "ettm1": "t"}


def read_ett_csv(path: Path) -> pd.DataFrame:
    """Parse and check an ETT CSV: a ``date`` column and the 7 numeric channels."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from exc
    expected = ["date", *ETT_COLUMNS]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {expected}")
    for column in ETT_COLUMNS:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{path}: column {column!r} is not numeric")
    if frame[ETT_COLUMNS].isna().any().any():
        row = int(frame[ETT_COLUMNS].isna().any(axis=1).to_numpy().argmax())
        raise DataError(f"{path}: missing value in data row {row + 1}")
    try:
        frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column 'date' is not 'YYYY-MM-DD HH:MM:SS'") from exc
    check_regular(frame["date"], path)
    return frame[expected]


def check_regular(dates: pd.Series, path: Path) -> None:
    """Windows assume one row per time step: gaps, repeats and disorder are errors."""
    if len(dates) < 2:
        raise DataError(f"{path}: expected at least 2 rows, got {len(dates)}")
    steps = dates.diff().iloc[1:]
    step = steps.iloc[0]
    bad = np.flatnonzero((steps != step).to_numpy())
    if step <= pd.Timedelta(0) or len(bad):
        row = int(bad[0]) + 2 if len(bad) else 2
        raise DataError(f"{path}: timestamps are not a regular {step} grid (gap, repeat or disorder at data row "
                        f"{row}: {dates.iloc[row - 1]})")


def ett_splits(name: str, n_rows: int) -> dict[str, tuple[int, int]]:
    """Train = first 12 months, val = next 4, test = next 4 (Informer/TimeMixer code)."""
    month = ROWS_PER_MONTH[name]
    train_end, val_end, test_end = 12 * month, 16 * month, 20 * month
    if n_rows < test_end:
        raise DataError(f"{name}: {n_rows} rows, fewer than the {test_end} the 12/4/4-month split needs")
    return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, test_end)}


def load_ett(name: str, data_dir: str | None = None, target: str = "OT", features: str = "M",
             scaler: str = "standard") -> ForecastData:
    """ETTh1 / ETTm1 as ForecastData.

    ``features``: 'M' forecasts all 7 channels from all 7 (the benchmark setting),
    'S' forecasts ``target`` from itself alone.
    """
    if name not in ROWS_PER_MONTH:
        raise DataError(f"--dataset: {name!r} is not an ETT dataset; expected one of {sorted(ROWS_PER_MONTH)}")
    if target not in ETT_COLUMNS:
        raise DataError(f"target: expected one of {ETT_COLUMNS}, got {target!r}")
    path = dataset_file(name, data_dir)
    frame = cached_table(path, read_ett_csv)
    columns = ETT_COLUMNS if features == "M" else [target]
    targets = ETT_COLUMNS if features == "M" else [target]
    splits = ett_splits(name, len(frame))
    return build_forecast_data(
        name, frame, "date", columns, targets, splits, FREQ[name], file_sha256(path), scaler
    )


def split_rows(data: ForecastData) -> dict[str, np.ndarray]:
    """Row indices of each split (for leakage checks)."""
    return {k: np.arange(*v) for k, v in data.splits.items()}
