"""Bearing vibration data: readers (CWRU .mat, the seed's Excel folders) and
leak-free windows, blocks and cross-validation folds.

Why blocks: windows of 512 with step 256 overlap by half, so a random split of
windows puts the same samples in training and test and inflates accuracy (on CWRU
it hides 40-80 % of the errors, see ANCHORS.md). Here each recording is cut into
chronological blocks first; windows are cut inside a block only; every block
belongs to exactly one cross-validation fold. A test window therefore never shares
a sample with a training window.

Why resampling: CWRU's normal recording (file 97) is a 48 kHz file while the fault
files are 12 kHz; left as is, "normal" is recognisable by its sampling rate alone.
Every recording is brought to one rate (12 kHz) with an anti-aliased polyphase
decimation before windows are cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.signal import resample_poly

from data.errors import DataError
from data.registry import find_file, get_info

# The seed's six classes, in its order (default label names for the Excel layout).
SEED_CLASSES = ("normal", "inner_wear", "inner_broken", "roller_wear", "roller_broken", "outer_missing")

TARGET_FS = 12_000


@dataclass(frozen=True)
class CwruFile:
    """One CWRU recording: file name under ``cwru/``, class name and sampling rate."""

    file: str
    name: str
    fs: int


CWRU_FILES = (
    CwruFile("Normal_0.mat", "normal", 48_000),  # a 48 kHz file (see data/cwru/README.md)
    CwruFile("IR007_0.mat", "IR007", 12_000),
    CwruFile("IR014_0.mat", "IR014", 12_000),
    CwruFile("IR021_0.mat", "IR021", 12_000),
    CwruFile("B007_0.mat", "B007", 12_000),
    CwruFile("B014_0.mat", "B014", 12_000),
    CwruFile("B021_0.mat", "B021", 12_000),
    CwruFile("OR007@6_0.mat", "OR007", 12_000),
    CwruFile("OR014@6_0.mat", "OR014", 12_000),
    CwruFile("OR021@6_0.mat", "OR021", 12_000),
)


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


def assign_folds(block_label: np.ndarray, n_folds: int) -> np.ndarray:
    """Per class, consecutive runs of blocks form the folds (chronological chunks)."""
    fold = np.zeros(len(block_label), dtype=np.int64)
    for label in np.unique(block_label):
        members = np.flatnonzero(block_label == label)
        if len(members) < n_folds:
            raise DataError(f"class {int(label)}: {len(members)} blocks, fewer than n_folds={n_folds}; "
                            "add recordings or lower n_folds")
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
    block_fold = assign_folds(block_label, spec.n_folds)
    return BearingData(
        name=name, class_names=class_names, fs=fs, spec=spec, signal=np.concatenate(signals),
        sources=tuple(sources), win_offset=np.concatenate(offsets), win_label=np.concatenate(labels),
        win_block=np.concatenate(blocks), block_recording=np.asarray(block_rec),
        block_range=np.asarray(block_rng, dtype=np.int64), block_fold=block_fold, block_label=block_label,
        block_is_val=validation_masks(block_label, block_fold, spec.n_folds, spec.val_fraction),
    )


# --- CWRU ------------------------------------------------------------------------

def read_cwru_channel(path: Path, suffix: str = "_DE_time") -> np.ndarray:
    """The drive-end signal of one CWRU .mat file (the key ending in ``suffix``)."""
    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise DataError(f"{path}: not a readable MATLAB file ({exc})") from exc
    keys = [k for k in content if not k.startswith("__")]
    matches = [k for k in keys if k.endswith(suffix)]
    if not matches:
        raise DataError(f"{path}: no variable ending in {suffix!r}; found {sorted(keys)}")
    key = sorted(matches)[0]
    raw = np.asarray(content[key])
    if raw.dtype.kind not in "fiu" or raw.size == 0:
        raise DataError(f"{path}: variable {key!r} should hold a non-empty numeric signal, "
                        f"got dtype {raw.dtype} with {raw.size} values")
    signal = raw.astype(np.float64).reshape(-1)
    if not np.isfinite(signal).all():
        raise DataError(f"{path}: variable {key!r} has NaN or infinite samples")
    return signal


def to_rate(signal: np.ndarray, fs: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Resample to ``target_fs`` with an anti-aliasing polyphase filter."""
    if fs == target_fs:
        return signal
    if fs % target_fs:
        raise DataError(f"sampling rate {fs} Hz is not an integer multiple of {target_fs} Hz")
    return resample_poly(signal, 1, fs // target_fs)


def load_cwru(data_dir: str | Path | None = None, spec: SplitSpec = SplitSpec()) -> BearingData:
    """The 10-class 0 HP drive-end CWRU set at 12 kHz, in blocks and folds."""
    source = get_info("cwru").source
    recordings = []
    for label, entry in enumerate(CWRU_FILES):
        path = find_file(f"cwru/{entry.file}", data_dir, source)
        signal = to_rate(read_cwru_channel(path), entry.fs)
        recordings.append(Recording(label, signal.astype(np.float32), entry.file))
    names = tuple(entry.name for entry in CWRU_FILES)
    return build_dataset("cwru", recordings, names, TARGET_FS, spec)


# --- the seed's Excel layout ---------------------------------------------------

_SUFFIX = re.compile(r"_(train|test|val|valid)\d*$", re.IGNORECASE)
EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm")


def class_of_folder(folder: str) -> str:
    """``inner_wear_train120`` -> ``inner_wear`` (the count suffix is dropped)."""
    return _SUFFIX.sub("", folder).lower()


def read_excel_signal(path: Path) -> np.ndarray:
    """Column 2 of an Excel file (column 1 is an index); header rows are skipped."""
    import pandas as pd

    try:
        table = pd.read_excel(path, header=None)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Excel file ({exc})") from exc
    if table.shape[1] < 2:
        raise DataError(f"{path}: expected 2 columns (index, signal), found {table.shape[1]}")
    values = pd.to_numeric(table.iloc[:, 1], errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(values) == 0:
        raise DataError(f"{path}: column 2 holds no numbers")
    return values


def class_order(found: list[str], defaults: tuple[str, ...] = SEED_CLASSES) -> tuple[str, ...]:
    """The default classes present, in the seed's order, then any others sorted."""
    known = [c for c in defaults if c in found]
    return tuple(known + sorted(set(found) - set(known)))


def read_excel_folders(root: str | Path) -> tuple[list[Recording], tuple[str, ...]]:
    """Every Excel file under ``root/<class folder>/`` as one recording."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder holding one sub-folder per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    by_class: dict[str, list[Path]] = {}
    for folder in folders:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in EXCEL_SUFFIXES)
        if files:
            by_class.setdefault(class_of_folder(folder.name), []).extend(files)
    if not by_class:
        raise DataError(f"{root}: no class folders with Excel files ({', '.join(EXCEL_SUFFIXES)}) found")
    names = class_order(list(by_class))
    recordings = [Recording(names.index(c), read_excel_signal(f), str(f))
                  for c in names for f in by_class[c]]
    return recordings, names


def load_excel_folders(root: str | Path, spec: SplitSpec = SplitSpec(), fs: int = TARGET_FS) -> BearingData:
    """The seed's layout (one folder per class, one Excel file per recording)."""
    recordings, names = read_excel_folders(root)
    return build_dataset(Path(root).name, recordings, names, fs, spec)


# --- labels -----------------------------------------------------------------------

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
