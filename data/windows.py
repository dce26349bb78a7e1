"""Sliding windows over a time series, as views and index arithmetic, never copies.

A window starting at row ``s`` reads inputs ``[s, s + input_len)`` and targets
``[s + input_len, s + input_len + output_len)``. A split is the row range its
*targets* must stay inside; its inputs may reach back into the preceding split
(the standard long-horizon protocol: the past is known at forecast time) unless
``lookback_from_previous`` is off, in which case whole windows stay inside.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import Dataset

from data.errors import DataError


def window_starts(
    split: tuple[int, int],
    input_len: int,
    output_len: int,
    step_len: int = 1,
    lookback_from_previous: bool = True,
    series_start: int = 0,
) -> np.ndarray:
    """Start rows of every window whose targets lie inside ``split = [lo, hi)``."""
    lo, hi = split
    first = max(series_start, lo - input_len) if lookback_from_previous else lo
    last = hi - input_len - output_len
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + 1, step_len, dtype=np.int64)


def require_windows(starts: np.ndarray, split_name: str, split: tuple[int, int], input_len: int,
                    output_len: int, where: str) -> np.ndarray:
    """Raise a DataError explaining the lengths when a split holds no window."""
    if len(starts) == 0:
        rows = split[1] - split[0]
        raise DataError(
            f"{where}: the {split_name} split has {rows} rows, too short for input_len={input_len} "
            f"+ output_len={output_len}; use shorter windows or a longer series"
        )
    return starts


def window_view(series: np.ndarray, length: int) -> np.ndarray:
    """All windows of ``length`` rows as a read-only view: shape (n, length, channels)."""
    view = sliding_window_view(series, length, axis=0)  # (n, channels, length)
    return np.swapaxes(view, 1, 2)


def _shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor sharing ``array``'s memory when it already is float32.

    Arrays from Ray's object store are read-only; windows only ever read them, so
    torch's warning about non-writable arrays does not apply.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class WindowDataset(Dataset):
    """Windows of one split, gathered batch-wise from one shared tensor.

    ``__getitems__`` lets the DataLoader fetch a whole batch with one vectorised
    index instead of one Python call per window; memory stays at the size of the
    series plus one batch.
    """

    def __init__(
        self,
        values: np.ndarray,
        starts: np.ndarray,
        input_len: int,
        output_len: int,
        marks: np.ndarray | None = None,
        target_channels: list[int] | None = None,
        series_id: np.ndarray | None = None,
    ) -> None:
        self.values = _shared_tensor(values)
        self.marks = None if marks is None else _shared_tensor(marks)
        self.starts = torch.from_numpy(np.asarray(starts, dtype=np.int64))
        self.input_len = input_len
        self.output_len = output_len
        self.targets = None if target_channels is None else torch.tensor(target_channels, dtype=torch.long)
        self.series_id = None if series_id is None else torch.from_numpy(np.asarray(series_id, dtype=np.int64))
        self._x_offsets = torch.arange(input_len)
        self._y_offsets = torch.arange(input_len, input_len + output_len)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([index]))

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        starts = self.starts[torch.as_tensor(indices, dtype=torch.long)]
        x_rows = starts[:, None] + self._x_offsets
        y_rows = starts[:, None] + self._y_offsets
        x = self.values[x_rows]
        y = self.values[y_rows]
        if self.targets is not None:
            y = y[..., self.targets]
        out = [x, y]
        if self.marks is not None:
            out += [self.marks[x_rows], self.marks[y_rows]]
        return tuple(out)


def keep_batch(batch):
    """Collate function for WindowDataset: the batch is already stacked."""
    return batch
