"""The paper's Table 3 on EPEX-France 2016H1 (seed 002): baselines and GRU variants.

    ORCH_DATA_DIR=../shared/data python benchmarks/epf_table.py --seeds 3
    python -m benchmarks.epf_table --seeds 3 --mlflow      # every row an MLflow run
    python -m benchmarks.epf_table --from-mlflow RUN_ID    # the table again, from MLflow alone
    python -m benchmarks.epf_table --seeds 10 --loss-grid --mlflow   # + the whole lambda grid (12 GRU rows)

Trains in-process without Ray (each seed of each variant is one ``fit`` under
LocalContext, spread over ``--jobs`` processes with one torch thread each). The
orchestrator's sweep / ensemble commands drive the full 10-seed lambda grid; this
script is the quick, reproducible table. Prints mean +- std over seeds, the
seed-ensemble (mean forecast) score, the mean validation RMSE (December 2015) and
the paper's numbers beside ours, and names the loss-weighted row that validation
would choose; writes JSON under benchmarks/results/.

With ``--mlflow`` each training, baseline and seed ensemble is a child run of one
parent run (experiment ``epf_table``), and the printed table is read back from
those runs; ``--from-mlflow`` rebuilds it from a parent run without training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.epf_rows import (BASELINES, LOSS_GRID, METRICS, PAPER, TABLE3, VARIANTS,  # noqa: E402
                                 format_table, loss_variant, loss_weights, seed_spread)
from data.source import builtin_source


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="trainings per variant (paper: 10)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per training (default: the config's 48, chosen on validation; paper: 12)")
    parser.add_argument("--variants", nargs="*", default=list(TABLE3), choices=list(VARIANTS),
                        help="rows to train (default: Table 3's)")
    parser.add_argument("--loss-grid", action="store_true",
                        help="add the GRU rows of the paper's lambda_S x lambda_MAX=MIN grid (12 in all) to --variants")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every GRU variant (JSON values), e.g. train_stride=6")
    parser.add_argument("--jobs", type=int, default=2, help="parallel training processes")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "epf_table.json"))
    parser.add_argument("--mlflow", action="store_true",
                        help="log every row as an MLflow run (experiment epf_table) and print the table from them")
    parser.add_argument("--from-mlflow", metavar="RUN_ID", default=None,
                        help="print the table of an earlier --mlflow parent run, without training")
    return parser.parse_args(argv)


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_one(job: tuple[str, dict, str | None]) -> dict:
    """One training in a worker process: returns its metrics and test forecast."""
    import torch

    torch.set_num_threads(1)
    from trainables.config import as_dict, build_config
    from trainables.context import LocalContext
    from trainables.seasonal_gru import task
    from trainables.seasonal_gru.config import SeasonalGRUConfig

    variant, overrides, data_dir = job
    cfg = build_config(SeasonalGRUConfig, overrides)
    data = _data(cfg, data_dir)
    result = task.fit(cfg, data, LocalContext(device="cpu"))
    return {"variant": variant, "config": overrides, "metrics": result.metrics,
            "params": {k: str(v) for k, v in as_dict(cfg).items()}, "checksum": data.checksum,
            "test_pred": result.outputs["test_pred"].tolist()}


_DATA: dict = {}


def _data(cfg, data_dir):
    """Data per worker, loaded once per distinct preprocessing."""
    from trainables.seasonal_gru import task

    key = (cfg.clip_quantile, cfg.smooth_days, cfg.exogenous)
    if key not in _DATA:
        _DATA[key] = task.load_data(cfg, builtin_source("epf_fr", data_dir))
    return _DATA[key]


def run_baselines(names: list[str], overrides: dict, data_dir: str | None) -> dict[str, dict]:
    """Baselines on the GRU variants' preprocessing (so exogenous inputs match)."""
    from trainables.config import build_config
    from trainables.seasonal_gru import baselines
    from trainables.seasonal_gru.config import SeasonalGRUConfig

    data = _data(build_config(SeasonalGRUConfig, overrides), data_dir)
    rows: dict[str, dict] = {}
    for name in names:
        started = time.perf_counter()
        extra: dict = {}
        if name.startswith("naive"):
            metrics = baselines.naive_metrics(data, int(name.split()[1].rstrip("h")))
        elif name == "ARIMA":
            fit = baselines.fit_arima(data)
            metrics = baselines.score_test(data, baselines.arima_forecast(data, fit))
            extra = {"ar": fit.ar.tolist(), "ma": fit.ma.tolist()}
        else:
            prices, extra = baselines.kernel_forecast(data, name.lower())
            metrics = baselines.score_test(data, prices)
        rows[name] = {"metrics": metrics, "seconds": time.perf_counter() - started, **extra}
    return rows


def summarise(runs: list[dict], truth: np.ndarray) -> dict:
    """Mean +- std over seeds, and the score of the seeds' mean forecast."""
    from trainables.seasonal_gru.task import price_metrics

    ensemble = price_metrics(np.mean([r["test_pred"] for r in runs], axis=0), truth)
    return {
        **seed_spread([{m: r["metrics"][f"test_{m}"] for m in METRICS} for r in runs]),
        "val_rmse": float(np.mean([r["metrics"]["val_rmse"] for r in runs])),
        "loss_weights": loss_weights(runs[0]["config"]),
        "ensemble": ensemble, "seeds": len(runs),
        "best_epoch": [r["metrics"]["best_epoch"] for r in runs],
        "fit_seconds": float(np.mean([r["metrics"]["fit_seconds"] for r in runs])),
    }


EXPERIMENT = "epf_table"
ROW_TAG, KIND_TAG = "epf.row", "epf.kind"  # the table row a run belongs to; training / baseline / ensemble


def log_table(runs: list[dict], baseline_rows: dict, variant_rows: dict, overrides: dict) -> str:
    """One parent run holding every training, baseline and seed ensemble as a child."""
    import mlflow

    from benchmarks.common import code_version
    from orchestrator.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name="epf-table") as parent:
        mlflow.log_params({k: str(v) for k, v in overrides.items()})
        mlflow.set_tags({"orch.git_revision": code_version(),
                         "orch.data_checksum": runs[0]["checksum"] if runs else ""})
        for name, row in baseline_rows.items():
            _child(name, "baseline", {f"test_{m}": v for m, v in row["metrics"].items()}, {})
        for run in runs:
            _child(run["variant"], "training", run["metrics"], run["params"])
        for name, row in variant_rows.items():
            _child(name, "ensemble", {f"test_{m}": v for m, v in row["ensemble"].items()},
                   {"members": str(row["seeds"])})
    return parent.info.run_id


def _child(row: str, kind: str, metrics: dict[str, float], params: dict[str, str]) -> None:
    import mlflow

    with mlflow.start_run(run_name=f"{row} ({kind})", nested=True):
        mlflow.set_tags({ROW_TAG: row, KIND_TAG: kind})
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})


class TableError(Exception):
    """A parent run the table cannot be read from: one line, exit code 2."""


def table_from_mlflow(parent_id: str) -> tuple[dict, dict]:
    """(baseline rows, variant rows) rebuilt from a parent run's children alone: an
    ``--mlflow`` run of this script, or an ``orchestrator ensemble`` of the seasonal GRU
    (no baselines then)."""
    import mlflow

    from orchestrator import tracking
    from orchestrator.tracking import Tag

    uri = tracking.resolve_tracking_uri()
    client = mlflow.MlflowClient(uri)
    try:
        parent = client.get_run(parent_id)
    except mlflow.exceptions.MlflowException:
        raise TableError(f"--from-mlflow: no run {parent_id!r} in {uri}") from None
    children = tracking.children(uri, parent, max_results=10000)
    if parent.data.tags.get(Tag.KIND) == "ensemble":
        if "rank0_test_rmse_mean" not in parent.data.metrics:
            raise TableError(f"--from-mlflow: ensemble run {parent_id} ({parent.info.status}) has no "
                             "per-configuration summary yet; the ensemble writes it when its last member ends")
        return {}, rows_from_ensemble(parent.data.metrics, children)
    baseline_rows: dict = {}
    trainings: dict[str, list] = {}
    ensembles: dict[str, dict] = {}
    for child in sorted(children, key=lambda r: r.info.start_time):
        row, kind = child.data.tags[ROW_TAG], child.data.tags[KIND_TAG]
        test = {m: child.data.metrics[f"test_{m}"] for m in METRICS}
        if kind == "baseline":
            baseline_rows[row] = {"metrics": test}
        elif kind == "ensemble":
            ensembles[row] = test
        else:
            trainings.setdefault(row, []).append(child)
    variant_rows = {
        row: {**seed_spread([{m: r.data.metrics[f"test_{m}"] for m in METRICS} for r in runs]),
              "val_rmse": float(np.mean([r.data.metrics["val_rmse"] for r in runs])),
              "loss_weights": loss_weights(runs[0].data.params), "ensemble": ensembles[row], "seeds": len(runs)}
        for row, runs in trainings.items()}
    return baseline_rows, variant_rows


def rows_from_ensemble(metrics: dict[str, float], members: list) -> dict:
    """One row per configuration of an ``orchestrator ensemble`` run (say, the loss_grid
    sweep's 12 configurations x 10 seeds), named by its cell and loss weights: mean +- std
    over its seeds and its seed ensemble, as the ensemble recorded them (``rank{K}_*``,
    ``seeds_of_rank{K}_*``) on the parent run."""
    from orchestrator.tracking import Tag

    params: dict[int, dict] = {}
    seeds: dict[int, int] = {}
    for member in members:
        rank = int(member.data.tags[Tag.MEMBER_RANK])
        params[rank] = member.data.params
        seeds[rank] = seeds.get(rank, 0) + 1
    rows: dict = {}
    for rank in sorted(params):
        weights = loss_weights(params[rank])
        name = loss_variant(weights["lambda_s"], weights["lambda_maxmin"])[0]
        name = name.replace("GRU", params[rank].get("cell", "gru").upper(), 1)
        name = f"{name} (rank {rank})" if name in rows else name  # configurations alike in these fields
        rows[name] = {
            "mean": {m: metrics[f"rank{rank}_test_{m}_mean"] for m in METRICS},
            "std": {m: metrics[f"rank{rank}_test_{m}_std"] for m in METRICS},
            "val_rmse": metrics[f"rank{rank}_val_rmse_mean"], "loss_weights": weights,
            "ensemble": {m: metrics[f"seeds_of_rank{rank}_test_{m}"] for m in METRICS}, "seeds": seeds[rank],
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_mlflow:
        try:
            print(format_table(*table_from_mlflow(args.from_mlflow)))
        except TableError as exc:
            print(f"epf_table: {exc}", file=sys.stderr)
            return 2
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    overrides = {**({"epochs": args.epochs} if args.epochs else {}), **parse_overrides(args.set)}
    started = time.perf_counter()
    baseline_rows = run_baselines(args.baselines, overrides, args.data_dir)
    variants = args.variants + [v for v in LOSS_GRID if args.loss_grid and v not in args.variants]
    jobs = [(v, {**overrides, **VARIANTS[v], "seed": s}, args.data_dir) for v in variants for s in range(args.seeds)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".runs.jsonl")  # one line per finished training, as it lands
    partial.write_text("")
    runs = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for run in pool.map(train_one, jobs):
            runs.append(run)
            with partial.open("a") as handle:
                handle.write(json.dumps({k: v for k, v in run.items() if k != "test_pred"}) + "\n")
    from benchmarks.common import code_version
    from data.epf import load_epf
    from trainables.seasonal_gru.config import SeasonalGRUConfig

    data = load_epf(args.data_dir)
    lo, hi = data.splits["test"]
    variant_rows = {v: summarise([r for r in runs if r["variant"] == v], data.prices[lo:hi]) for v in variants}
    parent_id = None
    if args.mlflow:
        parent_id = log_table(runs, baseline_rows, variant_rows, overrides)
        print(f"MLflow parent run {parent_id} (experiment {EXPERIMENT}); the table from its runs:")
        print(format_table(*table_from_mlflow(parent_id)))
    else:
        print(format_table(baseline_rows, variant_rows))
    report = {
        "benchmark": "epf_table", "seeds": args.seeds,
        "epochs": overrides.get("epochs", SeasonalGRUConfig.epochs), "overrides": overrides,
        "baselines": baseline_rows, "variants": variant_rows, "paper": PAPER,
        "runs": [{k: v for k, v in r.items() if k != "test_pred"} for r in runs],
        "seconds": time.perf_counter() - started, "mlflow_parent_run": parent_id,
        "machine": f"{platform.node()} {os.cpu_count()} cpus", "git": code_version(),
    }
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
