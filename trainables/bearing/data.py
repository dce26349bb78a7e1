"""The per-trial view of a BearingData: how the config cuts it (the split spec), the
window indices of one fold, standardised window tensors (clean or noisy) and their
loaders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from data.bearing import BearingData, SplitSpec, labelled_subset
from data.signal import add_noise_snr, standardize
from data.windows import keep_batch
from trainables.bearing.config import BearingConfig


def split_spec(cfg: BearingConfig) -> SplitSpec:
    return SplitSpec(cfg.window, cfg.step, cfg.n_folds, cfg.blocks_per_fold, cfg.val_fraction)


class Windows(Dataset):
    """Standardised windows and labels as two tensors; batches gathered at once."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.x[index], self.y[index]


def cap_per_class(index: np.ndarray, labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` windows per class (evenly spaced, so all blocks stay represented)."""
    if not cap:
        return index
    kept = []
    for label in np.unique(labels[index]):
        members = index[labels[index] == label]
        kept.append(members[np.linspace(0, len(members) - 1, min(cap, len(members))).astype(int)])
    return np.sort(np.concatenate(kept))


def window_tensors(data: BearingData, index: np.ndarray, snr_db: float | None = None,
                   seed: int = 0) -> Windows:
    """Windows (optionally with white noise at ``snr_db``), then standardised."""
    x = torch.from_numpy(data.windows(index))
    if snr_db is not None:
        x = add_noise_snr(x, float(snr_db), generator=torch.Generator().manual_seed(seed))
    return Windows(standardize(x), torch.from_numpy(data.win_label[index]).long())


@dataclass
class Splits:
    """Window indices of one fold: labelled training, all training, val, test."""

    labelled: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def make_splits(cfg: BearingConfig, data: BearingData) -> Splits:
    parts = data.split(cfg.fold)
    labels = data.win_label
    train = cap_per_class(parts["train"], labels, cfg.max_windows_per_class, cfg.seed)
    return Splits(
        labelled=labelled_subset(train, labels, cfg.label_fraction, cfg.seed),
        train=train,
        val=cap_per_class(parts["val"], labels, cfg.max_windows_per_class, cfg.seed),
        test=cap_per_class(parts["test"], labels, cfg.max_windows_per_class, cfg.seed),
    )


def loader_for(windows: Windows, batch_size: int, seed: int, drop_last: bool = False) -> DataLoader:
    return DataLoader(windows, batch_size=batch_size, shuffle=True, collate_fn=keep_batch,
                      drop_last=drop_last and len(windows) >= 2 * batch_size,
                      generator=torch.Generator().manual_seed(seed))
