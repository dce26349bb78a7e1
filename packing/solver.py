"""One interface over the strategies: ``solve`` and the first-level ``branches``.

A parallel search of one instance is ``solve(..., worker=k, workers=N)`` for k in
0..N-1, each in its own process with the whole time limit, keeping the best packing
(the orchestrator runs them as Ray tasks); ``workers=1`` is the single-process
search. ``branch=b`` restricts a search to one first-level branch of the tree.
Same instance, parameters, seed and work cap (``max_evals``) give the same packing;
with only a clock the search is cut wherever time ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace

import numpy as np

from packing.beam import PASS_CLASSES, BeamParams, Packer, Search
from packing.blocks import build_blocks, expand
from packing.errors import InstanceError
from packing.geometry import Instance, Placement, Solution, parse_constraints
from packing.mltrs import MltrsParams, solve_mltrs

STRATEGIES = ("blocks", "mltrs")
DIVERSITY_JITTER = 0.05  # block-score jitter of parallel workers beyond the pass classes (x mean block volume)


@dataclass(frozen=True)
class BlockParams:
    """Block table knobs: size cap, general-block density and rounds."""

    max_blocks: int = 6000
    min_fill: float = 0.98
    general_rounds: int = -1  # -1: auto, on instances with >= 40 box types one round (C1) or two flat-top rounds (C2); none below (hurt there)
    root_branches: int = 4  # first-level branches offered to the orchestrator
    flat_top: bool = True  # C2: side-by-side general blocks only with a full flat top (+1.5-3 points on BR10/BR13)


@dataclass(frozen=True)
class SolverParams:
    """All strategy parameters (the search space in search_spaces/packing.py)."""

    blocks: BlockParams = field(default_factory=BlockParams)
    beam: BeamParams = field(default_factory=BeamParams)
    mltrs: MltrsParams = field(default_factory=MltrsParams)
    jitter: float = 0.0  # seed-driven perturbation of block scores (0 = seed-independent)


def branches(instance: Instance, strategy: str, constraints: str, params: SolverParams | None = None) -> tuple[int, ...]:
    """The first-level branch ids of ``strategy`` on ``instance``."""
    params = params or SolverParams()
    _check_strategy(strategy)
    if strategy == "mltrs":
        return (0, 1, 2)  # the ternary root: YZ, XZ, XY layer first
    return tuple(range(max(1, params.blocks.root_branches)))


def solve(
    instance: Instance,
    strategy: str,
    constraints: str,
    time_limit: float,
    seed: int = 0,
    branch: int | None = None,
    params: SolverParams | None = None,
    worker: int = 0,
    workers: int = 1,
) -> Solution:
    """The best packing found within ``time_limit`` seconds (never an invalid one).

    ``worker`` of ``workers``: this process's share of a parallel search of one
    instance (``packing.beam.Search.run``; the caller keeps the best of the workers'
    packings). Worker 0 is always the single-process search itself.
    """
    _check_strategy(strategy)
    cons = parse_constraints(constraints)
    params = params or SolverParams()
    start = time.perf_counter()
    deadline = start + max(0.0, float(time_limit))
    support = cons == "C1C2"
    if not 0 <= worker < max(1, workers):
        raise InstanceError(f"{instance.name}: worker {worker} not in 0..{workers - 1}")
    if strategy == "mltrs":
        if branch is None and worker > 0:  # worker k >= 1 of an MLTrS search fixes the root plane (k - 1) % 3
            branch = (worker - 1) % 3
        if branch is not None and branch not in (0, 1, 2):
            raise InstanceError(f"{instance.name}: mltrs branch {branch} not in (0, 1, 2)")
        placements, evals = solve_mltrs(instance, support, params.mltrs, deadline, branch)
    else:
        placements, evals = _solve_blocks(instance, support, params, deadline, seed, branch, worker, workers)
    seconds = time.perf_counter() - start
    stats = (("evals", float(evals)),) + ((("worker", float(worker)),) if workers > 1 else ())
    return Solution(instance.name, instance.container, cons, strategy, tuple(placements), seconds, branch, stats)


def _solve_blocks(instance, support, params, deadline, seed, branch, worker=0, workers=1) -> tuple[list[Placement], int]:
    bp = params.blocks
    many = len(instance.types) >= 40
    rounds = bp.general_rounds if bp.general_rounds >= 0 else (2 if support else 1) * many
    table = build_blocks(instance, support, bp.max_blocks, bp.min_fill, rounds, bp.flat_top)
    stock = np.array([t.quantity for t in instance.types])
    packer = Packer(instance.container, table, stock, support, params.beam.order, params.beam.waste,
                    params.beam.cut_top)
    # lowest floor first measured +0.7 / +1.7 points on BR13 / BR15 C1C2, -0.3 on BR10 (3 instances, 5 s)
    packer.low_first = params.beam.space == "low" or (params.beam.space == "auto" and support
                                                      and len(instance.types) >= 60)
    packer.live_reach = params.beam.live_reach == "on" or (params.beam.live_reach == "auto" and len(instance.types) < 40)
    copy = worker >= PASS_CLASSES  # a worker that repeats another's passes: perturb its block scores
    jitter = params.jitter if params.jitter > 0 else DIVERSITY_JITTER * copy
    if jitter > 0 and (seed or copy):
        rng = np.random.default_rng((seed, worker) if copy else seed)
        packer.noise = rng.random(len(table)) * jitter * float(table.vol.mean())
    search = Search(packer, params.beam, deadline)
    root = packer.root()
    if branch is not None:
        root, sp, cand = packer.step(root, max(1, bp.root_branches))
        if branch >= len(cand):
            return [], 0  # fewer first blocks than branches: this branch is empty
        root = packer.place(root, sp, int(cand[branch]))
    best = search.run(root, worker, workers)
    placements = [p for (b, x, y, z) in best.placed for p in expand(table, b, (x, y, z))]
    return placements, search.evals


def warm_up() -> None:
    """Load (or compile) the block-building kernels now, on a toy instance.

    The kernels are compiled once and cached on disk, but the first call in a process
    still spends about a second loading them; callers that time instances (benchmarks)
    run this first so that second is not charged to the first instance.
    """
    from packing.geometry import BoxType

    toy = Instance("warm-up", 1, None, (10, 10, 10), (BoxType(1, (5, 10, 5), (1, 1, 1), 2),
                                                       BoxType(2, (3, 4, 5), (0, 0, 1), 3)))
    for cons in ("C1", "C1C2"):
        solve(toy, "blocks", cons, 0.05)


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise InstanceError(f"--strategy: unknown strategy {strategy!r}; expected one of {STRATEGIES}")


def with_overrides(params: SolverParams, overrides: dict[str, object]) -> SolverParams:
    """``params`` with dotted keys ("beam.branching") replaced; ValueError on unknown keys or
    values of the wrong type (an int where a float is expected is taken)."""
    for key, value in overrides.items():
        head, _, tail = key.partition(".")
        names = {f.name for f in fields(params)}
        if head not in names:
            raise ValueError(f"solver parameter {key!r}: unknown; expected one of {sorted(names)}")
        if tail:
            sub = getattr(params, head)
            sub_names = {f.name for f in fields(sub)}
            if tail not in sub_names:
                raise ValueError(f"solver parameter {key!r}: unknown; expected {head}.<{'|'.join(sorted(sub_names))}>")
            value = _typed(key, value, getattr(sub, tail))
            params = replace(params, **{head: replace(sub, **{tail: value})})
        else:
            params = replace(params, **{head: _typed(key, value, getattr(params, head))})
    return params


def _typed(key: str, value: object, current: object) -> object:
    """``value`` as the type of the field's current value, or ValueError naming the key."""
    if isinstance(current, bool):
        ok = isinstance(value, (bool, np.bool_))
        value = bool(value) if ok else value
    elif isinstance(current, int):
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        value = int(value) if ok else value
    elif isinstance(current, float):
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        value = float(value) if ok else value
    elif isinstance(current, str):
        ok = isinstance(value, str)
    else:
        ok = False
    if not ok:
        raise ValueError(f"solver parameter {key!r}: expected {type(current).__name__}, got {value!r}")
    return value
