"""Which datasets exist, where their files are looked up and downloaded from, and
their checksums.

Files are searched under ``--data-dir``, then ``$ORCH_DATA_DIR``, then the user
cache directory. A missing file raises a DataError that says where it looked and
how to get the file, so a user never meets a bare FileNotFoundError.

``DATASETS`` is the one table of built-in sets: per file its relative path,
sha256, size and public download URL, per set its licence and what to cite.
``python -m orchestrator datasets fetch NAME`` (data/fetch.py) downloads from it
into the user cache, with the same relative layout as a data root.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import DataError


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    ``url`` is the original public location of exactly these bytes; ``alt_urls``
    are pinned copies of the same bytes tried when it fails. An empty ``url``
    means no public URL serves these bytes (``note`` says where to get them).
    """

    path: str  # relative to a data root
    sha256: str
    size: int  # bytes
    url: str = ""
    alt_urls: tuple[str, ...] = ()
    note: str = ""

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(u for u in (self.url, *self.alt_urls) if u)


def _table(*entries: DataFile) -> dict[str, DataFile]:
    return {entry.path: entry for entry in entries}


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: its files (relative path -> DataFile; iterating yields the
    relative paths), where they come from, the licence and what to cite."""

    name: str
    description: str
    files: dict[str, DataFile] = field(default_factory=dict)
    source: str = ""
    synthetic: bool = False
    licence: str = ""
    cite: str = ""
    layout: dict = field(default_factory=dict)  # layout keys (as a user's data: block) that describe its files

    @property
    def size(self) -> int:
        """Total bytes of all files."""
        return sum(entry.size for entry in self.files.values())


# Pinned upstream commits, as named in shared/data/*/README.md.
_ETT_RAW = ("https://raw.githubusercontent.com/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07"
            "/ETT-small")
_EPF_ZENODO = "https://zenodo.org/records/4624805/files"
_EPF_RAW = "https://raw.githubusercontent.com/souhirbenamor/EPF/3c99c1f30d13230497dadad27194477f08e51db2"
_CWRU_CENTER = "https://engineering.case.edu/sites/default/files"
_CWRU_RAW = "https://raw.githubusercontent.com/zerothphase/CWRU/72af09b0ea9d4839bd1802303779a30503724234/Data/12k_DE"
_BR_RAW = "https://raw.githubusercontent.com/fontanf/packingsolver/f1ec896494d8e899a242d2b6a57b2761527064bb/data/box_raw"

_ETT = "https://github.com/zhouhaoyi/ETDataset (folder ETT-small/)"
_CWRU = "https://engineering.case.edu/bearingdatacenter (12k drive-end, 0 HP; see shared/data/cwru/README.md)"
_ETT_LICENCE = "CC BY-ND 4.0 (LICENSE of zhouhaoyi/ETDataset)"
_ETT_CITE = ("H. Zhou et al., \"Informer: Beyond Efficient Transformer for Long Sequence Time-Series "
             "Forecasting\", AAAI 2021")


def _cwru(name: str, number: int, size: int, sha256: str) -> DataFile:
    """A CWRU file: the data center's ``NNN.mat``, renamed; zerothphase/CWRU holds the same bytes."""
    return DataFile(f"cwru/{name}", sha256, size, f"{_CWRU_CENTER}/{number}.mat",
                    (f"{_CWRU_RAW}/{name.replace('@', '%40')}",))


# (class, bytes, sha256) of BR0-BR15; BR1-7 are in bischoff1995/, BR0 and BR8-15 in davies1999/.
_BR = [
    (0, 5397, "f2d77ef65e2d1ff6a49da436f8660d8fabc463037576ce6e5b67a963fae06202"),
    (1, 9789, "5d9eb434f06ca408fc2738d7d200f4f699c590e7fbcb2ee670c0cee3cfca8917"),
    (2, 14229, "cc763b3c3f460624ad8d1d240dd6fd21e99e1cb9ad6ed2cd4522135ee74d018a"),
    (3, 20845, "0a02c49e94158a02693d22cf52776b94919705e0e272a18435a522b37d2e24bf"),
    (4, 25342, "bb1de1a8256b33be3989f538a415a6e0cc25c2e484c40869fb6952a05188dee4"),
    (5, 29763, "d7debf833ef56c2fa4c26e1f014306b869c715235fd8a9f29069ce074ce17509"),
    (6, 36232, "51ba71a092113296d0dadf630cee30acd8342a5684dfc27758893f605c4ab0c7"),
    (7, 47045, "1bf0128243805361cc280d6d6c50a50cbfe08760be19786cc2a533342cb5e715"),
    (8, 65761, "448fbc1fba12a1ff061257fbe9a9f853ef696841e518c86153d789ab60591a41"),
    (9, 86975, "0b7fae14c83669229e497a74cecf3618a0d73ab1d453401bcb28c7a3a2213ced"),
    (10, 113518, "8097a2f5d82470f7c5d7f196e16447f140048dd51f5a7c22dbc282ddfe759b02"),
    (11, 135763, "7bd31f975a0460ca1051e4e28f649fdb42eac2fb0c732869e03fdfa81241ce04"),
    (12, 158013, "c7d0e32666c176b015b77e27e0d555ce6d5d1a88691bd869b53b78c106dda54d"),
    (13, 180263, "d2a454cf60198d4ed1acf6b9a613f6f9f94f610bb3bc7e00e1c52f84528bc121"),
    (14, 202515, "bd036b3ddabaa47a4692c67419717e5980d1684f9a1f8b0ed6c9d50fb92bb90f"),
    (15, 224964, "598dc5d805000c856b2c802296633a11ff90e7bdb849c72d00212272cc3a2f6f"),
]


def _br(number: int, size: int, sha256: str) -> DataFile:
    folder = "bischoff1995" if 1 <= number <= 7 else "davies1999"
    return DataFile(f"container_loading_br/BR{number}.txt", sha256, size, f"{_BR_RAW}/{folder}/BR{number}.txt")


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "etth1", "ETTh1 hourly transformer data, 7 channels (Informer benchmark)",
            _table(DataFile("ett/ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                            2589657, f"{_ETT_RAW}/ETTh1.csv")),
            _ETT, licence=_ETT_LICENCE, cite=_ETT_CITE,
            layout={"time": "date", "split": {"train": 12 * 30 * 24, "val": 4 * 30 * 24, "test": 4 * 30 * 24}}),
        DatasetInfo(
            "ettm1", "ETTm1 15-minute transformer data, 7 channels",
            _table(DataFile("ett/ETTm1.csv", "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
                            10360719, f"{_ETT_RAW}/ETTm1.csv")),
            _ETT, licence=_ETT_LICENCE, cite=_ETT_CITE,
            layout={"time": "date",
                    "split": {"train": 12 * 30 * 96, "val": 4 * 30 * 96, "test": 4 * 30 * 96}}),
        DatasetInfo(
            "volve", "Equinor Volve field daily production per wellbore",
            _table(DataFile(
                "volve/volve_daily_production.csv",
                "fed8c624482b216b1916e5d93f05bb287a6c74b48a1cca06e8d7b001402e3f7f", 2898886,
                note="it is a CSV export of the \"Daily Production Data\" sheet of 'Volve production data.xlsx' "
                     "(Equinor Volve data release; a copy: github.com/lyuboychuk/Volve at e7704b39) with Excel "
                     "serial dates as ISO dates; get it from a copy of shared/data (--mirror / ORCH_DATA_MIRROR, "
                     "or --data-dir / ORCH_DATA_DIR)")),
            "Equinor Volve data release (Volve production data.xlsx), exported as CSV",
            licence="Equinor Open Data Licence (a modified CC BY 4.0; the data may not be sold); "
                    "CC BY-NC-SA 4.0 before 2020",
            cite="Equinor and the Volve licence partners, Volve field data release (2018)",
            # the raw export becomes a long table of producing wells (data.volve.volve_long_table)
            layout={"reader": "volve_daily", "id": "well", "time": "date", "target": "oil_rate", "freq": "D",
                    "split": [0.7, 0.1]}),
        DatasetInfo(
            "epf_fr", "EPEX-France day-ahead hourly prices 2011-2016 (epftoolbox FR)",
            _table(DataFile("epf/FR.csv", "a55092c3cc93a75bea960c7532f54c9b14aa05a4789893aa6c280357dbc29dbf",
                            2261679, f"{_EPF_ZENODO}/FR.csv?download=1", (f"{_EPF_RAW}/FR.csv",))),
            "epftoolbox datasets, Zenodo record 4624805 (FR.csv)",
            licence="none stated for the CSV (see Zenodo record 4624805); the epftoolbox code is AGPL-3.0",
            cite="J. Lago, G. Marcjasz, B. De Schutter, R. Weron, \"Forecasting day-ahead electricity prices: "
                 "A review of state-of-the-art algorithms, best practices and an open-access benchmark\", "
                 "Applied Energy 293 (2021) 116983",
            layout={"time": "Date", "price": "Prices", "exogenous": ["System load forecast", "Generation forecast"],
                    "exogenous_names": ["load", "generation"], "train": ["2012-01-01", "2015-12-01"],
                    "val": ["2015-12-01", "2016-01-01"], "test": ["2016-01-01", "2016-07-01"]}),
        DatasetInfo(
            "cwru", "CWRU bearing vibration, 10 classes at 0 HP (drive end)", _table(
                _cwru("Normal_0.mat", 97, 3903344, "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c"),
                _cwru("IR007_0.mat", 105, 2910768, "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab"),
                _cwru("IR014_0.mat", 169, 2924712, "f5448673725c4ea2735fe7d3fe4b16ad82b217eac6b62c4bf351c4549b0a5229"),
                _cwru("IR021_0.mat", 209, 2931672, "9f723d6d9d2eba714c6dc50f99321dffa73d8b1e4d3605675b2c2251511eff80"),
                _cwru("B007_0.mat", 118, 2942112, "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e"),
                _cwru("B014_0.mat", 185, 2924712, "5bea2c60f177215ba3ec4ae287faf745d7e14aed1a12efe9e37b27c27044bafc"),
                _cwru("B021_0.mat", 222, 2928192, "fcc0ee740fa123b1f4683f555458891719efb2857afd9fdee63e8fde0ed14469"),
                _cwru("OR007@6_0.mat", 130, 2928192,
                      "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d"),
                _cwru("OR014@6_0.mat", 197, 2924712,
                      "fa571b47cd942f9514a920b403fb7c053cd442bb2963a360a96d0f61432f03e9"),
                _cwru("OR021@6_0.mat", 234, 2938632,
                      "ebcbdb96612e8085bbdbf81f0e5e8e8a8d1a693d1ec559c4894f7792771aa9b2"),
            ), _CWRU,
            licence="none stated by CWRU; widely used for research",
            cite="Case Western Reserve University Bearing Data Center; for a benchmark analysis "
                 "W.A. Smith & R.B. Randall, Mechanical Systems and Signal Processing 64-65 (2015) 100-131",
            # Normal_0.mat (CWRU 97) is a 48 kHz recording, the fault files 12 kHz (see its README).
            layout={"classes": ["normal", "IR007", "IR014", "IR021", "B007", "B014", "B021", "OR007", "OR014",
                                "OR021"],
                    "files": {"normal": "cwru/Normal_0.mat", "IR007": "cwru/IR007_0.mat",
                              "IR014": "cwru/IR014_0.mat", "IR021": "cwru/IR021_0.mat", "B007": "cwru/B007_0.mat",
                              "B014": "cwru/B014_0.mat", "B021": "cwru/B021_0.mat",
                              "OR007": "cwru/OR007@6_0.mat", "OR014": "cwru/OR014@6_0.mat",
                              "OR021": "cwru/OR021@6_0.mat"},
                    "sample_rate": {"normal": 48_000, "*": 12_000}, "target_rate": 12_000,
                    "signal": "_DE_time"}),
        DatasetInfo(
            "bearing_excel", "the bearing seed's Excel export: <data root>/bearing_excel/<class folder>/*.xlsx "
                             "(column 1 index, column 2 signal)",
            source="the seed's own recordings (not distributed); put them under <data root>/bearing_excel/ "
                   "or give the folder as --data PATH",
            layout={"folder": "bearing_excel", "sample_rate": 12_000}),
        DatasetInfo(
            "br", "Bischoff & Ratcliff / Davies & Bischoff container loading BR0-BR15 (+ OR-Library thpack9)",
            _table(*(_br(*row) for row in _BR), DataFile(
                "container_loading_br/extra/thpack9.txt",
                "a4f5e3a748709217cdc749f7d27940f15b9f2a31b3e840e725642237036f82cc", 3818,
                f"{_BR_RAW}/ivancic1989/thpack9.txt")),
            "github.com/fontanf/packingsolver data/box_raw/ at f1ec8964 (BR1-7 = OR-Library thpack1-7, "
            "BR0 and BR8-15 from Davies & Bischoff; thpack9 = OR-Library thpack9)",
            licence="none stated for the instances; OR-Library test data is freely distributed for research, "
                    "the packingsolver repository is MIT",
            cite="E.E. Bischoff & M.S.W. Ratcliff, Omega 23(4) (1995) 377-390, doi:10.1016/0305-0483(95)00015-G; "
                 "A.P. Davies & E.E. Bischoff, EJOR 114 (1999) 509-527, doi:10.1016/S0377-2217(98)00139-8; "
                 "thpack9: Ivancic, Mathur & Mohanty (1989)"),
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
    return find_file(relative, data_dir, how_to_get(name))


def how_to_get(name: str) -> str:
    """Where a missing file of a built-in set comes from, for error messages."""
    info = get_info(name)
    fetch = f"`python -m orchestrator datasets fetch {name}`"
    return f"{info.source}, or run {fetch}" if info.source else fetch


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
    for relative, entry in info.files.items():
        expected = entry.sha256
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
