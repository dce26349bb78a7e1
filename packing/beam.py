"""Block building over maximal residual spaces, searched by a greedy-scored beam.

The state is a set of residual spaces (cuboids where the next block may go), the
boxes left and the blocks placed. One step takes the space nearest a container
corner (Zhu & Lim's anchor-distance rule, which keeps the free volume compact) and
puts a block into that corner of it. A state is scored by *greedy completion*: fill
it to the end always taking the largest fitting block. The search is a beam over
partial packings whose width doubles each pass while time remains (CLTRS / ID-GLTS
family): every child is completed greedily, the best ``width`` children survive, and
every completion is a candidate solution, so the result only ever improves.

C1: residual spaces are maximal (the part above a block spans the whole space).
C2: blocks always stand on a space's floor, and the space above a block is cut to
the block's fully covered top area, so every space's floor is fully carried and all
boxes are supported by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from packing.blocks import BlockTable

Spaces = np.ndarray  # (S, 6) int64 rows x0 y0 z0 x1 y1 z1


@dataclass(frozen=True)
class BeamParams:
    """Search knobs (see search_spaces/packing.py for the tuned ranges)."""

    start_width: int = 1
    max_width: int = 4096
    branching: int = 16
    rank: str = "fit"  # fit | volume: how candidate blocks of a space are ordered
    max_evals: int = 0  # deterministic work cap on greedy completions; 0 = only the clock


@dataclass
class State:
    """A partial packing; ``placed`` holds (block, x, y, z) tuples."""

    spaces: Spaces
    left: np.ndarray
    placed: tuple[tuple[int, int, int, int], ...]
    volume: int

    def child(self) -> "State":
        return State(self.spaces, self.left, self.placed, self.volume)


class Packer:
    """The block-building moves for one instance, constraints and block table."""

    def __init__(self, container: tuple[int, int, int], table: BlockTable, stock: np.ndarray,
                 support: bool, rank: str = "fit", waste_weight: float = 1.0) -> None:
        self.cont = np.array(container, dtype=np.int64)
        self.t = table
        self.stock = stock.astype(np.int32)
        self.support = support
        self.rank = rank
        self.waste_weight = waste_weight
        self.noise: np.ndarray | None = None  # optional seed-driven score perturbation per block
        self.bx, self.by, self.bz = (np.ascontiguousarray(table.dims[:, k]) for k in range(3))
        self.req = table.req.astype(np.int32)
        # the smallest extent along each axis of any single box, by type (to drop dead spaces)
        n = len(stock)
        self.type_min = np.zeros((n, 3), dtype=np.int64)
        for t in range(n):
            ex = np.array(table.orients[t])
            self.type_min[t] = ex.min(0)
        self.reach = tuple(_reach_table(int(self.cont[a]), {e[a] for o in table.orients for e in o}) for a in range(3))

    def root(self) -> State:
        L, W, H = self.cont
        return State(np.array([[0, 0, 0, L, W, H]], dtype=np.int64), self.stock.copy(), (), 0)

    # ------------------------------------------------------------------ moves
    def pick_space(self, st: State) -> int:
        """Index of the space nearest a container corner (ties: larger volume)."""
        s = st.spaces
        dx = np.minimum(s[:, 0], self.cont[0] - s[:, 3])
        dy = np.minimum(s[:, 1], self.cont[1] - s[:, 4])
        dz = s[:, 2]
        d = np.sort(np.stack([dx, dy, dz], 1), 1)
        vol = (s[:, 3:] - s[:, :3]).prod(1)
        return int(np.lexsort((-vol, d[:, 2], d[:, 1], d[:, 0]))[0])

    def candidates(self, st: State, space: int, k: int) -> np.ndarray:
        """Up to ``k`` blocks that fit ``space`` with the boxes left, best first."""
        s = st.spaces[space]
        ex = s[3:] - s[:3]
        fit = np.flatnonzero((self.bx <= ex[0]) & (self.by <= ex[1]) & (self.bz <= ex[2]))
        if len(fit) == 0:
            return fit
        if self.rank == "volume":
            return self._first_feasible(fit, st.left, k)
        cand = fit[(self.req[fit] <= st.left).all(1)]
        if len(cand) <= 1:
            return cand
        score = self._fit_score(cand, ex)
        if len(cand) > k:
            top = np.argpartition(-score, k - 1)[:k]
            cand, score = cand[top], score[top]
        return cand[np.lexsort((cand, -score))]

    def _first_feasible(self, fit: np.ndarray, left: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` stock-feasible blocks in volume order (cheap chunked scan)."""
        out: list[int] = []
        chunk = max(32, 4 * k)
        for lo in range(0, len(fit), chunk):
            part = fit[lo:lo + chunk]
            out.extend(part[(self.req[part] <= left).all(1)].tolist())
            if len(out) >= k:
                break
        return np.array(out[:k], dtype=np.int64)

    def _fit_score(self, cand: np.ndarray, ex: np.ndarray) -> np.ndarray:
        """Block volume minus the volume it strands in its space.

        Along each axis the margin a block leaves can only be filled up to the largest
        sum of box extents that fits it (a 1D knapsack over the instance's extents,
        precomputed); the rest of that margin is lost. This prefers blocks that fill a
        space snugly over slightly larger ones that strand unusable slivers.
        """
        dims = self.t.dims[cand]
        lost = np.zeros(len(cand), dtype=np.float64)
        for a in range(3):
            o1, o2 = (j for j in range(3) if j != a)
            gap = ex[a] - dims[:, a]
            waste = gap - self.reach[a][gap]
            lost += waste * ex[o1] * ex[o2]
        inner = self.t.dims[cand].prod(1) - self.t.vol[cand]
        score = self.t.vol[cand] - self.waste_weight * (lost + inner)
        return score if self.noise is None else score + self.noise[cand]

    def place(self, st: State, space: int, block: int) -> State:
        """The state after putting ``block`` in the anchor corner of ``space``."""
        s = st.spaces[space]
        d = self.t.dims[block]
        x = s[0] if s[0] <= self.cont[0] - s[3] else s[3] - d[0]
        y = s[1] if s[1] <= self.cont[1] - s[4] else s[4] - d[1]
        z = s[2]
        lo = np.array([x, y, z], dtype=np.int64)
        hi = lo + d
        left = st.left - self.req[block]
        spaces = self._split(st.spaces, lo, hi, block)
        spaces = self._prune(spaces, left)
        return State(spaces, left, st.placed + ((int(block), int(x), int(y), int(z)),), st.volume + int(self.t.vol[block]))

    def drop_space(self, st: State, space: int) -> State:
        """The state without ``space`` (nothing left fits it)."""
        return State(np.delete(st.spaces, space, 0), st.left, st.placed, st.volume)

    def _split(self, spaces: Spaces, lo: np.ndarray, hi: np.ndarray, block: int) -> Spaces:
        hit = (np.minimum(spaces[:, 3:], hi) > np.maximum(spaces[:, :3], lo)).all(1)
        keep = spaces[~hit]
        pieces = [keep]
        for s in spaces[hit]:
            for a in range(3):
                if lo[a] > s[a]:
                    p = s.copy()
                    p[3 + a] = lo[a]
                    pieces.append(p[None])
                if hi[a] < s[3 + a]:
                    p = s.copy()
                    p[a] = hi[a]
                    if a == 2 and self.support:
                        p = self._above(p, lo, block)
                        if p is None:
                            continue
                    pieces.append(p[None])
        return np.concatenate(pieces)

    def _above(self, p: np.ndarray, lo: np.ndarray, block: int) -> np.ndarray | None:
        """Under C2, the part of space ``p`` over the block's fully covered top."""
        ox, oy, tx, ty = self.t.top[block]
        x0, y0 = max(p[0], lo[0] + ox), max(p[1], lo[1] + oy)
        x1, y1 = min(p[3], lo[0] + ox + tx), min(p[4], lo[1] + oy + ty)
        if x1 <= x0 or y1 <= y0:
            return None
        return np.array([x0, y0, p[2], x1, y1, p[5]], dtype=np.int64)

    def _prune(self, spaces: Spaces, left: np.ndarray) -> Spaces:
        """Drop spaces no remaining box fits, and spaces inside other spaces."""
        if len(spaces) == 0:
            return spaces
        avail = left > 0
        if not avail.any():
            return spaces[:0]
        mins = self.type_min[avail].min(0)
        ext = spaces[:, 3:] - spaces[:, :3]
        spaces = spaces[(ext >= mins).all(1)]
        if len(spaces) < 2:
            return spaces
        lo, hi = spaces[:, :3], spaces[:, 3:]
        inside = (lo[:, None, :] >= lo[None, :, :]).all(2) & (hi[:, None, :] <= hi[None, :, :]).all(2)
        np.fill_diagonal(inside, False)
        # identical spaces contain each other: keep the first of each
        same = inside & inside.T
        inside &= ~np.triu(same)
        return spaces[~inside.any(1)]

    # ------------------------------------------------------------------ search
    def step(self, st: State, k: int) -> tuple[State, int, np.ndarray]:
        """Drop dead spaces until one has candidates: (state, space, candidates)."""
        while len(st.spaces):
            sp = self.pick_space(st)
            cand = self.candidates(st, sp, k)
            if len(cand):
                return st, sp, cand
            st = self.drop_space(st, sp)
        return st, -1, np.zeros(0, dtype=np.int64)

    def greedy(self, st: State) -> State:
        """Complete ``st`` always taking the best ranked block of the chosen space."""
        while True:
            st, sp, cand = self.step(st, 1)
            if sp < 0:
                return st
            st = self.place(st, sp, int(cand[0]))


class Search:
    """The beam search with doubling width, a clock and an evaluation counter."""

    def __init__(self, packer: Packer, params: BeamParams, deadline: float) -> None:
        self.p = packer
        self.params = params
        self.deadline = deadline
        self.best: State | None = None
        self.evals = 0

    def out_of_budget(self) -> bool:
        if self.params.max_evals and self.evals >= self.params.max_evals:
            return True
        return time.perf_counter() >= self.deadline

    def complete(self, st: State) -> State:
        done = self.p.greedy(st)
        self.evals += 1
        if self.best is None or done.volume > self.best.volume:
            self.best = done
        return done

    def run(self, root: State) -> State:
        """Passes of beam search with width 1, 2, 4, ... until the budget ends."""
        self.complete(root)
        width = max(1, self.params.start_width)
        while not self.out_of_budget():
            self.beam(root, width)
            if width >= self.params.max_width:
                break  # a wider pass would repeat this one
            width *= 2
        return self.best

    def beam(self, root: State, width: int) -> None:
        """One beam pass: expand each kept state by ``branching`` blocks, keep ``width``."""
        beam = [root]
        k = max(self.params.branching, 1)
        while beam and not self.out_of_budget():
            children: list[tuple[int, int, State]] = []
            for st in beam:
                st, sp, cand = self.p.step(st, k)
                if sp < 0:
                    continue
                for b in cand:
                    child = self.p.place(st, sp, int(b))
                    score = self.complete(child).volume
                    children.append((score, len(children), child))
                    if self.out_of_budget():
                        break
                if self.out_of_budget():
                    break
            children.sort(key=lambda c: (-c[0], c[1]))
            beam = [c[2] for c in children[:width]]


def _reach_table(length: int, extents: set[int]) -> np.ndarray:
    """r -> the largest sum of (repeatable) extents that is <= r, for r in 0..length."""
    reach = np.zeros(length + 1, dtype=bool)
    reach[0] = True
    for e in sorted(extents):
        step = e
        while step <= length:
            reach[step:] |= reach[:-step].copy()
            step *= 2
    best = np.where(reach, np.arange(length + 1), 0)
    return np.maximum.accumulate(best)
