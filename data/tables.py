"""A table of time series (the user's file or a built-in set's) as ForecastData.

One path serves every forecaster's data: a CSV, Parquet or Excel file is read
(parsed once, then served from the Parquet cache), its time column parsed, its
series found, checked for a regular step, split chronologically per series,
scaled with training statistics and stacked into one ``ForecastData`` whose
``meta["series"]`` keeps each series' row range, so no window crosses two series.

Two layouts, told apart by the presence of a series column:

* **long** (Nixtla's ``unique_id, ds, y``): one row per series and time step;
  ``id`` names the series column (default ``unique_id`` when present), the target
  defaults to ``y`` and further columns are channels only when ``inputs`` names them.
* **wide** (Time-Series-Library's "custom"): a time column and one column per
  channel, the target last; with ``features: M`` every column is an input and a
  target, with ``S`` the target alone.

The layout keys (``DATA_KEYS``) come from the run YAML's ``data:`` block, from
``--set data.KEY=VALUE``, or, for a built-in set, from its registry entry. A
built-in set whose file needs a conversion first (a raw export) names a
``reader`` that turns it into a long table; everything after is shared.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.forecasting import ForecastData, calendar_features
from data.registry import file_sha256
from data.scalers import fit_scaler

DATA_KEYS: dict[str, str] = {
    "time": "the time column (default: a column named ds/date/time/timestamp, or the only one of dates)",
    "id": "the series column of a long table: one series per value, no window crosses two "
          "(default: unique_id when present; none = one series)",
    "target": "the column(s) to forecast (default: y in a long table; in a wide one every column with "
              "features M, the config's target or the last column with S)",
    "inputs": "covariate column(s) fed as extra input channels (default: none)",
    "freq": "the time step as a pandas frequency, e.g. h, 15min, D (default: inferred, then checked)",
    "fill": "what fills missing steps and values: ffill | zero | drop (default: none; a gap is an error)",
    "split": "chronological split per series: fractions [0.7, 0.1, 0.2] (default; with two, test is the "
             "rest), row counts {train: N, val: N, test: N}, or start dates {val: DATE, test: DATE}",
    "format": "csv | parquet | excel (default: from the file's extension)",
    "sheet": "the Excel sheet, by name or 0-based index (default: the first)",
    "delimiter": "the CSV field separator (default: sniffed among , ; tab |)",
    "decimal": "the CSV decimal mark, . or , (default: sniffed, else .)",
    "reader": "a named conversion of a raw export into a long table first (volve_daily)",
    "name": "the data set's name in MLflow (default: the file's stem)",
}

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel"}
FILLS = ("ffill", "zero", "drop")
TIME_NAMES = ("ds", "date", "time", "timestamp")
DEFAULT_SPLIT = (0.7, 0.1, 0.2)
READER_VERSION = "1"  # part of the cache key: bump when parsing changes

# Conversions of raw exports into long tables: name -> (module:function, meta for ForecastData).
READERS: dict[str, tuple[str, dict[str, Any]]] = {
    "volve_daily": ("data.volve:volve_long_table", {"units": "Sm3/day"}),
}


@dataclass(frozen=True)
class Table:
    """A parsed table with its time column as datetimes, and where it came from."""

    frame: pd.DataFrame
    time: str
    where: str  # the file, for error messages
    checksum: str


# --- reading -------------------------------------------------------------------

def file_format(path: Path, keys: Mapping[str, Any]) -> str:
    fmt = keys.get("format")
    if fmt is not None:
        if fmt not in ("csv", "parquet", "excel"):
            raise DataError(f"data.format: expected csv, parquet or excel, got {fmt!r}")
        return str(fmt)
    if path.suffix.lower() not in FORMATS:
        raise DataError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                        "set data.format to csv, parquet or excel")
    return FORMATS[path.suffix.lower()]


def sniff_csv(path: Path, keys: Mapping[str, Any]) -> tuple[str, str]:
    """The CSV's field separator and decimal mark: the keys', else from its first lines."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = [line.rstrip("\r\n") for _, line in zip(range(50), handle)]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty file; expected a header row and rows of values")
    delimiter = keys.get("delimiter")
    if delimiter is None:
        delimiter = ","
        for candidate in (",", ";", "\t", "|"):
            counts = {line.count(candidate) for line in lines}
            if len(counts) == 1 and counts != {0}:
                delimiter = candidate
                break
    elif delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DataError(f"data.delimiter: expected one character, got {delimiter!r}")
    decimal = keys.get("decimal")
    if decimal is None:
        decimal = "."
        if delimiter != ",":
            cells = [cell.strip().strip('"') for line in lines[1:] for cell in line.split(delimiter)]
            comma = any(re.fullmatch(r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?", c) for c in cells)
            point = any(re.fullmatch(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?", c) for c in cells)
            if comma and not point:
                decimal = ","
    if decimal not in (".", ","):
        raise DataError(f"data.decimal: expected '.' or ',', got {decimal!r}")
    if decimal == delimiter:
        raise DataError(f"data.decimal: {decimal!r} is also the field separator; set data.delimiter")
    return delimiter, decimal


def read_raw(path: Path, keys: Mapping[str, Any]) -> pd.DataFrame:
    """The file as a DataFrame, by its format (every parser error as one DataError)."""
    fmt = file_format(path, keys)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; expected a header row and rows of values")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "excel":
            sheet = keys.get("sheet", 0)
            try:
                frame = pd.read_excel(path, sheet_name=sheet)
            except ValueError as exc:
                if "not found" in str(exc) or "out of range" in str(exc).lower():
                    raise DataError(f"data.sheet: {path} has no sheet {sheet!r}") from exc
                raise
        else:
            delimiter, decimal = sniff_csv(path, keys)
            frame = pd.read_csv(path, sep=delimiter, decimal=decimal, encoding="utf-8-sig")
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file; expected a header row and rows of values") from exc
    except Exception as exc:  # noqa: BLE001 - parsers raise many types; the user gets one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path}: not a readable {fmt} file ({first})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty or len(frame.columns) < 2:
        raise DataError(f"{path}: empty table ({len(frame)} rows, columns {list(frame.columns)}); expected "
                        "a time column and at least one value column")
    return frame


def find_time_column(frame: pd.DataFrame, keys: Mapping[str, Any], where: str) -> str:
    """``data.time``, else the column named ds/date/time/timestamp, else the only
    column that parses as dates."""
    if keys.get("time") is not None:
        name = str(keys["time"])
        if name not in frame.columns:
            raise DataError(f"data.time: no column {name!r} in {where}; columns found: {list(frame.columns)}")
        return name
    named = [c for c in frame.columns if c.lower() in TIME_NAMES]
    if len(named) == 1:
        return named[0]
    candidates = named or list(frame.columns)
    parsable = [c for c in candidates if _looks_like_dates(frame[c])]
    if len(parsable) == 1:
        return parsable[0]
    which = "no column" if not parsable else f"several columns ({parsable})"
    raise DataError(f"{where}: {which} looks like the time column; set data.time to one of {list(frame.columns)}")


def _looks_like_dates(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    head = column.dropna().astype(str).head(20)
    if head.empty:
        return False
    parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def parse_times(column: pd.Series, name: str, where: str) -> pd.Series:
    """The time column as naive datetimes; a DataError naming the first value that is not one."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(f"{where}: time column {name!r} holds numbers, not dates (e.g. {column.iloc[0]!r}); "
                        "expected dates such as 2016-07-01 00:00:00 (or set data.time)")
    else:
        text = column.astype(str).str.strip()
        try:
            parsed = pd.to_datetime(text, format="ISO8601")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
            bad = parsed.isna().to_numpy()
            if bad.any():
                row = int(bad.argmax())
                raise DataError(f"{where}: time column {name!r} is not parsable as dates (data row {row + 1}: "
                                f"{column.iloc[row]!r})") from None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise DataError(f"{where}: time column {name!r} is empty in data row {row + 1}")
    return parsed


def read_table(path: Path, keys: Mapping[str, Any]) -> Table:
    """The file (or a reader's conversion of it) with its time column parsed,
    served from the Parquet cache when the file and the reading keys are unchanged."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    where = str(path)
    reader = keys.get("reader")
    if reader is not None:
        if reader not in READERS:
            raise DataError(f"data.reader: unknown reader {reader!r}; expected one of {sorted(READERS)}")
        convert = _reader_function(str(reader))
        version = f"{READER_VERSION}-{reader}"
    else:
        reading = {k: keys.get(k) for k in ("format", "sheet", "delimiter", "decimal", "time")}
        version = f"{READER_VERSION}-" + hashlib.sha256(json.dumps(reading, sort_keys=True, default=str)
                                                        .encode()).hexdigest()[:12]

        def convert(file: Path) -> pd.DataFrame:
            frame = read_raw(file, keys)
            time = find_time_column(frame, keys, where)
            frame[time] = parse_times(frame[time], time, where)
            return frame

    if reader is None and file_format(path, keys) == "parquet":
        frame = convert(path)  # already columnar: a cached copy would not be faster
    else:
        frame = cached_table(path, convert, version=version)
    time = find_time_column(frame, keys, where)
    if not pd.api.types.is_datetime64_any_dtype(frame[time]):
        frame[time] = parse_times(frame[time], time, where)
    return Table(frame, time, where, file_sha256(path))


def _reader_function(name: str) -> Callable[[Path], pd.DataFrame]:
    module, function = READERS[name][0].split(":")
    return getattr(importlib.import_module(module), function)


# --- from table to ForecastData -------------------------------------------------

def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return [str(v) for v in json.loads(text)]
            except ValueError:
                pass
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _parse(value: Any) -> Any:
    """A key given as text (``--set data.split=...``) read as YAML/JSON."""
    if isinstance(value, str):
        import yaml

        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _check_columns(frame: pd.DataFrame, names: list[str], key: str, where: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise DataError(f"data.{key}: no column {name!r} in {where}; columns found: {list(frame.columns)}")


def choose_channels(frame: pd.DataFrame, time: str, series_column: str | None, keys: Mapping[str, Any],
                    where: str, features: str, target: str) -> tuple[list[str], list[str]]:
    """(channels, targets): the data keys', else the layout's defaults and the
    config's ``features``/``target`` (see the module docstring)."""
    targets, inputs = _names(keys.get("target")), _names(keys.get("inputs"))
    _check_columns(frame, targets, "target", where)
    _check_columns(frame, inputs, "inputs", where)
    values = [c for c in frame.columns if c not in (time, series_column)]
    if not targets:
        if series_column is not None:
            if "y" not in frame.columns:
                raise DataError(f"{where}: long table without a 'y' column; set data.target to one of {values}")
            targets = ["y"]
        elif features == "M":
            targets = [c for c in values if c not in inputs]
        elif target in values:
            targets = [target]
        elif target == "OT":  # the config's default: the wide layout's convention is the last column
            targets = [values[-1]]
        else:
            raise DataError(f"target: no column {target!r} in {where}; columns found: {list(frame.columns)}")
    for name in targets + inputs:
        if name in (time, series_column):
            raise DataError(f"data.target: {name!r} is the time or series column of {where}; "
                            f"expected value columns, e.g. {values}")
    channels = targets if features == "S" else [c for c in inputs if c not in targets] + targets
    for name in channels:
        column = frame[name]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
            row = int(bad.to_numpy().argmax()) if bad.any() else 0
            role = "target" if name in targets else "input"
            raise DataError(f"{where}: {role} column {name!r} is not numeric (data row {row + 1}: "
                            f"{column.iloc[row]!r}); data.target and data.inputs choose the value columns")
    return channels, targets


def resolve_step(times: list[np.ndarray], keys: Mapping[str, Any], where: str) -> pd.DateOffset:
    """The time step: ``data.freq``, else the most common step between rows of a series."""
    if keys.get("freq") is not None:
        try:
            return pd.tseries.frequencies.to_offset(str(keys["freq"]))
        except ValueError as exc:
            raise DataError(f"data.freq: {keys['freq']!r} is not a pandas frequency (e.g. h, 15min, D, MS)") from exc
    diffs = np.concatenate([np.diff(t) for t in times])
    diffs = diffs[diffs > np.timedelta64(0)]
    if not len(diffs):
        raise DataError(f"{where}: fewer than 2 distinct time steps per series; cannot tell the step (set data.freq)")
    values, counts = np.unique(diffs, return_counts=True)
    step = pd.Timedelta(values[counts.argmax()])
    if step >= pd.Timedelta(days=28):  # calendar steps (months, quarters, years) are not fixed lengths
        longest = max(times, key=len)
        inferred = pd.infer_freq(pd.DatetimeIndex(longest)) if len(longest) >= 3 else None
        if inferred:
            return pd.tseries.frequencies.to_offset(inferred)
    return pd.tseries.frequencies.to_offset(_freq_name(step))


def _freq_name(step: pd.Timedelta) -> str:
    """A fixed step in the largest whole unit (1 day as 'D', not '24h')."""
    for unit, size in (("D", pd.Timedelta(days=1)), ("h", pd.Timedelta(hours=1)), ("min", pd.Timedelta(minutes=1)),
                       ("s", pd.Timedelta(seconds=1))):
        if step % size == pd.Timedelta(0):
            return f"{step // size}{unit}"
    return f"{step.value}ns"


def freq_letter(step: pd.DateOffset) -> str:
    """The calendar-feature resolution of a step: 't' below an hour, 'h' below a day, else 'd'."""
    try:
        nanos = pd.Timedelta(step).value
    except (ValueError, TypeError):
        return "d"
    if nanos < pd.Timedelta(hours=1).value:
        return "t"
    return "h" if nanos < pd.Timedelta(days=1).value else "d"


def step_text(step: pd.DateOffset) -> str:
    """'1h', '15min', '1D', '1MS': a step as users write it."""
    text = step.freqstr
    return text if text[:1].isdigit() else f"1{text}"


def _label(name: str | None) -> str:
    return f"series {name!r}" if name is not None else "the series"


def regular_series(part: pd.DataFrame, time: str, channels: list[str], step: pd.DateOffset, fill: str | None,
                   name: str | None, where: str) -> pd.DataFrame:
    """One series on a gap-free grid of ``step``: checked, or filled as ``fill`` says."""
    stamps = part[time]
    if not stamps.is_monotonic_increasing:
        part = part.sort_values(time, kind="stable")
        stamps = part[time]
    if stamps.duplicated().any():
        first = stamps[stamps.duplicated()].iloc[0]
        raise DataError(f"{where}: {_label(name)} has more than one row at {first}; expected one row per time step")
    missing = part[channels].isna().any(axis=1).to_numpy()
    if missing.any() and fill is None:
        row = int(missing.argmax())
        raise DataError(f"{where}: {_label(name)} has a missing value at {stamps.iloc[row]}; "
                        "set data.fill to ffill, zero or drop")
    if fill == "drop":
        return part[~missing]
    try:
        fixed = pd.Timedelta(step).value
    except (ValueError, TypeError):
        fixed = None
    values = stamps.to_numpy()
    if fixed is not None:
        diffs = np.diff(values).astype("timedelta64[ns]").astype(np.int64)
        off = np.flatnonzero(diffs != fixed)
        regular = not len(off)
    else:
        grid = pd.date_range(values[0], periods=len(values), freq=step)
        off = np.flatnonzero(grid.to_numpy() != values.astype(grid.to_numpy().dtype))
        off = off - 1 if len(off) else off
        regular = not len(off)
    if not regular:
        grid = pd.date_range(values[0], values[-1], freq=step)
        on_grid = pd.DatetimeIndex(values).isin(grid)
        if fill is None or not on_grid.all():
            at = int(off[0])
            every = step_text(step)
            what = "a row off the grid" if not on_grid.all() else "a gap"
            how = ("set data.freq to its step" if not on_grid.all()
                   else f"set data.fill to ffill, zero or drop, or data.freq if the step is not {every}")
            raise DataError(f"{where}: {_label(name)} is not a regular {every} grid: {what} after "
                            f"{stamps.iloc[at]} (next row {stamps.iloc[at + 1]}); {how}")
        part = part.set_index(time).reindex(grid).rename_axis(time).reset_index()
    if fill == "ffill":
        part[channels] = part[channels].ffill()
        if part[channels].isna().any().any():
            raise DataError(f"{where}: {_label(name)} starts with a missing value at {part[time].iloc[0]}; "
                            "ffill has nothing to carry forward (use data.fill: zero or drop)")
    elif fill == "zero":
        part[channels] = part[channels].fillna(0.0)
    return part


def parse_split(value: Any) -> Any:
    """``data.split`` checked: fractions, row counts or start dates (see DATA_KEYS)."""
    value = _parse(value)
    expected = ("expected fractions [0.7, 0.1, 0.2], row counts {train: N, val: N, test: N} or start dates "
                "{val: DATE, test: DATE}")
    if value is None:
        return list(DEFAULT_SPLIT)
    if isinstance(value, (list, tuple)):
        ok = len(value) in (2, 3) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1
                                          for v in value)
        total = sum(value) if ok else 0
        if not ok or (len(value) == 3 and abs(total - 1) > 1e-6) or (len(value) == 2 and total >= 1):
            raise DataError(f"data.split: {expected}; fractions in (0, 1) summing to 1 (two: below 1), got {value!r}")
        return [float(v) for v in value]
    if isinstance(value, Mapping):
        keys = set(value)
        if keys in ({"train", "val", "test"}, {"train", "val"}) and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
            return {k: int(v) for k, v in value.items()}
        if keys == {"val", "test"}:
            try:
                dates = {k: pd.Timestamp(str(v)) for k, v in value.items()}
            except ValueError as exc:
                raise DataError(f"data.split: {expected}; got {dict(value)!r}") from exc
            if not dates["val"] < dates["test"]:
                raise DataError(f"data.split: val {dates['val']} must come before test {dates['test']}")
            return {k: str(v) for k, v in dates.items()}
    raise DataError(f"data.split: {expected}; got {value!r}")


def series_splits(split: Any, lo: int, hi: int, stamps: np.ndarray, name: str, where: str) -> dict[str, tuple[int, int]]:
    """Train/val/test row ranges of one series held in rows [lo, hi)."""
    n = hi - lo
    if isinstance(split, list):
        n_train = int(n * split[0])
        if len(split) == 2:  # test is the rest
            n_val = int(n * split[1])
        else:  # Time-Series-Library's custom loader: val is the rest
            n_val = n - n_train - int(n * split[2])
        a, b = lo + n_train, lo + n_train + n_val
        return {"train": (lo, a), "val": (a, b), "test": (b, hi)}
    if "train" in split:
        need = split["train"] + split["val"] + split.get("test", 0)
        if n < need:
            raise DataError(f"data.split: {name} in {where} has {n} rows, fewer than the {need} the split "
                            f"{split} needs")
        a, b = lo + split["train"], lo + split["train"] + split["val"]
        return {"train": (lo, a), "val": (a, b), "test": (b, b + split["test"] if "test" in split else hi)}
    times = stamps[lo:hi]
    a = lo + int(np.searchsorted(times, np.datetime64(pd.Timestamp(split["val"])), "left"))
    b = lo + int(np.searchsorted(times, np.datetime64(pd.Timestamp(split["test"])), "left"))
    return {"train": (lo, a), "val": (a, b), "test": (b, hi)}


def series_column_of(frame: pd.DataFrame, keys: Mapping[str, Any], where: str) -> str | None:
    """The series column: ``data.id``, else ``unique_id`` when present, else none (one series)."""
    column = keys.get("id")
    if column is not None:
        _check_columns(frame, [str(column)], "id", where)
        return str(column)
    return "unique_id" if "unique_id" in frame.columns else None


def split_series(frame: pd.DataFrame, time: str, series_column: str | None,
                 where: str) -> list[tuple[str | None, pd.DataFrame]]:
    """(series name, its rows in time order) per series, in order of first appearance."""
    if series_column is None:
        parts: list[tuple[str | None, pd.DataFrame]] = [(None, frame)]
    else:
        ids = frame[series_column]
        if ids.isna().any():
            row = int(ids.isna().to_numpy().argmax())
            raise DataError(f"{where}: series column {series_column!r} is empty in data row {row + 1}")
        order = pd.unique(ids)
        codes = pd.Categorical(ids, categories=order).codes
        frame = frame.iloc[np.argsort(codes, kind="stable")]
        bounds = np.searchsorted(np.sort(codes, kind="stable"), np.arange(len(order) + 1))
        parts = [(str(order[i]), frame.iloc[bounds[i]:bounds[i + 1]]) for i in range(len(order))]
    return [(label, part if part[time].is_monotonic_increasing else part.sort_values(time, kind="stable"))
            for label, part in parts]


def forecast_data(table: Table, keys: Mapping[str, Any], name: str, features: str = "M", target: str = "OT",
                  scaler: str = "standard", meta: Mapping[str, Any] | None = None) -> ForecastData:
    """The table as scaled, split, stacked ForecastData (see the module docstring)."""
    frame, time, where = table.frame, table.time, table.where
    fill = keys.get("fill")
    if fill is not None and fill not in FILLS:
        raise DataError(f"data.fill: expected one of {list(FILLS)}, got {fill!r}")
    split = parse_split(keys.get("split"))
    series_column = series_column_of(frame, keys, where)
    channels, targets = choose_channels(frame, time, series_column, keys, where, features, target)
    parts = split_series(frame, time, series_column, where)
    step = resolve_step([part[time].to_numpy() for _, part in parts], keys, where)
    regular = [regular_series(part, time, channels, step, fill, label, where) for label, part in parts]
    series, lo = [], 0
    for (label, _), part in zip(parts, regular):
        hi = lo + len(part)
        series.append({"name": label if label is not None else name, "lo": lo, "hi": hi})
        lo = hi
    stacked = pd.concat(regular, ignore_index=True) if len(regular) > 1 else regular[0]
    timestamps = stacked[time].to_numpy()
    for s in series:
        s["splits"] = series_splits(split, s["lo"], s["hi"], timestamps, _label(s["name"]), where)

    values = stacked[channels].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row = int((~np.isfinite(values)).any(axis=1).argmax())
        raise DataError(f"{where}: non-finite value at {timestamps[row]} in columns {channels}")
    if len(series) == 1:
        train = values[slice(*series[0]["splits"]["train"])]
    else:
        train = values[np.concatenate([np.arange(*s["splits"]["train"]) for s in series])]
    if not len(train):
        raise DataError(f"data.split: no training rows in {where} with split {split}")
    fitted = fit_scaler(train, scaler)
    letter = freq_letter(step)
    longest = max(series, key=lambda s: s["hi"] - s["lo"])
    data = ForecastData(
        name=name, values=fitted.transform(values), columns=list(channels),
        target_channels=[channels.index(c) for c in targets],
        splits=dict(longest["splits"]),  # one series'; the panel layout is meta["series"]
        scaler=fitted, checksum=table.checksum, timestamps=timestamps, freq=letter,
        marks=calendar_features(timestamps, letter),
    )
    extra = {}
    if series_column is not None:  # a long table's other columns (flags such as shut-in days) ride along
        extra = {c: stacked[c].to_numpy() for c in stacked.columns if c not in (time, series_column, *channels)}
    data.meta = {**extra, **dict(meta or {}), "series": series, "split": split, "step": step.freqstr}
    data.schema = {
        "layout": "long" if series_column else "wide", "time": time, "id": series_column,
        "columns": list(channels), "targets": list(targets),
        "dtypes": {c: str(frame[c].dtype) for c in [time, *channels]},
        "series": len(series), "rows": int(len(values)), "freq": step.freqstr,
    }
    return data


def load_table_data(path: Path, keys: Mapping[str, Any], name: str, features: str = "M", target: str = "OT",
                    scaler: str = "standard") -> ForecastData:
    """A file with its layout keys, read and turned into ForecastData."""
    reader = keys.get("reader")
    meta = READERS[reader][1] if reader in READERS else {}
    return forecast_data(read_table(Path(path), keys), keys, name, features, target, scaler, meta)


def load_forecast(source: Any, features: str = "M", target: str = "OT", scaler: str = "standard") -> ForecastData:
    """A ``DataSource`` (built-in set or ``--data PATH``) as ForecastData: its file and
    layout keys through ``load_table_data``; a generated built-in set from its generator."""
    from data.registry import get_info
    from data.source import source_file

    if source.builtin and get_info(source.name).synthetic:
        return _generated(source.name, scaler)
    keys = source.options
    unknown = sorted(set(keys) - set(DATA_KEYS))
    if unknown:
        raise DataError(f"data.{unknown[0]}: unknown key for {source.flag()}; expected some of {sorted(DATA_KEYS)}")
    return load_table_data(source_file(source), keys, source.name, features, target, scaler)


GENERATORS: dict[str, str] = {"synthetic_wells": "data.synthetic:load_synthetic_wells"}


def _generated(name: str, scaler: str) -> ForecastData:
    if name not in GENERATORS:
        raise DataError(f"--dataset: {name!r} is generated but has no generator; expected one of {sorted(GENERATORS)}")
    module, function = GENERATORS[name].split(":")
    data = getattr(importlib.import_module(module), function)(seed=0, scaler=scaler)
    data.schema = {"layout": "wide", "columns": list(data.columns), "series": 1, "rows": int(len(data.values)),
                   "freq": data.freq, "generated": True}
    return data
