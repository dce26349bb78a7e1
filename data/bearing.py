"""Bearing vibration data set: recordings of one class each, at one sampling rate,
cut into leak-free blocks, windows and cross-validation folds; class weights and
labelled subsets. Reading files and folders into recordings is ``data.recordings``.

Why blocks: windows of 512 with step 256 overlap by half, so a random split of
windows puts the same samples in training and test and inflates accuracy (on CWRU
it hides 40-80 % of the errors, see ANCHORS.md). Here each recording is cut into
chronological blocks first; windows are cut inside a block only; every block
belongs to exactly one cross-validation fold. A test window therefore never shares
a sample with a training window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data.errors import DataError

# The seed's six classes, in its order (default label names for the Excel layout).
SEED_CLASSES = ("normal", "inner_wear", "inner_broken", "roller_wear", "roller_broken", "outer_missing")


@dataclass(frozen=True)
class Recording:
    """One continuous signal of one class, at the common sampling rate."""

    label: int
    signal: np.ndarray
    source: str


@dataclass(frozen=True)
class SplitSpec:
    """How recordings become blocks and folds."""

    window: int = 512
    step: int = 256
    n_folds: int = 5
    blocks_per_fold: int = 4  # blocks per fold within each long recording
    val_fraction: float = 0.05  # of each class's blocks, taken from the next fold


@dataclass
class BearingData:
    """All windows of a data set with their blocks and folds (numpy, picklable).

    Signals are concatenated into one float32 array; a window is an offset into it.
    ``split(fold)`` returns window indices for train / val / test.
    """

    name: str
    class_names: tuple[str, ...]
    fs: int
    spec: SplitSpec
    signal: np.ndarray  # all recordings, concatenated
    sources: tuple[str, ...]  # per recording
    win_offset: np.ndarray  # per window: start in ``signal``
    win_label: np.ndarray
    win_block: np.ndarray
    block_recording: np.ndarray  # per block
    block_range: np.ndarray  # (n_blocks, 2) sample range in ``signal``
    block_fold: np.ndarray
    block_label: np.ndarray
    block_is_val: dict[int, np.ndarray] = field(default_factory=dict)  # fold -> mask over blocks
    checksum: str = ""  # over the files read (relative path + sha256), recorded with every run
    schema: dict = field(default_factory=dict)  # classes, rates, counts: what MLflow shows of the data set

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.win_offset)

    def windows(self, index: np.ndarray) -> np.ndarray:
        """Raw windows (n, window) float32 for window indices ``index`` (a copy)."""
        rows = self.win_offset[np.asarray(index)][:, None] + np.arange(self.spec.window)
        return self.signal[rows]

    def split(self, fold: int) -> dict[str, np.ndarray]:
        """Window indices of train / val / test for cross-validation fold ``fold``.

        Test is fold ``fold``; validation is the first ``val_fraction`` of each
        class's blocks in the next fold; training is everything else.
        """
        if not 0 <= fold < self.spec.n_folds:
            raise DataError(f"fold: expected an integer in [0, {self.spec.n_folds}), got {fold!r}")
        val_blocks = self.block_is_val[fold]
        test_blocks = self.block_fold == fold
        role = np.where(test_blocks, 2, np.where(val_blocks, 1, 0))[self.win_block]
        return {name: np.flatnonzero(role == code) for code, name in enumerate(("train", "val", "test"))}


def block_ranges(length: int, n_blocks: int) -> list[tuple[int, int]]:
    """``n_blocks`` equal chronological sample ranges covering ``[0, length)``."""
    edges = np.linspace(0, length, n_blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def window_starts_in(lo: int, hi: int, window: int, step: int) -> np.ndarray:
    """Starts of the windows lying wholly inside ``[lo, hi)``."""
    if hi - lo < window:
        return np.empty(0, dtype=np.int64)
    return np.arange(lo, hi - window + 1, step, dtype=np.int64)


def assign_folds(block_label: np.ndarray, n_folds: int, class_names: tuple[str, ...] = ()) -> np.ndarray:
    """Per class, consecutive runs of blocks form the folds (chronological chunks)."""
    fold = np.zeros(len(block_label), dtype=np.int64)
    for label in np.unique(block_label):
        members = np.flatnonzero(block_label == label)
        if len(members) < n_folds:
            name = class_names[label] if label < len(class_names) else int(label)
            raise DataError(f"class {name!r}: {len(members)} blocks, fewer than n_folds={n_folds} (a recording "
                            "shorter than n_folds * blocks_per_fold blocks of window + step samples is one "
                            "block); add recordings or lower n_folds")
        fold[members] = np.arange(len(members)) * n_folds // len(members)
    return fold


def validation_masks(block_label: np.ndarray, block_fold: np.ndarray, n_folds: int,
                     val_fraction: float) -> dict[int, np.ndarray]:
    """For each test fold k: the validation blocks, taken from fold k+1 per class."""
    masks = {}
    for k in range(n_folds):
        source = (k + 1) % n_folds
        mask = np.zeros(len(block_label), dtype=bool)
        for label in np.unique(block_label):
            members = np.flatnonzero(block_label == label)
            candidates = members[block_fold[members] == source]
            take = max(1, int(np.ceil(val_fraction * len(members))))
            mask[candidates[: min(take, len(candidates))]] = True
        masks[k] = mask
    return masks


def build_dataset(name: str, recordings: list[Recording], class_names: tuple[str, ...], fs: int,
                  spec: SplitSpec) -> BearingData:
    """Blocks, folds and windows for a list of recordings (see the module docstring).

    A recording long enough for ``n_folds * blocks_per_fold`` blocks of at least
    two windows is cut into that many blocks; a short one (the seed's 1024-sample
    Excel files) is one block.
    """
    if not recordings:
        raise DataError(f"{name}: no recordings found")
    n_long = spec.n_folds * spec.blocks_per_fold
    signals, sources, offsets, labels, blocks = [], [], [], [], []
    block_rec, block_rng, block_lab = [], [], []
    position = 0
    for r, rec in enumerate(recordings):
        x = np.asarray(rec.signal, dtype=np.float32).reshape(-1)
        if len(x) < spec.window:
            raise DataError(f"{rec.source}: {len(x)} samples, fewer than one window of {spec.window}")
        n_blocks = n_long if len(x) >= n_long * (spec.window + spec.step) else 1
        for lo, hi in block_ranges(len(x), n_blocks):
            starts = window_starts_in(lo, hi, spec.window, spec.step) + position
            blocks.append(np.full(len(starts), len(block_rec)))
            offsets.append(starts)
            labels.append(np.full(len(starts), rec.label))
            block_rec.append(r)
            block_rng.append((position + lo, position + hi))
            block_lab.append(rec.label)
        signals.append(x)
        sources.append(rec.source)
        position += len(x)
    block_label = np.asarray(block_lab, dtype=np.int64)
    block_fold = assign_folds(block_label, spec.n_folds, class_names)
    return BearingData(
        name=name, class_names=class_names, fs=fs, spec=spec, signal=np.concatenate(signals),
        sources=tuple(sources), win_offset=np.concatenate(offsets), win_label=np.concatenate(labels),
        win_block=np.concatenate(blocks), block_recording=np.asarray(block_rec),
        block_range=np.asarray(block_rng, dtype=np.int64), block_fold=block_fold, block_label=block_label,
        block_is_val=validation_masks(block_label, block_fold, spec.n_folds, spec.val_fraction),
    )


# --- labels: their order, weights and labelled subsets ----------------------------

def class_order(found: list[str], defaults: tuple[str, ...] = SEED_CLASSES) -> tuple[str, ...]:
    """The default classes present, in the seed's order, then any others sorted."""
    known = [c for c in defaults if c in found]
    return tuple(known + sorted(set(found) - set(known)))


def effective_number_weights(counts: np.ndarray, beta: float = 0.9999) -> np.ndarray:
    """Class weights (1 - beta) / (1 - beta^n) (Cui et al. 2019), mean 1.

    Classes without samples get weight 0 rather than infinity.
    """
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.zeros_like(counts)
    present = counts > 0
    weights[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    return weights * present.sum() / weights.sum()


def labelled_subset(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified random ``fraction`` of ``index`` (at least one window per class)."""
    if fraction >= 1.0:
        return np.asarray(index)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels[index]):
        members = index[labels[index] == label]
        take = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))
