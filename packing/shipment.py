"""Shipment files: one real container and the boxes to load into it, written by hand.

A shipment is one instance. It is JSON or CSV (chosen by the file's suffix); every
dimension is a positive whole number in one unit of the user's choice (cm, mm, ...).

JSON::

    {
      "name": "order-1017",
      "container": {"L": 587, "W": 233, "H": 220},
      "boxes": [
        {"id": "tv",    "l": 108, "w": 76, "h": 30, "count": 40, "vertical": "h"},
        {"id": "chair", "l": 110, "w": 43, "h": 25, "count": 33, "vertical": "wh"},
        {"id": "crate", "l": 92,  "w": 81, "h": 55, "count": 12, "vertical": [1, 1, 1]}
      ]
    }

CSV (the same shipment; ``#`` starts a comment line, blank lines are ignored)::

    name,order-1017
    container,587,233,220
    id,l,w,h,count,vertical
    tv,108,76,30,40,h
    chair,110,43,25,33,wh
    crate,92,81,55,12,lwh

Fields:
  name       optional; defaults to the file name without suffix; no "/". It names the
             instance in --out and MLflow.
  container  L (length, x), W (width, y), H (height, z). In CSV the row
             ``container,L,W,H`` comes before the header row.
  boxes      one entry (CSV: one row after the header ``id,l,w,h,count,vertical``,
             columns in any order) per box type. Placements in --out refer to a box
             type by its 1-based position in this list.
    id       optional label, unique, used in error messages.
    l, w, h  the box's dimensions.
    count    how many boxes of this type (at least 1).
    vertical which dimensions may stand vertical (become the box's height in the
             container), as the BR / OR-Library flags do: letters from "lwh"
             ("h" = this side up, may only turn about the vertical axis; "wh";
             "lwh" = any orientation), or in JSON the flag list [fl, fw, fh] of 0/1.
             Required, because a wrong default would tip over boxes that must stay up.

Any problem (missing or unknown field, non-numeric or non-positive dimension, a count
below 1, a box that fits the container in no allowed orientation) raises
InstanceError with one line naming the file and the field, before any solving.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from packing.errors import InstanceError
from packing.geometry import BoxType, Instance, orientations

BOX_KEYS = ("id", "l", "w", "h", "count", "vertical")
REQUIRED_BOX_KEYS = ("l", "w", "h", "count", "vertical")
CONTAINER_KEYS = ("L", "W", "H")
TOP_KEYS = ("name", "container", "boxes")


def load_shipment(path: str | Path) -> Instance:
    """The shipment in ``path`` (.json or .csv) as one checked instance."""
    path = Path(path)
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_json(text, path)
    if suffix == ".csv":
        return parse_csv(text, path)
    raise InstanceError(f"{path}: unknown shipment file type {path.suffix!r}; expected .json or .csv")


def read_text(path: Path) -> str:
    """The file as text; InstanceError (one line) when it cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")  # spreadsheets often write a byte-order mark
    except UnicodeDecodeError as exc:
        raise InstanceError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def fits_container(box: BoxType, container: tuple[int, int, int]) -> bool:
    """True when some orientation the box's flags allow fits inside the container."""
    L, W, H = container
    return any(a <= L and b <= W and c <= H for a, b, c in orientations(box))


# ---------------------------------------------------------------- JSON


def parse_json(text: str, path: Path) -> Instance:
    """A JSON shipment (see the module docstring)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstanceError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise InstanceError(f"{path}: expected a JSON object with {', '.join(TOP_KEYS)}")
    _no_unknown(doc, TOP_KEYS, f"{path}")
    name = _name(doc.get("name", path.stem), path)
    container_doc = _required(doc, "container", f"{path}")
    if not isinstance(container_doc, dict):
        raise InstanceError(f"{path}: container: expected an object {{\"L\": .., \"W\": .., \"H\": ..}}")
    _no_unknown(container_doc, CONTAINER_KEYS, f"{path}: container")
    container = tuple(_positive(_required(container_doc, k, f"{path}: container"), k, f"{path}: container")
                      for k in CONTAINER_KEYS)
    boxes = _required(doc, "boxes", f"{path}")
    if not isinstance(boxes, list) or not boxes:
        raise InstanceError(f"{path}: boxes: expected a non-empty list of box objects")
    rows = []
    for k, box in enumerate(boxes, start=1):
        where = f"{path}: box {k}" + (f" (id {box['id']!r})" if isinstance(box, dict) and "id" in box else "")
        if not isinstance(box, dict):
            raise InstanceError(f"{where}: expected an object with {', '.join(BOX_KEYS)}")
        _no_unknown(box, BOX_KEYS, where)
        rows.append((where, box))
    return _instance(name, container, rows, path)


# ---------------------------------------------------------------- CSV


def parse_csv(text: str, path: Path) -> Instance:
    """A CSV shipment (see the module docstring)."""
    reader = csv.reader(io.StringIO(text))
    name, container, header, rows = path.stem, None, None, []
    try:
        for cells in reader:
            cells = [c.strip() for c in cells]
            while cells and not cells[-1]:  # spreadsheet exports pad rows with empty cells
                cells.pop()
            if not cells or cells[0].startswith("#"):
                continue
            where = f"{path}: line {reader.line_num}"
            key = cells[0].lower()
            if header is None and key == "name":
                if len(cells) != 2:
                    raise InstanceError(f"{where}: name: expected 'name,<text>', got {','.join(cells)!r}")
                name = cells[1]
            elif header is None and key == "container":
                if container is not None:
                    raise InstanceError(f"{where}: container: given twice")
                if len(cells) != 4:
                    raise InstanceError(f"{where}: container: expected 'container,L,W,H', got {','.join(cells)!r}")
                container = tuple(_positive(v, k, f"{where}: container") for k, v in zip(CONTAINER_KEYS, cells[1:]))
            elif header is None:
                header = [c.lower() for c in cells]
                _check_header(header, where)
            else:
                if len(cells) > len(header):
                    raise InstanceError(f"{where}: {len(cells)} cells but the header has {len(header)}")
                box = {k: v for k, v in zip(header, cells) if v != ""}
                rows.append((where + (f" (id {box['id']!r})" if "id" in box else ""), box))
    except csv.Error as exc:
        raise InstanceError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    if container is None:
        raise InstanceError(f"{path}: container: missing (a row 'container,L,W,H' before the header row)")
    if header is None:
        raise InstanceError(f"{path}: missing the header row '{','.join(BOX_KEYS)}'")
    if not rows:
        raise InstanceError(f"{path}: boxes: no box rows after the header")
    return _instance(_name(name, path), container, rows, path)


def _check_header(header: list[str], where: str) -> None:
    unknown = [c for c in header if c not in BOX_KEYS]
    if unknown:
        raise InstanceError(f"{where}: unknown column {unknown[0]!r}; columns are {','.join(BOX_KEYS)} "
                            "(or a 'container,L,W,H' / 'name,...' row before the header)")
    dup = [c for c in set(header) if header.count(c) > 1]
    if dup:
        raise InstanceError(f"{where}: column {dup[0]!r} given twice")
    missing = [c for c in REQUIRED_BOX_KEYS if c not in header]
    if missing:
        raise InstanceError(f"{where}: header: missing column {missing[0]!r} (header: {','.join(BOX_KEYS)})")


# ---------------------------------------------------------------- shared checks


def _instance(name: str, container: tuple, rows: list[tuple[str, dict[str, Any]]], path: Path) -> Instance:
    """Box rows (``where``, field dict) -> the checked instance."""
    types, ids = [], {}
    for k, (where, box) in enumerate(rows, start=1):
        dims = tuple(_positive(_required(box, key, where), key, where) for key in ("l", "w", "h"))
        count = _whole(_required(box, "count", where), "count", where)
        if count < 1:
            raise InstanceError(f"{where}: count: expected at least 1, got {count}")
        flags = _vertical(_required(box, "vertical", where), where)
        if "id" in box:
            label = str(box["id"])
            if label in ids:
                raise InstanceError(f"{where}: id: {label!r} already used by box {ids[label]}")
            ids[label] = k
        bt = BoxType(index=k, dims=dims, flags=flags, quantity=count)
        if not fits_container(bt, container):
            allowed = "".join(d for d, f in zip("lwh", flags) if f)
            raise InstanceError(
                f"{where}: box {'x'.join(map(str, dims))} fits the container {'x'.join(map(str, container))} "
                f"in no allowed orientation (vertical: {allowed!r})")
        types.append(bt)
    return Instance(name, 1, None, container, tuple(types))


def _required(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise InstanceError(f"{where}: missing field {key!r}")
    return doc[key]


def _no_unknown(doc: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in doc if k not in allowed]
    if unknown:
        raise InstanceError(f"{where}: unknown field {unknown[0]!r}; expected {', '.join(allowed)}")


def _name(value: Any, path: Path) -> str:
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise InstanceError(f"{path}: name: expected a non-empty text without '/', got {value!r}")
    return value.strip()


def _whole(value: Any, key: str, where: str) -> int:
    """A whole number from a JSON number or a numeric text ("108", "108.0")."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise InstanceError(f"{where}: {key}: expected a whole number, got {value!r}")
    if number != int(number):
        raise InstanceError(f"{where}: {key}: expected a whole number, got {value!r} (use a finer unit, e.g. mm)")
    return int(number)


def _positive(value: Any, key: str, where: str) -> int:
    number = _whole(value, key, where)
    if number <= 0:
        raise InstanceError(f"{where}: {key}: expected a positive dimension, got {value!r}")
    return number


def _vertical(value: Any, where: str) -> tuple[int, int, int]:
    """'h' / 'wh' / 'lwh' (letters of the dimensions that may stand vertical) or [fl, fw, fh]."""
    if isinstance(value, list):
        if len(value) != 3 or any(isinstance(f, bool) or f not in (0, 1) for f in value):
            raise InstanceError(f"{where}: vertical: expected three 0/1 flags [fl, fw, fh], got {value!r}")
        flags = tuple(int(f) for f in value)
    elif isinstance(value, str):
        letters = value.strip().lower()
        if not letters or any(c not in "lwh" for c in letters) or len(set(letters)) != len(letters):
            raise InstanceError(f"{where}: vertical: expected letters from 'lwh' such as 'h', 'wh' or 'lwh', "
                                f"got {value!r}")
        flags = tuple(int(d in letters) for d in "lwh")
    else:
        raise InstanceError(f"{where}: vertical: expected letters from 'lwh' or [fl, fw, fh], got {value!r}")
    if not any(flags):
        raise InstanceError(f"{where}: vertical: no dimension may stand vertical (all flags 0)")
    return flags  # type: ignore[return-value]
