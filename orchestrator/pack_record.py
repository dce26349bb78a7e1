"""What `pack` and `pack-tune` record in MLflow: the input's checksum and dataset
entry, the solver's full parameters, and for `pack` one parent run per command with
one child run per instance class (per-instance fill rates, the class mean and a 3D
render of its best packing)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from data.registry import file_sha256
from orchestrator import tracking
from orchestrator.tracking import Tag
from packing.geometry import Instance, Solution
from packing.instances import describe_input, find_class_file, input_path, parse_selection
from packing.render import render
from packing.solver import SolverParams


def data_checksum(selection: str, data_dir: str | None) -> str:
    """A short sha256 of the file, or over the class files a selection reads (recorded with every run)."""
    path = input_path(selection)
    if path is not None:
        return file_sha256(path)[:16]
    digest = hashlib.sha256()
    for cls in dict.fromkeys(sel.cls for sel in parse_selection(selection)):
        digest.update(file_sha256(find_class_file(cls, data_dir)).encode())
    return digest.hexdigest()[:16]


def log_input(uri: str, run_id: str, selection: str, data_dir: str | None, n_instances: int) -> None:
    """Record the input on the run with MLflow's dataset tracking (name, checksum, source, format)."""
    info = describe_input(selection, data_dir)
    tracking.log_dataset(uri, run_id, info.name, data_checksum(selection, data_dir), info.source,
                         {"format": info.format, "instances": n_instances})


def input_label(selection: str) -> str:
    """The --instances value as it appears in run names: the file's stem for a path."""
    path = input_path(selection)
    return path.stem if path is not None else selection


def solver_params_dict(params: SolverParams) -> dict[str, Any]:
    """Every solver parameter under its dotted key (the full resolved configuration)."""
    out: dict[str, Any] = {}
    for key, value in asdict(params).items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def mean_fill(sols) -> float:
    sols = list(sols)
    return sum(s.fill_rate for s in sols) / len(sols) if sols else 0.0


def class_of(name: str) -> str:
    return name.split("/")[0]


class PackRecord:
    """MLflow bookkeeping: the parent run, one child run per class, metrics, renders."""

    def __init__(self, uri: str, opts: Any, instances: tuple[Instance, ...], workers: int) -> None:
        self.uri, self.opts = uri, opts
        exp = tracking.ensure_experiment(uri, opts.experiment)
        common = {Tag.STRATEGY: opts.strategy, Tag.CONSTRAINTS: opts.constraints}
        self.parent = tracking.start_run(uri, exp, f"pack-{input_label(opts.instances)}-{opts.constraints}",
                                         {Tag.KIND: "pack", **common,
                                          Tag.DATA_CHECKSUM: data_checksum(opts.instances, opts.data_dir)})
        log_input(uri, self.parent, opts.instances, opts.data_dir, len(instances))
        tracking.log_params(uri, self.parent, {
            "instances": opts.instances, "limit": opts.limit, "constraints": opts.constraints,
            "time_limit": opts.time_limit, "strategy": opts.strategy, "seed": opts.seed,
            "workers": workers, "n_instances": len(instances),
            **{f"solver.{k}": v for k, v in solver_params_dict(opts.params).items()},
        })
        self.children: dict[str, str] = {}
        for cls in dict.fromkeys(class_of(i.name) for i in instances):
            run_id = tracking.start_run(uri, exp, f"{cls}-{opts.constraints}",
                                        {Tag.KIND: "instance", Tag.CLASS: cls, **common},
                                        parent_run_id=self.parent)
            tracking.log_params(uri, run_id, {"class": cls, "constraints": opts.constraints,
                                              "time_limit": opts.time_limit, "strategy": opts.strategy,
                                              "seed": opts.seed})
            self.children[cls] = run_id
        self.by_class: dict[str, list[Solution]] = {cls: [] for cls in self.children}

    def instance(self, inst: Instance, sol: Solution) -> None:
        cls = class_of(inst.name)
        self.by_class[cls].append(sol)
        tracking.log_metrics(self.uri, self.children[cls], {
            "fill_rate": sol.fill_rate, f"fill_rate.{inst.number}": sol.fill_rate,
            "seconds": sol.seconds, "boxes": len(sol.placements),
        }, step=inst.number)

    def finish(self, results: dict[str, Solution]) -> None:
        means = {}
        for cls, sols in self.by_class.items():
            if not sols:
                continue
            mean = mean_fill(sols)
            means[cls] = mean
            run_id = self.children[cls]
            tracking.log_metrics(self.uri, run_id, {
                "mean_fill_rate": mean, "min_fill_rate": min(s.fill_rate for s in sols),
                "mean_seconds": sum(s.seconds for s in sols) / len(sols), "n_instances": len(sols),
            })
            best = max(sols, key=lambda s: s.fill_rate)
            fig = render(best.container, best.placements,
                         title=f"{best.instance} {best.constraints}: {100 * best.fill_rate:.2f} %")
            tracking.log_figure(self.uri, run_id, fig, f"render/{best.instance.replace('/', '_')}.png")
            tracking.set_tags(self.uri, run_id, {Tag.BEST_INSTANCE: best.instance})
            tracking.end_run(self.uri, run_id)
        tracking.log_metrics(self.uri, self.parent, {
            **{f"mean_fill_rate.{cls}": m for cls, m in means.items()},
            "mean_fill_rate": mean_fill(results.values()), "n_instances": len(results),
        })
        tracking.end_run(self.uri, self.parent)

    def close(self, status: str, error: str) -> None:
        for run_id in self.children.values():
            tracking.end_run(self.uri, run_id, status)
        tracking.end_run(self.uri, self.parent, status, error)
