"""One series of a table on a regular time grid, and its chronological split.

A long table holds its series one after another: each is cut out in time order,
checked for one regular step (or filled as ``data.fill`` says) and split into
train/val/test row ranges of its own, so no window crosses two series.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from data.errors import DataError

DEFAULT_SPLIT = (0.7, 0.1, 0.2)


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
        # pd.infer_freq returns a string or (opted in, and in future pandas) an offset, and
        # warns until told which; an index built with freq="infer" holds the offset in every version
        inferred = pd.DatetimeIndex(longest, freq="infer").freq if len(longest) >= 3 else None
        if inferred is not None:
            return inferred
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


def series_label(name: str | None) -> str:
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
        raise DataError(f"{where}: {series_label(name)} has more than one row at {first}; "
                        "expected one row per time step")
    missing = part[channels].isna().any(axis=1).to_numpy()
    if missing.any() and fill is None:
        row = int(missing.argmax())
        raise DataError(f"{where}: {series_label(name)} has a missing value at {stamps.iloc[row]}; "
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
            raise DataError(f"{where}: {series_label(name)} is not a regular {every} grid: {what} after "
                            f"{stamps.iloc[at]} (next row {stamps.iloc[at + 1]}); {how}")
        part = part.set_index(time).reindex(grid).rename_axis(time).reset_index()
    if fill == "ffill":
        part[channels] = part[channels].ffill()
        if part[channels].isna().any().any():
            raise DataError(f"{where}: {series_label(name)} starts with a missing value at {part[time].iloc[0]}; "
                            "ffill has nothing to carry forward (use data.fill: zero or drop)")
    elif fill == "zero":
        part[channels] = part[channels].fillna(0.0)
    return part


def _parse(value: Any) -> Any:
    """A key given as text (``--set data.split=...``) read as YAML/JSON."""
    if isinstance(value, str):
        import yaml

        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


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
