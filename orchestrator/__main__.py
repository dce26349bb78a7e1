"""`python -m orchestrator <command>`: parse, validate, dispatch. No logic here.

Every input problem (config, data, instance files) is turned into one line on
stderr and exit code 2 before any cluster work starts.
"""

from __future__ import annotations

import argparse
import sys

from orchestrator import commands

EXIT_BAD_INPUT = 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="one training run (DDP with --workers N)")
    _common(train)
    train.add_argument("--max-failures", type=int, default=0, help="worker failures a DDP run survives")
    train.set_defaults(func=commands.train)

    sweep = sub.add_parser("sweep", help="a Ray Tune sweep (Optuna TPE, random or grid)")
    _common(sweep)
    sweep.add_argument("--space", help="named search space of the model (default: default)")
    sweep.add_argument("--search", help="tpe | random | grid")
    sweep.add_argument("--scheduler", help="fifo | asha")
    sweep.add_argument("--samples", type=int, help="trials (grid: repeats of the whole grid)")
    sweep.add_argument("--concurrency", type=int, help="trials at once (default: as resources allow)")
    sweep.add_argument("--time-budget", type=float, help="seconds before no new trial starts")
    sweep.add_argument("--name", help="sweep name (resume with --resume NAME)")
    sweep.add_argument("--sweep-seed", type=int, help="seed of the search algorithm")
    sweep.add_argument("--metric", help="validation metric to rank trials on (default: the model's own, "
                                        "e.g. val_mse for timemixer)")
    sweep.add_argument("--no-trial-plots", action="store_true", help="skip per-trial plots (faster)")
    sweep.add_argument("--resume", metavar="NAME", help="resume an interrupted sweep by name or path")
    sweep.add_argument("--max-failures", type=int, help="worker failures a DDP trial survives (restarts "
                                                        "from its last checkpoint)")
    sweep.set_defaults(func=commands.sweep)

    ensemble = sub.add_parser("ensemble", help="seed ensembles of a sweep's top-k configurations")
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
    ensemble.set_defaults(func=commands.ensemble)

    export = sub.add_parser("export", help="export a finished ensemble as one registered MLflow model")
    export.add_argument("--ensemble", required=True, help="ensemble name or MLflow parent run id")
    export.add_argument("--rule", default="greedy", help="greedy | mean | rank")
    export.add_argument("--registered-name", default="")
    export.add_argument("--data-dir")
    export.set_defaults(func=commands.export)

    predict = sub.add_parser("predict", help="an exported ensemble on new raw data, to a CSV file")
    predict.add_argument("--model", required=True, metavar="URI",
                         help="the exported model: models:/NAME/VERSION, runs:/RUN_ID/ensemble or a path")
    predict.add_argument("--data", required=True, metavar="PATH", help="the new data: a file, or a folder of "
                                                                      "recordings, laid out as the training data")
    predict.add_argument("--set", action="append", metavar="data.KEY=VALUE",
                         help="a layout key where the new file differs from the training one (e.g. data.sheet=2)")
    predict.add_argument("--out", help="CSV file to write (default: standard output)")
    predict.set_defaults(func=commands.predict)

    compare = sub.add_parser("compare", help="leaderboard and report across runs, sweeps, experiments")
    compare.add_argument("--experiment", action="append", default=[], help="an MLflow experiment (repeatable)")
    compare.add_argument("--sweep", action="append", default=[], help="a sweep or ensemble name / run id")
    compare.add_argument("--run", action="append", default=[], help="an MLflow run id (repeatable)")
    compare.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="runs with this tag")
    compare.add_argument("--metric", help="rank by this metric (default: the model's)")
    compare.add_argument("--top", type=int, default=20, help="rows in the terminal leaderboard (0 = all)")
    compare.add_argument("--out", help="write an HTML report with PNG plots here (also logged to MLflow)")
    compare.set_defaults(func=commands.compare)

    demo = sub.add_parser("demo", help="offline demo sweep: TimeMixer on synthetic wells")
    demo.add_argument("--samples", type=int, default=8)
    demo.add_argument("--storage", default=None)
    demo.set_defaults(func=commands.demo)

    datasets = sub.add_parser("datasets", help="list datasets and models; check files")
    datasets.add_argument("--data-dir", help="directory searched first for data files")
    datasets.add_argument("--check", action="store_true", help="verify sha256 checksums")
    datasets.set_defaults(func=commands.datasets)
    datasets_sub = datasets.add_subparsers(dest="datasets_command", metavar="{fetch}")
    fetch = datasets_sub.add_parser(
        "fetch", help="download built-in datasets into the user cache (sha256-verified)",
        description="Download every file of the named built-in datasets into the user cache "
                    "($XDG_CACHE_HOME/ray-orchestrator/data), verify sha256, print licence and citation.")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset names (see `datasets`), or `all`")
    fetch.add_argument("--mirror", default=None,
                       help="base URL with the same layout as a data root (default: $ORCH_DATA_MIRROR, "
                            "else each file's public URL)")
    fetch.set_defaults(func=commands.datasets_fetch)

    for extra in commands.extra_commands():
        extra.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except commands.BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
