"""Volve well production: TimeMixer against Arps and naive baselines, and an
ablation of the seed guide's options, scored on the last 20 % of each well.

Every model and baseline is scored on the same test windows (targets inside the
last 20 % of a well), in original units (Sm3/day), per well and pooled. Each
ablation row is the base configuration with one guide option switched on.

    python -m benchmarks.volve_study                 # all rows, in-process
    python -m benchmarks.volve_study --mlflow        # also log each run to MLflow
    python -m benchmarks.volve_study --only base noise_0.05 --epochs 3
    python -m benchmarks.volve_study --mlflow --tune 24 --seeds 2   # the README's study

``--tune N`` first runs an N-trial Ray Tune sweep (Optuna TPE over the ``volve``
search space, every trial an MLflow child run) and adds its best configuration by
validation MAE (``--tune-metric``) as the ``tuned`` row. ``--seeds K`` trains every
row with K seeds and reports the mean (and the spread of the pooled MAE).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import table, use_shared_data, write_report
from data.source import builtin_source

BASE: dict[str, Any] = {
    "input_len": 180, "output_len": 30, "step_len": 5, "features": "S", "d_model": 32, "d_ff": 64,
    "e_layers": 2, "down_sampling_layers": 2, "moving_avg": 25, "dropout": 0.1, "lr": 3e-3,
    "batch_size": 32, "epochs": 8, "patience": 4, "trend_window": 7, "season_period": 7,
}
ABLATIONS: dict[str, dict[str, Any]] = {
    "base": {},
    "weight_decay_1e-5": {"weight_decay": 1e-5},
    "dropout_0.15": {"dropout": 0.15},
    "noise_0.05": {"noise_std": 0.05},
    "jitter_10": {"jitter": 10},
    "mixup_0.3": {"mixup_prob": 0.3, "mixup_alpha": 0.2},
    "cosine_restarts": {"scheduler": "cosine_restarts", "t0": 2, "t_mult": 2, "eta_min": 1e-6},
    "loss_mae": {"loss": "mae"},
    "loss_weighted_mae": {"loss": "weighted_mae"},
    "loss_combined": {"loss": "combined"},
    "loss_quantile": {"loss": "quantile"},
    "feat_cumulative": {"feat_cumulative": True},
    "feat_rate_change": {"feat_rate_change": True},
    "feat_rolling_30": {"feat_rolling": 30},
    "well_embedding": {"series_embedding": True},
    "scaler_robust": {"scaler": "robust"},
    "smooth_savgol_21_3": {"smooth_window": 21, "smooth_order": 3},
    "clip_3sigma": {"clip_sigma": 3.0},
    "segment_norm_90": {"segment_norm": 90},
    "multitask": {"multitask": True},
    "two_stage_lr/5": {"__two_stage__": True},
}


def window_rows(starts: np.ndarray, input_len: int, output_len: int) -> tuple[np.ndarray, np.ndarray]:
    offsets_x, offsets_y = np.arange(input_len), np.arange(input_len, input_len + output_len)
    return starts[:, None] + offsets_x, starts[:, None] + offsets_y


def baselines(data: Any, starts: np.ndarray, series: np.ndarray, input_len: int, output_len: int
              ) -> dict[str, np.ndarray]:
    """Raw-unit forecasts of last value, weekly seasonal naive and per-well Arps."""
    from trainables.timemixer.baselines import arps_forecast, fit_arps, last_value, seasonal_naive

    raw = data.raw()[:, 0]
    x_rows, y_rows = window_rows(starts, input_len, output_len)
    inputs = raw[x_rows]
    arps = np.zeros_like(raw[y_rows])
    for sid, s in enumerate(data.meta["series"]):
        mine = series == sid
        if not mine.any():
            continue
        history = np.arange(s["lo"], s["splits"]["test"][0])  # train + val rows
        params = fit_arps(history - s["lo"], raw[history])
        arps[mine] = arps_forecast(params, y_rows[mine] - s["lo"])
    return {"last_value": last_value(inputs, output_len), "seasonal_naive_7": seasonal_naive(inputs, output_len, 7),
            "arps": arps}


def scores(pred: np.ndarray, truth: np.ndarray, series: np.ndarray, names: list[str]) -> dict[str, float]:
    """Pooled MAE/RMSE plus the mean over wells of each well's MAE (Sm3/day)."""
    err = pred - truth
    per_well = {names[sid]: float(np.mean(np.abs(err[series == sid]))) for sid in np.unique(series)}
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))),
            "well_mean_mae": float(np.mean(list(per_well.values()))), "per_well_mae": per_well}


def tune_best(trials: int, data: Any, seed: int, metric: str) -> dict[str, Any]:
    """Best configuration of an Optuna TPE sweep on Ray Tune around BASE, ranked on
    ``metric`` (validation, in the data's standard units)."""
    from orchestrator.config import RunOptions, SweepOptions
    from orchestrator.sweep import run_sweep
    from search_spaces.timemixer import volve
    from trainables.config import build_config
    from trainables.timemixer.config import TimeMixerConfig

    run = RunOptions(model="timemixer", data=builtin_source("volve"), params=build_config(TimeMixerConfig, BASE),
                     experiment="volve_study")
    opts = SweepOptions(space_name="volve", space=volve(), search="tpe", samples=trials, seed=seed, metric=metric,
                        storage=tempfile.mkdtemp(prefix="volve-sweep-"), name=f"volve-tune-{int(time.time())}")
    summary = run_sweep(run, opts, data)
    if "best_config" not in summary:
        raise SystemExit(f"volve study: the sweep {summary['name']} finished no trial")
    print(f"tuned: best of {trials} trials {summary['best_config']} ({summary['metric']} {summary['best_metric']:.4g}; "
          f"MLflow parent run {summary['parent_run_id']})", flush=True)
    return dict(summary["best_config"])


def run_model(overrides: dict[str, Any], data: Any, init_from: str = "") -> tuple[Any, dict[str, Any]]:
    from trainables.config import build_config
    from trainables.context import LocalContext
    from trainables.timemixer.config import TimeMixerConfig
    from trainables.timemixer.task import fit

    values = {**BASE, **overrides}
    if init_from:
        values.update(init_from=init_from, lr=BASE["lr"] / 5, epochs=max(2, BASE["epochs"] // 2))
    cfg = build_config(TimeMixerConfig, values)
    result = fit(cfg, data, LocalContext("cpu"))
    return cfg, {"result": result}


def log_mlflow(name: str, cfg: Any, metrics: dict[str, float]) -> str:
    import mlflow

    from orchestrator.tracking import resolve_tracking_uri
    from trainables.config import as_dict

    mlflow.set_tracking_uri(resolve_tracking_uri())
    mlflow.set_experiment("volve_study")
    with mlflow.start_run(run_name=f"volve-{name}") as run:
        mlflow.log_params({k: str(v) for k, v in as_dict(cfg).items()})
        mlflow.log_metrics(metrics)
        mlflow.set_tag("ablation", name)
    return run.info.run_id


def mean_over_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from a row's seeds: means, the MAE spread and each seed's MAE."""
    row: dict[str, Any] = {k: float(np.mean([r[k] for r in runs])) for k, v in runs[0].items()
                           if isinstance(v, float)}
    row["per_well_mae"] = {w: float(np.mean([r["per_well_mae"][w] for r in runs])) for w in runs[0]["per_well_mae"]}
    row["mae_std"] = float(np.std([r["mae"] for r in runs]))
    row["seed_mae"] = [r["mae"] for r in runs]
    if "run_id" in runs[0]:
        row["run_ids"] = [r["run_id"] for r in runs]
    return row


def report(results: dict[str, Any], rows: list[str], names: list[str], tag: str, quiet: bool = False,
           settings: dict[str, dict[str, Any]] | None = None) -> Path:
    """Print the table (unless quiet) and write the JSON report."""
    base_mae = results.get("base", {}).get("mae", float("nan"))
    table_rows = [{"run": k, "mae": v["mae"], "mae_std": v.get("mae_std", float("nan")), "rmse": v["rmse"],
                   "well_mean_mae": v["well_mean_mae"], "vs_base": v["mae"] / base_mae - 1,
                   **{short(n): v["per_well_mae"][n] for n in v["per_well_mae"]}}
                  for k, v in results.items()]
    if not quiet:
        print(table(table_rows, ["run", "mae", "mae_std", "rmse", "well_mean_mae", "vs_base",
                                 *[short(n) for n in names]]))
    return write_report("volve_study" + (f"_{tag}" if tag else ""),
                        {"base": BASE, "ablations": settings or {k: ABLATIONS[k] for k in rows}, "units": "Sm3/day",
                         "scored_on": "test windows: targets in the last 20 % of each well", "results": results})


def short(name: str) -> str:
    """'NO 15/9-F-12 H' -> 'F-12H' (table columns)."""
    return name.replace("NO 15/9-", "").replace(" ", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help=f"ablation rows to run (default all: {list(ABLATIONS)})")
    parser.add_argument("--epochs", type=int, default=BASE["epochs"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per row (2021, 2022, ...)")
    parser.add_argument("--tune", type=int, default=0, metavar="N",
                        help="first run an N-trial TPE sweep on Ray Tune and add its best config as row 'tuned'")
    parser.add_argument("--tune-metric", default="val_mae", choices=("val_mae", "val_mse"),
                        help="what the sweep ranks trials on (the table scores MAE)")
    parser.add_argument("--mlflow", action="store_true", help="log each run to MLflow (experiment volve_study)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(ABLATIONS))
    if unknown:
        parser.error(f"--only: unknown rows {unknown}; expected some of {list(ABLATIONS)}")
    if args.seeds < 1 or args.tune < 0:
        parser.error("--seeds must be >= 1 and --tune >= 0")
    use_shared_data()
    torch.set_num_threads(args.threads)
    BASE["epochs"] = args.epochs
    from data.volve import load_volve

    data = load_volve()
    names = [s["name"] for s in data.meta["series"]]
    settings = {k: dict(v) for k, v in ABLATIONS.items() if not args.only or k in args.only}
    if "two_stage_lr/5" in settings and "base" not in settings:
        settings = {"base": {}, **settings}
    if args.tune:
        settings["tuned"] = tune_best(args.tune, data, seed=BASE.get("seed", 2021), metric=args.tune_metric)
    seeds = [2021 + i for i in range(args.seeds)]
    results: dict[str, Any] = {}
    base_weights = {seed: tempfile.mkdtemp(prefix=f"volve-base-{seed}-") for seed in seeds}
    for name, setting in settings.items():
        runs = []
        for seed in seeds:
            started = time.perf_counter()
            options = {**setting, "seed": seed}
            init = base_weights[seed] if options.pop("__two_stage__", False) else ""
            cfg, out = run_model(options, data, init)
            result = out["result"]
            if name == "base":
                torch.save(result.model.state_dict(), Path(base_weights[seed]) / "state_dict.pt")
            scaler, series = result.outputs["scaler"], result.outputs["test_series"]
            pred = scaler.inverse_transform(result.outputs["test_pred"][..., 0], [0])
            truth = scaler.inverse_transform(result.outputs["test_truth"][..., 0], [0])
            row = scores(pred, truth, series, names)
            row.update(val_mse=result.metrics["val_mse"], best_epoch=result.metrics["best_epoch"],
                       seconds=time.perf_counter() - started)
            if "test_coverage_80" in result.metrics:
                row["coverage_80"] = result.metrics["test_coverage_80"]
            if args.mlflow:
                row["run_id"] = log_mlflow(f"{name}-s{seed}", cfg,
                                           {k: v for k, v in row.items() if isinstance(v, float)})
            runs.append(row)
            print(f"{name} seed {seed}: MAE {row['mae']:.1f} RMSE {row['rmse']:.1f} "
                  f"well-mean MAE {row['well_mean_mae']:.1f} ({row['seconds']:.0f} s)", flush=True)
        results[name] = mean_over_seeds(runs)
        if name == "base":
            starts = result.outputs["test_starts"]
            for label, forecast in baselines(data, starts, series, BASE["input_len"], BASE["output_len"]).items():
                results[label] = scores(forecast, truth, series, names)
                print(f"{label}: MAE {results[label]['mae']:.1f} RMSE {results[label]['rmse']:.1f}", flush=True)
        report(results, list(settings), names, args.tag, quiet=True, settings=settings)  # survives an interruption
    path = report(results, list(settings), names, args.tag, settings=settings)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
