"""Seasonal and trend losses, the seasonal GRU config and a tiny fit on FR.csv."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from search_spaces import seasonal_gru as spaces
from search_spaces.space import grid_size, is_grid
from trainables import losses
from trainables.config import build_config, field_names
from trainables.context import LocalContext
from trainables.errors import ConfigError
from trainables.seasonal_gru import task
from trainables.seasonal_gru.config import SeasonalGRUConfig
from trainables.seasonal_gru.data import eval_dataset, split_dataset
from trainables.seasonal_gru.model import RecurrentForecaster
from data.source import builtin_source

DATA_ROOT = Path(os.environ.get("ORCH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_fr = pytest.mark.needs_data("epf_fr")


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_seasonal_loss_zero_for_periodic_hidden_states_and_positive_otherwise():
    gen = torch.Generator().manual_seed(0)
    cycle = torch.randn(3, 24, 16, generator=gen)
    periodic = cycle.repeat(1, 5, 1)  # 120 steps, period 24
    assert losses.seasonal_loss(periodic, k=1, period=24).item() == 0.0
    assert losses.seasonal_loss(periodic, k=2, period=24).item() == 0.0
    noisy = periodic + 0.1 * torch.randn(periodic.shape, generator=gen)
    assert losses.seasonal_loss(noisy, k=1, period=24).item() > 0
    assert losses.seasonal_loss(periodic, k=1, period=23).item() > 0
    h = torch.randn(2, 50, 4, generator=gen)
    expected = ((h[:, 24:] - h[:, :-24]) ** 2).sum(-1).mean() / 4  # eq. 19: 1/(nm) sum_t sum_i
    assert losses.seasonal_loss(h).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError):
        losses.seasonal_loss(torch.zeros(1, 24, 3), k=1, period=24)


@pytest.mark.parametrize("stat", losses.TREND_STATS)
@pytest.mark.parametrize("width,stride", [(24, 1), (24, 24), (5, 3)])
def test_trend_loss_matches_numpy(stat, width, stride):
    rng = np.random.default_rng(1)
    pred, target = rng.normal(size=(4, 72, 2)), rng.normal(size=(4, 72, 2))
    fn = {"mean": np.mean, "max": np.max, "min": np.min, "var": np.var}[stat]
    gaps = []
    for start in range(0, 72 - width + 1, stride):
        gaps.append(fn(pred[:, start:start + width], axis=1) - fn(target[:, start:start + width], axis=1))
    expected = np.mean(np.square(gaps))
    got = losses.trend_loss(torch.from_numpy(pred), torch.from_numpy(target), width, stat, stride)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_trend_losses_sum_the_weighted_terms():
    gen = torch.Generator().manual_seed(2)
    pred, target = torch.randn(3, 24, 1, generator=gen), torch.randn(3, 24, 1, generator=gen)
    weights = {"mean": 0.0, "max": 0.05, "min": 0.1, "var": 0.0}
    expected = 0.05 * losses.trend_loss(pred, target, 24, "max") + 0.1 * losses.trend_loss(pred, target, 24, "min")
    assert losses.trend_losses(pred, target, weights, 24).item() == pytest.approx(expected.item())
    assert losses.trend_losses(pred, pred, weights, 24).item() == 0.0


def test_level_window_makes_the_forecast_follow_a_shift_of_the_price_level():
    """Adding c to every price input (history and lagged-price columns) adds exactly c
    to the forecast, and leaves calendar features alone; with level_window=0 it does not."""
    gen = torch.Generator().manual_seed(3)
    past, calendar = torch.randn(2, 48, 1, generator=gen), torch.randn(2, 72, 2, generator=gen)
    lags = torch.randn(2, 72, 2, generator=gen)
    for level_window, follows in ((24, True), (0, False)):
        torch.manual_seed(0)
        model = RecurrentForecaster(n_features=4, hidden=8, level_window=level_window, price_columns=2).eval()

        def forecast(shift: float) -> torch.Tensor:
            features = torch.cat([calendar, lags + shift], dim=-1)
            return model(past + shift, features[:, :48], features[:, 48:])[0]

        moved = forecast(1.5) - forecast(0.0)
        assert torch.allclose(moved, torch.full_like(moved, 1.5), atol=1e-5) is follows


def test_model_exposes_hidden_states_for_every_step():
    for cell in ("rnn", "lstm", "gru"):
        model = RecurrentForecaster(n_features=3, hidden=8, cell=cell)
        pred, hidden = model(torch.zeros(2, 48, 1), torch.zeros(2, 48, 3), torch.zeros(2, 24, 3))
        assert pred.shape == (2, 24, 1) and hidden.shape == (2, 72, 8)


def test_config_defaults_follow_the_paper_and_bad_values_are_rejected():
    cfg = SeasonalGRUConfig()
    assert (cfg.hidden, cfg.optimizer, cfg.lr, cfg.batch_size) == (64, "rmsprop", 1e-3, 64)
    assert (cfg.epochs, cfg.exogenous) == (48, True)  # chosen on the validation month
    assert cfg.grad_clip > 0 and (cfg.input_len, cfg.horizon) == (336, 24)
    tied = build_config(SeasonalGRUConfig, {"lambda_maxmin": 0.05, "lambda_max": 0.3})
    assert tied.trend_weights == {"mean": 0.0, "max": 0.05, "min": 0.05, "var": 0.0}
    hour = build_config(SeasonalGRUConfig, {"target": "hour_ahead", "price_lags": [1, 24]})
    assert (hour.input_len, hour.horizon) == (14, 1)
    for bad in ({"lambda_s": -0.1}, {"cell": "transformer"}, {"target": "week"},
                {"target": "hour_ahead", "lambda_s": 0.05},  # 15 steps < T = 24
                {"target": "hour_ahead", "lambda_maxmin": 0.05},  # horizon 1 < w = 24
                {"price_lags": [12]}):  # not known a day ahead
        with pytest.raises(ConfigError):
            build_config(SeasonalGRUConfig, bad)


def test_search_spaces_name_config_fields():
    names = set(field_names(SeasonalGRUConfig))
    for make in spaces.SPACES.values():
        assert set(make()) <= names
    grid = spaces.loss_grid()
    assert is_grid(grid) and grid_size(grid) == 12
    assert grid["lambda_s"].values == (0.0, 0.05, 0.1, 0.15) and grid["lambda_maxmin"].values == (0.0, 0.05, 0.1)


def test_price_metrics_by_hand():
    truth = np.concatenate([np.arange(24.0), np.arange(24.0) + 10])
    pred = truth + np.r_[np.zeros(23), 2.0, np.zeros(24)]
    m = task.price_metrics(pred, truth)
    assert m["mae"] == pytest.approx(2 / 48) and m["rmse"] == pytest.approx(math.sqrt(4 / 48))
    assert m["mae_max"] == pytest.approx(1.0) and m["mae_min"] == 0.0


@needs_fr
def test_tiny_fit_under_local_context(one_thread, tmp_path):
    spec = task.SPEC
    cfg = build_config(spec.config_cls, {**spec.smoke_overrides, "lambda_s": 0.05, "lambda_maxmin": 0.05,
                                         "checkpoint_every": 1})
    data = spec.load_data(cfg, builtin_source(spec.default_dataset, str(DATA_ROOT)))
    ctx = LocalContext(device="cpu", checkpoint_root=tmp_path)
    result = spec.fit(cfg, data, ctx)
    for key in ("val_loss", "test_rmse", "test_mae", "test_mae_max", "test_mae_min", "test_naive_rmse"):
        assert math.isfinite(result.metrics[key])
    assert result.outputs["test_pred"].shape == (182 * 24,)
    assert len(ctx.history) == cfg.epochs and ctx.latest_checkpoint
    pred, truth = task.predict_split(result.model, cfg, data, "test")
    np.testing.assert_allclose(pred, result.outputs["test_pred"], rtol=1e-6)
    assert task.price_metrics(pred, truth)["rmse"] == pytest.approx(result.metrics["test_rmse"])
    figures = spec.plots(result, data)
    assert set(figures) == {"test_forecast.png", "training_curves.png"}
    again = spec.fit(cfg, data, LocalContext(device="cpu"))
    assert again.metrics["test_rmse"] == pytest.approx(result.metrics["test_rmse"], rel=1e-6)


@needs_fr
@pytest.mark.parametrize("exogenous", [True, False])
def test_exported_ensemble_forecasts_from_raw_rows_what_its_members_forecast(one_thread, exogenous):
    """Raw prices (and load / generation forecasts) in, EUR/MWh out: the pipeline
    must rebuild eq. 26, the calendar, the lags and the exogenous scaling exactly
    as the loader did for training."""
    import pandas as pd

    from trainables.ensemble import EnsemblePredictor
    from trainables.seasonal_gru.serving import serving

    spec = task.SPEC
    base = build_config(spec.config_cls, {**spec.smoke_overrides, "exogenous": exogenous})
    data = spec.load_data(base, builtin_source(spec.default_dataset, str(DATA_ROOT)))
    configs, states, forecasts = [], [], []
    for seed in (0, 1):
        cfg = build_config(spec.config_cls, {"seed": seed}, base=base)
        model = spec.fit(cfg, data, LocalContext("cpu")).model.eval()
        configs.append(dataclasses.asdict(cfg))
        states.append(model.state_dict())
        forecasts.append(task.predict_prices(model, cfg, data, "test"))
    pipeline = serving(base, data)
    predictor = EnsemblePredictor("seasonal_gru", configs, states, [0.25, 0.75], pipeline)
    first_day = pipeline.example(data)
    assert len(first_day) == max(base.price_lags) + base.input_len + 24 and first_day["price"].tail(24).isna().all()
    expected = 0.25 * forecasts[0] + 0.75 * forecasts[1]
    np.testing.assert_allclose(predictor.predict(first_day)["mean"], expected[:24], atol=1e-4)

    # two forecasts at once: the first test day and the one after it
    lo = data.splits["test"][0]
    rows = slice(lo - len(first_day) + 48, lo + 48)  # the first day's rows, one day later
    second_day = first_day.copy()
    second_day["timestamp"] = pd.to_datetime(data.timestamps[rows]).strftime("%Y-%m-%d %H:%M:%S")
    second_day["price"] = data.prices[rows]
    if exogenous:
        second_day[["load", "generation"]] = data.exogenous[rows]
    both = pd.concat([first_day.assign(window=0), second_day.assign(window=1)])
    out = predictor.predict(both)
    assert list(out.columns) == ["window", "step", "mean", "std", "p10", "p90"]
    np.testing.assert_allclose(out["mean"], expected[:48], atol=1e-4)
    assert (out["std"] > 0).all() and (out["p10"] <= out["p90"]).all()

    for broken, message in [(first_day.iloc[1:], "rows"), (first_day.drop(columns="price"), "missing columns"),
                            (first_day.assign(timestamp=first_day["timestamp"].iloc[::-1].to_numpy()), "consecutive"),
                            (first_day.assign(price=np.nan), "need prices")]:
        with pytest.raises(ValueError, match=message):
            predictor.predict(broken)
    other = build_config(spec.config_cls, {"price_lags": [24, 168]}, base=base)
    with pytest.raises(ValueError, match="price_lags"):
        EnsemblePredictor("seasonal_gru", [dataclasses.asdict(other)], states[:1], [1.0], pipeline)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SeasonalGRUConfig().hidden = 3  # type: ignore[misc]


@needs_fr
def test_windows_keep_targets_inside_their_split():
    cfg = SeasonalGRUConfig()
    data = task.load_data(cfg, builtin_source("epf_fr", str(DATA_ROOT)))
    train = split_dataset(cfg, data, "train", cfg.train_stride)
    ends = train.starts.numpy() + cfg.input_len + cfg.horizon
    assert ends.max() <= data.splits["train"][1] and train.starts.min().item() >= max(cfg.price_lags)
    for split in ("val", "test"):
        ds = eval_dataset(cfg, data, split)
        origins = ds.starts.numpy() + cfg.input_len
        lo, hi = data.splits[split]
        np.testing.assert_array_equal(origins, np.arange(lo, hi, 24))  # one forecast per day, at midnight


@needs_fr
def test_epf_table_is_logged_to_mlflow_and_rebuilt_from_it(mlflow_uri, tmp_path, capsys):
    """--mlflow logs every row as a child run; --from-mlflow prints the same table."""
    import json

    import mlflow

    from benchmarks import epf_rows, epf_table

    out = tmp_path / "epf.json"
    tiny = ["epochs=1", "max_train_batches=2", "lag_window=2", "hidden=8", "batch_size=16"]
    code = epf_table.main(["--seeds", "2", "--variants", "GRU", "--baselines", "naive 24h", "--jobs", "1",
                           "--data-dir", str(DATA_ROOT), "--mlflow", "--out", str(out), "--set", *tiny])
    assert code == 0
    report = json.loads(out.read_text())
    printed = capsys.readouterr().out
    parent = report["mlflow_parent_run"]
    baselines, variants = epf_table.table_from_mlflow(parent)
    assert set(baselines) == {"naive 24h"} and set(variants) == {"GRU"}
    for m in epf_rows.METRICS:
        assert variants["GRU"]["mean"][m] == pytest.approx(report["variants"]["GRU"]["mean"][m])
        assert variants["GRU"]["ensemble"][m] == pytest.approx(report["variants"]["GRU"]["ensemble"][m])
        assert baselines["naive 24h"]["metrics"][m] == pytest.approx(report["baselines"]["naive 24h"]["metrics"][m])
    assert variants["GRU"]["val_rmse"] == pytest.approx(report["variants"]["GRU"]["val_rmse"])
    children = mlflow.MlflowClient(mlflow_uri).search_runs(
        [mlflow.get_experiment_by_name(epf_table.EXPERIMENT).experiment_id],
        f"tags.mlflow.parentRunId = '{parent}'")
    trainings = [r for r in children if r.data.tags[epf_table.KIND_TAG] == "training"]
    assert len(children) == 4 and len(trainings) == 2
    assert {r.data.params["seed"] for r in trainings} == {"0", "1"}
    assert epf_table.main(["--from-mlflow", parent]) == 0
    assert capsys.readouterr().out.strip() == epf_rows.format_table(baselines, variants).strip()
    assert epf_rows.format_table(baselines, variants) in printed


def test_epf_table_from_mlflow_refuses_an_unknown_or_unfinished_run_in_one_line(mlflow_uri, capsys):
    """An ensemble writes its per-configuration summary when its last member ends; read
    before that (or with a wrong id) the table says so in one line, exit code 2."""
    from mlflow import MlflowClient

    from benchmarks import epf_table
    from orchestrator.tracking import Tag

    client = MlflowClient(mlflow_uri)
    running = client.create_run(client.create_experiment("epf-grid"), tags={Tag.KIND: "ensemble"}).info.run_id
    capsys.readouterr()  # the store's own start-up lines
    assert epf_table.main(["--from-mlflow", running]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and running in err and "(RUNNING)" in err and "summary" in err
    assert epf_table.main(["--from-mlflow", "0123abcd"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no run '0123abcd'" in err and mlflow_uri in err


def test_epf_table_loss_grid_is_the_search_space_grid_and_the_choice_is_made_on_validation():
    """--loss-grid trains exactly the loss_grid space's 12 points; the reported loss row is
    the weighted row with the lowest validation RMSE, whatever its test score."""
    from benchmarks import epf_rows
    from search_spaces.seasonal_gru import loss_grid

    space = loss_grid()
    points = {(over.get("lambda_s", 0.0), over.get("lambda_maxmin", 0.0)) for over in epf_rows.LOSS_GRID.values()}
    assert len(epf_rows.LOSS_GRID) == 12
    assert points == {(s, t) for s in space["lambda_s"].values for t in space["lambda_maxmin"].values}
    assert epf_rows.LOSS_GRID["GRU"] == {} and epf_rows.LOSS_GRID["GRU S0.15 T0.05"] == {
        "lambda_s": 0.15, "lambda_maxmin": 0.05}
    assert set(epf_rows.TABLE3) <= set(epf_rows.VARIANTS)

    def row(name: str, val: float, test: float) -> dict:
        weights = epf_rows.loss_weights(epf_rows.VARIANTS[name])
        return {"val_rmse": val, "mean": {"rmse": test}, "loss_weights": weights}

    rows = {name: row(name, val, test) for name, val, test in (
        ("GRU", 5.0, 4.0), ("LSTM", 4.0, 4.0), ("GRU S0.05", 6.1, 4.2), ("GRU T0.1", 6.0, 4.9))}
    assert epf_rows.chosen_on_validation(rows) == "GRU T0.1"
    assert epf_rows.chosen_on_validation({"GRU": rows["GRU"]}) is None


@pytest.mark.ray
@needs_fr
def test_epf_table_reads_an_orchestrator_loss_grid_ensemble(ray_cluster, mlflow_uri, tmp_path, capsys):
    """The paper's protocol through Ray Tune (a loss-grid sweep, then N seeds of each
    configuration) comes back as Table 3 rows named by their loss weights, each the
    mean +- std of its own members with its seed ensemble beside it."""
    from benchmarks import epf_rows, epf_table
    from orchestrator.__main__ import main
    from orchestrator.tracking import find_parent
    from orchestrator.tracking import client

    storage = str(tmp_path / "ray")
    assert main(["sweep", "--model", "seasonal_gru", "--dataset", "epf_fr", "--smoke", "--space", "smoke",
                 "--search", "grid", "--storage", storage, "--name", "grid", "--no-trial-plots"]) == 0
    assert main(["ensemble", "--sweep", "grid", "--top-k", "2", "--seeds", "2", "--storage", storage,
                 "--name", "grid-seeds"]) == 0
    parent = find_parent(mlflow_uri, "grid-seeds", ("ensemble",), "--ensemble")
    members = client(mlflow_uri).search_runs([parent.info.experiment_id],
                                             f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    baselines, rows = epf_table.table_from_mlflow(parent.info.run_id)
    assert baselines == {} and set(rows) == {"GRU T0.05", "GRU S0.05 T0.05"}
    for name, row in rows.items():
        weights = epf_rows.loss_weights(epf_rows.VARIANTS[name])
        own = [m for m in members if epf_rows.loss_weights(m.data.params) == weights]
        assert row["seeds"] == len(own) == 2 and row["loss_weights"] == weights
        for metric in epf_rows.METRICS:
            values = [m.data.metrics[f"test_{metric}"] for m in own]
            assert row["mean"][metric] == pytest.approx(np.mean(values))
            assert row["std"][metric] == pytest.approx(np.std(values, ddof=1))
        assert row["val_rmse"] == pytest.approx(np.mean([m.data.metrics["val_rmse"] for m in own]))
    capsys.readouterr()
    assert epf_table.main(["--from-mlflow", parent.info.run_id]) == 0
    printed = capsys.readouterr().out
    assert "GRU S0.05 T0.05" in printed and "chosen on validation" in printed
