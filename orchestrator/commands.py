"""The commands behind the CLI: validate everything, load data, then run."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from data.errors import DataError
from data.fetch import human_size
from data.registry import DATASETS, cache_dir, check_dataset, data_roots
from orchestrator import tracking
from orchestrator.config import RunOptions, resolve_run, resolve_sweep
from trainables.errors import ConfigError
from trainables.registry import get_spec, names

BAD_INPUT: tuple[type[Exception], ...] = (ConfigError, DataError)
try:  # the packing package brings its own input error type
    from packing.errors import InstanceError

    BAD_INPUT = (*BAD_INPUT, InstanceError)
except ImportError:  # pragma: no cover - packing is part of the distribution
    pass


def with_init_from(run: RunOptions, source: str | None) -> RunOptions:
    """``--init-from RUN``: start from an earlier run's best weights (two-stage
    training at a lower lr). The run's `model/` artifact is fetched to a local
    directory that the model config's ``init_from`` field then names."""
    if not source:
        return run
    if "init_from" not in {f.name for f in dataclasses.fields(run.params)}:
        raise ConfigError(f"--init-from: model {run.model!r} has no init_from option")
    path = source
    if not Path(source).exists():
        client = tracking.client(tracking.resolve_tracking_uri())
        try:
            path = client.download_artifacts(source, "model")
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing run
            raise ConfigError(f"--init-from: no run {source!r} with a model/ artifact in "
                              f"{tracking.resolve_tracking_uri()}") from exc
    return dataclasses.replace(run, params=dataclasses.replace(run.params, init_from=str(path)))


def load_checked(run: RunOptions) -> Any:
    """Load the dataset on the driver and dry-check the run against it (no Ray yet)."""
    spec = run.spec
    data = spec.load_data(run.params, run.data)
    if spec.preflight is not None:
        spec.preflight(run.params, data)
    return data


def _storage(args: argparse.Namespace) -> str:
    return str(Path(getattr(args, "storage", None) or "ray_results").expanduser().resolve())


def train(args: argparse.Namespace) -> int:
    run = with_init_from(resolve_run(args), args.init_from)
    data = load_checked(run)
    from orchestrator.train import run_train_command

    run_id, metrics = run_train_command(run, data, _storage(args), max_failures=args.max_failures)
    shown = {k: round(v, 6) for k, v in metrics.items() if k.startswith(("val_", "test_"))}
    print(f"run {run_id} finished: {json.dumps(shown)}")
    print(f"look at it: {tracking.ui_hint(tracking.resolve_tracking_uri())}")
    return 0


def sweep(args: argparse.Namespace) -> int:
    from orchestrator.sweep import load_state, run_sweep

    if args.resume:
        run, opts, parent, uri = load_state(args.resume, _storage(args))
        data = load_checked(run)
        summary = run_sweep(run, opts, data, resume=True, parent_run_id=parent, uri=uri)
    else:
        run = with_init_from(resolve_run(args), args.init_from)
        opts = resolve_sweep(args, run)
        data = load_checked(run)
        summary = run_sweep(run, opts, data)
    print_summary(summary)
    return 130 if summary.get("interrupted") else 0


def demo(args: argparse.Namespace) -> int:
    """A small TPE sweep of TimeMixer on generated well data: runs offline in minutes."""
    argv = ["sweep", "--model", "timemixer", "--dataset", "synthetic_wells", "--space", "demo",
            "--samples", str(args.samples), "--experiment", "demo",
            "--set", "input_len=96", "--set", "output_len=24", "--set", "epochs=6", "--set", "d_ff=32",
            "--set", "batch_size=64", "--set", "moving_avg=13", "--set", "patience=3"]
    if args.storage:
        argv += ["--storage", args.storage]
    from orchestrator.__main__ import build_parser

    return sweep(build_parser().parse_args(argv))


def ensemble(args: argparse.Namespace) -> int:
    from orchestrator.config import parse_set
    from orchestrator.ensemble import EnsembleOptions, run_ensemble
    from trainables.config import check

    check(args.top_k >= 1, "--top-k", "an integer >= 1", args.top_k)
    check(args.seeds >= 1, "--seeds", "an integer >= 1", args.seeds)
    check(args.rule in ("greedy", "mean", "rank"), "--rule", "greedy, mean or rank", args.rule)
    try:
        shares = tuple(float(x) for x in args.rank_weights.split(","))
    except ValueError as exc:
        raise ConfigError(f"--rank-weights: expected comma-separated numbers, got {args.rank_weights!r}") from exc
    check(all(x >= 0 for x in shares) and sum(shares) > 0, "--rank-weights", "non-negative, positive sum", shares)
    opts = EnsembleOptions(
        source=args.sweep, top_k=args.top_k, seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        rank_share=shares, export=args.export, export_rule=args.rule, registered_name=args.registered_name,
        name=args.name, storage=_storage(args), concurrency=args.concurrency,
        overrides=tuple(parse_set(args.set).items()),
    )
    if args.export and not args.sweep and args.model:
        from trainables.registry import get_adapter

        if get_adapter(args.model).serving is None:
            raise ConfigError(f"--export: model {args.model!r} has no raw-input pipeline to export yet")
    single = None
    if not args.sweep:
        args.seed, args.workers, args.gpus_per_worker, args.cpus_per_worker = None, None, None, None
        single = resolve_run(args)
        load_checked(single)  # bad data fails here, before Ray
        opts = dataclasses.replace(opts, overrides=())
    result = run_ensemble(opts, args.data_dir, args.experiment, args.address, single)
    metric = result["metric"]
    print(f"ensemble {result['name']}: {len(result['members'])} members (MLflow parent run {result['parent_run_id']})")
    stats = result["stats"]
    print(f"  members, test {metric}: {stats[f'rankall_test_{metric}_mean']:.5g} "
          f"+- {stats[f'rankall_test_{metric}_std']:.5g} (mean +- std over seeds and configurations)")
    print(f"  best single member (by val): test {metric} {result['best_member'][f'test_{metric}']:.5g}")
    for rule, outcome in sorted(result["rules"].items()):
        print(f"  {rule:16s} val {metric} {outcome['val'][metric]:.5g}   test {metric} {outcome['test'][metric]:.5g}")
    if "model_uri" in result:
        print(f"  exported: {result['model_uri']}")
    print(f"look at it: {tracking.ui_hint(result['tracking_uri'])}")
    return 0


def export(args: argparse.Namespace) -> int:
    from orchestrator.ensemble import run_export

    uri = run_export(args.ensemble, args.rule, args.registered_name, args.data_dir)
    print(f"exported {uri}")
    print(f"serve it: mlflow models serve -m {uri} --env-manager local --host 127.0.0.1 --port 5001")
    return 0


def predict(args: argparse.Namespace) -> int:
    from orchestrator.config import parse_set
    from orchestrator.predict import run_predict

    keys = {}
    for key, value in parse_set(args.set).items():
        if not key.startswith("data."):
            raise ConfigError(f"--set {key}: predict takes layout keys only (data.KEY=VALUE)")
        keys[key[len("data."):]] = value
    table = run_predict(args.model, args.data, keys, args.out)
    if args.out:
        print(f"{len(table)} rows written to {args.out}")
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def compare(args: argparse.Namespace) -> int:
    from orchestrator.compare import run_compare

    result = run_compare(args.experiment, args.sweep, args.run, args.tag, args.metric, args.top, args.out)
    print(result["table"])
    print(f"{result['runs']} runs ranked by {result['metric']}")
    if "report" in result:
        print(f"report: {result['report']} (MLflow run {result['report_run_id']}, experiment 'comparisons')")
    return 0


def print_summary(summary: dict[str, Any]) -> None:
    print(f"sweep {summary['name']}: {summary['trials']} trials, {summary['failed']} failed, "
          f"{summary['seconds']:.1f} s")
    if "best_trial" in summary:
        print(f"best trial {summary['best_trial']}: {summary['metric']}={summary['best_metric']:.6g}")
        print("  " + ", ".join(f"{k}={v:.5g}" for k, v in sorted(summary["best_metrics"].items())))
        print(f"  config: {json.dumps(summary['best_config'], default=str)}")
    if summary.get("interrupted"):
        print(f"interrupted: resume with `python -m orchestrator sweep --resume {summary['name']}`")
    print(f"MLflow parent run {summary['parent_run_id']}; look at it: {tracking.ui_hint(summary['tracking_uri'])}")


def datasets(args: argparse.Namespace) -> int:
    """List the model families, then every built-in data set: whether its files are
    present and where, its size, source and licence (``--check``: verify sha256)."""
    print("models:")
    for name in names():
        spec = get_spec(name)
        print(f"  {name:14s} datasets: {', '.join(spec.datasets)}  ({spec.description})")
        if spec.data_keys:
            print(f"  {'':14s} your own: --data PATH, keys {', '.join(spec.data_keys)}")
    print("  pack           datasets: br; your own: --instances FILE (a BR .txt, or a shipment .json / .csv)")
    print("datasets:")
    print(f"  {'name':16s} {'state':10s} {'files':>6s} {'size':>9s}  where")
    for name, info in sorted(DATASETS.items()):
        if info.synthetic:
            print(f"  {name:16s} {'generated':10s} {'-':>6s} {'-':>9s}  no files: {info.description}")
            continue
        if not info.files:  # a folder the user supplies (layout key `folder`), nothing to download
            folder = info.layout.get("folder", "")
            roots = [root for root in data_roots(args.data_dir) if folder and (root / folder).is_dir()]
            where = str(roots[0] / folder) if roots else f"not found: put it at <data root>/{folder}"
            print(f"  {name:16s} {'ok' if roots else 'MISSING':10s} {'-':>6s} {'-':>9s}  {where}")
            print(f"      {info.description}")
            print(f"      source: {info.source}")
            continue
        statuses = check_dataset(name, args.data_dir, verify=args.check)
        found = [s for s in statuses if s.status != "missing"]
        bad = [s for s in statuses if s.status not in ("ok", "unchecked", "missing")]
        state = "ok" if len(found) == len(statuses) else ("MISSING" if not found else "INCOMPLETE")
        if bad:
            state = "CHECKSUM MISMATCH"
        roots = sorted({str(_root_of(s.path, s.relative)) for s in found})
        where = "; ".join(roots) if roots else f"not found: `python -m orchestrator datasets fetch {name}`"
        print(f"  {name:16s} {state:10s} {f'{len(found)}/{len(statuses)}':>6s} {human_size(info.size):>9s}  {where}")
        print(f"      {info.description}")
        print(f"      source: {info.source}")
        print(f"      licence: {info.licence or 'not stated'}")
        for status in statuses:
            if status.status not in ("ok", "unchecked") and found:
                print(f"      {status.relative}: {status.status}" + (f" ({status.path})" if status.path else ""))
    return 0


def _root_of(path: Path, relative: str) -> Path:
    """The data root a file was found under (``path`` minus its relative part)."""
    return path.parents[len(Path(relative).parts) - 1]


def datasets_fetch(args: argparse.Namespace) -> int:
    """``datasets fetch NAME...``: download built-in sets into the user cache, then
    print each set's licence and what to cite."""
    from data.fetch import attribution, fetch_dataset, mirror_url, resolve_names

    mirror = mirror_url(args.mirror)
    for name in resolve_names(args.names):
        info = DATASETS[name]
        if info.synthetic:
            print(f"{name}: generated on the fly; it needs no download")
            continue
        if not info.files:
            print(f"{name}: nothing to download ({info.source})")
            continue
        origin = f" from {mirror}" if mirror else ""
        print(f"{name}: {len(info.files)} file(s), {human_size(info.size)}, into {cache_dir()}{origin}",
              file=sys.stderr, flush=True)
        result = fetch_dataset(name, mirror)
        print(f"{name}: {len(result.downloaded)} downloaded, {len(result.present)} already present, "
              f"in {result.root}")
        for line in attribution(info):
            print(line)
    return 0


def extra_commands() -> list[ModuleType]:
    """Command modules that register their own sub-parsers (e.g. `pack`)."""
    modules = []
    for name in ("orchestrator.pack", "orchestrator.pack_tune"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if hasattr(module, "register"):
            modules.append(module)
    return modules
