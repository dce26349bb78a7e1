"""Numba kernels of block building: space choice, block ranking and greedy completion.

Why numba: the search spends nearly all its time in greedy completions, each a few
hundred tiny steps over arrays of tens to a few hundred residual spaces. With numpy
every step costs a dozen ufunc calls whose fixed overhead dominates; compiled loops
make one completion 10-50x cheaper, which buys a much wider search in the same time.

Conventions: a residual space is an int64 row (x0, y0, z0, x1, y1, z1); a block table
is ``dims`` (M, 3), ``vol`` (M,), ``req`` (M, n) boxes of each type, ``top`` (M, 4)
its fully covered top rectangle (ox, oy, tx, ty) relative to its low corner. ``left``
(n,) holds the boxes still in stock. Kernels never modify their inputs. Putting a
block down (the spaces it leaves, the tops C2 needs, the reach tables of the stock
left) is packing/placement.py's.

``fit`` scoring (``by_fit``): block volume minus the volume it strands. Along each
axis the margin a block leaves in its space can only be filled up to the largest sum
of box extents not above it (``reach_*``, a 1D knapsack table); the rest of that
margin times the space's cross-section is lost, as is the block's own empty volume.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numba import njit

from packing import placement
from packing.placement import add_top, block_corner, live_reach, place_block


def drop_stale_cache(cache: Path = Path(__file__).with_name("__pycache__")) -> bool:
    """Drop this module's cached machine code when packing/placement.py has changed.

    numba keys a cached kernel on its own file alone, but greedy's compiled code holds
    the placement kernels it calls: without this, an edited (or updated) placement.py
    would run as its old self inside greedy. A digest of placement.py beside the cache
    says which version the cache was compiled against. Returns whether it dropped any.
    """
    digest = hashlib.sha256(Path(placement.__file__).read_bytes()).hexdigest()[:16]
    stamp = cache / "kernels.placement-digest"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    stale = list(cache.glob("kernels.*.nb[ic]"))
    for path in stale:
        path.unlink(missing_ok=True)
    try:
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then caches elsewhere or not at all
        pass
    return bool(stale)


drop_stale_cache()
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
def block_scores(space: np.ndarray, left: np.ndarray, dims: np.ndarray, vol: np.ndarray, uses: np.ndarray,
                 reach_x: np.ndarray, reach_y: np.ndarray, reach_z: np.ndarray, by_fit: bool,
                 waste_w: float, noise: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` blocks that fit ``space`` with the stock ``left``, best first.

    Order "volume" takes the first feasible blocks of the volume-sorted table; order
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
    if not by_fit:
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
    """``block_scores(..., k=1)`` for order "fit": the best block, or none (see there)."""
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
           reach_x: np.ndarray, reach_y: np.ndarray, reach_z: np.ndarray, by_fit: bool,
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
        cand = block_scores(spaces[sp], left, dims, vol, uses, reach_x, reach_y, reach_z, by_fit,
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
