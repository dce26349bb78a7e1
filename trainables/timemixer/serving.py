"""TimeMixer for ensembles and export: prediction, scoring, raw-input pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.forecasting import ForecastData, calendar_features
from data.scalers import Scaler
from trainables.registry import EnsembleAdapter
from trainables.timemixer import task


def predict(model: nn.Module, cfg: task.TimeMixerConfig, data: ForecastData, split: str):
    """Scaled forecasts and truths for every window of ``split``."""
    dataset = task.split_dataset(cfg, data, split, 1)
    return task.predict_split(model, dataset, cfg.eval_batch_size, torch.device("cpu"), data.target_channels)


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    err = np.asarray(pred, dtype=np.float64) - truth
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}


@dataclass
class ForecastPipeline:
    """Raw unscaled input window(s) -> model input; model output -> raw forecast.

    Input frame: one row per time step with a column per series channel, optionally
    a ``date`` column (for calendar features) and a ``window`` column to send
    several windows at once. Each window needs exactly ``input_len`` rows.
    """

    columns: list[str]
    target_channels: list[int]
    scaler: dict
    input_len: int
    output_len: int
    freq: str
    mark_features: int
    channels: int

    def build_model(self, cfg: task.TimeMixerConfig) -> nn.Module:
        proxy = _ShapeProxy(self.channels, self.mark_features)
        return task.build_model(cfg, proxy)

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
        return frame

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
    """The two facts build_model reads from ForecastData."""

    n_channels: int
    mark_features: int

    @property
    def marks(self):
        return np.zeros((1, self.mark_features), dtype=np.float32) if self.mark_features else None


def serving(cfg: task.TimeMixerConfig, data: ForecastData) -> ForecastPipeline:
    marks = data.marks.shape[1] if (cfg.use_marks and data.marks is not None) else 0
    return ForecastPipeline(
        columns=list(data.columns), target_channels=list(data.target_channels), scaler=data.scaler.to_dict(),
        input_len=cfg.input_len, output_len=cfg.output_len, freq=data.freq, mark_features=marks,
        channels=data.n_channels,
    )


ADAPTER = EnsembleAdapter(build_model=task.build_model, predict=predict, score=score, serving=serving,
                          metric="mse", mode="min")
