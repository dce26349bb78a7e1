"""A table file read as a DataFrame with its time column parsed.

A CSV, Parquet or Excel file is parsed once, then served from the Parquet cache
keyed by the file's checksum and the reading keys. A built-in set whose file
needs a conversion first (a raw export) names a ``reader`` that turns it into a
long table; what the columns of the table mean is data/table_data.py's job.
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

import pandas as pd

from data.cache import cached_table
from data.errors import DataError
from data.registry import file_sha256

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel"}
TIME_NAMES = ("ds", "date", "time", "timestamp")
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
