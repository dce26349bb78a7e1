"""The raw-input pipeline of an exported forecasting ensemble, whatever the family:
unscaled windows in, the ensemble's forecast with its spread across members out, and
new series read the way the training file was (``predict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.errors import DataError
from data.forecasting import ForecastData, calendar_features
from data.scalers import Scaler
from data.series import regular_series, resolve_step, split_series
from data.source import DataSource
from data.table_data import series_column_of
from data.tables import read_table


@dataclass
class ForecastPipeline:
    """Raw unscaled input window(s) -> model input; model output -> raw forecast.

    Input frame: one row per time step with a column per series channel, optionally
    a ``date`` column (for calendar features) and a ``window`` column to send
    several windows at once. Each window needs exactly ``input_len`` rows.
    """

    family: str  # the registry name whose ADAPTER.build_model builds the members
    columns: list[str]
    target_channels: list[int]
    scaler: dict
    input_len: int
    output_len: int
    freq: str
    mark_features: int
    channels: int
    layout: dict = field(default_factory=dict)  # the training data's layout keys (time, id, target, ...)

    def build_model(self, cfg: Any) -> nn.Module:
        from trainables.registry import get_adapter

        return get_adapter(self.family).build_model(cfg, _ShapeProxy(self.channels, self.mark_features))

    def _windows(self, frame: pd.DataFrame) -> list[pd.DataFrame]:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"input: missing columns {missing}; expected {self.columns}")
        groups = [g for _, g in frame.groupby("window", sort=True)] if "window" in frame.columns else [frame]
        for group in groups:
            if len(group) != self.input_len:
                raise ValueError(f"input: each window needs {self.input_len} rows, got {len(group)}")
        return groups

    def inputs(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor | None]:
        scaler = Scaler.from_dict(self.scaler)
        windows = self._windows(frame)
        x = np.stack([scaler.transform(w[self.columns].to_numpy(dtype=np.float64)) for w in windows])
        marks = None
        if self.mark_features:
            if "date" not in frame.columns:
                raise ValueError("input: this model uses calendar features; add a 'date' column")
            marks = torch.from_numpy(np.stack([calendar_features(pd.to_datetime(w["date"]), self.freq)
                                                for w in windows]))
        return torch.from_numpy(x.astype(np.float32)), marks

    def forward(self, model: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor | None]) -> np.ndarray:
        x, marks = inputs
        pred = model(x, marks)[..., self.target_channels].double().numpy()
        return Scaler.from_dict(self.scaler).inverse_transform(pred, self.target_channels)

    def example(self, data: ForecastData) -> pd.DataFrame:
        """A raw input window: the last ``input_len`` rows before the test split."""
        start = data.splits["test"][0]
        rows = slice(start - self.input_len, start)
        frame = pd.DataFrame(data.raw(rows), columns=data.columns)
        if self.mark_features:
            frame.insert(0, "date", pd.to_datetime(data.timestamps[rows]).strftime("%Y-%m-%d %H:%M:%S"))
        # A window column in the example puts it in the model's signature: MLflow drops
        # input columns the signature does not name, and several windows need it.
        frame.insert(0, "window", 0)
        return frame

    def request(self, source: DataSource) -> tuple[pd.DataFrame, pd.DataFrame]:
        """New series for ``predict``, laid out as the training file: the last
        ``input_len`` steps of each series (after the same gap checks or ``fill``)
        are one window; the forecast is the ``output_len`` steps after its end."""
        keys = source.options
        table = read_table(Path(source.path), keys)
        frame, time, where = table.frame, table.time, table.where
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"{where}: no column {missing[0]!r}; the model reads {self.columns} and the file has "
                            f"{list(frame.columns)}")
        parts = split_series(frame, time, series_column_of(frame, keys, where), where)
        step = resolve_step([part[time].to_numpy() for _, part in parts], keys, where)
        rows, labels = [], []
        for window, (name, part) in enumerate(parts):
            part = regular_series(part, time, self.columns, step, keys.get("fill"), name, where)
            if len(part) < self.input_len:
                raise DataError(f"{where}: series {name or source.name!r} has {len(part)} steps; the model reads the "
                                f"last {self.input_len}")
            last = part.iloc[-self.input_len:]
            window_rows = last[self.columns].astype(np.float64).reset_index(drop=True)
            if self.mark_features:
                window_rows.insert(0, "date", last[time].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy())
            window_rows.insert(0, "window", window)
            rows.append(window_rows)
            labels.append((window, name if name is not None else source.name, last[time].iloc[-1], step.freqstr))
        return (pd.concat(rows, ignore_index=True),
                pd.DataFrame(labels, columns=["window", "series", "last_observed", "every"]))

    def label(self, table: pd.DataFrame) -> pd.DataFrame:
        """Each forecast step with the time it is for (``step`` steps after the series' end)."""
        every = pd.tseries.frequencies.to_offset(table["every"].iloc[0])
        times = [pd.Timestamp(t) + int(k) * every for t, k in zip(table["last_observed"], table["step"])]
        table.insert(2, "time", pd.DatetimeIndex(times).strftime("%Y-%m-%d %H:%M:%S"))
        return table.drop(columns=["last_observed", "every"])

    def outputs(self, members: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
        """Long format: window, step, channel, mean, std, p10, p90 (across members)."""
        from trainables.ensemble import combine, spread

        mean, std = combine(members, weights), spread(members, weights)
        p10, p90 = np.percentile(members, 10, axis=0), np.percentile(members, 90, axis=0)
        windows, steps, channels = mean.shape
        names = [self.columns[c] for c in self.target_channels]
        index = np.indices((windows, steps, channels)).reshape(3, -1)
        return pd.DataFrame({
            "window": index[0], "step": index[1] + 1, "channel": np.asarray(names)[index[2]],
            "mean": mean.ravel(), "std": std.ravel(), "p10": p10.ravel(), "p90": p90.ravel(),
        })


@dataclass
class _ShapeProxy:
    """The two facts a forecasting family's build_model reads from ForecastData."""

    n_channels: int
    mark_features: int

    @property
    def marks(self):
        return np.zeros((1, self.mark_features), dtype=np.float32) if self.mark_features else None


def forecast_pipeline(family: str, data: ForecastData, input_len: int, output_len: int,
                      mark_features: int = 0) -> ForecastPipeline:
    """The pipeline of a family trained on ``data`` with these window lengths."""
    return ForecastPipeline(
        family=family, columns=list(data.columns), target_channels=list(data.target_channels),
        scaler=data.scaler.to_dict(), input_len=input_len, output_len=output_len, freq=data.freq,
        mark_features=mark_features, channels=data.n_channels,
    )
