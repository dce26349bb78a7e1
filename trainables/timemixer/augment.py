"""Windows over one series or a panel of series, with the guide's augmentations.

``PanelWindows`` gathers batches like ``data.windows.WindowDataset`` but reads
inputs and targets from separate arrays (so input-side preprocessing never alters
the targets we score against), carries a series id per window (well embedding,
mixup across wells) and can jitter window starts during training. Gaussian input
noise and mixup act on whole batches in the training step.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from data.windows import _shared_tensor


class PanelWindows(Dataset):
    """Windows with per-window series id and the start range jitter may use.

    ``bounds`` is (n, 2): the lowest and highest start a window of that series and
    split may have, so a jittered window never leaves its series or its split.
    Batches are ``(x, y, x_marks, series_id)``; ``x_marks`` has 0 features when
    there are none, so a batch is always four tensors (DDP loaders move it as is).
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


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Gaussian input noise (training only; scaled units)."""
    return x + std * torch.randn_like(x) if std > 0 else x


def mixup_pairs(batch_size: int, prob: float, alpha: float, generator: np.random.Generator
                ) -> tuple[float, torch.Tensor] | None:
    """With probability ``prob``: lambda ~ Beta(alpha, alpha) and a random partner
    permutation; else None (the batch is used as is)."""
    if prob <= 0 or generator.random() >= prob:
        return None
    lam = float(generator.beta(alpha, alpha))
    return lam, torch.from_numpy(generator.permutation(batch_size))


def mix(tensor: torch.Tensor, lam: float, perm: torch.Tensor) -> torch.Tensor:
    """lam * a + (1 - lam) * a[perm]: shapes are kept."""
    return lam * tensor + (1.0 - lam) * tensor[perm.to(tensor.device)]
