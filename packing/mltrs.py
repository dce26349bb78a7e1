"""MLTrS: the multi-level tree search of the seed paper, box -> piece -> strip -> layer -> entity.

Only the paper's abstract and result tables are available to us, so this follows the
structure the abstract fixes and fills the details in the simplest sound way:

* Level 1, a ternary tree over the *entity* (the plan so far plus a residual cuboid):
  each node fills one layer parallel to the XY, XZ or YZ plane at the low end of the
  residual cuboid, i.e. along z, y or x. A layer's depth is one of the box extents
  allowed along that axis; the residual cuboid then shrinks by that depth.
* Level 2, a binary tree inside a layer: the layer's rectangle is filled by strips,
  and each node chooses between the best strip along one in-layer axis and the best
  strip along the other (the two mutually perpendicular strips), both evaluated.
* Level 3, a quad tree building *pieces* of one box type: from a single box a piece
  grows along the strip, across it, through the layer depth, or turns to another
  allowed orientation (the four branches). Every piece reachable in that tree is a
  grid of one orientation, so the tree is enumerated in closed form, vectorised over
  all (type, orientation) pairs; a strip takes pieces in order of density.
* Search: every entity node is scored by greedy completion (always the best layer),
  the best child is committed, and the number of layer depths tried per plane grows
  while time remains. The root's three planes are the first-level branches that the
  orchestrator may run as separate tasks.

C2 is enforced exactly: a piece that is not fully carried by the floor or by box tops
at its base height is not placed, so every emitted packing satisfies the verifier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from packing.geometry import Instance, Placement, orientations

AXES = ("YZ", "XZ", "XY")  # layer plane by the axis it is stacked along: x, y, z


@dataclass(frozen=True)
class MltrsParams:
    """Search knobs: depths tried per plane (start, doubling to max), strip widths."""

    start_depths: int = 1
    max_depths: int = 8
    max_widths: int = 6
    max_evals: int = 0  # deterministic cap on greedy completions; 0 = only the clock


@dataclass(frozen=True)
class Entity:
    """A partial plan: residual cuboid low corner, boxes left, placements (rows)."""

    low: tuple[int, int, int]
    left: tuple[int, ...]
    rows: tuple[tuple[int, int, int, int, int, int, int], ...]
    volume: int


class Mltrs:
    """The three-level search for one instance and constraint set."""

    def __init__(self, instance: Instance, support: bool, params: MltrsParams, deadline: float) -> None:
        self.cont = np.array(instance.container, dtype=np.int64)
        self.support = support
        self.params = params
        self.deadline = deadline
        rows = [(t, *o) for t, box in enumerate(instance.types) for o in orientations(box, c1=True)]
        self.otype = np.array([r[0] for r in rows], dtype=np.int64)
        self.oext = np.array([r[1:] for r in rows], dtype=np.int64)  # (R, 3) extents along x, y, z
        self.ovol = self.oext.prod(1)
        self.stock = tuple(t.quantity for t in instance.types)
        self.best: Entity | None = None
        self.evals = 0

    # ------------------------------------------------------------ level 3: pieces
    def fill_strip(self, origin, axis_s, axis_c, axis_a, length, width, depth, left, placed):
        """Fill one strip with pieces; returns (rows, volume, left)."""
        left = np.array(left, dtype=np.int64)
        ok = (self.oext[:, axis_c] <= width) & (self.oext[:, axis_a] <= depth) & (self.oext[:, axis_s] <= length)
        idx = np.flatnonzero(ok & (left[self.otype] > 0))
        rows, vol, pos = [], 0, 0
        if len(idx) == 0:
            return rows, vol, left
        ext = self.oext[idx]
        nc, na = width // ext[:, axis_c], depth // ext[:, axis_a]
        if self.support:  # C2: a piece must fill the strip's height exactly, so its top is flat
            flat = np.ones(len(idx), dtype=bool)
            if axis_c == 2:
                flat = nc * ext[:, axis_c] == width
            elif axis_a == 2:
                flat = na * ext[:, axis_a] == depth
            idx, ext, nc, na = idx[flat], ext[flat], nc[flat], na[flat]
            if len(idx) == 0:
                return rows, vol, left
        per_slice = nc * na
        density = self.ovol[idx] * per_slice / (ext[:, axis_s] * width * depth)
        order = np.lexsort((idx, -density))
        for j in order:
            t, e = int(self.otype[idx[j]]), ext[j]
            while True:
                es = int(e[axis_s])
                fit_len = (length - pos) // es
                if fit_len <= 0 or left[t] <= 0:
                    break
                n_c, n_a = int(nc[j]), int(na[j])
                if left[t] < n_c * n_a:  # not enough boxes for a full slice: shrink it
                    n_a = max(1, min(n_a, left[t] // max(n_c, 1)))
                    n_c = min(n_c, left[t] // n_a) if n_a else 0
                    if n_c <= 0:
                        break
                n_s = min(fit_len, left[t] // (n_c * n_a))
                piece = self._piece(origin, axis_s, axis_c, axis_a, pos, e, n_s, n_c, n_a, t)
                if self.support and not self._carried(piece, placed, rows):  # placed: (N, 7) array
                    break
                rows += piece
                left[t] -= n_s * n_c * n_a
                vol += int(self.ovol[idx[j]]) * n_s * n_c * n_a
                pos += n_s * es
        return rows, vol, left

    def _piece(self, origin, axis_s, axis_c, axis_a, pos, e, n_s, n_c, n_a, t):
        out = []
        for i in range(n_s):
            for j in range(n_c):
                for k in range(n_a):
                    p = list(origin)
                    p[axis_s] += pos + i * int(e[axis_s])
                    p[axis_c] += j * int(e[axis_c])
                    p[axis_a] += k * int(e[axis_a])
                    out.append((t + 1, p[0], p[1], p[2], int(e[0]), int(e[1]), int(e[2])))
        return out

    def _carried(self, piece, placed, extra) -> bool:
        """C2: every box of the piece resting on something fully carried."""
        boxes = np.array(piece, dtype=np.int64)
        others = np.concatenate([placed, np.array(list(extra) + piece, dtype=np.int64).reshape(-1, 7)])
        tops = others[:, 3] + others[:, 6]
        for b in boxes:
            if b[3] == 0:
                continue
            c = others[tops == b[3]]
            wx = np.minimum(b[1] + b[4], c[:, 1] + c[:, 4]) - np.maximum(b[1], c[:, 1])
            wy = np.minimum(b[2] + b[5], c[:, 2] + c[:, 5]) - np.maximum(b[2], c[:, 2])
            if int((np.clip(wx, 0, None) * np.clip(wy, 0, None)).sum()) < b[4] * b[5]:
                return False
        return True

    # ------------------------------------------------------------ level 2: strips in a layer
    def fill_layer(self, low, axis_a, depth, left, placed):
        """Fill the layer of ``depth`` along ``axis_a`` at ``low``; (rows, volume, left)."""
        u, v = (k for k in range(3) if k != axis_a)
        lo = list(low)
        placed = np.array(placed, dtype=np.int64).reshape(-1, 7)
        rect = [lo[u], lo[v], int(self.cont[u]), int(self.cont[v])]
        rows: list = []
        vol = 0
        while True:
            best = None
            for axis_s, axis_c in ((u, v), (v, u)):  # the two perpendicular strips
                here = np.concatenate([placed, np.array(rows, dtype=np.int64).reshape(-1, 7)]) if self.support else placed
                cand = self.best_strip(lo, rect, u, v, axis_s, axis_c, axis_a, depth, left, here)
                if cand and (best is None or cand[0] > best[0]):
                    best = cand
            if best is None:
                return rows, vol, left
            _, srows, svol, left, axis_c, width = best
            rows += srows
            vol += svol
            if axis_c == v:
                rect[1] += width
            else:
                rect[0] += width

    def best_strip(self, lo, rect, u, v, axis_s, axis_c, axis_a, depth, left, placed):
        """The best-utilised strip along ``axis_s`` at the rectangle's low corner."""
        length = rect[2] - rect[0] if axis_s == u else rect[3] - rect[1]
        room = rect[3] - rect[1] if axis_c == v else rect[2] - rect[0]
        if length <= 0 or room <= 0:
            return None
        avail = np.array(left)[self.otype] > 0
        fits = avail & (self.oext[:, axis_a] <= depth) & (self.oext[:, axis_c] <= room) & (self.oext[:, axis_s] <= length)
        widths = np.unique(self.oext[fits, axis_c])[::-1][: self.params.max_widths]
        origin = list(lo)
        origin[u], origin[v] = rect[0], rect[1]
        best = None
        for w in widths.tolist():
            srows, svol, sleft = self.fill_strip(origin, axis_s, axis_c, axis_a, length, w, depth, left, placed)
            if svol == 0:
                continue
            util = svol / (length * w * depth)
            key = (util, svol)
            if best is None or key > best[0]:
                best = (key, srows, svol, tuple(int(x) for x in sleft), axis_c, w)
        return best

    # ------------------------------------------------------------ level 1: layers in the entity
    def depths(self, ent: Entity, axis: int, k: int) -> list[int]:
        """Up to ``k`` layer depths along ``axis``: extents of available boxes, by volume share."""
        room = int(self.cont[axis] - ent.low[axis])
        avail = np.array(ent.left)[self.otype] > 0
        ok = avail & (self.oext[:, axis] <= room)
        if not ok.any():
            return []
        ext = self.oext[ok, axis]
        weight = (self.ovol[ok] * np.array(ent.left)[self.otype[ok]]).astype(np.float64)
        vals = np.unique(ext)
        score = np.array([weight[ext == d].sum() for d in vals])
        return [int(d) for d in vals[np.lexsort((vals, -score))][:k]]

    def layer_children(self, ent: Entity, k: int, axes=(0, 1, 2)) -> list[tuple[float, Entity]]:
        """Entities after one more layer: for each plane, each of ``k`` depths."""
        out = []
        for a in axes:
            for d in self.depths(ent, a, k):
                rows, vol, left = self.fill_layer(ent.low, a, d, ent.left, ent.rows)
                if vol == 0:
                    continue
                low = list(ent.low)
                low[a] += d
                area = 1
                for b in range(3):
                    if b != a:
                        area *= int(self.cont[b] - ent.low[b])
                child = Entity(tuple(low), tuple(int(x) for x in left), ent.rows + tuple(rows), ent.volume + vol)
                out.append((vol / (d * area), child))
        return out

    def greedy(self, ent: Entity) -> Entity:
        """Complete with the best-utilised layer (depth 1 per plane) until none fits."""
        while self.best is None or time.perf_counter() < self.deadline:
            kids = self.layer_children(ent, 1)
            if not kids:
                break
            ent = max(kids, key=lambda c: (c[0], c[1].volume))[1]
        self.evals += 1
        if self.best is None or ent.volume > self.best.volume:
            self.best = ent
        return ent

    def out_of_budget(self) -> bool:
        if self.params.max_evals and self.evals >= self.params.max_evals:
            return True
        return time.perf_counter() >= self.deadline

    def search(self, root: Entity, root_axes=(0, 1, 2)) -> Entity:
        """Commit, layer by layer, the child whose greedy completion is best; widen and repeat."""
        k = max(1, self.params.start_depths)
        first = True
        if len(root_axes) == 3:
            self.greedy(root)  # a complete plan first, whatever the clock says
        while not self.out_of_budget():
            ent, axes = root, root_axes
            while not self.out_of_budget():
                kids = self.layer_children(ent, k, axes)
                axes = (0, 1, 2)
                if not kids:
                    break
                scored = [(self.greedy(c).volume, -i, c) for i, (_, c) in enumerate(kids)]
                if self.out_of_budget() and not first:
                    break
                ent = max(scored, key=lambda s: (s[0], s[1]))[2]
            first = False
            if k >= self.params.max_depths:
                break
            k *= 2
        if self.best is None:
            self.greedy(root)
        return self.best

    def root(self) -> Entity:
        return Entity((0, 0, 0), self.stock, (), 0)


def solve_mltrs(instance: Instance, support: bool, params: MltrsParams, deadline: float,
                branch: int | None = None) -> tuple[list[Placement], int]:
    """Placements of the best plan found, and the number of greedy completions run.

    ``branch`` 0, 1, 2 fixes the root's first layer to the YZ, XZ or XY plane.
    """
    search = Mltrs(instance, support, params, deadline)
    axes = (0, 1, 2) if branch is None else (branch,)
    best = search.search(search.root(), axes)
    return [Placement(*r) for r in best.rows], search.evals
