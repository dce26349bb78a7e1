"""Block building over maximal residual spaces, searched by a greedy-scored beam.

The state is a set of residual spaces (cuboids where the next block may go), the
boxes left and the blocks placed. One step takes the space nearest a container
corner (Zhu & Lim's anchor-distance rule, which keeps the free volume compact) and
puts a block into that corner of it. A state is scored by *greedy completion*: fill
it to the end always taking the best ranked block (on instances with few box types
both the "fit" and the "volume" ranking are tried and the better completion counts).
The search is a beam over partial packings whose width doubles each pass while time
remains (CLTRS / ID-GLTS / BSG family): every child is completed greedily, the best
``width`` distinct children survive (children reaching the same spaces and stock by
another order are dropped), and every completion is a candidate solution, so the
result only ever improves. The moves run as numba kernels (packing/kernels.py,
packing/placement.py).

C1: residual spaces are maximal (the part above a block spans the whole space).
C2: blocks always stand on a space's floor, and the space above a block is cut to
the block's fully covered top, then stretched over neighbouring covered tops of the
same height, so every space's floor is fully carried and all boxes are supported
by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from packing import kernels as K
from packing.blocks import BlockTable

Spaces = np.ndarray  # (S, 6) int64 rows x0 y0 z0 x1 y1 z1
PASS_CLASSES = 4  # a parallel search splits its passes' widths into at most this many classes (see Search.run)


@dataclass(frozen=True)
class BeamParams:
    """Search knobs (see search_spaces/packing.py for the tuned ranges)."""

    start_width: int = 1
    max_width: int = 4096
    branching: int = 16
    order: str = "fit"  # fit | volume: how candidate blocks of a space are ordered
    max_evals: int = 0  # deterministic work cap on greedy completions; 0 = only the clock
    waste: float = 1.0  # weight of stranded volume in the "fit" order
    evaluate: str = "auto"  # completion order(s) scoring a node: "" (= order), fit, volume, both, auto (both if < 40 types)
    live_reach: str = "off"  # reach tables from the types in stock: on, off, auto (on if < 40 types); no gain measured
    space: str = "auto"  # space rule: anchor (corner distance), low (lowest floor first), auto (low under C2 with >= 60 types)
    cut_top: bool = False  # C2: only cut the space above a block to its covered top (no stretching over neighbours)


@dataclass
class State:
    """A partial packing; ``placed`` holds (block, x, y, z) tuples."""

    spaces: Spaces
    left: np.ndarray
    placed: tuple[tuple[int, int, int, int], ...]
    volume: int
    tops: np.ndarray  # (P, 10) per placed block (C2 only): covered top z, x0, y0, x1, y1; extent x0, y0, z0, x1, y1

    def key(self) -> bytes:
        """Identity of what can still happen: residual spaces and stock (not the order)."""
        tops = self.tops[np.lexsort(self.tops.T[::-1])] if len(self.tops) > 1 else self.tops
        return self.spaces.tobytes() + self.left.tobytes() + tops.tobytes()

    def child(self) -> "State":
        return State(self.spaces, self.left, self.placed, self.volume, self.tops)


class Packer:
    """The block-building moves for one instance, constraints and block table.

    The moves themselves are compiled kernels (packing/kernels.py and placement.py);
    this class holds the instance's arrays and wraps them into immutable ``State`` transitions.
    """

    def __init__(self, container: tuple[int, int, int], table: BlockTable, stock: np.ndarray,
                 support: bool, order: str = "fit", waste_weight: float = 1.0, cut_top: bool = False) -> None:
        self.cont = np.array(container, dtype=np.int64)
        self.t = table
        self.stock = stock.astype(np.int64)
        self.support = bool(support)
        self.order = order
        self.waste_weight = float(waste_weight)
        self.cut_top = bool(cut_top)
        self.low_first = False  # space rule: lowest floor first (else the anchor rule alone)
        self.track = self.support and not self.cut_top  # C2: remember covered tops to stretch spaces over
        self.noise: np.ndarray | None = None  # optional seed-driven score perturbation per block
        self.dims = np.ascontiguousarray(table.dims, dtype=np.int64)
        self.vol = np.ascontiguousarray(table.vol, dtype=np.int64)
        self.req = np.ascontiguousarray(table.req, dtype=np.int64)
        self.uses = K.sparse_uses(self.req)
        self.top = np.ascontiguousarray(table.top, dtype=np.int64)
        # the smallest extent along each axis of any single box, by type (to drop dead spaces)
        n = len(stock)
        self.type_min = np.zeros((n, 3), dtype=np.int64)
        for t in range(n):
            self.type_min[t] = np.array(table.orients[t]).min(0)
        self.reach = tuple(_reach_table(int(self.cont[a]), {e[a] for o in table.orients for e in o}) for a in range(3))
        k = max(len(o) for o in table.orients)
        self.type_ext = np.zeros((n, 3, k), dtype=np.int64)
        for t, o in enumerate(table.orients):
            self.type_ext[t, :, :len(o)] = np.array(o).T
        self.live_reach = False  # rebuild the reach tables from the types in stock (see placement.live_reach)
        self._no_noise = np.zeros(0, dtype=np.float64)

    def root(self) -> State:
        L, W, H = self.cont
        return State(np.array([[0, 0, 0, L, W, H]], dtype=np.int64), self.stock.copy(), (), 0,
                     np.zeros((0, 10), dtype=np.int64))

    # ------------------------------------------------------------------ moves
    def pick_space(self, st: State) -> int:
        """Index of the space nearest a container corner (ties: larger volume)."""
        return int(K.pick_space(st.spaces, self.cont, self.low_first))

    def candidates(self, st: State, space: int, k: int) -> np.ndarray:
        """Up to ``k`` blocks that fit ``space`` with the boxes left, best first."""
        return K.block_scores(st.spaces[space], st.left, self.dims, self.vol, self.uses, *self._reach(st.left),
                              self.order == "fit", self.waste_weight, self._noise(), int(k))

    def _reach(self, left: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.live_reach or (left > 0).all():
            return self.reach
        return tuple(K.live_reach(left, self.type_ext, a, int(self.cont[a])) for a in range(3))

    def _noise(self) -> np.ndarray:
        return self._no_noise if self.noise is None else np.ascontiguousarray(self.noise, dtype=np.float64)

    def place(self, st: State, space: int, block: int) -> State:
        """The state after putting ``block`` in the anchor corner of ``space``."""
        left = st.left - self.req[block]
        mins = K.space_mins(left, self.type_min)
        corner = K.block_corner(st.spaces[space], int(block), self.cont, self.dims)
        tops = K.add_top(st.tops, int(block), corner, self.dims, self.top) if self.track else st.tops
        spaces = K.place_block(st.spaces, int(block), corner, self.cont, self.dims, self.top, self.support,
                               mins, self.cut_top, tops)
        x, y, z = (int(v) for v in corner)
        return State(spaces, left, st.placed + ((int(block), x, y, z),), st.volume + int(self.vol[block]), tops)

    def drop_space(self, st: State, space: int) -> State:
        """The state without ``space`` (nothing left fits it)."""
        return State(K.drop_row(st.spaces, int(space)), st.left, st.placed, st.volume, st.tops)

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

    def greedy(self, st: State, order: str | None = None) -> State:
        """Complete ``st`` always taking the best ranked block of the chosen space."""
        return self.finish(st, *self.greedy_rows(st, order))

    def greedy_rows(self, st: State, order: str | None = None) -> tuple[int, np.ndarray]:
        """The greedy completion's final volume and added (block, x, y, z) rows, no State built."""
        fit = (order or self.order) == "fit"
        added, rows = K.greedy(st.spaces, st.left, self.cont, self.dims, self.vol, self.uses, self.top,
                               self.support, self.type_min, *self.reach, fit,
                               self.waste_weight, self._noise(), st.tops, self.cut_top, self.low_first,
                               self.type_ext if self.live_reach else self.type_ext[:0])
        return st.volume + int(added), rows

    def finish(self, st: State, volume: int, rows: np.ndarray) -> State:
        """The complete State of ``st`` followed by the greedy ``rows``."""
        placed = st.placed + tuple((int(b), int(x), int(y), int(z)) for b, x, y, z in rows)
        left = st.left - self.req[rows[:, 0]].sum(0) if len(rows) else st.left
        return State(st.spaces[:0], left, placed, volume, st.tops[:0])


class Search:
    """The beam search with doubling width, a clock and an evaluation counter.

    ``run(root, worker, workers)`` is one worker's share of a search (see there);
    ``passes`` logs (width, budget spent, best volume) after every finished pass.
    """

    def __init__(self, packer: Packer, params: BeamParams, deadline: float) -> None:
        self.p = packer
        self.params = params
        self.deadline = deadline
        self.start = time.perf_counter()
        self.best: State | None = None
        self.evals = 0
        self.passes: list[tuple[int, float, int]] = []
        ev = params.evaluate
        if ev == "auto":  # two completions per node pay off when completions are cheap (few box types)
            ev = "both" if len(packer.stock) < 40 else ""
        self.orders = ("fit", "volume") if ev == "both" else (ev or packer.order,)

    def out_of_budget(self) -> bool:
        if self.params.max_evals and self.evals >= self.params.max_evals:
            return True
        return time.perf_counter() >= self.deadline

    def spent(self) -> float:
        """Budget used so far: completions under a work cap (deterministic), else seconds."""
        return float(self.evals) if self.params.max_evals else time.perf_counter() - self.start

    def complete(self, st: State) -> int:
        """The greedy completion value of ``st`` (best over the evaluation ranks); keeps the best."""
        best_v = -1
        for order in self.orders:
            volume, rows = self.p.greedy_rows(st, order)
            self.evals += 1
            if self.best is None or volume > self.best.volume:
                self.best = self.p.finish(st, volume, rows)
            best_v = max(best_v, volume)
        return best_v

    def run(self, root: State, worker: int = 0, workers: int = 1) -> State:
        """Passes of beam search until the budget ends; the best complete packing seen.

        A lone worker runs widths 1, 2, 4, ... (``start_width`` doubling). Worker k of a
        parallel search runs the widths 2^i with i = k (mod m), m = min(workers,
        ``PASS_CLASSES``): together the workers run every pass the lone search would,
        each one sooner, so under the same work cap per worker their best packing is at
        least the lone search's; a pass costs about its width, so each worker reaches
        widths nearly twice as wide as the lone search in the same time. Passes are the
        unit of parallel work because the beam's result grows in steps with its width
        and repeats itself between passes of nearby widths. Workers beyond m repeat a
        class with seed-driven block-score jitter (set up by the solver) for diversity.
        """
        self.complete(root)
        m = max(1, min(workers, PASS_CLASSES))
        width = max(1, self.params.start_width) << (worker % m)
        while not self.out_of_budget():
            self.beam(root, width)
            if self.out_of_budget():
                break
            self.passes.append((width, self.spent(), self.best.volume))
            if width >= self.params.max_width:
                break  # a wider pass would repeat this one
            width = min(width << m, self.params.max_width)
        return self.best

    def beam(self, root: State, width: int) -> None:
        """One beam pass: expand each kept state by ``branching`` blocks, keep ``width``."""
        beam = [root]
        k = max(self.params.branching, 1)
        while beam and not self.out_of_budget():
            children: list[tuple[int, int, State]] = []
            seen: set[bytes] = set()
            for st in beam:
                st, sp, cand = self.p.step(st, k)
                if sp < 0:
                    continue
                for b in cand:
                    child = self.p.place(st, sp, int(b))
                    key = child.key()
                    if key in seen:
                        continue  # the same free space and stock reached by another order
                    seen.add(key)
                    score = self.complete(child)
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
