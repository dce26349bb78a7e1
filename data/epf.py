"""Hourly day-ahead prices (epftoolbox FR.csv, or any market's file): the paper's
splits and its eq. 26 preprocessing.

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

Any hourly market's file takes the same path (``load_prices``): data/prices.py
reads it into whole 24-hour days by its layout keys; a built-in set is its
registry file plus the registry's ``layout`` (FR: ``Date``, ``Prices``, the load
and generation forecasts, the paper's periods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.price_layout import EpfPeriods, layout_of
from data.prices import check_periods, read_prices, resolved
from data.registry import file_sha256, get_info
from data.source import DataSource, builtin_source, source_file

HOURS_PER_DAY = 24
SLOTS_PER_YEAR = 366  # days of a leap-year calendar: Feb 29 keeps its own slot
# Leap-year day offsets of the first of each month, so (month, day) -> slot 0..365.
_MONTH_OFFSET = np.cumsum([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30])


def read_fr_csv(path: Path) -> pd.DataFrame:
    """FR.csv by the epf_fr registry layout: ``timestamp, price, load, generation``."""
    return read_prices(Path(path), layout_of(get_info("epf_fr").layout, "--dataset epf_fr"))


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


@dataclass
class EpfData:
    """Hourly prices over the layout's periods (FR: the paper's), transformed, with model features.

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
    exogenous: np.ndarray | None = None  # raw day-ahead forecasts (rows x columns) when used
    exogenous_scale: tuple[np.ndarray, np.ndarray] | None = None  # their training mean and std
    exogenous_names: list[str] = field(default_factory=list)  # their names, in column order
    # input name (timestamp, price, each exogenous name) -> the source file's column
    source_columns: dict[str, str] = field(default_factory=dict)
    schema: dict = field(default_factory=dict)  # recorded with the run's MLflow dataset input

    def to_prices(self, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Invert eq. 26 for predictions of the given rows (EUR/MWh)."""
        return self.profile.inverse(z, self.timestamps[rows])


def split_rows(timestamps: np.ndarray, periods: EpfPeriods) -> dict[str, tuple[int, int]]:
    """Row ranges of train / val / test; the frame must start at ``periods.start``."""
    ts = pd.DatetimeIndex(timestamps)
    bounds = periods.bounds()
    if not len(ts) or ts[0] != bounds["train"][0] or ts[-1] < bounds["test"][1] - pd.Timedelta(hours=1):
        span = f"{ts[0]}..{ts[-1]}" if len(ts) else "no rows"
        raise DataError(f"epf: rows cover {span}, not the periods {periods}")
    return {key: (int(ts.searchsorted(lo)), int(ts.searchsorted(hi))) for key, (lo, hi) in bounds.items()}


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
    """Cut the periods from a parsed frame (``timestamp, price``, then the exogenous
    forecast columns, as ``read_prices`` gives it) and apply eq. 26 (train stats).
    ``exogenous`` uses every forecast column the frame has (none: prices only)."""
    keep = (frame["timestamp"] >= periods.start) & (frame["timestamp"] < periods.test_end)
    part = frame.loc[keep].reset_index(drop=True)
    timestamps = part["timestamp"].to_numpy()
    prices = part["price"].to_numpy(dtype=np.float64)
    splits = split_rows(timestamps, periods)
    lo, hi = splits["train"]
    profile = fit_profile(prices[lo:hi], timestamps[lo:hi], clip_quantile, smooth_days)
    z = profile.transform(prices, timestamps)
    names = [c for c in part.columns if c not in ("timestamp", "price")] if exogenous else []
    exog, exog_scale = None, None
    if names:
        exog = part[names].to_numpy(dtype=np.float64)
        exog_scale = (exog[lo:hi].mean(axis=0), exog[lo:hi].std(axis=0))
        flat = [n for n, s in zip(names, exog_scale[1]) if not s > 1e-12]
        if flat:
            raise DataError(f"epf: exogenous column {flat[0]!r} is constant over the training period; "
                            "it cannot be standardised (drop it from data.exogenous)")
    features, feature_names = known_features(timestamps, profile, exog, exog_scale, names)
    return EpfData(
        timestamps=timestamps, prices=prices, z=z.astype(np.float32), features=features,
        feature_names=feature_names, splits=splits, profile=profile, checksum=checksum,
        meta={"periods": periods, "clip_quantile": clip_quantile, "smooth_days": smooth_days,
              "exogenous": exogenous},
        exogenous=exog, exogenous_scale=exog_scale, exogenous_names=names,
    )


def known_features(timestamps: np.ndarray, profile: SeasonalProfile, exog: np.ndarray | None = None,
                   exog_scale: tuple[np.ndarray, np.ndarray] | None = None,
                   exog_names: list[str] | tuple[str, ...] = ()) -> tuple[np.ndarray, list[str]]:
    """The features known before the auction, per row: calendar, the eq. 26 slot
    mean and, when given, the day-ahead forecasts ``exog`` (rows x columns, named
    ``exog_names``) standardised by ``exog_scale`` (their training mean and std).
    The loader and the exported model both build their inputs here, so they
    cannot drift apart."""
    calendar, names = calendar_columns(timestamps)
    columns = [calendar, (profile.slot_mean(timestamps) - profile.mean.mean())[:, None] / profile.std]
    names = names + ["slot_mean"]
    if exog is not None:
        center, scale = exog_scale
        columns.append((np.asarray(exog, dtype=np.float64) - center) / scale)
        names += [f"{name}_forecast" for name in exog_names] or [f"exogenous_{i}" for i in range(exog.shape[1])]
    return np.concatenate(columns, axis=1).astype(np.float32), names


def load_prices(source: DataSource, clip_quantile: float = 0.001, smooth_days: int = 0, exogenous: bool = False,
                periods: EpfPeriods | None = None) -> EpfData:
    """Any hourly market's price file (a built-in set or the user's ``--data``) by
    its layout keys, over its periods, with eq. 26 fitted on the training rows.
    ``periods`` overrides the layout's."""
    path = source_file(source)
    if path.is_dir():
        raise DataError(f"{source.flag()}: expected one price file (CSV, Parquet or Excel), got a folder")
    layout = resolved(path, layout_of(source.options, source.flag()))
    frame = cached_table(path, lambda file: read_prices(file, layout), version=layout.version())
    periods = periods or layout.periods
    check_periods(pd.DatetimeIndex(frame["timestamp"]), periods, str(path))
    data = build_epf(frame, file_sha256(path), periods, clip_quantile, smooth_days, exogenous)
    columns = {"timestamp": layout.time, "price": layout.price, **dict(zip(layout.names, layout.exogenous))}
    data.source_columns = {name: columns[name] for name in ["timestamp", "price", *data.exogenous_names]}
    data.schema = {
        "file": path.name, "rate": "1h", "hours_per_day": HOURS_PER_DAY, "rows": int(len(data.prices)),
        "columns": {"time": layout.time, "price": layout.price,
                    "exogenous": list(layout.exogenous) if data.exogenous_names else []},
        "periods": {k: [str(lo.date()), str(hi.date())] for k, (lo, hi) in periods.bounds().items()},
        "features": list(data.feature_names),
    }
    return data


def load_fr_frame(data_dir: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """The parsed FR.csv (Parquet-cached) and its sha256."""
    source = builtin_source("epf_fr", None if data_dir is None else str(data_dir))
    path = source_file(source)
    layout = resolved(path, layout_of(source.options, source.flag()))
    return cached_table(path, lambda file: read_prices(file, layout), version=layout.version()), file_sha256(path)


def load_epf(data_dir: str | Path | None = None, clip_quantile: float = 0.001, smooth_days: int = 0,
             exogenous: bool = False, periods: EpfPeriods | None = None) -> EpfData:
    """FR.csv over the paper's periods, ready for the seasonal GRU and the baselines."""
    source = builtin_source("epf_fr", None if data_dir is None else str(data_dir))
    return load_prices(source, clip_quantile, smooth_days, exogenous, periods)


def persistence(prices: np.ndarray, rows: tuple[int, int], lag: int) -> np.ndarray:
    """Naive forecast of rows [lo, hi): the price ``lag`` hours earlier."""
    lo, hi = rows
    if lo - lag < 0:
        raise DataError(f"epf: persistence with lag {lag} needs {lag} rows before row {lo}")
    return np.asarray(prices[lo - lag:hi - lag], dtype=np.float64)
