"""The layout keys of an hourly price file, and the periods it is split into.

A file is described by layout keys (a user's ``data:`` block, or a built-in set's
registry ``layout``): ``time`` and ``price`` columns (inferred from their names
when unambiguous), zero or more day-ahead forecast columns ``exogenous``, the
``train`` / ``val`` / ``test`` date ranges and how the CSV is written
(``delimiter``, ``decimal``). ``layout_of`` checks them into a PriceLayout, by
which data/prices.py reads the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from data.errors import DataError


@dataclass(frozen=True)
class EpfPeriods:
    """Train / validation / test as dates, end dates exclusive; the defaults are
    the paper's FR periods. ``train_end`` / ``val_end`` default to the next
    period's start (contiguous periods)."""

    start: str = "2012-01-01"
    val_start: str = "2015-12-01"
    test_start: str = "2016-01-01"
    test_end: str = "2016-07-01"
    train_end: str = ""
    val_end: str = ""

    def bounds(self) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        stamp = pd.Timestamp
        return {"train": (stamp(self.start), stamp(self.train_end or self.val_start)),
                "val": (stamp(self.val_start), stamp(self.val_end or self.test_start)),
                "test": (stamp(self.test_start), stamp(self.test_end))}


@dataclass(frozen=True)
class PriceLayout:
    """Where the columns are and how the file is written ("" = infer / default)."""

    time: str = ""
    price: str = ""
    exogenous: tuple[str, ...] = ()
    exogenous_names: tuple[str, ...] = ()  # names in the model's inputs and the exported model's input frame
    delimiter: str = ""  # "" = read off the file's first lines
    decimal: str = ""
    timezone: str = ""  # IANA zone the timestamps are expressed in before their offset is dropped
    periods: EpfPeriods = field(default_factory=EpfPeriods)

    @property
    def names(self) -> tuple[str, ...]:
        return self.exogenous_names or self.exogenous

    def version(self) -> str:
        """What the parsed frame depends on besides the file's bytes (the cache key)."""
        import hashlib

        text = repr((self.time, self.price, self.exogenous, self.names, self.delimiter, self.decimal, self.timezone))
        return "prices-1-" + hashlib.sha1(text.encode()).hexdigest()[:12]


# Keys a user may set in the `data:` block, and what each means (SPEC.data_keys).
DATA_KEYS = {
    "time": "timestamp column (default: the one column named date/time/timestamp/datetime)",
    "price": "price column (default: the one column named price/prices)",
    "exogenous": "day-ahead forecast columns used as inputs when the model's `exogenous` is on "
                 "(a list, in the order the model sees them; default: none)",
    "exogenous_names": "names of those columns in the exported model's input frame (default: the column names)",
    "train": "training dates [start, end), end exclusive (default: [2012-01-01, 2015-12-01]); eq. 26 is fitted here",
    "val": "validation dates [start, end) (default: [2015-12-01, 2016-01-01])",
    "test": "test dates [start, end) (default: [2016-01-01, 2016-07-01])",
    "delimiter": "CSV field separator (default: the one of , ; tab | that every first line holds equally often)",
    "decimal": "CSV decimal mark, . or , (default: , when the numbers are written only so and the separator "
               "is not a comma, else .)",
    "timezone": "IANA zone (e.g. Europe/Paris) to express timestamps in; timestamps without an offset are "
                "then read as UTC (default: the clock time as written)",
    "name": "the data set's name in MLflow (default: the file's name)",
}


def layout_of(options: Mapping[str, Any], flag: str = "--data") -> PriceLayout:
    """A PriceLayout from layout keys, each checked for type and order."""
    unknown = sorted(set(options) - set(DATA_KEYS))
    if unknown:
        raise DataError(f"data.{unknown[0]}: unknown key for {flag}; expected some of {sorted(DATA_KEYS)}")

    def text(key: str, default: str = "") -> str:
        value = options.get(key, default)
        if value is None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise DataError(f"data.{key}: expected a column name or text, got {value!r}")
        return str(value)

    def names(key: str) -> tuple[str, ...]:
        value = options.get(key) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
            raise DataError(f"data.{key}: expected a list of column names, got {value!r}")
        return tuple(str(v).strip() for v in value)

    exogenous, exogenous_names = names("exogenous"), names("exogenous_names")
    if exogenous_names and len(exogenous_names) != len(exogenous):
        raise DataError(f"data.exogenous_names: {len(exogenous_names)} names for {len(exogenous)} exogenous "
                        f"columns {list(exogenous)}; give one name per column")
    clash = sorted({"timestamp", "price", "window"} & set(exogenous_names or exogenous))
    if clash or len(set(exogenous_names or exogenous)) != len(exogenous):
        raise DataError(f"data.exogenous_names: names must be distinct and not 'timestamp', 'price' or 'window'"
                        f", got {list(exogenous_names or exogenous)}")
    delimiter = {"\\t": "\t", "tab": "\t"}.get(text("delimiter"), text("delimiter"))
    if "delimiter" in options and len(delimiter) != 1:
        raise DataError(f"data.delimiter: expected one character, got {options['delimiter']!r}")
    if "decimal" in options and text("decimal") not in (".", ","):
        raise DataError(f"data.decimal: expected '.' or ',', got {options['decimal']!r}")
    return PriceLayout(time=text("time").strip(), price=text("price").strip(), exogenous=exogenous,
                       exogenous_names=exogenous_names, delimiter=delimiter, decimal=text("decimal"),
                       timezone=text("timezone").strip(), periods=periods_of(options))


def periods_of(options: Mapping[str, Any]) -> EpfPeriods:
    """``train`` / ``val`` / ``test`` as [start, end) pairs of whole days, in order."""
    default = EpfPeriods().bounds()
    bounds = {}
    for key in ("train", "val", "test"):
        value = options.get(key)
        if value is None:
            bounds[key] = default[key]
            continue
        if isinstance(value, str) and ".." in value:
            value = value.split("..")
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise DataError(f"data.{key}: expected [start, end] dates, got {value!r}")
        try:
            lo, hi = (pd.Timestamp(str(v)) for v in value)
        except (ValueError, TypeError) as exc:
            raise DataError(f"data.{key}: expected [start, end] dates (YYYY-MM-DD), got {value!r}") from exc
        if lo.tz is not None or hi.tz is not None or lo != lo.normalize() or hi != hi.normalize():
            raise DataError(f"data.{key}: expected whole local days (YYYY-MM-DD), got {value!r}")
        if lo >= hi:
            raise DataError(f"data.{key}: the start {lo.date()} is not before the end {hi.date()} (end exclusive)")
        bounds[key] = (lo, hi)
    for before, after in (("train", "val"), ("val", "test")):
        if bounds[before][1] > bounds[after][0]:
            raise DataError(f"data.{after}: starts {bounds[after][0].date()}, before data.{before} ends "
                            f"({bounds[before][1].date()}); periods must be in the order train, val, test")
    day = "%Y-%m-%d"
    return EpfPeriods(start=bounds["train"][0].strftime(day), val_start=bounds["val"][0].strftime(day),
                      test_start=bounds["test"][0].strftime(day), test_end=bounds["test"][1].strftime(day),
                      train_end=bounds["train"][1].strftime(day), val_end=bounds["val"][1].strftime(day))
