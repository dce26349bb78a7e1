"""Numba kernels of putting a block down: its corner, the residual spaces it leaves,
the covered tops that C2 (support) spaces stand on, and the reach tables of the stock left.

Conventions as in packing/kernels.py. Under C2 every residual space's floor must be
fully carried; ``tops`` (one row per placed block: its covered top rectangle, then
its own extent) is what lets a space above a block be stretched over neighbours of
the same height instead of being cut to that one block's top.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = {"cache": True, "nogil": True}


@njit(**_OPTS)
def anchor(space: np.ndarray, cont: np.ndarray, d0: int, d1: int) -> tuple[int, int]:
    """The (x, y) of a d0 x d1 footprint in the space's corner nearest a container corner."""
    x = space[0] if space[0] <= cont[0] - space[3] else space[3] - d0
    y = space[1] if space[1] <= cont[1] - space[4] else space[4] - d1
    return x, y


@njit(**_OPTS)
def _contained(a: np.ndarray, b: np.ndarray) -> bool:
    return (a[0] >= b[0] and a[1] >= b[1] and a[2] >= b[2]
            and a[3] <= b[3] and a[4] <= b[4] and a[5] <= b[5])


@njit(**_OPTS)
def block_corner(space: np.ndarray, block: int, cont: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """The low corner of ``block`` put into the anchor corner of ``space`` (on its floor)."""
    corner = np.empty(3, dtype=np.int64)
    corner[0], corner[1] = anchor(space, cont, dims[block, 0], dims[block, 1])
    corner[2] = space[2]
    return corner


@njit(**_OPTS)
def place_block(spaces: np.ndarray, block: int, corner: np.ndarray, cont: np.ndarray, dims: np.ndarray,
                top: np.ndarray, support: bool, mins: np.ndarray, cut_top: bool, tops: np.ndarray) -> np.ndarray:
    """The residual spaces after putting ``block`` at ``corner``.

    Every space the block cuts is replaced by its up-to-six maximal remainders. Under
    C2 every space's floor must stay fully carried, so the remainder above the block
    is cut to the block's covered top; unless ``cut_top`` it is then stretched over
    the neighbouring covered tops at the same height (``tops``, which already holds
    this block's) and up to the lowest block above: once a neighbour of equal height
    stands beside it, one space spans both, where the plain cut keeps two narrow
    ones. Only the
    new remainders can be redundant (the old spaces were maximal already), so only
    they are tested for containment; spaces too small for any box left are dropped.
    """
    lo0, lo1, lo2 = corner[0], corner[1], corner[2]
    hi0, hi1, hi2 = lo0 + dims[block, 0], lo1 + dims[block, 1], lo2 + dims[block, 2]
    ns = spaces.shape[0]
    keep = np.empty((ns, 6), dtype=np.int64)
    nk = 0
    pieces = np.empty((6 * ns + 2, 6), dtype=np.int64)
    npc = 0
    for i in range(ns):
        q = spaces[i]
        if not (min(q[3], hi0) > max(q[0], lo0) and min(q[4], hi1) > max(q[1], lo1)
                and min(q[5], hi2) > max(q[2], lo2)):
            if q[3] - q[0] >= mins[0] and q[4] - q[1] >= mins[1] and q[5] - q[2] >= mins[2]:
                keep[nk] = q
                nk += 1
            continue
        for a in range(3):
            lo_a = corner[a]
            hi_a = lo_a + dims[block, a]
            if lo_a > q[a]:
                pieces[npc] = q
                pieces[npc, 3 + a] = lo_a
                npc += 1
            if hi_a < q[3 + a]:
                pieces[npc] = q
                pieces[npc, a] = hi_a
                if a == 2 and support:
                    if not cut_top:
                        continue  # replaced by the stretched spaces below
                    x0 = max(q[0], lo0 + top[block, 0])
                    y0 = max(q[1], lo1 + top[block, 1])
                    x1 = min(q[3], lo0 + top[block, 0] + top[block, 2])
                    y1 = min(q[4], lo1 + top[block, 1] + top[block, 3])
                    if x1 <= x0 or y1 <= y0:
                        continue
                    pieces[npc, 0], pieces[npc, 1], pieces[npc, 3], pieces[npc, 4] = x0, y0, x1, y1
                npc += 1
    if support and not cut_top and hi2 < cont[2]:
        npc = _stretch(pieces, npc, block, corner, dims, top, cont, tops)
    out = np.empty((nk + npc, 6), dtype=np.int64)
    out[:nk] = keep[:nk]
    n = nk
    for i in range(npc):
        p = pieces[i]
        if p[3] - p[0] < mins[0] or p[4] - p[1] < mins[1] or p[5] - p[2] < mins[2]:
            continue
        dead = False
        for j in range(n):  # earlier rows: kept spaces and surviving pieces (identical -> keep first)
            if _contained(p, out[j]):
                dead = True
                break
        if not dead:
            for j in range(i + 1, npc):  # later pieces that strictly contain this one
                if _contained(p, pieces[j]) and not _contained(pieces[j], p):
                    dead = True
                    break
        if not dead:
            out[n] = p
            n += 1
    if support and not cut_top:  # a stretched space may swallow an old one
        alive = np.ones(n, dtype=np.bool_)
        for j in range(nk):
            for i in range(nk, n):
                if _contained(out[j], out[i]):
                    alive[j] = False
                    break
        return out[:n][alive]
    return out[:n].copy()


@njit(**_OPTS)
def add_top(tops: np.ndarray, b: int, corner: np.ndarray, dims: np.ndarray, top: np.ndarray) -> np.ndarray:
    """``tops`` plus a row for block ``b`` at ``corner``: its covered top rectangle
    (z, x0, y0, x1, y1), then its own extent (x0, y0, z0, x1, y1)."""
    out = np.empty((tops.shape[0] + 1, 10), dtype=np.int64)
    out[:-1] = tops
    x0 = corner[0] + top[b, 0]
    y0 = corner[1] + top[b, 1]
    out[-1, 0] = corner[2] + dims[b, 2]
    out[-1, 1], out[-1, 2], out[-1, 3], out[-1, 4] = x0, y0, x0 + top[b, 2], y0 + top[b, 3]
    out[-1, 5], out[-1, 6], out[-1, 7] = corner[0], corner[1], corner[2]
    out[-1, 8], out[-1, 9] = corner[0] + dims[b, 0], corner[1] + dims[b, 1]
    return out


@njit(**_OPTS)
def _covered(x0: int, y0: int, x1: int, y1: int, z: int, tops: np.ndarray) -> bool:
    """True when the rectangle is fully covered by covered tops at height ``z``.

    Covered tops at one height never overlap in plan (the blocks under them would
    overlap), so summed intersection areas measure the covered area exactly.
    """
    got = 0
    for i in range(tops.shape[0]):
        if tops[i, 0] != z:
            continue
        w = min(x1, tops[i, 3]) - max(x0, tops[i, 1])
        h = min(y1, tops[i, 4]) - max(y0, tops[i, 2])
        if w > 0 and h > 0:
            got += w * h
    return got >= (x1 - x0) * (y1 - y0)


@njit(**_OPTS)
def _open(x0: int, y0: int, x1: int, y1: int, z: int, tops: np.ndarray) -> bool:
    """True when the rectangle is covered at height ``z`` and no block stands anywhere above it.

    Refusing to grow under any block above keeps the stretched space as tall as the
    one over the block itself (a wide but flat space would rarely take a block).
    """
    for i in range(tops.shape[0]):
        t = tops[i]
        if t[7] >= z and t[5] < x1 and t[8] > x0 and t[6] < y1 and t[9] > y0:
            return False
    return _covered(x0, y0, x1, y1, z, tops)


@njit(**_OPTS)
def _grow(r: np.ndarray, side: int, bound: int, z: int, tops: np.ndarray) -> None:
    """Move edge ``side`` (0: x0, 1: y0, 2: x1, 3: y1) of ``r`` outwards, up to ``bound``,
    as far as the added strip stays covered and open (``_open``); steps are the carriers' edges."""
    axis = side % 2
    up = side >= 2
    while r[side] != bound:
        nxt = bound
        for i in range(tops.shape[0]):
            if tops[i, 0] != z:
                continue
            for e in (tops[i, 1 + axis], tops[i, 3 + axis]):
                if up and r[side] < e < nxt:
                    nxt = e
                if not up and nxt < e < r[side]:
                    nxt = e
        s = r.copy()
        s[side] = nxt
        if up:
            lo = r.copy()
            lo[axis] = r[side]
            ok = _open(lo[0], lo[1], s[2], s[3], z, tops)
        else:
            hi = r.copy()
            hi[2 + axis] = r[side]
            ok = _open(s[0], s[1], hi[2], hi[3], z, tops)
        if not ok:
            return
        r[side] = nxt


@njit(**_OPTS)
def _stretch(pieces: np.ndarray, npc: int, b: int, corner: np.ndarray, dims: np.ndarray, top: np.ndarray,
             cont: np.ndarray, tops: np.ndarray) -> int:
    """Append the free spaces standing on block ``b``'s covered top stretched over covered
    neighbours at its height (once growing along x first, once along y first), each
    reaching up to the lowest placed block above it.

    The stretched floor is fully covered by tops at that height, so no block can cross
    that plane there; blocks above it start at or over it and bound the ceiling.
    """
    z = corner[2] + dims[b, 2]
    x0, y0 = corner[0] + top[b, 0], corner[1] + top[b, 1]
    # only carriers at height z and blocks at or above it matter below: filter once
    # (identical result; 3-5x cheaper than scanning every placed block in each test)
    keep = np.empty(tops.shape[0], dtype=np.bool_)
    for i in range(tops.shape[0]):
        keep[i] = tops[i, 0] == z or tops[i, 7] >= z
    tops = tops[keep]
    for first in range(2):
        r = np.array([x0, y0, x0 + top[b, 2], y0 + top[b, 3]], dtype=np.int64)
        for axis in (first, 1 - first):
            _grow(r, axis, 0, z, tops)
            _grow(r, 2 + axis, cont[axis], z, tops)
        ceil = cont[2]
        for i in range(tops.shape[0]):
            t = tops[i]
            if t[7] >= z and t[5] < r[2] and t[8] > r[0] and t[6] < r[3] and t[9] > r[1]:
                ceil = min(ceil, t[7])
        if ceil > z:
            pieces[npc, 0], pieces[npc, 1], pieces[npc, 2] = r[0], r[1], z
            pieces[npc, 3], pieces[npc, 4], pieces[npc, 5] = r[2], r[3], ceil
            npc += 1
    return npc


@njit(**_OPTS)
def live_reach(left: np.ndarray, type_ext: np.ndarray, axis: int, length: int) -> np.ndarray:
    """r -> the largest sum of extents along ``axis`` of boxes still in stock that is <= r.

    ``type_ext`` (n, 3, k) lists each type's allowed extents per axis (0 = unused). A
    margin only boxes that have run out could fill is waste, so the fit score must
    not count it as usable; quantities are ignored (unbounded knapsack), as in the
    static table.
    """
    ok = np.zeros(length + 1, dtype=np.bool_)
    ok[0] = True
    ext = np.zeros(length + 1, dtype=np.bool_)
    for t in range(left.shape[0]):
        if left[t] > 0:
            for j in range(type_ext.shape[2]):
                e = type_ext[t, axis, j]
                if 0 < e <= length:
                    ext[e] = True
    es = np.flatnonzero(ext)
    for v in range(1, length + 1):
        for e in es:
            if e > v:
                break
            if ok[v - e]:
                ok[v] = True
                break
    out = np.empty(length + 1, dtype=np.int64)
    best = 0
    for v in range(length + 1):
        if ok[v]:
            best = v
        out[v] = best
    return out
