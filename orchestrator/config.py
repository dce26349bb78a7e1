"""Command configuration: YAML file + CLI flags + ``--set key=value``, validated once.

Everything a command needs is resolved here into frozen dataclasses before Ray or
MLflow is touched, so a typo costs a one-line error and exit code 2, not a cluster
start.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from data.errors import DataError
from data.source import DataSource, builtin_source, user_source
from orchestrator import spaces
from search_spaces import get_space
from search_spaces.space import Grid, Space, is_grid
from trainables.config import build_config, check
from trainables.errors import ConfigError
from trainables.registry import TrainableSpec, get_spec, metric_modes

SEARCHES = ("tpe", "random", "grid")
SCHEDULERS = ("fifo", "asha")
YAML_KEYS = {"model", "dataset", "data", "data_dir", "params", "experiment", "workers", "gpus_per_worker",
             "cpus_per_worker", "sweep"}
SWEEP_KEYS = {"space", "search", "scheduler", "samples", "concurrency", "time_budget", "name", "storage", "metric",
              "seed", "trial_plots", "max_failures"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class RunOptions:
    """What one training run (or every trial of a sweep) is made of."""

    model: str
    data: DataSource
    params: Any  # the family's frozen config dataclass
    experiment: str = "orchestrator"
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    address: str | None = None

    @property
    def spec(self) -> TrainableSpec:
        return get_spec(self.model)

    @property
    def dataset(self) -> str:
        """The data set's name: a built-in set's, or the user's (file stem or data.name)."""
        return self.data.name

    @property
    def distributed(self) -> bool:
        """A Ray Train gang (DDP) rather than an in-process loop."""
        return self.workers > 1 or self.gpus_per_worker > 0


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep searches: space, algorithm, scheduler, budget, naming."""

    space_name: str
    space: Space
    search: str = "tpe"
    scheduler: str = "fifo"
    samples: int = 8
    concurrency: int = 0  # 0 = as many as resources allow
    time_budget_s: float = 0.0  # 0 = none
    name: str = ""
    storage: str = ""
    seed: int = 0
    trial_plots: bool = True
    max_failures: int = 0  # DDP gang restarts from the last checkpoint per trial
    metric: str = ""  # what trials are ranked on; "" = the model family's own metric


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (safe_load), or a ConfigError naming the file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config: file {file} not found")
    try:
        loaded = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}: invalid YAML{where}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not a UTF-8 text file") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{file}: expected a mapping of keys to values at the top level")
    unknown = set(loaded) - YAML_KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown key(s) {sorted(unknown)}; expected some of {sorted(YAML_KEYS)}")
    return loaded


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.01", "loss=mae"]`` -> ``{"lr": 0.01, "loss": "mae"}`` (values parsed as YAML)."""
    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set: expected key=value, got {item!r}")
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: cannot parse value {raw!r}") from exc
    return values


def _pick(cli: Any, file: dict[str, Any], key: str, default: Any) -> Any:
    """CLI flag if given, else the YAML value, else the default."""
    if cli is not None:
        return cli
    return file.get(key, default)


def resolve_run(args: Any) -> RunOptions:
    """Build RunOptions from parsed CLI args (``--config`` YAML underneath)."""
    file = read_yaml(args.config) if getattr(args, "config", None) else {}
    model = _pick(args.model, file, "model", None)
    if not model:
        raise ConfigError("--model: required (or 'model:' in the --config file)")
    spec = get_spec(str(model))
    file_params = file.get("params") or {}
    if not isinstance(file_params, dict):
        raise ConfigError(f"{args.config}: 'params' must be a mapping")
    overrides = parse_set(args.set)
    data_dir = _pick(getattr(args, "data_dir", None), file, "data_dir", None)
    data = resolve_data(args, file, spec, {k[len("data."):]: v for k, v in overrides.items()
                                          if k.startswith("data.")}, data_dir)
    values: dict[str, Any] = {}
    if getattr(args, "smoke", False):
        values.update(spec.smoke_overrides)
    values.update(file_params)
    params = build_config(spec.config_cls, values, source=str(args.config or "--config"))
    params = build_config(spec.config_cls, {k: v for k, v in overrides.items() if not k.startswith("data.")},
                          source="--set", base=params)
    if getattr(args, "seed", None) is not None:
        params = dataclasses.replace(params, seed=args.seed)
    workers = int(_pick(getattr(args, "workers", None), file, "workers", 1))
    gpus = float(_pick(getattr(args, "gpus_per_worker", None), file, "gpus_per_worker", 0.0))
    cpus = float(_pick(getattr(args, "cpus_per_worker", None), file, "cpus_per_worker", 1.0))
    check(workers >= 1, "--workers", "an integer >= 1", workers)
    check(gpus >= 0, "--gpus-per-worker", "a number >= 0", gpus)
    check(cpus > 0, "--cpus-per-worker", "a number > 0", cpus)
    experiment = str(_pick(getattr(args, "experiment", None), file, "experiment", "orchestrator"))
    return RunOptions(model=spec.name, data=data, params=params, experiment=experiment, workers=workers, gpus_per_worker=gpus, cpus_per_worker=cpus,
                      address=getattr(args, "address", None))


def resolve_data(args: Any, file: dict[str, Any], spec: TrainableSpec, set_keys: dict[str, Any],
                 data_dir: str | None) -> DataSource:
    """The run's data: a built-in set (``--dataset``) or the user's own file or folder
    (``--data PATH``, or ``data: {path: ...}`` in the YAML), with its layout keys
    from the YAML's ``data:`` block refined by ``--set data.KEY=VALUE``."""
    block = file.get("data") or {}
    if not isinstance(block, dict):
        raise ConfigError(f"{args.config}: 'data' must be a mapping of layout keys (path, time, target, ...)")
    keys = {**block, **set_keys}
    path = getattr(args, "data", None) or keys.pop("path", None)
    keys.pop("path", None)
    name = str(keys.pop("name", "") or "")
    dataset = _pick(getattr(args, "dataset", None), file, "dataset", None)
    if path:
        if getattr(args, "dataset", None):
            raise ConfigError("--data: give --dataset (a built-in set) or --data (your own file), not both")
        if not Path(path).expanduser().exists():
            raise DataError(f"--data: {Path(path).expanduser()} does not exist")
        if not spec.data_keys:
            raise ConfigError(f"--data: model {spec.name!r} reads only its built-in sets {list(spec.datasets)}")
        return user_source(path, keys, spec.data_keys, name=name, data_dir=data_dir)
    if keys:
        first = sorted(keys)[0]
        raise ConfigError(f"data.{first}: layout keys describe your own file; give --data PATH (or data.path)")
    dataset = str(dataset or spec.default_dataset)
    if dataset not in spec.datasets:
        raise ConfigError(f"--dataset: model {spec.name!r} supports {list(spec.datasets)}, got {dataset!r}"
                          " (or give your own file with --data PATH)")
    return builtin_source(dataset, data_dir)


def resolve_sweep(args: Any, run: RunOptions) -> SweepOptions:
    """Build SweepOptions; the space's keys must all be fields of the model config."""
    file = (read_yaml(args.config).get("sweep") or {}) if getattr(args, "config", None) else {}
    if not isinstance(file, dict):
        raise ConfigError(f"{args.config}: 'sweep' must be a mapping")
    unknown = set(file) - SWEEP_KEYS
    if unknown:
        raise ConfigError(f"{args.config}: unknown sweep key(s) {sorted(unknown)}; expected some of {sorted(SWEEP_KEYS)}")
    raw_space = file.get("space") if args.space is None else args.space
    if isinstance(raw_space, dict):
        space_name, space = "custom", spaces.from_yaml(raw_space, str(args.config))
    else:
        space_name = str(raw_space or "default")
        space = get_space(run.model, space_name)
    fields = {f.name for f in dataclasses.fields(run.params)}
    for key in space:
        if key not in fields:
            raise ConfigError(f"search space {space_name!r}: {key!r} is not a field of the {run.model} config")
    search = str(_pick(args.search, file, "search", "grid" if is_grid(space) else "tpe"))
    check(search in SEARCHES, "--search", f"one of {SEARCHES}", search)
    if search == "grid" and not all(isinstance(d, Grid) for d in space.values()):
        raise ConfigError(f"--search grid: space {space_name!r} has non-grid entries; use tpe or random")
    scheduler = str(_pick(args.scheduler, file, "scheduler", "fifo"))
    check(scheduler in SCHEDULERS, "--scheduler", f"one of {SCHEDULERS}", scheduler)
    # A grid runs each point once unless asked to repeat it.
    samples = int(_pick(args.samples, file, "samples", 1 if search == "grid" else 8))
    check(samples >= 1, "--samples", "an integer >= 1", samples)
    concurrency = int(_pick(args.concurrency, file, "concurrency", 0))
    check(concurrency >= 0, "--concurrency", "an integer >= 0", concurrency)
    budget = float(_pick(args.time_budget, file, "time_budget", 0.0))
    check(budget >= 0, "--time-budget", "seconds >= 0", budget)
    name = str(_pick(args.name, file, "name", "") or "")
    if name:
        check(bool(NAME_PATTERN.match(name)), "--name", "letters, digits, '_', '.', '-' (max 100)", name)
    storage = str(_pick(args.storage, file, "storage", "ray_results"))
    seed = int(_pick(getattr(args, "sweep_seed", None), file, "seed", 0))
    plots = bool(file.get("trial_plots", True)) and not getattr(args, "no_trial_plots", False)
    max_failures = int(_pick(getattr(args, "max_failures", None), file, "max_failures", 0))
    check(max_failures >= 0, "--max-failures", "an integer >= 0", max_failures)
    metric = str(_pick(getattr(args, "metric", None), file, "metric", "") or "")
    if metric:
        modes = metric_modes(run.spec)
        check(metric in modes, "--metric", f"one of {sorted(modes)} (what {run.model} reports each epoch)", metric)
    return SweepOptions(space_name=space_name, space=space, search=search, scheduler=scheduler,
                        samples=samples, concurrency=concurrency, time_budget_s=budget, name=name,
                        storage=str(Path(storage).expanduser().resolve()), seed=seed, trial_plots=plots,
                        max_failures=max_failures, metric=metric)


def ranking(spec: TrainableSpec, metric: str = "") -> tuple[str, str]:
    """The metric a sweep ranks trials on (``--metric``, else the family's own) and its mode."""
    metric = metric or spec.metric
    return metric, metric_modes(spec)[metric]
