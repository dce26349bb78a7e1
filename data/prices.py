"""Any hourly market's price file -> a frame of whole 24-hour days.

The file is read by its PriceLayout (data/price_layout.py). The reader returns
``timestamp``, ``price`` and the exogenous columns (under ``exogenous_names``), one
row per local hour, every day holding the hours 00..23: eq. 26 indexes slots by
(day of year, hour), and the day-ahead task forecasts a day as 24 values.

Local clocks give a 23-hour spring day and a 25-hour autumn day. As in the
epftoolbox FR file, the missing hour is interpolated and the repeated hour merged
by its mean. Anything further from 24 hours a day (a gap of several hours, a day
repeated) is a damaged file, named by its day rather than silently patched.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.price_layout import EpfPeriods, PriceLayout

HOURS_PER_DAY = 24
TIME_NAMES = ("date", "time", "timestamp", "datetime", "date_time")  # inferred as `time`, case-insensitive
PRICE_NAMES = ("price", "prices")
MIN_TRAIN_DAYS = 365  # eq. 26's time-of-year means need every day of the year seen at least once
_OFFSET = re.compile(r"(?:[+-]\d\d:?\d\d|Z)$")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def read_table(path: Path, layout: PriceLayout, header_only: bool = False) -> pd.DataFrame:
    """The file as a raw table: CSV (any other suffix), Parquet or Excel (first sheet)."""
    suffix = path.suffix.lower()
    rows = 0 if header_only else None
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".xlsx", ".xls", ".xlsm"):
            frame = pd.read_excel(path, sheet_name=0, nrows=rows)
        else:
            delimiter, decimal = sniff_csv(path, layout)
            frame = pd.read_csv(path, sep=delimiter, decimal=decimal, skipinitialspace=True, nrows=rows)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas' readers raise many types for a damaged file
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path}: not a readable {suffix.lstrip('.') or 'CSV'} table ({first})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        raise DataError(f"{path}: repeated column names {sorted(set(frame.columns[frame.columns.duplicated()]))}")
    return frame


def sniff_csv(path: Path, layout: PriceLayout) -> tuple[str, str]:
    """The layout's field separator and decimal mark, else read off the first lines:
    the separator every line holds equally often, a decimal comma when numbers are
    written only that way."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            lines = [line.rstrip("\r\n") for _, line in zip(range(50), handle)]
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from exc
    lines = [line for line in lines if line.strip()]
    delimiter = layout.delimiter
    if not delimiter:
        delimiter = next((c for c in (",", ";", "\t", "|") if len({line.count(c) for line in lines}) == 1
                          and lines and lines[0].count(c)), ",")
    decimal = layout.decimal
    if not decimal:
        decimal = "."
        if delimiter != ",":
            cells = [cell.strip().strip('"') for line in lines[1:] for cell in line.split(delimiter)]
            if any(_DECIMAL_COMMA.match(c) for c in cells) and not any(re.fullmatch(r"-?\d*\.\d+", c) for c in cells):
                decimal = ","
    if decimal == delimiter:
        raise DataError(f"{path}: data.decimal: {decimal!r} is also the field separator; set data.delimiter")
    return delimiter, decimal


def pick_column(frame: pd.DataFrame, key: str, given: str, names: tuple[str, ...], path: Path, what: str) -> str:
    """The column ``given`` names, else the one column whose name is one of ``names``."""
    found = list(frame.columns)
    if given:
        if given not in found:
            raise DataError(f"{path}: data.{key}: no column {given!r}; columns found: {found}")
        return given
    candidates = [c for c in found if c.lower().replace(" ", "_") in names]
    if len(candidates) != 1:
        why = "several columns could be it" if candidates else "none is named " + "/".join(names)
        raise DataError(f"{path}: set data.{key} to the {what} column ({why}); columns found: {found}")
    return candidates[0]


def parse_times(column: pd.Series, name: str, timezone: str, path: Path) -> pd.Series:
    """Local naive timestamps: an offset or zone is either converted to ``timezone``
    or dropped, keeping the clock time as written."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raise DataError(f"{path}: data.time: column {name!r} holds numbers, expected timestamps "
                        "(YYYY-MM-DD HH:MM[:SS])")
    try:
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            stamps = (column.dt.tz_convert(timezone) if timezone else column).dt.tz_localize(None)
        elif pd.api.types.is_datetime64_dtype(column):
            stamps = column.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None) if timezone else column
        elif timezone:
            text = column.astype("string").str.strip()
            stamps = _dates(text, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
        else:
            text = column.astype("string").str.strip().str.replace(_OFFSET, "", regex=True).str.strip()
            stamps = _dates(text)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - zone names and odd values fail in several ways
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        key = "data.timezone" if timezone else "data.time"
        raise DataError(f"{path}: {key}: cannot read column {name!r} as timestamps ({first})") from exc
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(bad.argmax())
        raise DataError(f"{path}: data.time: column {name!r} data row {row + 1} holds {column.iloc[row]!r}, "
                        "expected a timestamp (YYYY-MM-DD HH:MM[:SS])")
    try:
        return stamps.astype("datetime64[ns]")  # one resolution whatever the text, so frames compare alike
    except (OverflowError, ValueError) as exc:  # pandas' OutOfBoundsDatetime is a ValueError
        raise DataError(f"{path}: data.time: column {name!r} holds times outside 1677..2262") from exc


def _dates(text: pd.Series, utc: bool = False) -> pd.Series:
    """Timestamps from text; day-first (31.12.2015 / 31/12/2015) when the first
    rows are written day.month.year and reading them so keeps the file in order."""
    with warnings.catch_warnings():  # pandas warns when its format guess does not fit every row
        warnings.simplefilter("ignore", UserWarning)
        month_first = pd.to_datetime(text, errors="coerce", utc=utc)
        head = text.dropna().head(50)
        if not len(head) or not head.str.match(r"^\d{1,2}[./-]\d{1,2}[./-]\d{4}").all():
            return month_first
        day_first = pd.to_datetime(text, errors="coerce", utc=utc, dayfirst=True)

    def disorder(stamps: pd.Series) -> tuple[int, int]:
        steps = stamps.diff().dropna()
        return int(stamps.isna().sum()), int((steps < pd.Timedelta(0)).sum() + (steps > pd.Timedelta(hours=1)).sum())

    return day_first if disorder(day_first) < disorder(month_first) else month_first


def parse_numbers(column: pd.Series, key: str, name: str, path: Path, decimal: str) -> pd.Series:
    """Floats; empty cells become NaN (a missing hour), anything else non-numeric is an error."""
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"{path}: data.{key}: column {name!r} holds true/false, expected numbers")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64)
    text = column.astype("string").str.strip()
    numbers = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    bad = (numbers.isna() & text.notna() & (text != "")).to_numpy()
    if bad.any():
        row = int(bad.argmax())
        value = str(text.iloc[row])
        hint = " (a decimal comma: set data.decimal=',')" if decimal != "," and _DECIMAL_COMMA.match(value) else ""
        raise DataError(f"{path}: data.{key}: column {name!r} data row {row + 1} holds {value!r}, "
                        f"expected a number{hint}")
    return numbers.astype(np.float64)


def resolved(path: Path, layout: PriceLayout) -> PriceLayout:
    """The layout with its ``time`` and ``price`` columns found in the file's header
    (and every named column checked), so what a model carries names real columns."""
    path = Path(path)
    frame = read_table(path, layout, header_only=True)
    time = pick_column(frame, "time", layout.time, TIME_NAMES, path, "timestamp")
    price = pick_column(frame, "price", layout.price, PRICE_NAMES, path, "price")
    missing = [c for c in layout.exogenous if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: data.exogenous: no column {missing[0]!r}; columns found: {list(frame.columns)}")
    return replace(layout, time=time, price=price)


def read_prices(path: Path, layout: PriceLayout) -> pd.DataFrame:
    """``timestamp, price, *exogenous names``: whole local days of hours 00..23."""
    path = Path(path)
    layout = resolved(path, layout)
    frame = read_table(path, layout)
    time, price = layout.time, layout.price
    missing = [c for c in (time, price, *layout.exogenous) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} below the header; columns found: {list(frame.columns)}")
    if not len(frame):
        raise DataError(f"{path}: no data rows")
    out = pd.DataFrame({"timestamp": parse_times(frame[time], time, layout.timezone, path)})
    out["price"] = parse_numbers(frame[price], "price", price, path, layout.decimal)
    for column, name in zip(layout.exogenous, layout.names):
        out[name] = parse_numbers(frame[column], "exogenous", column, path, layout.decimal)
    return whole_days(out, str(path))


def whole_days(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Hourly rows -> consecutive days of hours 00..23.

    A day's one repeated hour (autumn DST) is merged by its mean, and one hour
    missing per day and column (spring DST, or one empty cell) is interpolated
    linearly, so the spring 02:00 is the mean of 01:00 and 03:00. Partial days at
    the file's two ends are dropped; any other damage names its day.
    """
    stamps = pd.DatetimeIndex(frame["timestamp"])
    off_hour = stamps != stamps.floor("h")
    if off_hour.any():
        row = int(np.argmax(off_hour))
        raise DataError(f"{where}: data row {row + 1} is {stamps[row]}, not on the hour; expected hourly rows")
    frame = frame.sort_values("timestamp", kind="stable")
    counts = frame.groupby("timestamp", sort=True).size()
    if (counts > 1).any():
        repeated = counts[counts > 1]
        per_day = repeated.groupby(repeated.index.normalize()).agg(["size", "max"])
        bad = per_day[(per_day["size"] > 1) | (per_day["max"] > 2)]
        if len(bad):
            day = bad.index[0]
            hours = [f"{t:%H:%M}" for t in repeated.index[repeated.index.normalize() == day]]
            raise DataError(f"{where}: day {day.date()} repeats the hours {hours}; only one repeated hour a day "
                            "(the autumn DST change) is merged")
        frame = frame.groupby("timestamp", sort=True, as_index=False).mean()
    stamps = pd.DatetimeIndex(frame["timestamp"])
    grid = pd.date_range(stamps[0].normalize(), stamps[-1].normalize() + pd.Timedelta(hours=23), freq="h")
    full = frame.set_index("timestamp").reindex(grid)
    absent = pd.Series(~grid.isin(stamps), index=grid).groupby(grid.normalize()).sum()
    days = absent.index
    first, last = 0, len(days)
    while first < last and absent.iloc[first] > 0:  # a partial first day: the file starts mid-day
        first += 1
    while last > first and absent.iloc[last - 1] > 0:
        last -= 1
    if first == last:
        raise DataError(f"{where}: no whole day of hourly rows")
    full = full.loc[days[first]:days[last - 1] + pd.Timedelta(hours=23)]
    for column in full.columns:
        gaps = full[column].isna()
        if not gaps.any():
            continue
        per_day = gaps.groupby(full.index.normalize()).sum()
        if (per_day > 1).any():
            day = per_day.index[int(np.argmax((per_day > 1).to_numpy()))]
            missing = full.index[gaps & (full.index.normalize() == day)]
            shown = ", ".join(f"{t:%H:%M}" for t in missing[:6]) + (", ..." if len(missing) > 6 else "")
            raise DataError(f"{where}: day {day.date()} lacks {len(missing)} hours of {column} ({shown}"
                            f"{_gap_span(gaps, missing[0])}); only one missing hour a day (the spring DST "
                            "change) is filled in")
        full[column] = full[column].interpolate(method="linear", limit_direction="both")
    full = full.rename_axis("timestamp").reset_index()
    return full


def _gap_span(gaps: pd.Series, first: pd.Timestamp) -> str:
    """``; none from A to B`` when the gap starting at ``first`` reaches past its day."""
    after = gaps.loc[first:].to_numpy()
    length = int(np.argmin(after)) if not after.all() else len(after)
    last = first + pd.Timedelta(hours=length - 1)
    if last.normalize() == first.normalize():
        return ""
    return f"; none from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"


def check_periods(timestamps: pd.DatetimeIndex, periods: EpfPeriods, where: str) -> None:
    """Every period inside the file's whole days, and enough training days for eq. 26."""
    first, last = timestamps[0], timestamps[-1]
    for key, (lo, hi) in periods.bounds().items():
        if lo < first or hi - pd.Timedelta(hours=1) > last:
            raise DataError(f"{where}: data.{key}: {lo.date()}..{hi.date()} is outside the file's whole days "
                            f"{first.date()}..{last.date()}; set data.train / data.val / data.test inside them")
    lo, hi = periods.bounds()["train"]
    days = (hi - lo).days
    if days < MIN_TRAIN_DAYS:
        raise DataError(f"{where}: data.train: {days} days of training data; eq. 26's time-of-year means need "
                        f"at least {MIN_TRAIN_DAYS}")
