"""EPEX-France day-ahead prices (epftoolbox FR.csv): reader, the paper's splits and
its eq. 26 preprocessing.

The paper (seed 002) trains on 2012-01-01..2015-12-31 with December 2015 held out
for validation and tests on 2016-01-01..2016-06-30. Eq. 26 removes the
per-time-of-year mean over the training years and divides by the standard
deviation. Every statistic here is computed from the training rows only, so the
validation and test prices can change without changing anything the model sees
about them in advance.

Two robustness choices are options (defaults keep the paper's transform intact
apart from them; both can be switched off):
- ``clip_quantile``: training prices include 2012-02-09 (1,938 EUR/MWh) and
  2013-06-16 (-200). A 4-year mean per hour of the year carries a quarter of such
  a spike into the same hour of 2016, so statistics are fitted on prices clipped
  to training quantiles, and model inputs are clipped the same way. Truth used for
  metrics is never clipped.
- ``smooth_days``: a mean over 4 values per slot is noisy (a few EUR/MWh), and the
  noise of the target day's slot lands in every forecast made in eq. 26 units:
  same-hour-yesterday persistence scores RMSE 7.99 on raw 2016H1 prices but 10.96
  when carried out in raw eq. 26 units, 8.06 with +-7 days of smoothing. A
  circular moving average over +-``smooth_days`` days of the same hour (0 = the
  paper's raw slot means) fixes that while keeping eq. 26's form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.registry import dataset_file, file_sha256

# Header names as shipped (leading spaces after the commas are stripped on read).
FR_COLUMNS = {"Date": "timestamp", "Prices": "price", "Generation forecast": "generation",
              "System load forecast": "load"}
EXOGENOUS = ("load", "generation")  # the two day-ahead forecasts, in the order the models see them
HOURS_PER_DAY = 24
SLOTS_PER_YEAR = 366  # days of a leap-year calendar: Feb 29 keeps its own slot
# Leap-year day offsets of the first of each month, so (month, day) -> slot 0..365.
_MONTH_OFFSET = np.cumsum([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30])


def read_fr_csv(path: Path) -> pd.DataFrame:
    """Parse FR.csv into ``timestamp, price, generation, load`` and check its shape.

    The file's local timestamps are forced to 24 rows per day (the spring DST hour
    is interpolated, the autumn hours merged, per the data README), so any day
    without exactly the hours 00..23 means a different or damaged file.
    """
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in FR_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {list(FR_COLUMNS)}")
    frame = frame[list(FR_COLUMNS)].rename(columns=FR_COLUMNS)
    for column in ("price", "generation", "load"):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{path}: column {column!r} is not numeric")
        if frame[column].isna().any():
            row = int(frame[column].isna().to_numpy().argmax())
            raise DataError(f"{path}: missing {column} in data row {row + 1}")
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column 'Date' is not 'YYYY-MM-DD HH:MM:SS'") from exc
    check_hourly_days(frame["timestamp"], str(path))
    return frame


def check_hourly_days(timestamps: pd.Series, where: str) -> None:
    """Raise a DataError unless rows are consecutive days of hours 00..23 in order."""
    ts = pd.DatetimeIndex(timestamps)
    if len(ts) % HOURS_PER_DAY:
        raise DataError(f"{where}: {len(ts)} rows is not a whole number of 24-hour days")
    expected = ts[0].normalize() + pd.to_timedelta(np.arange(len(ts)), unit="h")
    bad = np.flatnonzero(ts != expected)
    if len(bad):
        row = int(bad[0])
        raise DataError(f"{where}: row {row + 1} is {ts[row]}, expected {expected[row]} "
                        "(every day must hold the hours 00..23 exactly once)")


def time_of_year_slot(timestamps: np.ndarray) -> np.ndarray:
    """Slot index ``day_of_leap_year * 24 + hour``: the 't' of eq. 26."""
    ts = pd.DatetimeIndex(timestamps)
    day = _MONTH_OFFSET[ts.month.to_numpy() - 1] + ts.day.to_numpy() - 1
    return day * HOURS_PER_DAY + ts.hour.to_numpy()


@dataclass(frozen=True)
class SeasonalProfile:
    """Eq. 26: ``z = (clip(x) - mean_slot(x)) / std(x)``, with its exact inverse.

    ``mean`` holds one value per time-of-year slot (366 x 24); ``std`` is the
    standard deviation of the (clipped) training prices, one number as in the paper.
    """

    mean: np.ndarray  # (366 * 24,)
    std: float
    low: float  # clipping bounds from training quantiles (-inf / inf when off)
    high: float

    def slot_mean(self, timestamps: np.ndarray) -> np.ndarray:
        return self.mean[time_of_year_slot(timestamps)]

    def transform(self, prices: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        clipped = np.clip(np.asarray(prices, dtype=np.float64), self.low, self.high)
        return (clipped - self.slot_mean(timestamps)) / self.std

    def inverse(self, z: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        """Prices from transformed values (exact for values inside the clip bounds)."""
        return np.asarray(z, dtype=np.float64) * self.std + self.slot_mean(timestamps)


def fit_profile(prices: np.ndarray, timestamps: np.ndarray, clip_quantile: float = 0.0,
                smooth_days: int = 0) -> SeasonalProfile:
    """Fit eq. 26's statistics on training prices only.

    Slots the training years never visit (none for whole years; Feb 29 has one
    value from 2012) fall back to the mean of their hour of day.
    """
    prices = np.asarray(prices, dtype=np.float64)
    if clip_quantile > 0:
        low, high = np.quantile(prices, [clip_quantile, 1 - clip_quantile])
    else:
        low, high = -np.inf, np.inf
    clipped = np.clip(prices, low, high)
    slots = time_of_year_slot(timestamps)
    n_slots = SLOTS_PER_YEAR * HOURS_PER_DAY
    total = np.bincount(slots, weights=clipped, minlength=n_slots)
    count = np.bincount(slots, minlength=n_slots).astype(np.float64)
    total, count = total.reshape(SLOTS_PER_YEAR, HOURS_PER_DAY), count.reshape(SLOTS_PER_YEAR, HOURS_PER_DAY)
    if smooth_days > 0:
        total, count = _circular_day_sum(total, smooth_days), _circular_day_sum(count, smooth_days)
    hour_mean = np.array([clipped[slots % HOURS_PER_DAY == h].mean() for h in range(HOURS_PER_DAY)])
    mean = np.where(count > 0, total / np.maximum(count, 1), hour_mean[None, :])
    std = float(clipped.std())
    if not np.isfinite(std) or std <= 1e-12:
        raise DataError("epf: training prices have zero spread; eq. 26 needs a positive std")
    return SeasonalProfile(mean.reshape(-1), std, float(low), float(high))


def _circular_day_sum(table: np.ndarray, half_width: int) -> np.ndarray:
    """Sum over days d-k..d+k of the same hour, wrapping around the year."""
    out = np.zeros_like(table)
    for shift in range(-half_width, half_width + 1):
        out += np.roll(table, shift, axis=0)
    return out


@dataclass(frozen=True)
class EpfPeriods:
    """The paper's periods as dates (end dates exclusive)."""

    start: str = "2012-01-01"
    val_start: str = "2015-12-01"
    test_start: str = "2016-01-01"
    test_end: str = "2016-07-01"


@dataclass
class EpfData:
    """FR prices over the paper's period, transformed, with model features.

    ``features`` are known at forecast time for every row (calendar, the eq. 26
    slot mean, and optionally the day-ahead load/generation forecasts, which are
    published before the auction); ``z`` is the transformed price.
    """

    timestamps: np.ndarray  # datetime64[ns]
    prices: np.ndarray  # raw EUR/MWh, float64
    z: np.ndarray  # eq. 26 transform, float32 (inputs and targets of the models)
    features: np.ndarray  # (rows, k) float32
    feature_names: list[str]
    splits: dict[str, tuple[int, int]]  # row ranges [lo, hi)
    profile: SeasonalProfile
    checksum: str
    meta: dict = field(default_factory=dict)
    exogenous: np.ndarray | None = None  # raw day-ahead load / generation forecasts (MW) when used
    exogenous_scale: tuple[np.ndarray, np.ndarray] | None = None  # their training mean and std

    def to_prices(self, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Invert eq. 26 for predictions of the given rows (EUR/MWh)."""
        return self.profile.inverse(z, self.timestamps[rows])


def split_rows(timestamps: np.ndarray, periods: EpfPeriods) -> dict[str, tuple[int, int]]:
    """Row ranges of train / val / test; the frame must start at ``periods.start``."""
    ts = pd.DatetimeIndex(timestamps)
    bounds = [pd.Timestamp(d) for d in (periods.start, periods.val_start, periods.test_start, periods.test_end)]
    if ts[0] != bounds[0] or ts[-1] < bounds[3] - pd.Timedelta(hours=1):
        raise DataError(f"epf: rows cover {ts[0]}..{ts[-1]}, not the periods {periods}")
    rows = [int(ts.searchsorted(b)) for b in bounds]
    return {"train": (rows[0], rows[1]), "val": (rows[1], rows[2]), "test": (rows[2], rows[3])}


def calendar_columns(timestamps: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Hour of day and day of week on the unit circle, and a weekend flag."""
    ts = pd.DatetimeIndex(timestamps)
    hour = 2 * np.pi * ts.hour.to_numpy() / 24
    dow = 2 * np.pi * ts.day_of_week.to_numpy() / 7
    weekend = (ts.day_of_week.to_numpy() >= 5).astype(np.float64)
    columns = [np.sin(hour), np.cos(hour), np.sin(dow), np.cos(dow), weekend]
    return np.stack(columns, axis=1), ["hour_sin", "hour_cos", "dow_sin", "dow_cos", "weekend"]


def build_epf(frame: pd.DataFrame, checksum: str, periods: EpfPeriods = EpfPeriods(),
              clip_quantile: float = 0.001, smooth_days: int = 0, exogenous: bool = False) -> EpfData:
    """Cut the paper's period from a parsed FR frame and apply eq. 26 (train stats)."""
    keep = (frame["timestamp"] >= periods.start) & (frame["timestamp"] < periods.test_end)
    part = frame.loc[keep].reset_index(drop=True)
    timestamps = part["timestamp"].to_numpy()
    prices = part["price"].to_numpy(dtype=np.float64)
    splits = split_rows(timestamps, periods)
    lo, hi = splits["train"]
    profile = fit_profile(prices[lo:hi], timestamps[lo:hi], clip_quantile, smooth_days)
    z = profile.transform(prices, timestamps)
    exog, exog_scale = None, None
    if exogenous:
        exog = part[list(EXOGENOUS)].to_numpy(dtype=np.float64)
        exog_scale = (exog[lo:hi].mean(axis=0), exog[lo:hi].std(axis=0))
    features, names = known_features(timestamps, profile, exog, exog_scale)
    return EpfData(
        timestamps=timestamps, prices=prices, z=z.astype(np.float32), features=features, feature_names=names,
        splits=splits, profile=profile, checksum=checksum,
        meta={"periods": periods, "clip_quantile": clip_quantile, "smooth_days": smooth_days,
              "exogenous": exogenous},
        exogenous=exog, exogenous_scale=exog_scale,
    )


def known_features(timestamps: np.ndarray, profile: SeasonalProfile, exog: np.ndarray | None = None,
                   exog_scale: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """The features known before the auction, per row: calendar, the eq. 26 slot
    mean and, when given, the day-ahead load and generation forecasts ``exog``
    (rows x 2, MW) standardised by ``exog_scale`` (their training mean and std).
    The loader and the exported model both build their inputs here, so they
    cannot drift apart."""
    calendar, names = calendar_columns(timestamps)
    columns = [calendar, (profile.slot_mean(timestamps) - profile.mean.mean())[:, None] / profile.std]
    names = names + ["slot_mean"]
    if exog is not None:
        center, scale = exog_scale
        columns.append((np.asarray(exog, dtype=np.float64) - center) / scale)
        names += ["load_forecast", "generation_forecast"]
    return np.concatenate(columns, axis=1).astype(np.float32), names


def load_fr_frame(data_dir: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """The parsed FR.csv (Parquet-cached) and its sha256."""
    path = dataset_file("epf_fr", data_dir)
    return cached_table(path, read_fr_csv), file_sha256(path)


def load_epf(data_dir: str | Path | None = None, clip_quantile: float = 0.001, smooth_days: int = 0,
             exogenous: bool = False, periods: EpfPeriods = EpfPeriods()) -> EpfData:
    """FR.csv over the paper's periods, ready for the seasonal GRU and the baselines."""
    frame, checksum = load_fr_frame(data_dir)
    return build_epf(frame, checksum, periods, clip_quantile, smooth_days, exogenous)


def persistence(prices: np.ndarray, rows: tuple[int, int], lag: int) -> np.ndarray:
    """Naive forecast of rows [lo, hi): the price ``lag`` hours earlier."""
    lo, hi = rows
    if lo - lag < 0:
        raise DataError(f"epf: persistence with lag {lag} needs {lag} rows before row {lo}")
    return np.asarray(prices[lo - lag:hi - lag], dtype=np.float64)
