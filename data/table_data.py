"""A table of time series (the user's file or a built-in set's) as ForecastData.

One path serves every forecaster's data: a CSV, Parquet or Excel file is read
(data/tables.py), its series found, checked for a regular step and split
chronologically per series (data/series.py), scaled with training statistics and
stacked into one ``ForecastData`` whose ``meta["series"]`` keeps each series' row
range, so no window crosses two series.

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

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.errors import DataError
from data.forecasting import ForecastData, calendar_features
from data.scalers import fit_scaler
from data.series import (freq_letter, parse_split, regular_series, resolve_step, series_label, series_splits,
                         split_series)
from data.tables import READERS, Table, read_table

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

FILLS = ("ffill", "zero", "drop")


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


def series_column_of(frame: pd.DataFrame, keys: Mapping[str, Any], where: str) -> str | None:
    """The series column: ``data.id``, else ``unique_id`` when present, else none (one series)."""
    column = keys.get("id")
    if column is not None:
        _check_columns(frame, [str(column)], "id", where)
        return str(column)
    return "unique_id" if "unique_id" in frame.columns else None


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
        s["splits"] = series_splits(split, s["lo"], s["hi"], timestamps, series_label(s["name"]), where)

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
