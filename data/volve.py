"""Equinor Volve daily production: oil rate per producing wellbore as a panel.

The daily CSV has one row per wellbore per day, but not a gap-free calendar, and
many rows are shut-ins (zero or empty volumes). Each producing wellbore is
re-indexed to every day between its first and last day with oil; days absent from
the file or without volumes count as shut in (rate 0). The wells are stacked into
one (rows, 1) series; ``meta["series"]`` records each well's row range and its
chronological 70/10/20 split, so windows never cross from one well into the next,
and the last 20 % of every well is its test period.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.forecasting import ForecastData, calendar_features
from data.registry import dataset_file, file_sha256
from data.scalers import fit_scaler

COLUMNS = ["DATEPRD", "WELL_BORE_CODE", "ON_STREAM_HRS", "BORE_OIL_VOL", "FLOW_KIND", "WELL_TYPE"]
SPLIT = (0.7, 0.1)  # train, val; the rest (last 20 %) is test


def read_volve_daily(path: Path) -> pd.DataFrame:
    """Parse and check the daily CSV (only the columns the panel needs)."""
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in COLUMNS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected at least {COLUMNS}")
    try:
        frame["DATEPRD"] = pd.to_datetime(frame["DATEPRD"], format="%Y-%m-%d")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column 'DATEPRD' is not 'YYYY-MM-DD'") from exc
    for column in ("ON_STREAM_HRS", "BORE_OIL_VOL"):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{path}: column {column!r} is not numeric")
    return frame[COLUMNS]


def well_rates(frame: pd.DataFrame, min_days: int = 365) -> dict[str, pd.DataFrame]:
    """Gap-free daily oil rate and shut-in flag per producing wellbore.

    A well's calendar runs from its first to its last day with oil; wells with
    fewer than ``min_days`` such calendar days are left out (too short to window).
    """
    producing = frame[(frame["WELL_TYPE"] == "OP") & (frame["FLOW_KIND"] == "production")]
    wells: dict[str, pd.DataFrame] = {}
    for name, rows in producing.groupby("WELL_BORE_CODE", sort=True):
        rows = rows.groupby("DATEPRD", as_index=True)[["BORE_OIL_VOL", "ON_STREAM_HRS"]].sum(min_count=1)
        with_oil = rows.index[rows["BORE_OIL_VOL"].fillna(0) > 0]
        if len(with_oil) == 0:
            continue
        days = pd.date_range(with_oil.min(), with_oil.max(), freq="D")
        if len(days) < min_days:
            continue
        daily = rows.reindex(days)
        rate = daily["BORE_OIL_VOL"].fillna(0.0).clip(lower=0.0)
        shut_in = (rate <= 0) | (daily["ON_STREAM_HRS"].fillna(0.0) <= 0)
        wells[str(name)] = pd.DataFrame({"date": days, "oil_rate": rate.to_numpy(), "shut_in": shut_in.to_numpy()})
    if not wells:
        raise DataError(f"volve: no producing wellbore has {min_days} or more days of production")
    return wells


def well_splits(lo: int, hi: int, split: tuple[float, float] = SPLIT) -> dict[str, tuple[int, int]]:
    """Chronological train/val/test row ranges of one well (test = the last 20 %)."""
    n = hi - lo
    n_train, n_val = int(n * split[0]), int(n * split[1])
    return {"train": (lo, lo + n_train), "val": (lo + n_train, lo + n_train + n_val), "test": (lo + n_train + n_val, hi)}


def build_panel(wells: dict[str, pd.DataFrame], checksum: str, scaler: str = "standard",
                split: tuple[float, float] = SPLIT) -> ForecastData:
    """Stack the wells into one ForecastData with per-well layout in ``meta``."""
    series, lo = [], 0
    for name, frame in wells.items():
        hi = lo + len(frame)
        series.append({"name": name, "lo": lo, "hi": hi, "splits": well_splits(lo, hi, split)})
        lo = hi
    stacked = pd.concat(list(wells.values()), ignore_index=True)
    values = stacked[["oil_rate"]].to_numpy(dtype=np.float64)
    train_rows = np.concatenate([np.arange(*s["splits"]["train"]) for s in series])
    fitted = fit_scaler(values[train_rows], scaler)
    timestamps = stacked["date"].to_numpy()
    longest = max(series, key=lambda s: s["hi"] - s["lo"])
    data = ForecastData(
        name="volve", values=fitted.transform(values), columns=["oil_rate"], target_channels=[0],
        splits=dict(longest["splits"]),  # one well's; the panel layout is meta["series"]
        scaler=fitted, checksum=checksum, timestamps=timestamps, freq="d",
        marks=calendar_features(timestamps, "d"),
    )
    data.meta = {"series": series, "shut_in": stacked["shut_in"].to_numpy(), "units": "Sm3/day",
                 "split": list(split)}
    return data


def load_volve(data_dir: str | None = None, scaler: str = "standard", min_days: int = 365) -> ForecastData:
    """The Volve oil-rate panel from the daily CSV (see the module docstring)."""
    path = dataset_file("volve", data_dir)
    frame = cached_table(path, read_volve_daily)
    return build_panel(well_rates(frame, min_days), file_sha256(path), scaler)


def panel_series(data: ForecastData) -> list[dict]:
    """Series layout of any ForecastData: the panel's wells, or one whole series."""
    if "series" in data.meta:
        return list(data.meta["series"])
    return [{"name": data.name, "lo": 0, "hi": len(data.values), "splits": dict(data.splits)}]
