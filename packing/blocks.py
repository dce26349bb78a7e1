"""Block generation for block-building: simple and general blocks as numpy tables.

A *simple block* is nx x ny x nz boxes of one type in one orientation. A *general
block* joins two blocks side by side along x, y or z when their bounding box stays at
least ``min_fill`` full, so mixed types and orientations become one placeable unit
(the CLTRS idea: few, large, dense units make a shallow tree). Blocks are kept sorted
by box volume, largest first, so "the best fitting block" is the first one that fits.

Under C2 every block remembers a *top area* (ox, oy, tx, ty): a rectangle on its top
face that boxes cover completely. Blocks may only be stacked onto that area, and
the residual space above a placed block is cut to it, so every box ever placed sits
on a fully carried base.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packing.geometry import Instance, Placement, orientations

SIMPLE, GENERAL = 0, 1


@dataclass(frozen=True)
class BlockTable:
    """All blocks of an instance, sorted by box volume (descending).

    ``dims`` (M, 3) extents; ``vol`` (M,) summed box volume; ``req`` (M, n) boxes of
    each type used; ``top`` (M, 4) fully covered top rectangle; ``spec`` (M, 6)
    recipe: simple = (SIMPLE, type, orient, nx, ny, nz), general = (GENERAL, a, b, axis, 0, 0)
    with a and b row indices of this table; ``orients`` maps (type, orient) to extents.
    """

    dims: np.ndarray
    vol: np.ndarray
    req: np.ndarray
    top: np.ndarray
    spec: np.ndarray
    orients: tuple[tuple[tuple[int, int, int], ...], ...]

    def __len__(self) -> int:
        return len(self.vol)


def build_blocks(
    instance: Instance, support: bool, max_blocks: int = 6000, min_fill: float = 0.98, max_rounds: int = 3,
    flat_top: bool = False,
) -> BlockTable:
    """Simple blocks, then rounds of pairwise general blocks, capped at ``max_blocks``.

    ``flat_top`` (C2 only): side-by-side joins only of blocks with full tops, equal
    heights and equal widths across the join, so every general block offers its
    whole top face as a floor (a partly covered top wastes the space above it).
    """
    orients = tuple(orientations(t, c1=True) for t in instance.types)
    dims, vol, req, top, spec = _simple_blocks(instance, orients)
    keys = {_key(dims[i], req[i]) for i in range(len(vol))}
    fresh = np.arange(len(vol))
    for _ in range(max_rounds):
        if len(vol) >= max_blocks or len(fresh) == 0:
            break
        new = _combine(instance, support, dims, vol, req, top, fresh, min_fill, max_blocks - len(vol), keys, flat_top)
        if new is None:
            break
        n0 = len(vol)
        dims, vol, req, top, spec = (np.concatenate([a, b]) for a, b in zip((dims, vol, req, top, spec), new))
        fresh = np.arange(n0, len(vol))
    return _sorted(dims, vol, req, top, spec, orients)


def _key(d: np.ndarray, r: np.ndarray) -> bytes:
    return d.astype(np.int32).tobytes() + r.astype(np.int16).tobytes()


def _simple_blocks(instance: Instance, orients):
    L, W, H = instance.container
    n = len(instance.types)
    rows_d, rows_s = [], []
    for t, box in enumerate(instance.types):
        q = box.quantity
        for o, (a, b, c) in enumerate(orients[t]):
            for nz in range(1, min(H // c, q) + 1):
                for ny in range(1, min(W // b, q // nz) + 1):
                    nxm = min(L // a, q // (nz * ny))
                    if nxm < 1:
                        break
                    nx = np.arange(1, nxm + 1)
                    rows_d.append(np.stack([nx * a, np.full_like(nx, ny * b), np.full_like(nx, nz * c)], 1))
                    rows_s.append(np.stack([np.zeros_like(nx), np.full_like(nx, t), np.full_like(nx, o), nx,
                                            np.full_like(nx, ny), np.full_like(nx, nz)], 1))
    dims = np.concatenate(rows_d).astype(np.int64)
    spec = np.concatenate(rows_s).astype(np.int64)
    count = spec[:, 3] * spec[:, 4] * spec[:, 5]
    req = np.zeros((len(dims), n), dtype=np.int16)
    req[np.arange(len(dims)), spec[:, 1]] = count
    vol = dims.prod(1)
    top = np.zeros((len(dims), 4), dtype=np.int64)
    top[:, 2:] = dims[:, :2]
    return dims, vol, req, top, spec


def _combine(instance, support, dims, vol, req, top, fresh, min_fill, room, keys, flat_top=False):
    """General blocks joining a fresh block with any block, along each axis.

    Candidates are found with broadcast comparisons over chunks, de-duplicated with
    one sort (same extents and same boxes = same block), and the ``room`` largest kept.
    """
    cont = np.array(instance.container)
    stock = np.array([t.quantity for t in instance.types], dtype=np.int32)
    everyone = np.arange(len(vol))
    first_round = len(fresh) == len(vol)
    pairs = []
    for axis in range(3):
        for a_chunk in np.array_split(fresh, max(1, len(fresh) // 256)):
            for a_idx, b_idx in ((a_chunk, everyone),) if first_round else ((a_chunk, everyone), (everyone, a_chunk)):
                cand = _pair_candidates(dims, vol, top, a_idx, b_idx, axis, cont, min_fill, support, flat_top)
                if cand is not None:
                    ok = ((req[cand[0]].astype(np.int32) + req[cand[1]]) <= stock).all(1)
                    pairs.append(np.stack([cand[0][ok], cand[1][ok], np.full(ok.sum(), axis)], 1))
    if not pairs:
        return None
    pairs = np.concatenate(pairs)
    if len(pairs) == 0:
        return None
    ia, ib, ax = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    nd = np.maximum(dims[ia], dims[ib])
    nd[np.arange(len(ax)), ax] = dims[ia, ax] + dims[ib, ax]
    nreq = (req[ia].astype(np.int32) + req[ib]).astype(np.int16)
    nvol = vol[ia] + vol[ib]
    rows = np.concatenate([nd.astype(np.int32), nreq.astype(np.int32)], 1)
    order = np.argsort(-nvol, kind="stable")
    rows, ia, ib, ax, nd, nreq, nvol = (v[order] for v in (rows, ia, ib, ax, nd, nreq, nvol))
    _, first = np.unique(rows, axis=0, return_index=True)
    first = np.sort(first)
    chosen = [k for k in first if _key(nd[k], nreq[k]) not in keys][:room]
    if not chosen:
        return None
    chosen = np.array(chosen)
    for k in chosen:
        keys.add(_key(nd[k], nreq[k]))
    ntop = np.array([_joined_top(dims[ia[k]], top[ia[k]], dims[ib[k]], top[ib[k]], ax[k]) for k in chosen])
    nspec = np.zeros((len(chosen), 6), dtype=np.int64)
    nspec[:, 0], nspec[:, 1], nspec[:, 2], nspec[:, 3] = GENERAL, ia[chosen], ib[chosen], ax[chosen]
    return nd[chosen].astype(np.int64), nvol[chosen], nreq[chosen], ntop.reshape(-1, 4).astype(np.int64), nspec


def _pair_candidates(dims, vol, top, a_idx, b_idx, axis, cont, min_fill, support, flat=False):
    """Index pairs (a, b) whose join along ``axis`` fits and is dense enough."""
    da, db = dims[a_idx][:, None, :], dims[b_idx][None, :, :]
    o1, o2 = (k for k in range(3) if k != axis)
    along = da[..., axis] + db[..., axis]
    c1 = np.maximum(da[..., o1], db[..., o1])
    c2 = np.maximum(da[..., o2], db[..., o2])
    mask = (along <= cont[axis]) & (c1 <= cont[o1]) & (c2 <= cont[o2])
    mask &= (vol[a_idx][:, None] + vol[b_idx][None, :]) >= min_fill * (along * c1 * c2)
    if support and axis == 2:
        ta = top[a_idx][:, None, :]
        mask &= (ta[..., 0] == 0) & (ta[..., 1] == 0) & (db[..., 0] <= ta[..., 2]) & (db[..., 1] <= ta[..., 3])
    elif support and flat:
        # side by side under C2: only joins whose top stays one full flat face
        mask &= (da[..., 2] == db[..., 2]) & (da[..., 1 - axis] == db[..., 1 - axis])
        ta, tb = top[a_idx][:, None, :], top[b_idx][None, :, :]
        mask &= (ta[..., 0] == 0) & (ta[..., 1] == 0) & (ta[..., 2] == da[..., 0]) & (ta[..., 3] == da[..., 1])
        mask &= (tb[..., 0] == 0) & (tb[..., 1] == 0) & (tb[..., 2] == db[..., 0]) & (tb[..., 3] == db[..., 1])
    ia, ib = np.nonzero(mask)
    if len(ia) == 0:
        return None
    return a_idx[ia], b_idx[ib]


def _joined_dims(da, db, axis):
    d = np.maximum(da, db)
    d[axis] = da[axis] + db[axis]
    return d


def _joined_top(da, ta, db, tb, axis):
    """The largest fully covered top rectangle of a join (a at 0, b after a)."""
    if axis == 2:
        return tb.copy()
    h = max(da[2], db[2])
    shift = np.zeros(4, dtype=np.int64)
    shift[axis] = da[axis]
    cands = []
    if da[2] == h:
        cands.append(ta.copy())
    if db[2] == h:
        cands.append(tb + shift)
    if da[2] == db[2] and ta[axis] + ta[axis + 2] == da[axis] and tb[axis] == 0:
        o = 1 - axis
        lo = max(ta[o], tb[o])
        hi = min(ta[o] + ta[o + 2], tb[o] + tb[o + 2])
        if hi > lo:
            r = np.zeros(4, dtype=np.int64)
            r[axis], r[axis + 2] = ta[axis], da[axis] + tb[axis + 2] - ta[axis]
            r[o], r[o + 2] = lo, hi - lo
            cands.append(r)
    if not cands:
        return np.zeros(4, dtype=np.int64)
    return max(cands, key=lambda r: r[2] * r[3])


def _sorted(dims, vol, req, top, spec, orients) -> BlockTable:
    """Sort by volume (desc), then by fewer boxes, remapping general recipes."""
    count = req.sum(1)
    order = np.lexsort((count, -vol))
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    spec = spec[order].copy()
    gen = spec[:, 0] == GENERAL
    spec[gen, 1] = inv[spec[gen, 1]]
    spec[gen, 2] = inv[spec[gen, 2]]
    return BlockTable(dims[order], vol[order], req[order], top[order], spec, orients)


def expand(table: BlockTable, block: int, corner: tuple[int, int, int]) -> list[Placement]:
    """The box placements of ``block`` with its low corner at ``corner``."""
    out: list[Placement] = []
    stack = [(block, corner)]
    while stack:
        b, (x, y, z) = stack.pop()
        kind, p1, p2, p3, p4, p5 = (int(v) for v in table.spec[b])
        if kind == SIMPLE:
            a, w, h = table.orients[p1][p2]
            for i in range(p3):
                for j in range(p4):
                    for k in range(p5):
                        out.append(Placement(p1 + 1, x + i * a, y + j * w, z + k * h, a, w, h))
        else:
            shift = [0, 0, 0]
            shift[p3] = int(table.dims[p1][p3])
            stack.append((p1, (x, y, z)))
            stack.append((p2, (x + shift[0], y + shift[1], z + shift[2])))
    return out
