"""An independent verifier: it trusts nothing a strategy computed.

It re-reads only the instance and the list of placements, and checks: positive
extents inside the container, no two boxes overlapping (positive-volume
intersection), every box in an allowed orientation of its type (C1, from the file's
flags), per-type counts within stock and, under C2, every box's base fully carried
by the floor or by the tops of boxes ending exactly at its bottom. Vectorised with
numpy so it also checks BR0's thousand-box packings quickly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from packing.geometry import Instance, Placement, allowed_extent, parse_constraints


@dataclass(frozen=True)
class Report:
    """The verdict: ``ok`` and, when not, one line per violation (capped)."""

    ok: bool
    problems: tuple[str, ...]
    volume: int
    fill_rate: float


class VerificationError(ValueError):
    """A packing that a strategy reported violates the instance or the constraints."""


def verify(instance: Instance, placements: Sequence[Placement], constraints: str, max_problems: int = 20) -> Report:
    """Check a packing against ``instance`` under ``constraints`` ("C1" or "C1C2")."""
    cons = parse_constraints(constraints)
    problems: list[str] = []
    problems += _check_types_and_orientation(instance, placements)
    problems += _check_stock(instance, placements)
    if placements:
        arr = np.array([[p.x, p.y, p.z, p.lx, p.ly, p.lz] for p in placements], dtype=np.int64)
        problems += _check_bounds(instance, arr)
        problems += _check_overlap(arr, max_problems)
        if cons == "C1C2":
            problems += _check_support(arr, max_problems)
    volume = sum(p.lx * p.ly * p.lz for p in placements)
    return Report(not problems, tuple(problems[:max_problems]), volume, volume / instance.container_volume)


def check(instance: Instance, placements: Sequence[Placement], constraints: str) -> Report:
    """Like :func:`verify` but raise VerificationError on the first failing packing."""
    report = verify(instance, placements, constraints)
    if not report.ok:
        raise VerificationError(f"{instance.name}: invalid packing: {'; '.join(report.problems[:3])}")
    return report


def _check_types_and_orientation(instance: Instance, placements: Sequence[Placement]) -> list[str]:
    out = []
    n = len(instance.types)
    for k, p in enumerate(placements):
        if not 1 <= p.type <= n:
            out.append(f"box {k}: unknown type {p.type} (instance has 1..{n})")
            continue
        box = instance.types[p.type - 1]
        if not allowed_extent(box, (p.lx, p.ly, p.lz)):
            out.append(f"box {k}: type {p.type} {box.dims} placed as {(p.lx, p.ly, p.lz)}: not an allowed orientation")
    return out


def _check_stock(instance: Instance, placements: Sequence[Placement]) -> list[str]:
    used = Counter(p.type for p in placements)
    out = []
    for t in instance.types:
        if used.get(t.index, 0) > t.quantity:
            out.append(f"type {t.index}: {used[t.index]} boxes placed, only {t.quantity} in stock")
    return out


def _check_bounds(instance: Instance, arr: np.ndarray) -> list[str]:
    lo, ext = arr[:, :3], arr[:, 3:]
    cont = np.array(instance.container, dtype=np.int64)
    bad = (ext <= 0).any(1) | (lo < 0).any(1) | ((lo + ext) > cont).any(1)
    return [f"box {k}: {arr[k].tolist()} not inside container {list(instance.container)}" for k in np.flatnonzero(bad)]


def _check_overlap(arr: np.ndarray, cap: int) -> list[str]:
    lo, hi = arr[:, :3], arr[:, :3] + arr[:, 3:]
    out = []
    for i in range(len(arr) - 1):
        inter = (np.minimum(hi[i], hi[i + 1:]) > np.maximum(lo[i], lo[i + 1:])).all(1)
        for j in np.flatnonzero(inter)[: cap - len(out)]:
            out.append(f"boxes {i} and {i + 1 + j} overlap: {arr[i].tolist()} / {arr[i + 1 + j].tolist()}")
        if len(out) >= cap:
            break
    return out


def _check_support(arr: np.ndarray, cap: int) -> list[str]:
    """Full base support: tops at a box's bottom height must cover its whole base.

    Boxes whose tops end at the same height cannot overlap in plan (they would
    overlap in space just below that height), so summing the areas of intersection
    measures the covered part of the base exactly once overlap has been ruled out.
    """
    x, y, z, lx, ly, lz = (arr[:, k] for k in range(6))
    top = z + lz
    out = []
    for i in np.flatnonzero(z > 0):
        carriers = np.flatnonzero(top == z[i])
        wx = np.minimum(x[i] + lx[i], x[carriers] + lx[carriers]) - np.maximum(x[i], x[carriers])
        wy = np.minimum(y[i] + ly[i], y[carriers] + ly[carriers]) - np.maximum(y[i], y[carriers])
        covered = int((np.clip(wx, 0, None) * np.clip(wy, 0, None)).sum())
        if covered < lx[i] * ly[i]:
            out.append(f"box {i}: {arr[i].tolist()} base {covered}/{lx[i] * ly[i]} supported (C2 needs all)")
            if len(out) >= cap:
                break
    return out
