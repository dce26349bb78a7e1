"""Numba kernels of block building: space choice, block ranking, placement, completion.

Why numba: the search spends nearly all its time in greedy completions, each a few
hundred tiny steps over arrays of tens to a few hundred residual spaces. With numpy
every step costs a dozen ufunc calls whose fixed overhead dominates; compiled loops
make one completion 10-50x cheaper, which buys a much wider search in the same time.

Conventions: a residual space is an int64 row (x0, y0, z0, x1, y1, z1); a block table
is ``dims`` (M, 3), ``vol`` (M,), ``req`` (M, n) boxes of each type, ``top`` (M, 4)
its fully covered top rectangle (ox, oy, tx, ty) relative to its low corner. ``left``
(n,) holds the boxes still in stock. Kernels never modify their inputs.

``fit`` scoring (``rank_fit``): block volume minus the volume it strands. Along each
axis the margin a block leaves in its space can only be filled up to the largest sum
of box extents not above it (``reach_*``, a 1D knapsack table); the rest of that
margin times the space's cross-section is lost, as is the block's own empty volume.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = {"cache": True, "nogil": True}


@njit(**_OPTS)
def pick_space(spaces: np.ndarray, cont: np.ndarray, low_first: bool) -> int:
    """The space nearest a container corner (Parreño's anchor rule).

    The distances of the space's best corner to the container's corner, sorted, are
    compared lexicographically; ties go to the larger space, then the earlier row.
    Filling from the corners keeps the free volume one compact cuboid-like region.
    With ``low_first`` the lowest floor comes first (then the anchor rule), which
    builds bottom-up and keeps the tops that later blocks must stand on (C2) level.
    """
    best = -1
    b0 = b1 = b2 = 0
    bvol = 0
    bz = 0
    for i in range(spaces.shape[0]):
        s = spaces[i]
        dx = min(s[0], cont[0] - s[3])
        dy = min(s[1], cont[1] - s[4])
        dz = s[2]
        # sort three numbers
        a, b, c = dx, dy, dz
        if a > b:
            a, b = b, a
        if b > c:
            b, c = c, b
        if a > b:
            a, b = b, a
        vol = (s[3] - s[0]) * (s[4] - s[1]) * (s[5] - s[2])
        if low_first and best >= 0 and s[2] != bz:
            if s[2] < bz:
                best, b0, b1, b2, bvol, bz = i, a, b, c, vol, s[2]
            continue
        if best < 0 or a < b0 or (a == b0 and (b < b1 or (b == b1 and (c < b2 or (c == b2 and vol > bvol))))):
            best, b0, b1, b2, bvol, bz = i, a, b, c, vol, s[2]
    return best


@njit(**_OPTS)
def _fits_stock(uses: np.ndarray, b: int, left: np.ndarray) -> bool:
    for j in range(uses.shape[1]):
        count = uses[b, j, 1]
        if count == 0:
            break
        if count > left[uses[b, j, 0]]:
            return False
    return True


def sparse_uses(req: np.ndarray) -> np.ndarray:
    """``req`` (M, n) as (M, K, 2) rows of (type, count), count 0 padding the end.

    A block holds one to four box types, so the stock test reads K <= 4 entries
    instead of all n types (n reaches 100 on BR15, where that test dominated).
    """
    nz = req > 0
    k = max(1, int(nz.sum(1).max())) if len(req) else 1
    uses = np.zeros((len(req), k, 2), dtype=np.int64)
    for b, types in enumerate(nz):
        t = np.flatnonzero(types)
        uses[b, :len(t), 0] = t
        uses[b, :len(t), 1] = req[b, t]
    return uses


@njit(**_OPTS)
def anchor(space: np.ndarray, cont: np.ndarray, d0: int, d1: int) -> tuple[int, int]:
    """The (x, y) of a d0 x d1 footprint in the space's corner nearest a container corner."""
    x = space[0] if space[0] <= cont[0] - space[3] else space[3] - d0
    y = space[1] if space[1] <= cont[1] - space[4] else space[4] - d1
    return x, y


@njit(**_OPTS)
def block_scores(space: np.ndarray, left: np.ndarray, dims: np.ndarray, vol: np.ndarray, uses: np.ndarray,
                 reach_x: np.ndarray, reach_y: np.ndarray, reach_z: np.ndarray, rank_fit: bool,
                 waste_w: float, noise: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` blocks that fit ``space`` with the stock ``left``, best first.

    Rank "volume" takes the first feasible blocks of the volume-sorted table; rank
    "fit" orders every feasible block by the fit score (ties: lower row). Every
    space's floor is fully carried (see ``place_block``), so C2 needs no check here.
    ``uses`` is the sparse stock requirement (``sparse_uses``).

    The greedy's single best (``k == 1``) stops scanning early: a fit score never
    exceeds the block's volume (plus its noise) when ``waste_w >= 0``, and the table
    is sorted by volume, so once a block's volume cannot beat the best score found no
    later block can. That prunes most of a 6000-block table on every greedy step.
    """
    ex0, ex1, ex2 = space[3] - space[0], space[4] - space[1], space[5] - space[2]
    m = dims.shape[0]
    if not rank_fit:
        out = np.empty(k, dtype=np.int64)
        n = 0
        for b in range(_first_fitting_volume(vol, ex0 * ex1 * ex2), m):
            if dims[b, 0] <= ex0 and dims[b, 1] <= ex1 and dims[b, 2] <= ex2 and _fits_stock(uses, b, left):
                out[n] = b
                n += 1
                if n == k:
                    break
        return out[:n]
    a0, a1, a2 = ex1 * ex2, ex0 * ex2, ex0 * ex1
    use_noise = noise.shape[0] == m
    if k == 1:
        return _best_fit(ex0, ex1, ex2, a0, a1, a2, left, dims, vol, uses, reach_x, reach_y, reach_z,
                         waste_w, noise, use_noise)
    idx = np.empty(m, dtype=np.int64)
    score = np.empty(m, dtype=np.float64)
    n = 0
    for b in range(_first_fitting_volume(vol, ex0 * ex1 * ex2), m):
        d0, d1, d2 = dims[b, 0], dims[b, 1], dims[b, 2]
        if d0 > ex0 or d1 > ex1 or d2 > ex2 or not _fits_stock(uses, b, left):
            continue
        g0, g1, g2 = ex0 - d0, ex1 - d1, ex2 - d2
        lost = (g0 - reach_x[g0]) * a0 + (g1 - reach_y[g1]) * a1 + (g2 - reach_z[g2]) * a2
        inner = d0 * d1 * d2 - vol[b]
        sc = float(vol[b]) - waste_w * float(lost + inner)
        if use_noise:
            sc += noise[b]
        idx[n] = b
        score[n] = -sc
        n += 1
    if n == 0:
        return idx[:0]
    order = np.argsort(score[:n], kind="mergesort")
    take = min(k, n)
    out = np.empty(take, dtype=np.int64)
    for i in range(take):
        out[i] = idx[order[i]]
    return out


@njit(**_OPTS)
def _first_fitting_volume(vol: np.ndarray, room: int) -> int:
    """The first row of the volume-sorted (descending) table with ``vol <= room``:
    every block before it holds more box volume than the space has, so cannot fit."""
    lo, hi = 0, vol.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if vol[mid] > room:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**_OPTS)
def _best_fit(ex0, ex1, ex2, a0, a1, a2, left, dims, vol, uses, reach_x, reach_y, reach_z,
              waste_w, noise, use_noise) -> np.ndarray:
    """``block_scores(..., k=1)`` for rank "fit": the best block, or none (see there)."""
    out = np.empty(1, dtype=np.int64)
    best = -1
    best_sc = 0.0
    bound_noise = 0.0
    if use_noise:
        for b in range(noise.shape[0]):
            bound_noise = max(bound_noise, noise[b])
    can_stop = waste_w >= 0.0
    for b in range(_first_fitting_volume(vol, ex0 * ex1 * ex2), dims.shape[0]):
        if can_stop and best >= 0 and float(vol[b]) + bound_noise <= best_sc:
            break  # sorted by volume: no later block can score above best_sc (ties keep the lower row)
        d0, d1, d2 = dims[b, 0], dims[b, 1], dims[b, 2]
        if d0 > ex0 or d1 > ex1 or d2 > ex2 or not _fits_stock(uses, b, left):
            continue
        g0, g1, g2 = ex0 - d0, ex1 - d1, ex2 - d2
        lost = (g0 - reach_x[g0]) * a0 + (g1 - reach_y[g1]) * a1 + (g2 - reach_z[g2]) * a2
        inner = d0 * d1 * d2 - vol[b]
        sc = float(vol[b]) - waste_w * float(lost + inner)
        if use_noise:
            sc += noise[b]
        if best < 0 or sc > best_sc:
            best, best_sc = b, sc
    if best < 0:
        return out[:0]
    out[0] = best
    return out


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
def space_mins(left: np.ndarray, type_min: np.ndarray) -> np.ndarray:
    """Per axis, the smallest extent of any box still in stock (huge when none left)."""
    mins = np.full(3, 1 << 40, dtype=np.int64)
    for t in range(left.shape[0]):
        if left[t] > 0:
            for a in range(3):
                mins[a] = min(mins[a], type_min[t, a])
    return mins


@njit(**_OPTS)
def drop_row(spaces: np.ndarray, i: int) -> np.ndarray:
    out = np.empty((spaces.shape[0] - 1, 6), dtype=np.int64)
    out[:i] = spaces[:i]
    out[i:] = spaces[i + 1:]
    return out


@njit(**_OPTS)
def greedy(spaces: np.ndarray, left: np.ndarray, cont: np.ndarray, dims: np.ndarray, vol: np.ndarray,
           uses: np.ndarray, top: np.ndarray, support: bool, type_min: np.ndarray,
           reach_x: np.ndarray, reach_y: np.ndarray, reach_z: np.ndarray, rank_fit: bool,
           waste_w: float, noise: np.ndarray, tops: np.ndarray, cut_top: bool,
           low_first: bool, type_ext: np.ndarray) -> tuple[int, np.ndarray]:
    """Complete a partial packing always taking the best ranked block of the chosen space.

    Returns the volume added and the placed (block, x, y, z) rows, in order. With a
    non-empty ``type_ext`` the reach tables follow the stock: they are rebuilt from
    the types still available whenever a type runs out (see ``live_reach``).
    """
    left = left.copy()
    live = type_ext.shape[0] > 0
    if live:
        reach_x = live_reach(left, type_ext, 0, reach_x.shape[0] - 1)
        reach_y = live_reach(left, type_ext, 1, reach_y.shape[0] - 1)
        reach_z = live_reach(left, type_ext, 2, reach_z.shape[0] - 1)
    placed = np.empty((64, 4), dtype=np.int64)
    n = 0
    added = 0
    track = support and not cut_top
    while spaces.shape[0] > 0:
        sp = pick_space(spaces, cont, low_first)
        cand = block_scores(spaces[sp], left, dims, vol, uses, reach_x, reach_y, reach_z, rank_fit,
                            waste_w, noise, 1)
        if cand.shape[0] == 0:
            spaces = drop_row(spaces, sp)
            continue
        b = cand[0]
        ran_out = False
        for j in range(uses.shape[1]):
            if uses[b, j, 1] == 0:
                break
            t = uses[b, j, 0]
            left[t] -= uses[b, j, 1]
            ran_out = ran_out or left[t] == 0
        if live and ran_out:
            reach_x = live_reach(left, type_ext, 0, reach_x.shape[0] - 1)
            reach_y = live_reach(left, type_ext, 1, reach_y.shape[0] - 1)
            reach_z = live_reach(left, type_ext, 2, reach_z.shape[0] - 1)
        mins = space_mins(left, type_min)
        corner = block_corner(spaces[sp], b, cont, dims)
        if track:
            tops = add_top(tops, b, corner, dims, top)
        spaces = place_block(spaces, b, corner, cont, dims, top, support, mins, cut_top, tops)
        if n == placed.shape[0]:
            bigger = np.empty((2 * n, 4), dtype=np.int64)
            bigger[:n] = placed
            placed = bigger
        placed[n, 0] = b
        placed[n, 1:] = corner
        n += 1
        added += vol[b]
    return added, placed[:n].copy()


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
