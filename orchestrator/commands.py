"""The run commands: `train`, `sweep` (and `demo`, a sweep with preset flags),
`ensemble`, `export`, `predict`, `compare`. Each one validates everything and loads
its data on the driver, then hands over to the module that does the work."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from orchestrator import tracking
from orchestrator.config import RunOptions, resolve_run, resolve_sweep
from trainables.errors import ConfigError

# The offline demo: a small TPE sweep of TimeMixer on generated well data.
DEMO = {"model": "timemixer", "dataset": "synthetic_wells", "space": "demo", "samples": 8, "experiment": "demo",
        "set": ["input_len=96", "output_len=24", "epochs=6", "d_ff=32", "batch_size=64", "moving_avg=13",
                "patience=3"]}


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="one training run (DDP with --workers N)")
    _common(train)
    train.add_argument("--max-failures", type=int, default=0, help="worker failures a DDP run survives")
    train.set_defaults(func=train_command)

    sweep = subparsers.add_parser("sweep", help="a Ray Tune sweep (Optuna TPE, random or grid)")
    _common(sweep)
    _sweep_flags(sweep)
    sweep.set_defaults(func=sweep_command)

    # The demo is a sweep with preset flags (any of them can still be given).
    demo = subparsers.add_parser("demo", help="offline demo: a small sweep on generated well data (a few minutes)")
    _common(demo)
    _sweep_flags(demo)
    demo.set_defaults(func=sweep_command, **DEMO)

    ensemble = subparsers.add_parser("ensemble", help="seed ensembles of a sweep's top-k configurations")
    ensemble.add_argument("--sweep", default="", help="the source sweep: its name or MLflow parent run id")
    ensemble.add_argument("--model", help="without --sweep: the one configuration's model family")
    ensemble.add_argument("--dataset", help="without --sweep: its built-in data set")
    ensemble.add_argument("--data", metavar="PATH", help="without --sweep: your own data file or folder")
    ensemble.add_argument("--config", help="without --sweep: YAML run config")
    ensemble.add_argument("--smoke", action="store_true", help="without --sweep: tiny seconds-long members")
    ensemble.add_argument("--top-k", type=int, default=3, help="distinct configurations to take (default 3)")
    ensemble.add_argument("--seeds", type=int, default=5, help="seeds per configuration (default 5)")
    ensemble.add_argument("--first-seed", type=int, default=0)
    ensemble.add_argument("--rank-weights", default="0.5,0.3,0.2", help="fixed weights by configuration rank")
    ensemble.add_argument("--set", action="append", metavar="KEY=VALUE", help="override member config fields")
    ensemble.add_argument("--export", action="store_true", help="export and register the ensemble")
    ensemble.add_argument("--rule", default="greedy", help="weights to export: greedy | mean | rank")
    ensemble.add_argument("--registered-name", default="", help="model registry name")
    ensemble.add_argument("--name", default="", help="ensemble run name")
    ensemble.add_argument("--concurrency", type=int, default=0)
    for flag, text in (("--data-dir", "directory searched first for data files"),
                       ("--experiment", "MLflow experiment (default: the sweep's)"),
                       ("--address", "Ray cluster address"), ("--storage", "Ray results directory")):
        ensemble.add_argument(flag, help=text)
    ensemble.set_defaults(func=ensemble_command)

    export = subparsers.add_parser("export", help="export a finished ensemble as one registered MLflow model")
    export.add_argument("--ensemble", required=True, help="ensemble name or MLflow parent run id")
    export.add_argument("--rule", default="greedy", help="greedy | mean | rank")
    export.add_argument("--registered-name", default="")
    export.add_argument("--data-dir")
    export.set_defaults(func=export_command)

    predict = subparsers.add_parser("predict", help="an exported ensemble on new raw data, to a CSV file")
    predict.add_argument("--model", required=True, metavar="URI",
                         help="the exported model: models:/NAME/VERSION, runs:/RUN_ID/ensemble or a path")
    predict.add_argument("--data", required=True, metavar="PATH", help="the new data: a file, or a folder of "
                                                                      "recordings, laid out as the training data")
    predict.add_argument("--set", action="append", metavar="data.KEY=VALUE",
                         help="a layout key where the new file differs from the training one (e.g. data.sheet=2)")
    predict.add_argument("--out", help="CSV file to write (default: standard output)")
    predict.set_defaults(func=predict_command)

    compare = subparsers.add_parser("compare", help="leaderboard and report across runs, sweeps, experiments")
    compare.add_argument("--experiment", action="append", default=[], help="an MLflow experiment (repeatable)")
    compare.add_argument("--sweep", action="append", default=[], help="a sweep or ensemble name / run id")
    compare.add_argument("--run", action="append", default=[], help="an MLflow run id (repeatable)")
    compare.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="runs with this tag")
    compare.add_argument("--metric", help="rank by this metric (default: the model's)")
    compare.add_argument("--top", type=int, default=20, help="rows in the terminal leaderboard (0 = all)")
    compare.add_argument("--out", help="write an HTML report with PNG plots here (also logged to MLflow)")
    compare.set_defaults(func=compare_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file: model, dataset, params, sweep, ...")
    parser.add_argument("--model", help="model family (see `datasets`)")
    parser.add_argument("--dataset", help="a built-in data set by name (see `datasets`)")
    parser.add_argument("--data", metavar="PATH", help="your own data file or folder (layout keys: the YAML's "
                                                       "`data:` block or --set data.KEY=VALUE)")
    parser.add_argument("--data-dir", help="directory searched first for data files")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a model config field")
    parser.add_argument("--seed", type=int, help="training seed")
    parser.add_argument("--smoke", action="store_true", help="tiny model, few batches: seconds per run")
    parser.add_argument("--experiment", help="MLflow experiment name (default: orchestrator)")
    parser.add_argument("--workers", type=int, help="Ray Train workers per run (DDP when > 1)")
    parser.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (NCCL when > 0)")
    parser.add_argument("--cpus-per-worker", type=float, help="CPUs per worker / in-process trial")
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or a local cluster)")
    parser.add_argument("--storage", help="directory for Ray results and checkpoints (default ./ray_results)")
    parser.add_argument("--init-from", metavar="RUN", help="start from an MLflow run's best weights (or a path)")


def _sweep_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", help="named search space of the model (default: default)")
    parser.add_argument("--search", help="tpe | random | grid")
    parser.add_argument("--scheduler", help="fifo | asha")
    parser.add_argument("--samples", type=int, help="trials (grid: repeats of the whole grid)")
    parser.add_argument("--concurrency", type=int, help="trials at once (default: as resources allow)")
    parser.add_argument("--time-budget", type=float, help="seconds before no new trial starts")
    parser.add_argument("--name", help="sweep name (resume with --resume NAME)")
    parser.add_argument("--sweep-seed", type=int, help="seed of the search algorithm")
    parser.add_argument("--metric", help="validation metric to rank trials on (default: the model family's "
                                        "own; `datasets` lists the families)")
    parser.add_argument("--no-trial-plots", action="store_true", help="skip per-trial plots (faster)")
    parser.add_argument("--resume", metavar="NAME", help="resume an interrupted sweep by name or path")
    parser.add_argument("--max-failures", type=int, help="worker failures a DDP trial survives (restarts "
                                                        "from its last checkpoint)")


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


def train_command(args: argparse.Namespace) -> int:
    run = with_init_from(resolve_run(args), args.init_from)
    data = load_checked(run)
    from orchestrator.train import run_train_command

    run_id, metrics = run_train_command(run, data, _storage(args), max_failures=args.max_failures)
    shown = {k: round(v, 6) for k, v in metrics.items() if k.startswith(("val_", "test_"))}
    print(f"run {run_id} finished: {json.dumps(shown)}")
    print(f"look at it: {tracking.ui_hint(tracking.resolve_tracking_uri())}")
    return 0


def sweep_command(args: argparse.Namespace) -> int:
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


def ensemble_command(args: argparse.Namespace) -> int:
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
    single = None
    if not args.sweep:
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


def export_command(args: argparse.Namespace) -> int:
    from orchestrator.ensemble import run_export

    uri = run_export(args.ensemble, args.rule, args.registered_name, args.data_dir)
    print(f"exported {uri}")
    print(f"serve it: mlflow models serve -m {uri} --env-manager local --host 127.0.0.1 --port 5001")
    return 0


def predict_command(args: argparse.Namespace) -> int:
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


def compare_command(args: argparse.Namespace) -> int:
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
