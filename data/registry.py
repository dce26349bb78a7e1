"""Which datasets exist, where their files are looked up, and their checksums.

Files are searched under ``--data-dir``, then ``$ORCH_DATA_DIR``, then the user
cache directory. A missing file raises a DataError that says where it looked and
how to get the file, so a user never meets a bare FileNotFoundError.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import DataError


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: its files (relative to a data root) and where to download them."""

    name: str
    description: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    source: str = ""
    synthetic: bool = False


_ETT = "https://github.com/zhouhaoyi/ETDataset (folder ETT-small/)"
_CWRU = "https://engineering.case.edu/bearingdatacenter (12k drive-end, 0 HP; see shared/data/cwru/README.md)"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("etth1", "ETTh1 hourly transformer data, 7 channels (Informer benchmark)",
                    {"ett/ETTh1.csv": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"}, _ETT),
        DatasetInfo("ettm1", "ETTm1 15-minute transformer data, 7 channels",
                    {"ett/ETTm1.csv": "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"}, _ETT),
        DatasetInfo("volve", "Equinor Volve field daily production per wellbore",
                    {"volve/volve_daily_production.csv":
                     "fed8c624482b216b1916e5d93f05bb287a6c74b48a1cca06e8d7b001402e3f7f"},
                    "Equinor Volve data release (Volve production data.xlsx), exported as CSV"),
        DatasetInfo("epf_fr", "EPEX-France day-ahead hourly prices 2011-2016 (epftoolbox FR)",
                    {"epf/FR.csv": "a55092c3cc93a75bea960c7532f54c9b14aa05a4789893aa6c280357dbc29dbf"},
                    "epftoolbox datasets, Zenodo record 4624805 (FR.csv)"),
        DatasetInfo("cwru", "CWRU bearing vibration, 10 classes at 0 HP (drive end)", {
            "cwru/Normal_0.mat": "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c",
            "cwru/IR007_0.mat": "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab",
            "cwru/IR014_0.mat": "f5448673725c4ea2735fe7d3fe4b16ad82b217eac6b62c4bf351c4549b0a5229",
            "cwru/IR021_0.mat": "9f723d6d9d2eba714c6dc50f99321dffa73d8b1e4d3605675b2c2251511eff80",
            "cwru/B007_0.mat": "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e",
            "cwru/B014_0.mat": "5bea2c60f177215ba3ec4ae287faf745d7e14aed1a12efe9e37b27c27044bafc",
            "cwru/B021_0.mat": "fcc0ee740fa123b1f4683f555458891719efb2857afd9fdee63e8fde0ed14469",
            "cwru/OR007@6_0.mat": "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d",
            "cwru/OR014@6_0.mat": "fa571b47cd942f9514a920b403fb7c053cd442bb2963a360a96d0f61432f03e9",
            "cwru/OR021@6_0.mat": "ebcbdb96612e8085bbdbf81f0e5e8e8a8d1a693d1ec559c4894f7792771aa9b2",
        }, _CWRU),
        DatasetInfo("br", "Bischoff & Ratcliff / Davies & Bischoff container loading BR0-BR15",
                    {f"container_loading_br/BR{i}.txt": "" for i in range(16)},
                    "OR-Library thpack1-7 and Davies & Bischoff BR0, BR8-15 (see shared/data/container_loading_br)"),
        DatasetInfo("synthetic_wells", "generated Arps-decline well production with noise and shut-ins",
                    synthetic=True),
    ]
}


def cache_dir() -> Path:
    """The per-user data cache (``$XDG_CACHE_HOME/ray-orchestrator/data``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ray-orchestrator" / "data"


def data_roots(data_dir: str | Path | None = None) -> list[Path]:
    """The directories searched for data files, in order."""
    roots = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("ORCH_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    return roots


def get_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"--dataset: unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name]


def find_file(relative: str, data_dir: str | Path | None = None, source: str = "") -> Path:
    """The first existing ``root/relative`` over the search roots, else a DataError."""
    roots = data_roots(data_dir)
    for root in roots:
        candidate = root / relative
        if candidate.is_file():
            return candidate.resolve()
    where = ", ".join(str(r) for r in roots)
    how = f"; get it from {source}" if source else ""
    raise DataError(
        f"data file {relative} not found (looked in: {where}){how}; "
        "put it under one of these or pass --data-dir / set ORCH_DATA_DIR"
    )


def dataset_file(name: str, data_dir: str | Path | None = None, index: int = 0) -> Path:
    """The ``index``-th file of a registered dataset."""
    info = get_info(name)
    relative = list(info.files)[index]
    return find_file(relative, data_dir, info.source)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, cached per (path, size, mtime)."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime)


@dataclass(frozen=True)
class FileStatus:
    relative: str
    path: Path | None
    status: str  # ok | missing | checksum mismatch | unchecked


def check_dataset(name: str, data_dir: str | Path | None = None, verify: bool = True) -> list[FileStatus]:
    """Locate every file of a dataset and (optionally) verify its checksum."""
    info = get_info(name)
    statuses = []
    for relative, expected in info.files.items():
        try:
            path = find_file(relative, data_dir, info.source)
        except DataError:
            statuses.append(FileStatus(relative, None, "missing"))
            continue
        if not verify or not expected:
            statuses.append(FileStatus(relative, path, "ok" if not expected else "unchecked"))
        else:
            ok = file_sha256(path) == expected
            statuses.append(FileStatus(relative, path, "ok" if ok else "checksum mismatch"))
    return statuses
