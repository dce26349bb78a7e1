"""Reader for the BR / OR-Library "thpack" container-loading files.

Format (see shared/data/container_loading_br/README.md): a problem count, then per
problem a problem line ("p seed" in BR files, "p" in thpack9), a container line
"L W H", a type count n and n box lines "i l fl w fw h fh q". Fields may be separated
by blanks or tabs and lines may end in CRLF. The file is read line by line (not as one
token stream) so that a short box line, like the known defect in thpack9 problems
18-20, is reported where it is instead of silently misaligning everything after it.

``--instances`` names either BR classes (found in the data directory) or one file:
a file in this format (``.txt``; its defective problems are skipped, each named) or a
shipment (``.json`` / ``.csv``, see ``packing.shipment``). ``load_input`` and
``describe_input`` accept both, so the commands never branch on the kind of input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data.registry import data_roots
from packing.errors import InstanceError
from packing.geometry import BoxType, Instance
from packing.shipment import fits_container, load_shipment, read_text

BR_CLASSES = tuple(f"BR{i}" for i in range(16))
DATA_SUBDIR = "container_loading_br"
BOX_FIELDS = "i l fl w fw h fh q"


@dataclass(frozen=True)
class _Problem:
    """A parsed problem, or the one-line reason it could not be parsed."""

    number: int
    instance: Instance | None
    defect: str | None


def read_file(path: str | Path, numbers: Iterable[int] | None = None) -> tuple[Instance, ...]:
    """The problems of one file, in file order (only ``numbers`` when given).

    A malformed problem raises InstanceError only when it is requested, so the sound
    problems of a file with a known defect stay usable.
    """
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"{path}: instance file not found")
    problems = parse_text(path.read_text(encoding="ascii", errors="replace"), path.stem, str(path))
    wanted = None if numbers is None else list(numbers)
    by_number = {p.number: p for p in problems}
    chosen = problems if wanted is None else []
    for n in wanted or []:
        if n not in by_number:
            raise InstanceError(f"{path}: problem {n} not in file (it holds 1..{len(problems)})")
        chosen.append(by_number[n])
    for p in chosen:
        if p.defect:
            raise InstanceError(p.defect)
    return tuple(p.instance for p in chosen if p.instance is not None)


def parse_text(text: str, stem: str, where: str) -> list[_Problem]:
    """Parse a whole file's text into problems (see the module docstring)."""
    lines = [(i + 1, ln.split()) for i, ln in enumerate(text.splitlines())]
    lines = [(no, toks) for no, toks in lines if toks]
    if not lines:
        raise InstanceError(f"{where}: empty instance file")
    cursor = _Cursor(lines, where)
    count = cursor.ints(1, "problem count")[0]
    problems = []
    for _ in range(count):
        problems.append(_parse_problem(cursor, stem, where))
    return problems


class _Cursor:
    """Walks the non-empty lines, turning each into integers with a clear error."""

    def __init__(self, lines: list[tuple[int, list[str]]], where: str) -> None:
        self.lines, self.pos, self.where = lines, 0, where

    def take(self, what: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.lines):
            raise InstanceError(f"{self.where}: file ends early, expected {what}")
        item = self.lines[self.pos]
        self.pos += 1
        return item

    def ints(self, n: int | tuple[int, ...], what: str) -> list[int]:
        no, toks = self.take(what)
        allowed = (n,) if isinstance(n, int) else n
        if len(toks) not in allowed:
            raise InstanceError(
                f"{self.where}: line {no}: {what}: expected {' or '.join(map(str, allowed))} fields, got {len(toks)}"
            )
        return _to_ints(toks, f"{self.where}: line {no}: {what}")


def _to_ints(toks: Sequence[str], context: str) -> list[int]:
    try:
        return [int(t) for t in toks]
    except ValueError:
        raise InstanceError(f"{context}: non-integer field in {' '.join(toks)!r}") from None


def _parse_problem(cursor: _Cursor, stem: str, where: str) -> _Problem:
    head = cursor.ints((1, 2), "problem line 'p seed'")
    number, seed = head[0], (head[1] if len(head) == 2 else None)
    L, W, H = cursor.ints(3, f"problem {number}: container 'L W H'")
    if min(L, W, H) <= 0:
        raise InstanceError(f"{where}: problem {number}: container dims must be positive, got {L} {W} {H}")
    n = cursor.ints(1, f"problem {number}: box type count")[0]
    types, defect = [], None
    for k in range(1, n + 1):
        no, toks = cursor.take(f"problem {number}: box type {k}")
        if len(toks) != 8:
            defect = defect or (
                f"{where}: problem {number}, box type {k} (line {no}): expected 8 fields "
                f"'{BOX_FIELDS}', got {len(toks)}: {' '.join(toks)!r}"
            )
            continue
        vals = _to_ints(toks, f"{where}: problem {number}, box type {k} (line {no})")
        problem = _box_problem(vals, k)
        if problem:
            defect = defect or f"{where}: problem {number}, box type {k} (line {no}): {problem}"
            continue
        i, l, fl, w, fw, h, fh, q = vals
        box = BoxType(index=i, dims=(l, w, h), flags=(fl, fw, fh), quantity=q)
        if not fits_container(box, (L, W, H)):
            defect = defect or (f"{where}: problem {number}, box type {k} (line {no}): box {l}x{w}x{h} fits "
                                f"the container {L}x{W}x{H} in no allowed orientation (flags {fl} {fw} {fh})")
            continue
        types.append(box)
    inst = None if defect else Instance(f"{stem}/{number}", number, seed, (L, W, H), tuple(types))
    return _Problem(number, inst, defect)


def _box_problem(vals: list[int], k: int) -> str | None:
    i, l, fl, w, fw, h, fh, q = vals
    if i != k:
        return f"box type number {i}, expected {k}"
    if min(l, w, h) <= 0:
        return f"dims must be positive, got {l} {w} {h}"
    if any(f not in (0, 1) for f in (fl, fw, fh)):
        return f"orientation flags must be 0 or 1, got {fl} {fw} {fh}"
    if not (fl or fw or fh):
        return "no dimension may stand vertical (all flags 0)"
    if q < 0:
        return f"negative quantity {q}"
    return None


# ---------------------------------------------------------------- class selection

_RANGE = re.compile(r"^BR(\d+)-(?:BR)?(\d+)$", re.IGNORECASE)
_ONE = re.compile(r"^BR(\d+)(?:/(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Selection:
    """A class and, optionally, one problem number in it ("BR7" or "BR7/3")."""

    cls: str
    number: int | None = None


def parse_selection(spec: str) -> tuple[Selection, ...]:
    """"BR7", "BR1,BR2", "BR1-BR7", "BR7/3" -> selections, in order, without repeats."""
    out: list[Selection] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi or hi >= len(BR_CLASSES):
                raise InstanceError(f"--instances: bad class range {part!r}; classes are BR0..BR15")
            out += [Selection(f"BR{i}") for i in range(lo, hi + 1)]
            continue
        m = _ONE.match(part)
        if not m or int(m.group(1)) >= len(BR_CLASSES):
            raise InstanceError(f"--instances: unknown class {part!r}; expected BR0..BR15, a range BR1-BR7 or BR7/3")
        out.append(Selection(f"BR{int(m.group(1))}", int(m.group(2)) if m.group(2) else None))
    if not out:
        raise InstanceError("--instances: no class given; expected e.g. BR7, BR1,BR2 or BR1-BR7")
    return tuple(dict.fromkeys(out))


def candidate_dirs(data_dir: str | Path | None = None) -> tuple[Path, ...]:
    """Where instance files are looked for: --data-dir, $ORCH_DATA_DIR/..., user cache."""
    if data_dir:
        base = Path(data_dir)
        return (base, base / DATA_SUBDIR)
    # The same roots as every other data set (data.registry.data_roots), so what
    # `datasets fetch br` puts in the user cache is found.
    return tuple(root / DATA_SUBDIR for root in data_roots())


def find_class_file(cls: str, data_dir: str | Path | None = None) -> Path:
    """The file of a BR class, or InstanceError naming every place looked at."""
    dirs = candidate_dirs(data_dir)
    for d in dirs:
        path = d / f"{cls}.txt"
        if path.is_file():
            return path
    looked = ", ".join(str(d / f"{cls}.txt") for d in dirs)
    raise InstanceError(
        f"{cls}: instance file not found (looked in {looked}); run `python -m orchestrator datasets fetch br` "
        "or pass --data-dir"
    )


def load_selection(
    selections: Sequence[Selection], limit: int | None, data_dir: str | Path | None = None
) -> tuple[Instance, ...]:
    """The instances named by ``selections``: the first ``limit`` of each class."""
    out: list[Instance] = []
    for sel in selections:
        path = find_class_file(sel.cls, data_dir)
        if sel.number is not None:
            out += read_file(path, [sel.number])
            continue
        problems = read_file(path, None)
        out += problems[: limit] if limit else problems
    return tuple(dict.fromkeys(out))


# ---------------------------------------------------------------- classes or one file

FILE_TYPES = {".txt": "br", ".json": "shipment", ".csv": "shipment"}
_CLASS_PART = re.compile(r"^BR\d+([-/].*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class InputInfo:
    """What an --instances value reads, for the run's records."""

    name: str  # the class list ("BR1,BR8") or the file's stem
    source: str  # the file, or the directory of the class files
    format: str  # "br" or "shipment"
    files: tuple[Path, ...]


def input_path(spec: str) -> Path | None:
    """The file an --instances value names, or None for a BR class selection.

    Every comma-separated part looking like a class ("BR7", "BR1-BR7", "BR7/3",
    also a mistyped "BR16") makes it a selection, so class errors stay class errors;
    anything else is a path.
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or all(_CLASS_PART.match(p) for p in parts):
        return None
    return Path(spec.strip()).expanduser()


def check_file(path: Path) -> str:
    """The format of an input file ("br" / "shipment"); InstanceError if it is missing or of unknown type."""
    if not path.exists():
        raise InstanceError(f"--instances {path}: no such file (expected BR classes such as BR7, BR1-BR7, BR7/3, "
                            "or a .txt / .json / .csv file)")
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InstanceError(f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; expected .txt "
                            "(BR / OR-Library format), .json or .csv (shipment)")
    return kind


def describe_input(spec: str, data_dir: str | Path | None = None) -> InputInfo:
    """Name, source, format and files of an --instances value (InstanceError if absent)."""
    path = input_path(spec)
    if path is not None:
        return InputInfo(path.stem, str(path.resolve()), check_file(path), (path,))
    classes = tuple(dict.fromkeys(sel.cls for sel in parse_selection(spec)))
    files = tuple(find_class_file(cls, data_dir) for cls in classes)
    dirs = tuple(dict.fromkeys(str(f.parent.resolve()) for f in files))
    return InputInfo(",".join(classes), ",".join(dirs), "br", files)


def load_input(
    spec: str, limit: int | None, data_dir: str | Path | None = None
) -> tuple[tuple[Instance, ...], tuple[str, ...]]:
    """The instances an --instances value selects, and one line per defective problem skipped.

    For a .txt file ``limit`` takes the file's first problems in file order; the
    defective ones among them are skipped and named. A shipment is one instance.
    """
    path = input_path(spec)
    if path is None:
        return load_selection(parse_selection(spec), limit, data_dir), ()
    if check_file(path) == "shipment":
        return (load_shipment(path),), ()
    problems = parse_text(read_text(path), path.stem, str(path))
    window = problems[:limit] if limit else problems
    return (tuple(p.instance for p in window if p.instance is not None),
            tuple(p.defect for p in window if p.defect))
