"""Equinor Volve daily production: oil rate per producing wellbore as a panel.

The daily CSV has one row per wellbore per day, but not a gap-free calendar, and
many rows are shut-ins (zero or empty volumes). Each producing wellbore is
re-indexed to every day between its first and last day with oil; days absent from
the file or without volumes count as shut in (rate 0). The wells are stacked into
one (rows, 1) series; ``meta["series"]`` records each well's row range and its
chronological 70/10/20 split, so windows never cross from one well into the next,
and the last 20 % of every well is its test period.

The conversion (``volve_long_table``) is the set's named reader (``reader:
volve_daily`` in its registry layout): it turns the raw export into a long table
of wells, which then takes the common table path (data/table_data.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.errors import DataError
from data.forecasting import ForecastData
from data.registry import get_info
from data.source import builtin_source
from data.table_data import forecast_data, load_forecast
from data.tables import Table

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


def volve_long_table(path: Path, min_days: int = 365) -> pd.DataFrame:
    """The daily export as a long table: ``well, date, oil_rate, shut_in``, the wells
    in name order, each a gap-free calendar (see ``well_rates``)."""
    wells = well_rates(read_volve_daily(path), min_days)
    return pd.concat([frame.assign(well=name)[["well", "date", "oil_rate", "shut_in"]]
                      for name, frame in wells.items()], ignore_index=True)


def build_panel(wells: dict[str, pd.DataFrame], checksum: str, scaler: str = "standard",
                split: tuple[float, float] = SPLIT) -> ForecastData:
    """Wells (each a frame of ``date, oil_rate, shut_in``) as the Volve panel, through
    the common table path with Volve's layout."""
    frame = pd.concat([w.assign(well=name) for name, w in wells.items()], ignore_index=True)
    keys = {k: v for k, v in get_info("volve").layout.items() if k != "reader"}
    data = forecast_data(Table(frame, "date", "wells", checksum), {**keys, "split": list(split)}, "volve",
                         scaler=scaler)
    data.meta["units"] = "Sm3/day"
    return data


def load_volve(data_dir: str | None = None, scaler: str = "standard") -> ForecastData:
    """The Volve oil-rate panel from the daily CSV (see the module docstring)."""
    return load_forecast(builtin_source("volve", data_dir), scaler=scaler)


def panel_series(data: ForecastData) -> list[dict]:
    """Series layout of any ForecastData: the panel's wells, or one whole series."""
    if "series" in data.meta:
        return list(data.meta["series"])
    return [{"name": data.name, "lo": 0, "hi": len(data.values), "splits": dict(data.splits)}]
