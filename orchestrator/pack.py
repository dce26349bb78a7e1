"""`pack`: container loading on Ray. Each instance is one parallel search of ``--workers`` tasks.

    python -m orchestrator pack --instances BR7 --limit 20 --constraints C1 \
        --time-limit 30 --workers 2 --out results.jsonl

All input (classes, limit, files, instance contents) is validated before Ray starts.
``--time-limit`` is the wall time of one instance, whatever the number of workers.
An instance's search runs as ``--workers`` Ray tasks of one CPU each, started
together, each with the whole time limit (``packing.solver.solve(worker=k,
workers=N)``: worker 0 is the single-process search, the others jump to wider beam
passes, see ``packing.beam.Search.run``); the best of their packings counts. As many
instances run side by side as the cluster's CPUs hold (CPUs // workers), so no task
waits in a queue while its clock runs. Results are gathered as they finish
(``ray.wait``), the best packing per instance is verified by ``packing.verify`` (an
invalid one is never reported), written as one JSON line, and logged to MLflow: one
parent run for the command, one child run per instance class with per-instance fill
rates, the class mean and a 3D render of the class's best packing.

``--instances`` also takes a file: any BR / OR-Library ``.txt`` file (its defective
problems are named on stderr and skipped) or a shipment ``.json`` / ``.csv``
(``packing.shipment``), which is one instance.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from orchestrator import cluster, faults, tracking
from orchestrator.config import parse_set
from orchestrator.pack_record import PackRecord, mean_fill
from packing.errors import InstanceError
from packing.geometry import Instance, Solution, parse_constraints
from packing.instances import load_input
from packing.solver import STRATEGIES, SolverParams, solve, with_overrides
from packing.verify import verify
from trainables.errors import ConfigError


@dataclass(frozen=True)
class PackOptions:
    """The validated command line."""

    instances: str  # the --instances value: classes, single instances or one file
    limit: int
    constraints: str
    time_limit: float
    strategy: str
    seed: int
    out: Path | None
    data_dir: str | None
    experiment: str
    address: str | None
    workers: int | None  # None: the cluster's CPUs
    params: SolverParams = field(default_factory=SolverParams)  # defaults with --set applied


def register(subparsers: Any) -> None:
    """Add the `pack` sub-command."""
    p = subparsers.add_parser("pack", help="3D container loading (BR0-BR15), a parallel search per instance on Ray")
    add_solve_flags(p, limit=10, time_limit=30.0, time_help="wall seconds per instance")
    p.add_argument("--workers", type=int, default=None,
                   help="CPUs (search workers) per instance (default: the cluster's CPUs); instances run side by "
                        "side while CPUs allow")
    p.add_argument("--branches", type=int, default=None, help=argparse.SUPPRESS)  # the same as --workers
    p.add_argument("--out", help="JSONL output: one packing per line")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="solver parameter, dotted (beam.branching=32; see search_spaces/packing.py and `pack-tune`)")
    p.set_defaults(func=run)


def add_solve_flags(p: argparse.ArgumentParser, limit: int, time_limit: float, time_help: str) -> None:
    """The flags `pack` and `pack-tune` share: what to solve, how, where, and where to log."""
    p.add_argument("--instances", required=True,
                   help="classes: BR7, BR1,BR2, BR1-BR7 or instances BR7/3,BR8/1; or one file: a BR / OR-Library "
                        ".txt, or a shipment .json / .csv (see packing/shipment.py)")
    p.add_argument("--limit", type=int, default=limit,
                   help=f"first N instances of each class or .txt file (default {limit})")
    p.add_argument("--constraints", default="C1", help="C1 (orientation) or C1C2 (plus full support)")
    p.add_argument("--time-limit", type=float, default=time_limit, help=f"{time_help} (default {time_limit:g})")
    p.add_argument("--strategy", default="blocks", help=f"one of {', '.join(STRATEGIES)} (default blocks)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--data-dir", help="directory with BR0.txt..BR15.txt (else $ORCH_DATA_DIR/container_loading_br)")
    p.add_argument("--experiment", default="orchestrator", help="MLflow experiment (default orchestrator)")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or a local cluster)")


def check_solve_flags(args: argparse.Namespace) -> str:
    """The flags `pack` and `pack-tune` share (--limit, --time-limit, --strategy,
    --constraints); ConfigError on a bad one, else the normalised constraints."""
    if args.limit is None or args.limit < 1:
        raise ConfigError(f"--limit: expected a positive number of instances per class, got {args.limit}")
    if not args.time_limit or args.time_limit <= 0:
        raise ConfigError(f"--time-limit: expected positive seconds, got {args.time_limit}")
    if args.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy {args.strategy!r}; expected one of {list(STRATEGIES)}")
    try:
        return parse_constraints(args.constraints)
    except ValueError as exc:
        raise ConfigError(f"--constraints: {exc}") from None


def options(args: argparse.Namespace) -> PackOptions:
    """Check every flag; ConfigError / InstanceError with one line on bad input."""
    constraints = check_solve_flags(args)
    workers = getattr(args, "workers", None)
    flag = "--workers"
    if workers is None and getattr(args, "branches", None) is not None:
        workers, flag = args.branches, "--branches"
    if workers is not None and workers < 1:
        raise ConfigError(f"{flag}: expected a positive number of workers per instance, got {workers}")
    out = Path(args.out) if args.out else None
    if out is not None and not out.resolve().parent.is_dir():
        raise ConfigError(f"--out: directory {out.resolve().parent} does not exist")
    try:
        params = with_overrides(SolverParams(), parse_set(getattr(args, "set", None)))
    except ValueError as exc:
        raise ConfigError(f"--set: {exc}") from None
    return PackOptions(args.instances, args.limit, constraints, float(args.time_limit), args.strategy,
                       int(args.seed or 0), out, args.data_dir, args.experiment or "orchestrator",
                       args.address, workers, params)


@ray.remote(num_cpus=1, max_retries=3)
def _solve_task(instance: Instance, strategy: str, constraints: str, time_limit: float, seed: int,
                worker: int, workers: int, fault_plan: str = "", params: SolverParams | None = None) -> Solution:
    """Worker ``worker`` of one instance's parallel search (the pure solver; no I/O). A
    task whose process dies is retried by Ray (``max_retries``); the search is
    deterministic per seed and work cap. ``branch`` is the fault plans' key for the worker."""
    faults.maybe_exit(fault_plan, "pack_task_exit", instance=instance.name, worker=worker, branch=worker)
    return solve(instance, strategy, constraints, time_limit, seed=seed, params=params, worker=worker,
                 workers=workers)


def run(args: argparse.Namespace) -> int:
    """Validate, fan out, gather, verify, write, log. Returns the exit code."""
    opts = options(args)
    instances = load_instances(opts.instances, opts.limit, opts.data_dir)
    uri = tracking.resolve_tracking_uri()
    cluster.connect(opts.address)
    cluster.require_shared_tracking(uri)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = opts.workers or cpus
    if workers > cpus:
        raise ConfigError(f"--workers: {workers} workers per instance, but the cluster has {cpus} CPUs "
                          f"(a queued worker's clock would run while it waits)")
    logger = PackRecord(uri, opts, instances, workers)
    try:
        results = _fan_out(instances, workers, max(1, cpus // workers), opts, logger)
    except BaseException as exc:
        logger.close("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    logger.finish(results)
    print(f"pack: {len(results)} instances, mean fill {100 * mean_fill(results.values()):.2f} %; "
          f"{tracking.ui_hint(uri)}", file=sys.stderr)
    return 0


def load_instances(selection: str, limit: int, data_dir: str | None) -> tuple[Instance, ...]:
    """The selected instances, read and checked (InstanceError names the file and line).

    Defective problems of a .txt file are named on stderr, one line each, and left out.
    """
    instances, skipped = load_input(selection, limit, data_dir)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not instances:
        raise InstanceError(f"--instances {selection}: no instances selected")
    return tuple(instances)


def _fan_out(instances, workers: int, side_by_side: int, opts: PackOptions,
             logger: PackRecord) -> dict[str, Solution]:
    """Run ``side_by_side`` instances at a time, each as ``workers`` tasks started together;
    keep the best verified packing per instance as its last worker finishes."""
    by_name = {inst.name: inst for inst in instances}
    queue = list(instances)
    refs: dict[Any, str] = {}

    def start(inst: Instance) -> None:
        ref = ray.put(inst)
        for k in range(workers):
            refs[_solve_task.remote(ref, opts.strategy, opts.constraints, opts.time_limit, opts.seed, k, workers,
                                    faults.current(), opts.params)] = inst.name

    for _ in range(min(side_by_side, len(queue))):
        start(queue.pop(0))
    pending = list(refs)
    got: dict[str, list[Solution]] = {inst.name: [] for inst in instances}
    results: dict[str, Solution] = {}
    out = opts.out.open("w", encoding="utf-8") if opts.out else None
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            name = refs[done[0]]
            got[name].append(ray.get(done[0]))
            if len(got[name]) < workers:
                continue
            if queue:  # this instance's CPUs are free again
                n_before = len(refs)
                start(queue.pop(0))
                pending += list(refs)[n_before:]
            inst = by_name[name]
            best = _best_verified(inst, got[name], opts.constraints)
            results[name] = best
            if out:
                out.write(json.dumps(_record(best)) + "\n")
                out.flush()
            logger.instance(inst, best)
            print(f"[{len(results)}/{len(instances)}] {name} {opts.constraints} fill {100 * best.fill_rate:.2f} % "
                  f"(worker {_worker(best)} of {workers}, {best.seconds:.1f} s)", file=sys.stderr)
    finally:
        if out:
            out.close()
    return results


def _worker(sol: Solution) -> int:
    return int(dict(sol.stats).get("worker", 0))


def _best_verified(inst: Instance, sols: list[Solution], constraints: str) -> Solution:
    """The fullest worker's packing that passes the independent verifier (never an invalid one)."""
    for sol in sorted(sols, key=lambda s: (-s.fill_rate, _worker(s))):
        if verify(inst, sol.placements, constraints).ok:
            seconds = max(s.seconds for s in sols)
            return Solution(sol.instance, sol.container, sol.constraints, sol.strategy, sol.placements,
                            seconds, sol.branch, sol.stats)
    problems = verify(inst, sols[0].placements, constraints).problems if sols else ("no branch returned",)
    raise RuntimeError(f"{inst.name}: every worker's packing failed verification: {problems[:2]}")


def _record(sol: Solution) -> dict[str, Any]:
    """The --out contract, key for key."""
    return {
        "instance": sol.instance,
        "container": list(sol.container),
        "constraints": sol.constraints,
        "fill_rate": sol.fill_rate,
        "seconds": round(sol.seconds, 3),
        "placements": [p.as_list() for p in sol.placements],
    }


