"""Shared geometry: box types, allowed orientations, placements and solutions.

Coordinates follow the output contract: x runs along the container length, y along
its width, z along its height; a placement stores its corner and its placed extents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONSTRAINTS = ("C1", "C1C2")


@dataclass(frozen=True)
class BoxType:
    """One box type of an instance: dims (l, w, h), a vertical-allowed flag per dim."""

    index: int  # 1-based, as in the file
    dims: tuple[int, int, int]
    flags: tuple[int, int, int]
    quantity: int

    @property
    def volume(self) -> int:
        return self.dims[0] * self.dims[1] * self.dims[2]


@dataclass(frozen=True)
class Instance:
    """One container-loading problem: a container and the boxes on offer."""

    name: str  # e.g. "BR7/3"
    number: int
    seed: int | None
    container: tuple[int, int, int]
    types: tuple[BoxType, ...]

    @property
    def container_volume(self) -> int:
        L, W, H = self.container
        return L * W * H

    @property
    def box_volume(self) -> int:
        return sum(t.volume * t.quantity for t in self.types)


@dataclass(frozen=True)
class Placement:
    """One placed box: 1-based type, corner (x, y, z), placed extents (lx, ly, lz)."""

    type: int
    x: int
    y: int
    z: int
    lx: int
    ly: int
    lz: int

    def as_list(self) -> list[int]:
        return [self.type, self.x, self.y, self.z, self.lx, self.ly, self.lz]


@dataclass(frozen=True)
class Solution:
    """A complete packing with the facts a driver reports about it."""

    instance: str
    container: tuple[int, int, int]
    constraints: str
    strategy: str
    placements: tuple[Placement, ...]
    seconds: float = 0.0
    branch: int | None = None
    stats: tuple[tuple[str, float], ...] = field(default=())

    @property
    def volume(self) -> int:
        return sum(p.lx * p.ly * p.lz for p in self.placements)

    @property
    def fill_rate(self) -> float:
        L, W, H = self.container
        return self.volume / float(L * W * H)


def orientations(box: BoxType, c1: bool = True) -> tuple[tuple[int, int, int], ...]:
    """Distinct placed extents (lx, ly, lz) of a box.

    Under C1 only a dimension whose flag is 1 may stand vertical (lz); without C1 every
    rotation is allowed. Duplicate extents (cubes, square faces) are listed once, so
    searches never branch on indistinguishable rotations.
    """
    out: list[tuple[int, int, int]] = []
    for k in range(3):
        if c1 and not box.flags[k]:
            continue
        a, b = (box.dims[i] for i in range(3) if i != k)
        for ext in ((a, b, box.dims[k]), (b, a, box.dims[k])):
            if ext not in out:
                out.append(ext)
    return tuple(out)


def allowed_extent(box: BoxType, ext: tuple[int, int, int]) -> bool:
    """True when ``ext`` is a rotation of the box with an allowed vertical dimension."""
    return tuple(ext) in orientations(box, c1=True)


def parse_constraints(text: str) -> str:
    """Normalise "C1", "C1C2", "C1&C2", "c1,c2" to "C1" or "C1C2"; ValueError else."""
    norm = text.upper().replace("&", "").replace(",", "").replace("+", "").replace(" ", "")
    if norm not in CONSTRAINTS:
        raise ValueError(f"constraints {text!r}: expected C1 or C1C2")
    return norm
