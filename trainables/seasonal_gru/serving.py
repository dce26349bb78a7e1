"""The seasonal-loss GRU for seed ensembles and export: forecasts in EUR/MWh, the
paper's metrics, and the raw-input pipeline of an exported model.

An exported model takes raw hourly rows (prices and, when the members were
trained with them, the day-ahead forecast columns of the training file) and
returns the next day's 24 prices. The pipeline carries the eq. 26 profile, the
exogenous scale fitted on the training years and the names of the source's
columns, and builds the model inputs with the same functions as the data loader
(``data.epf.known_features``, ``with_price_lags`` of data.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from data import prices
from data.epf import EpfData, SeasonalProfile, known_features
from data.errors import DataError
from data.price_layout import layout_of
from data.source import DataSource
from trainables.registry import EnsembleAdapter
from trainables.seasonal_gru import task
from trainables.seasonal_gru.config import SeasonalGRUConfig
from trainables.seasonal_gru.data import with_price_lags

# Config fields that shape the inputs: every exported member must share the pipeline's.
INPUT_FIELDS = ("target", "lag_window", "price_lags", "clip_quantile", "smooth_days", "exogenous")


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return task.price_metrics(pred, truth)


@dataclass
class PricePipeline:
    """Raw hourly rows -> model inputs; the model's z forecast -> EUR/MWh.

    Input frame, per forecast (several at once with a ``window`` column): ``history``
    consecutive local hours with known ``price`` (the lag window plus the longest
    price lag), then the ``horizon`` hours to forecast (their ``price`` is ignored
    and may be empty), a ``timestamp`` on every row and, for models trained with
    exogenous forecasts, each of ``exogenous_names`` on every row. Each input may
    also go by its column name in the training file (``source_columns``), so rows
    cut from a file of the same layout go in as they are.
    """

    slot_means: list[float]  # eq. 26 time-of-year means, 366 x 24
    std: float
    clip_low: float
    clip_high: float
    exogenous_mean: list[float]  # empty without exogenous inputs
    exogenous_std: list[float]
    n_known_features: int  # data feature columns before the price lags
    input_len: int
    horizon: int
    inputs_of: dict  # INPUT_FIELDS of the configuration the pipeline was built for
    exogenous_names: list[str]  # the exogenous inputs, in the order the model sees them
    source_columns: dict[str, str]  # input name (timestamp, price, exogenous names) -> the file's column
    layout: dict = field(default_factory=dict)  # the training data's layout keys (time, price, exogenous, ...)

    @property
    def price_lags(self) -> list[int]:
        return list(self.inputs_of["price_lags"])

    @property
    def history(self) -> int:
        return max(self.price_lags, default=0) + self.input_len

    @property
    def columns(self) -> list[str]:
        return ["timestamp", "price"] + list(self.exogenous_names)

    def profile(self) -> SeasonalProfile:
        return SeasonalProfile(np.asarray(self.slot_means), self.std, self.clip_low, self.clip_high)

    def build_model(self, cfg: SeasonalGRUConfig) -> nn.Module:
        differs = {k: getattr(cfg, k) for k in INPUT_FIELDS if _plain(getattr(cfg, k)) != self.inputs_of[k]}
        if differs:
            raise ValueError(f"ensemble member: input settings {differs} differ from the exported pipeline's "
                             f"{ {k: self.inputs_of[k] for k in differs} }; export members that share them")
        return task.build_network(cfg, self.n_known_features)

    def _named(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with inputs given under the file's column names renamed to theirs."""
        renames = {self.source_columns[c]: c for c in self.columns
                   if c not in frame.columns and self.source_columns.get(c) in frame.columns}
        return frame.rename(columns=renames) if renames else frame

    def _windows(self, frame: pd.DataFrame) -> list[pd.DataFrame]:
        frame = self._named(frame)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            also = {c: self.source_columns[c] for c in missing if self.source_columns.get(c, c) != c}
            raise ValueError(f"input: missing columns {missing}; expected {self.columns}"
                             + (f" (or the file's names {also})" if also else ""))
        groups = [g for _, g in frame.groupby("window", sort=True)] if "window" in frame.columns else [frame]
        rows = self.history + self.horizon
        for group in groups:
            if len(group) != rows:
                raise ValueError(f"input: each forecast needs {rows} rows ({self.history} hours with prices, "
                                 f"then the {self.horizon} to forecast), got {len(group)}")
            steps = np.diff(pd.to_datetime(group["timestamp"]).to_numpy()).astype("timedelta64[m]")
            if (steps != np.timedelta64(60, "m")).any():
                raise ValueError("input: timestamps must be consecutive hours")
            if not np.isfinite(group["price"].to_numpy(dtype=np.float64)[:self.history]).all():
                raise ValueError(f"input: the first {self.history} rows of a forecast need prices")
            if self.exogenous_names and not np.isfinite(
                    group[list(self.exogenous_names)].to_numpy(dtype=np.float64)).all():
                raise ValueError(f"input: {list(self.exogenous_names)} are needed on every row")
        return groups

    def inputs(self, frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        """(past z-prices, past features, future features, the forecast hours' slot means)."""
        profile, lag = self.profile(), max(self.price_lags, default=0)
        exog_scale = (np.asarray(self.exogenous_mean), np.asarray(self.exogenous_std)) if self.exogenous_mean else None
        x, past, future, slot = [], [], [], []
        for group in self._windows(frame):
            stamps = pd.to_datetime(group["timestamp"]).to_numpy()
            z = profile.transform(group["price"].to_numpy(dtype=np.float64), stamps).astype(np.float32)
            z[self.history:] = 0.0  # the hours to forecast: no model input reads them (lags >= horizon)
            exog = group[list(self.exogenous_names)].to_numpy(dtype=np.float64) if exog_scale else None
            known = known_features(stamps, profile, exog, exog_scale, self.exogenous_names)[0]
            features = with_price_lags(known, z, self.price_lags)
            x.append(z[lag:self.history, None])
            past.append(features[lag:self.history])
            future.append(features[self.history:])
            slot.append(profile.slot_mean(stamps[self.history:]))
        return (torch.from_numpy(np.stack(x)), torch.from_numpy(np.stack(past)), torch.from_numpy(np.stack(future)),
                torch.from_numpy(np.stack(slot)))

    def forward(self, model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
        x, past, future, slot = inputs
        z = model(x, past, future)[0][..., 0].double().numpy()
        return z * self.std + slot.numpy()  # eq. 26 inverted: (forecasts, horizon) in EUR/MWh

    def request(self, source: DataSource) -> tuple[pd.DataFrame, pd.DataFrame]:
        """New hourly rows for ``predict``, laid out as the training file: the next
        day after the last whole day with prices is forecast from the ``history``
        hours before it. A model with exogenous inputs needs the forecast day's
        rows in the file too (their forecasts filled, their price empty)."""
        path = Path(source.path)
        options = {k: v for k, v in source.options.items() if k not in ("train", "val", "test")}
        layout = prices.resolved(path, layout_of(options, source.flag()))
        raw = prices.read_table(path, layout)
        frame = pd.DataFrame({"timestamp": prices.parse_times(raw[layout.time], layout.time, layout.timezone, path)})
        frame["price"] = prices.parse_numbers(raw[layout.price], "price", layout.price, path, layout.decimal)
        for column, name in zip(layout.exogenous, layout.names):
            frame[name] = prices.parse_numbers(raw[column], "exogenous", column, path, layout.decimal)
        missing = [n for n in self.exogenous_names if n not in frame.columns]
        if missing:
            raise DataError(f"{source.flag()}: the model reads the day-ahead forecasts {missing}; set data.exogenous "
                            f"to their columns (found {list(raw.columns)})")
        known = frame[frame["price"].notna()]
        if not len(known):
            raise DataError(f"{source.flag()}: no row has a price")
        history = prices.whole_days(known, str(path)).iloc[-self.history:]
        if len(history) < self.history:
            raise DataError(f"{source.flag()}: {len(history)} whole hours with prices; the model reads the last "
                            f"{self.history} before the day it forecasts")
        start = history["timestamp"].iloc[-1] + pd.Timedelta(hours=1)
        hours = pd.date_range(start, periods=self.horizon, freq="h")
        future = pd.DataFrame({"timestamp": hours, "price": np.nan})
        if self.exogenous_names:
            given = frame[frame["timestamp"].isin(hours)].drop_duplicates("timestamp").set_index("timestamp")
            given = given.reindex(hours)[list(self.exogenous_names)]
            if given.isna().any().any():
                raise DataError(f"{source.flag()}: the forecast day {start:%Y-%m-%d} needs {list(self.exogenous_names)}"
                                f" on each of its {self.horizon} hours; the file lacks some")
            future[list(self.exogenous_names)] = given.to_numpy()
        rows = pd.concat([history[self.columns], future[self.columns]], ignore_index=True)
        rows["timestamp"] = pd.to_datetime(rows["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S")
        rows.insert(0, "window", 0)
        return rows, pd.DataFrame({"window": [0], "forecast_start": [f"{start:%Y-%m-%d %H:%M:%S}"]})

    def label(self, table: pd.DataFrame) -> pd.DataFrame:
        """Each forecast step with the hour it is for."""
        hours = pd.to_datetime(table["forecast_start"]) + pd.to_timedelta(table["step"] - 1, unit="h")
        table.insert(1, "timestamp", hours.dt.strftime("%Y-%m-%d %H:%M:%S"))
        return table.drop(columns="forecast_start")

    def example(self, data: EpfData) -> pd.DataFrame:
        """The raw rows of the first test day's forecast."""
        start = data.splits["test"][0]
        rows = slice(start - self.history, start + self.horizon)
        frame = pd.DataFrame({"timestamp": pd.to_datetime(data.timestamps[rows]).strftime("%Y-%m-%d %H:%M:%S"),
                              "price": data.prices[rows]})
        frame.loc[self.history:, "price"] = np.nan
        if self.exogenous_names:
            frame[list(self.exogenous_names)] = data.exogenous[rows]
        # A window column in the example puts it in the model's signature: MLflow drops
        # input columns the signature does not name, and several forecasts need it.
        frame.insert(0, "window", 0)
        return frame

    def outputs(self, members: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
        """Long format: window, step (hour 1..horizon), mean, std, p10, p90 across members."""
        from trainables.ensemble import combine, spread

        mean, std = combine(members, weights), spread(members, weights)
        p10, p90 = np.percentile(members, 10, axis=0), np.percentile(members, 90, axis=0)
        windows, steps = mean.shape
        index = np.indices((windows, steps)).reshape(2, -1)
        return pd.DataFrame({"window": index[0], "step": index[1] + 1, "mean": mean.ravel(), "std": std.ravel(),
                             "p10": p10.ravel(), "p90": p90.ravel()})


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def serving(cfg: SeasonalGRUConfig, data: EpfData) -> PricePipeline:
    profile = data.profile
    mean, std = data.exogenous_scale if data.exogenous_scale is not None else ([], [])
    return PricePipeline(
        slot_means=[float(v) for v in profile.mean], std=float(profile.std),
        clip_low=float(profile.low), clip_high=float(profile.high),
        exogenous_mean=[float(v) for v in mean], exogenous_std=[float(v) for v in std],
        n_known_features=int(data.features.shape[1]), input_len=cfg.input_len, horizon=cfg.horizon,
        inputs_of={k: _plain(getattr(cfg, k)) for k in INPUT_FIELDS},
        exogenous_names=list(data.exogenous_names) if data.exogenous_scale is not None else [],
        source_columns={str(k): str(v) for k, v in data.source_columns.items()},
    )


ADAPTER = EnsembleAdapter(build_model=task.build_model, predict=task.predict_split, score=score,
                          serving=serving, metric="rmse", mode="min")
