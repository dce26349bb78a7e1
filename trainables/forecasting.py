"""What every forecasting family shares: windows over a panel of series, the series
long enough to hold them, and the scores trials are ranked on.

A ``data.forecasting.ForecastData`` is one (rows, channels) array of stacked series
with per-series train / val / test row ranges. A window is ``input_len`` rows of
inputs followed by ``output_len`` rows of targets inside one series and one split,
so no window crosses two series (two wells) or leaks a later split into an earlier.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from data.errors import DataError
from data.windows import _shared_tensor, window_starts

SPLITS = ("train", "val", "test")


class PanelWindows(Dataset):
    """Windows with per-window series id and the start range jitter may use.

    Inputs and targets are separate arrays, so input-side preprocessing never alters
    the targets scored against. ``bounds`` is (n, 2): the lowest and highest start a
    window of that series and split may have, so a jittered window never leaves its
    series or its split. Batches are ``(x, y, x_marks, series_id)``; ``x_marks`` has 0
    features when there are none, so a batch is always four tensors (DDP loaders move
    it as is).
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, marks: np.ndarray | None, starts: np.ndarray,
                 bounds: np.ndarray, series_id: np.ndarray, input_len: int, output_len: int,
                 jitter: int = 0, seed: int = 0) -> None:
        self.inputs = _shared_tensor(inputs)
        self.targets = self.inputs if targets is inputs else _shared_tensor(targets)
        rows = len(inputs)
        self.marks = _shared_tensor(marks if marks is not None else np.zeros((rows, 0), dtype=np.float32))
        self.starts = torch.from_numpy(np.asarray(starts, dtype=np.int64))
        self.bounds = torch.from_numpy(np.asarray(bounds, dtype=np.int64).reshape(-1, 2))
        self.series_id = torch.from_numpy(np.asarray(series_id, dtype=np.int64))
        self.input_len, self.output_len, self.jitter = input_len, output_len, jitter
        self.generator = torch.Generator().manual_seed(seed)
        self._x_offsets = torch.arange(input_len)
        self._y_offsets = torch.arange(input_len, input_len + output_len)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([index]))

    def jittered_starts(self, index: torch.Tensor) -> torch.Tensor:
        """Starts moved by a uniform integer in [-jitter, jitter], clamped to bounds."""
        starts = self.starts[index]
        if self.jitter <= 0:
            return starts
        shift = torch.randint(-self.jitter, self.jitter + 1, starts.shape, generator=self.generator)
        bounds = self.bounds[index]
        return torch.minimum(torch.maximum(starts + shift, bounds[:, 0]), bounds[:, 1])

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        starts = self.jittered_starts(index)
        x_rows = starts[:, None] + self._x_offsets
        y_rows = starts[:, None] + self._y_offsets
        return self.inputs[x_rows], self.targets[y_rows], self.marks[x_rows], self.series_id[index]


def usable_series(series: list[dict], input_len: int, output_len: int, lookback: bool) -> list[dict]:
    """Series (with their index as ``id``) holding >= 1 window in every split.

    ``lookback``: validation and test inputs may reach back into the split before
    (the published ETT protocol). When no series is long enough a DataError says how
    long the longest one is.
    """
    usable = []
    for sid, s in enumerate(series):
        counts = [len(window_starts(s["splits"][k], input_len, output_len, 1, lookback, s["lo"])) for k in SPLITS]
        if min(counts) > 0:
            usable.append({**s, "id": sid})
    if not usable:
        longest = max(series, key=lambda s: s["hi"] - s["lo"])
        sizes = {k: v[1] - v[0] for k, v in longest["splits"].items()}
        raise DataError(
            f"every series is too short for input_len={input_len} + output_len={output_len}: the longest "
            f"of {len(series)}, series {longest['name']!r} ({longest['hi'] - longest['lo']} rows; splits {sizes}), "
            "holds no window in every split; use shorter windows or a longer series")
    return usable


def panel_windows(inputs: np.ndarray, targets: np.ndarray, marks: np.ndarray | None, series: list[dict],
                  split: str, input_len: int, output_len: int, step: int, lookback: bool,
                  jitter: int = 0, seed: int = 0) -> PanelWindows:
    """Windows of ``split`` over every series long enough to hold one in each split;
    a series too short for input_len + output_len in any split is left out."""
    starts, bounds, ids = [], [], []
    for s in usable_series(series, input_len, output_len, lookback):
        lo, hi = s["splits"][split]
        found = window_starts((lo, hi), input_len, output_len, step, lookback, s["lo"])
        first = max(s["lo"], lo - input_len) if lookback else lo
        last = hi - input_len - output_len
        starts.append(found)
        bounds.append(np.tile([first, last], (len(found), 1)))
        ids.append(np.full(len(found), s["id"]))
    return PanelWindows(inputs, targets, marks, np.concatenate(starts), np.concatenate(bounds),
                        np.concatenate(ids), input_len, output_len, jitter=jitter, seed=seed)


def target_channels_of(pred: torch.Tensor, targets: list[int]) -> torch.Tensor:
    """The target channels of a (batch, horizon, channels, ...) forecast."""
    return pred[:, :, targets] if len(targets) != pred.shape[2] else pred


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MSE and MAE over every window, step and channel (the papers' protocol)."""
    err = np.asarray(pred, dtype=np.float64) - truth
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}


def forecast_metrics(pred: np.ndarray, truth: np.ndarray, prefix: str) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in score(pred, truth).items()}
