"""ETT-small (ETTh1, ETTm1): wide CSVs read through the common table path.

Their registry entries hold the layout keys (time column ``date``, the standard
12/4/4-month split as row counts), so ``--dataset etth1`` and ``--data ETTh1.csv``
with those keys are the same load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.forecasting import ForecastData
from data.source import builtin_source
from data.series import regular_series, resolve_step
from data.table_data import load_forecast
from data.tables import find_time_column, parse_times, read_raw

ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ETT_SETS = ("etth1", "ettm1")


def read_ett_csv(path: Path) -> pd.DataFrame:
    """Parse and check an ETT CSV: a ``date`` column, the 7 numeric channels, one
    row per regular time step."""
    path = Path(path)
    where = str(path)
    frame = read_raw(path, {"format": "csv"})
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
    time = find_time_column(frame, {"time": "date"}, where)
    frame[time] = parse_times(frame[time], time, where)
    step = resolve_step([frame[time].to_numpy()], {}, where)
    return regular_series(frame[expected], time, ETT_COLUMNS, step, None, None, where)


def load_ett(name: str, data_dir: str | None = None, target: str = "OT", features: str = "M",
             scaler: str = "standard") -> ForecastData:
    """ETTh1 / ETTm1 as ForecastData.

    ``features``: 'M' forecasts all 7 channels from all 7 (the benchmark setting),
    'S' forecasts ``target`` from itself alone.
    """
    if name not in ETT_SETS:
        raise DataError(f"--dataset: {name!r} is not an ETT dataset; expected one of {list(ETT_SETS)}")
    if target not in ETT_COLUMNS:
        raise DataError(f"target: expected one of {ETT_COLUMNS}, got {target!r}")
    return load_forecast(builtin_source(name, data_dir), features=features, target=target, scaler=scaler)


def split_rows(data: ForecastData) -> dict[str, np.ndarray]:
    """Row indices of each split (for leakage checks)."""
    return {k: np.arange(*v) for k, v in data.splits.items()}
