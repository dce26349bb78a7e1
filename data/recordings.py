"""Bearing recordings from files: one reader for class folders of recordings (the
user's own, the seed's Excel export, CWRU's .mat files), each signal brought to one
sampling rate, then handed to ``data.bearing.build_dataset`` for blocks and folds.

Why one reader: a built-in set is its registry files plus layout keys (which
class each file is, its sampling rate, which variable holds the signal), exactly
what a user's ``data:`` block says about their own folder, so both go through
``load_source`` and a fix or a check applies to both.

Why resampling: CWRU's normal recording (file 97) is a 48 kHz file while the fault
files are 12 kHz; left as is, "normal" is recognisable by its sampling rate alone.
Every recording is brought to one rate (``target_rate``, by default the lowest
given: CWRU's 12 kHz) with an anti-aliased polyphase filter before windows are cut.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import loadmat
from scipy.signal import resample_poly

from data.bearing import BearingData, Recording, SplitSpec, build_dataset, class_order
from data.errors import DataError
from data.registry import data_roots, file_sha256, find_file, how_to_get
from data.source import DataSource, builtin_source, user_source

TARGET_FS = 12_000  # CWRU's rate: the default of to_rate and of the seed's Excel layout

SIGNAL_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".csv", ".npy", ".mat")
ANY_CLASS = "*"  # the sample_rate mapping's entry for every class folder it does not name
# Column names taken for a sample index or time axis rather than a signal.
INDEX_NAMES = frozenset({"", "index", "idx", "i", "n", "no", "sample", "samples", "time", "t", "unnamed: 0"})
_SUFFIX = re.compile(r"_(train|test|val|valid)\d*$", re.IGNORECASE)

# What a user's data: block may set (SPEC.data_keys of the bearing family).
LAYOUT_KEYS = {
    "signal": "which column of a .csv/.xlsx/.npy file (a name or a 0-based index; default: the only numeric "
              "non-index column, else column 2 of a 2-column file) or which .mat variable (a name or a suffix "
              "such as _DE_time; default: the only vector ending in _DE_time, else the only numeric vector)",
    "sample_rate": "sampling rate in Hz of the files: one number, or a mapping {class_folder: Hz} where '*' "
                   "stands for the folders not named; required, as these formats carry no rate",
    "target_rate": "rate in Hz every recording is resampled to (anti-aliased polyphase) before windows are "
                   "cut; default: the lowest sample_rate",
    "classes": "the class folder names in label order (all of them); default: sorted, the seed's six "
               "classes first in the seed's order",
    "folder": "the folder holding the class folders, relative to --data (default: --data itself)",
    "files": "instead of class folders: {class: [file, ...]} relative to --data",
    "name": "the data set's name in MLflow (default: the folder's name)",
}


@dataclass(frozen=True)
class SignalFile:
    """One file of one class: ``relative`` names it in messages, sources and the checksum;
    ``folder`` is what a sample_rate mapping names it by."""

    label: str
    folder: str
    relative: str
    path: Path


def class_of_folder(folder: str) -> str:
    """``inner_wear_train120`` -> ``inner_wear``: the seed's count suffix is dropped, so
    its train and test folders of a class are one class."""
    return _SUFFIX.sub("", folder)


def _readable(path: Path) -> bool:
    # Hidden files and Excel's "~$name.xlsx" lock files are not recordings.
    return path.is_file() and path.suffix.lower() in SIGNAL_SUFFIXES and not path.name.startswith((".", "~$"))


def folder_files(root: Path, flag: str) -> list[SignalFile]:
    """Every readable file of ``root/<class folder>/``; a folder without one is an error."""
    if not root.is_dir():
        raise DataError(f"{flag}: {root} is not a folder; expected one sub-folder per class holding "
                        f"{'/'.join(SIGNAL_SUFFIXES)} files")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{flag}: {root} has no sub-folders; expected one sub-folder per class")
    files = []
    for folder in folders:
        found = sorted(f for f in folder.iterdir() if _readable(f))
        if not found:
            raise DataError(f"{flag}: class folder {folder.name!r} holds no readable file; expected "
                            f"{'/'.join(SIGNAL_SUFFIXES)} files in it")
        files += [SignalFile(class_of_folder(folder.name), folder.name, f"{folder.name}/{f.name}", f) for f in found]
    return files


def listed_files(listing: Any, resolve: Callable[[str], Path], flag: str) -> list[SignalFile]:
    """The ``files`` key, ``{class: [file, ...]}``, each file resolved by ``resolve``."""
    if not isinstance(listing, Mapping) or not listing:
        raise DataError(f"{flag}: data.files should map each class to its files, got {listing!r}")
    files = []
    for label, names in listing.items():
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, (list, tuple)) or not names:
            raise DataError(f"{flag}: data.files[{label!r}] should be a file or a list of files, got {names!r}")
        files += [SignalFile(str(label), str(label), str(name), resolve(str(name))) for name in names]
    return files


def read_table(path: Path) -> tuple[list[str], list[np.ndarray]]:
    """Column names and numeric columns (NaN where a cell is not a number) of a
    .csv, Excel or .npy file. A first row with text in it is a header."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim not in (1, 2) or array.dtype.kind not in "fiu":
                raise ValueError(f"expected a numeric 1-D or 2-D array, got {array.dtype} of shape {array.shape}")
            array = array.reshape(len(array), -1) if array.ndim == 1 or array.shape[0] >= array.shape[1] else array.T
            return [str(i) for i in range(array.shape[1])], [c.astype(np.float64) for c in array.T]
        raw = pd.read_csv(path, header=None) if suffix == ".csv" else pd.read_excel(path, header=None)
    except Exception as exc:  # pandas/numpy raise many types for a file they cannot parse
        raise DataError(f"{path}: not a readable {suffix} file ({exc})") from exc
    if raw.empty:
        raise DataError(f"{path}: the file is empty")
    header = len(raw) > 1 and bool(pd.to_numeric(raw.iloc[0], errors="coerce").isna().any())
    names = [("" if pd.isna(v) else str(v).strip()) if header else str(i) for i, v in enumerate(raw.iloc[0])]
    body = raw.iloc[1:] if header else raw
    return names, [pd.to_numeric(body[c], errors="coerce").to_numpy(dtype=np.float64) for c in body.columns]


def _index_like(name: str, values: np.ndarray) -> bool:
    """A sample index or time axis: named so, or evenly increasing (a vibration never is)."""
    if name.lower() in INDEX_NAMES:
        return True
    steps = np.diff(values[np.isfinite(values)])
    return len(steps) > 0 and steps[0] > 0 and bool(np.allclose(steps, steps[0]))


def pick_column(path: Path, names: list[str], columns: list[np.ndarray], key: Any) -> int:
    """The column holding the signal: ``key`` (a name or a 0-based index), else the
    only numeric non-index column, else column 2 of a 2-column file (the seed's)."""
    found = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if key is not None:
        if str(key) in names:
            return names.index(str(key))
        if isinstance(key, int) or str(key).isdigit():
            if 0 <= int(key) < len(names):
                return int(key)
        raise DataError(f"{path}: data.signal={key!r} names no column; found columns {found}")
    numeric = [i for i, c in enumerate(columns) if np.isfinite(c).any()]
    signals = [i for i in numeric if not _index_like(names[i], columns[i])]
    if len(signals) == 1:
        return signals[0]
    if len(names) <= 2 and numeric:
        return len(names) - 1
    raise DataError(f"{path}: {'several' if signals else 'no'} numeric non-index columns; set data.signal to "
                    f"the column holding the vibration signal; found columns {found}")


def read_mat(path: Path, key: Any) -> tuple[str, np.ndarray]:
    """The variable of a MATLAB file named ``key`` or ending in it, else the only vector
    ending in ``_DE_time`` (CWRU's drive end), else the only numeric vector."""
    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise DataError(f"{path}: not a readable MATLAB file ({exc})") from exc
    arrays = {k: np.asarray(v) for k, v in content.items() if not k.startswith("__")}
    found = sorted(arrays)
    if key is not None:
        key = str(key)
        matches = [key] if key in arrays else sorted(k for k in arrays if k.endswith(key))
        if len(matches) != 1:
            raise DataError(f"{path}: data.signal={key!r} matches {'several' if matches else 'no'} variables "
                            f"(by name or suffix); found {found}")
        return matches[0], arrays[matches[0]]
    vectors = sorted(k for k, v in arrays.items()
                     if v.dtype.kind in "fiu" and v.size > 1 and (v.ndim == 1 or (v.ndim == 2 and min(v.shape) == 1)))
    pool = [k for k in vectors if k.endswith("_DE_time")] or vectors
    if len(pool) != 1:
        raise DataError(f"{path}: {'several' if pool else 'no'} numeric vectors to take as the signal; set "
                        f"data.signal to a variable name or suffix (e.g. _DE_time); found {found}")
    return pool[0], arrays[pool[0]]


def read_signal(path: Path, key: Any = None) -> np.ndarray:
    """One file's signal (float64, finite) chosen by the ``signal`` layout key."""
    if path.suffix.lower() == ".mat":
        name, raw = read_mat(path, key)
        what = f"variable {name!r}"
        if raw.dtype.kind not in "fiu" or raw.size == 0:
            raise DataError(f"{path}: {what} should hold a non-empty numeric signal, "
                            f"got dtype {raw.dtype} with {raw.size} values")
        if raw.ndim > 1 and sorted(raw.shape)[-2] > 1:
            raise DataError(f"{path}: {what} has shape {raw.shape}; expected one channel (n, 1) or (n,)")
        signal = raw.astype(np.float64).reshape(-1)
        if not np.isfinite(signal).all():
            raise DataError(f"{path}: {what} has NaN or infinite samples")
        return signal
    names, columns = read_table(path)
    index = pick_column(path, names, columns, key)
    values = columns[index]
    values = values[np.isfinite(values)]  # header remnants and blank trailing cells
    if len(values) == 0:
        raise DataError(f"{path}: column {index} ({names[index]!r}) holds no numbers")
    return values


def read_cwru_channel(path: Path, suffix: str = "_DE_time") -> np.ndarray:
    """The drive-end signal of one CWRU .mat file (the variable ending in ``suffix``)."""
    return read_signal(Path(path), suffix)


def read_excel_signal(path: Path) -> np.ndarray:
    """The signal column of one of the seed's Excel files (column 2 after an index)."""
    return read_signal(Path(path))


def _hz(value: Any, what: str) -> int:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not (np.isfinite(rate) and rate > 0 and rate == int(rate)):
        raise DataError(f"{what}: expected a positive whole number of Hz, got {value!r}")
    return int(rate)


def file_rates(files: list[SignalFile], sample_rate: Any, flag: str) -> list[int]:
    """Each file's sampling rate from the ``sample_rate`` key (a number, or a mapping
    by class folder or class, ``'*'`` for the rest). The formats read here carry no
    rate, so a file the key does not cover is an error naming it."""
    if isinstance(sample_rate, Mapping):
        rates = {str(k): _hz(v, f"{flag}: data.sample_rate[{k!r}]") for k, v in sample_rate.items()}
        known = {f.folder for f in files} | {f.label for f in files} | {ANY_CLASS}
        unknown = sorted(set(rates) - known)
        if unknown:
            raise DataError(f"{flag}: data.sample_rate names {unknown[0]!r}, which is no class folder; expected "
                            f"some of {sorted(known)}")
        found = [rates.get(f.folder, rates.get(f.label, rates.get(ANY_CLASS))) for f in files]
    elif sample_rate is None:
        found = [None] * len(files)
    else:
        found = [_hz(sample_rate, f"{flag}: data.sample_rate")] * len(files)
    missing = [f.relative for f, rate in zip(files, found) if rate is None]
    if missing:
        listed = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        formats = "/".join(sorted({Path(m).suffix.lower() for m in missing}))
        raise DataError(f"{flag}: no sampling rate for {listed}: {formats} files carry none; set "
                        f"data.sample_rate=HZ, or a mapping {{class_folder: HZ, '*': HZ}} when rates differ")
    return [int(rate) for rate in found]


def files_checksum(files: list[SignalFile]) -> str:
    """sha256 over the files' relative paths and contents: renaming or editing one changes it."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative):
        digest.update(f"{f.relative}\0{file_sha256(f.path)}\n".encode())
    return digest.hexdigest()


def source_files(source: DataSource) -> list[SignalFile]:
    """The files a source reads: the user's folder (or its ``folder`` / ``files``
    keys), or a built-in set's files found through the registry by the same keys."""
    flag = source.flag()
    folder, listing = source.get("folder"), source.get("files")
    if source.path:
        base = Path(source.path) / str(folder or "")
        if listing is not None:
            def resolve(name: str) -> Path:
                if not (base / name).is_file():
                    raise DataError(f"{flag}: data.files lists {name}, which is not a file under {base}")
                return base / name
            return listed_files(listing, resolve, flag)
        return folder_files(base, flag)
    how = how_to_get(source.name)
    if listing is not None:
        return listed_files(listing, lambda name: find_file(name, source.data_dir, how), flag)
    if folder:
        roots = data_roots(source.data_dir)
        for root in roots:
            if (root / folder).is_dir():
                return folder_files(root / folder, flag)
        raise DataError(f"{flag}: no folder {folder!r} (one sub-folder per class) under "
                        f"{', '.join(str(r) for r in roots)}; pass --data-dir, or give the folder as --data PATH")
    raise DataError(f"{flag}: its registry layout names neither 'folder' nor 'files'")


def load_source(source: DataSource, spec: SplitSpec = SplitSpec()) -> BearingData:
    """Files -> signals at one rate -> blocks, folds and windows, for any source.

    Every check that depends on the user's files runs here, on the driver, so bad
    input is one line before any cluster work.
    """
    flag = source.flag()
    files = source_files(source)
    found = list(dict.fromkeys(f.label for f in files))
    classes = source.get("classes")
    if classes is None:
        names = class_order(found)
    else:
        if not isinstance(classes, (list, tuple)) or sorted(map(str, classes)) != sorted(found):
            raise DataError(f"{flag}: data.classes should list every class exactly once, got {classes!r}; "
                            f"found {sorted(found)}")
        names = tuple(str(c) for c in classes)
    if len(names) < 2:
        raise DataError(f"{flag}: {len(names)} class ({', '.join(names)}); a classifier needs at least 2 "
                        "class folders")
    files = sorted(files, key=lambda f: (names.index(f.label), f.relative))
    rates = file_rates(files, source.get("sample_rate"), flag)
    target = source.get("target_rate")
    target = min(rates) if target is None else _hz(target, f"{flag}: data.target_rate")
    recordings = []
    for f, rate in zip(files, rates):
        signal = to_rate(read_signal(f.path, source.get("signal")), rate, target)
        if len(signal) < spec.window:
            raise DataError(f"{flag}: {f.relative} has {len(signal)} samples at {target} Hz, fewer than one "
                            f"window of {spec.window}; give longer recordings or a smaller window")
        recordings.append(Recording(names.index(f.label), signal.astype(np.float32), f.relative))
    data = build_dataset(source.name, recordings, names, target, spec)
    data.checksum = files_checksum(files)
    data.schema = {"classes": list(names), "rate_hz": target, "file_rates_hz": sorted(set(rates)),
                   "files": len(files), "windows": len(data), "window": spec.window,
                   "files_per_class": {c: sum(f.label == c for f in files) for c in names}}
    return data


def to_rate(signal: np.ndarray, fs: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Resample to ``target_fs`` with an anti-aliasing polyphase filter (by the reduced
    ratio, so 48 kHz -> 12 kHz is a plain decimation by 4)."""
    if fs == target_fs:
        return signal
    common = math.gcd(int(fs), int(target_fs))
    return resample_poly(signal, int(target_fs) // common, int(fs) // common)


def load_cwru(data_dir: str | Path | None = None, spec: SplitSpec = SplitSpec()) -> BearingData:
    """The 10-class 0 HP drive-end CWRU set at 12 kHz (its registry files and layout)."""
    return load_source(builtin_source("cwru", None if data_dir is None else str(data_dir)), spec)


def load_excel_folders(root: str | Path, spec: SplitSpec = SplitSpec(), fs: int = TARGET_FS) -> BearingData:
    """The seed's layout: one folder per class, one Excel file (index, signal) per recording."""
    return load_source(user_source(root, {"sample_rate": fs}, LAYOUT_KEYS), spec)
