"""`predict`: an exported ensemble (a real registered MLflow model) on new raw files,
through the CLI, agrees with the in-process ensemble on the same inputs."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from data.recordings import to_rate
from data.source import user_source
from orchestrator import tracking
from orchestrator.__main__ import main
from orchestrator.ensemble import Member, export_members
from orchestrator.export import bundle, predictor_from_bundle
from trainables.config import as_dict, build_config
from trainables.context import LocalContext
from trainables.registry import get_adapter, get_spec


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def export_smoke_ensemble(family: str, source, uri: str, name: str, **overrides):
    """Two smoke members trained in-process on ``source``, exported and registered
    as ``name`` exactly as `ensemble --export` does; returns (model URI, predictor)."""
    spec, adapter = get_spec(family), get_adapter(family)
    base = build_config(spec.config_cls, {**spec.smoke_overrides, **overrides})
    data = spec.load_data(base, source)
    members = []
    for seed in (0, 1):
        cfg = build_config(spec.config_cls, {"seed": seed}, base=base)
        model = spec.fit(cfg, data, LocalContext("cpu")).model.eval()
        members.append(Member("", 0, seed, as_dict(cfg), model.state_dict(), None, None))
    experiment = tracking.ensure_experiment(uri, "predict")
    run_id = tracking.start_run(uri, experiment, f"{name}-export", {})
    model_uri = export_members(uri, run_id, family, source, members, np.array([0.5, 0.5]), base, data, name)
    tracking.end_run(uri, run_id)
    pipeline = get_adapter(family).serving(base, data)
    payload = bundle(family, [m.config for m in members], [m.state for m in members], [0.5, 0.5], pipeline)
    return model_uri, predictor_from_bundle(payload)


def tone(freq: float, rate: int, n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / rate
    return np.sin(2 * np.pi * freq * t) + 0.3 * np.random.default_rng(seed).standard_normal(n)


def test_bearing_predicts_class_probabilities_per_file_and_window(tmp_path, mlflow_uri, capsys):
    train = tmp_path / "train"
    for i, (name, freq) in enumerate({"low": 500.0, "mid": 1500.0, "high": 3000.0}.items()):
        (train / name).mkdir(parents=True)
        np.save(train / name / "run.npy", tone(freq, 12_000, 16_000, i))
    source = user_source(train, {"sample_rate": 12_000}, get_spec("bearing").data_keys)
    model_uri, predictor = export_smoke_ensemble("bearing", source, mlflow_uri, "bearing-user")
    assert model_uri == "models:/bearing-user/1"

    new = tmp_path / "new"
    new.mkdir()
    recordings = {"a.npy": tone(500.0, 24_000, 5_000, 7), "b.csv": tone(3000.0, 24_000, 3_000, 8)}
    np.save(new / "a.npy", recordings["a.npy"])
    pd.DataFrame({"accel": recordings["b.csv"]}).to_csv(new / "b.csv", index=False)
    out = tmp_path / "probs.csv"
    assert main(["predict", "--model", model_uri, "--data", str(new), "--set", "data.sample_rate=24000",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    window = predictor.pipeline.window
    # 5000 and 3000 samples at 24 kHz are 2500 and 1500 at 12 kHz: 4 and 2 whole windows of 512.
    per_file = table.groupby("file")["window"].nunique().to_dict()
    assert per_file == {"a.npy": 2500 // window, "b.csv": 1500 // window}
    assert set(table["class"]) == {"low", "mid", "high"}
    assert np.allclose(table.groupby("window")["probability"].sum(), 1.0)
    # The same windows, cut by hand, through the in-process ensemble.
    cut = [to_rate(recordings[f], 24_000, 12_000) for f in ("a.npy", "b.csv")]
    samples = np.concatenate([c[:len(c) // window * window] for c in cut])
    expected = predictor.predict(pd.DataFrame({"signal": samples}))
    merged = table.sort_values(["window", "class"]).reset_index(drop=True)
    expected = expected.sort_values(["window", "class"]).reset_index(drop=True)
    assert np.allclose(merged["probability"], expected["probability"], atol=1e-6)
    assert (merged["first_sample"].iloc[:3 * 3:3].tolist() == [0, window, 2 * window])


def test_predict_without_a_rate_names_the_key(tmp_path, mlflow_uri, capsys):
    train = tmp_path / "train"
    for i, name in enumerate(("low", "high")):
        (train / name).mkdir(parents=True)
        np.save(train / name / "run.npy", tone(500.0 * (i + 1), 12_000, 16_000, i))
    source = user_source(train, {"sample_rate": {"low": 12_000, "*": 12_000}}, get_spec("bearing").data_keys)
    model_uri, _ = export_smoke_ensemble("bearing", source, mlflow_uri, "bearing-rate")
    np.save(tmp_path / "x.npy", tone(500.0, 12_000, 2_000, 3))
    capsys.readouterr()
    assert main(["predict", "--model", model_uri, "--data", str(tmp_path / "x.npy")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "data.sample_rate=HZ" in errors[0]


def test_predict_with_an_unknown_model_exits_2(tmp_path, mlflow_uri, capsys):
    (tmp_path / "x.csv").write_text("a\n1\n")
    assert main(["predict", "--model", "models:/nothing/1", "--data", str(tmp_path / "x.csv")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: --model: cannot load 'models:/nothing/1'")


def test_seasonal_gru_forecasts_the_day_after_the_file(tmp_path, mlflow_uri):
    """Train on a user market (exogenous load forecasts, DST days), export, then predict
    from a new file whose last day holds only the load forecast: the 24 hours of that
    day come out, equal to the in-process ensemble on the same rows."""
    from tests.test_user_prices import USER_KEYS, synthetic_market, write_market

    market = synthetic_market()
    train_csv = write_market(tmp_path / "market.csv", market)
    spec = get_spec("seasonal_gru")
    source = user_source(train_csv, USER_KEYS, spec.data_keys)
    model_uri, predictor = export_smoke_ensemble("seasonal_gru", source, mlflow_uri, "gru-user", exogenous=True)

    recent = synthetic_market("2015-03-01", "2015-04-02", seed=5)
    recent.loc[recent["stamps"].dt.tz_localize(None) >= "2015-04-01", "price"] = np.nan  # the day to forecast
    new_csv = write_market(tmp_path / "recent.csv", recent)
    out = tmp_path / "forecast.csv"
    assert main(["predict", "--model", model_uri, "--data", str(new_csv), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 24 and table["timestamp"].iloc[0] == "2015-04-01 00:00:00"
    assert table["timestamp"].iloc[-1] == "2015-04-01 23:00:00" and table["step"].tolist() == list(range(1, 25))
    rows, _ = predictor.pipeline.request(user_source(new_csv, USER_KEYS, spec.data_keys))
    np.testing.assert_allclose(table["mean"], predictor.predict(rows)["mean"], atol=1e-6)
    assert (table["p10"] <= table["p90"] + 1e-9).all()

    no_load = tmp_path / "no_load.csv"
    recent.drop(columns="load").assign(load=np.nan).pipe(write_market, no_load) if False else None
    recent.loc[recent["stamps"].dt.tz_localize(None) >= "2015-04-01", "load"] = np.nan
    write_market(no_load, recent)
    assert main(["predict", "--model", model_uri, "--data", str(no_load)]) == 2


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.needs_data("volve")  # before Ray starts
def test_volve_wells_as_a_user_panel_end_to_end(ray_cluster, mlflow_uri, tmp_path, capsys):
    """Volve's daily production as the user's own long-format panel (wellbore as the
    series id): train, 2-worker DDP, sweep, ensemble, export, compare and predict, each
    through the CLI, on a small config. The forecast starts after each well's last day."""
    from data.volve import volve_long_table
    from tests.conftest import require_data

    long = volve_long_table(require_data("volve")).drop(columns="shut_in")
    long = long.rename(columns={"well": "wellbore", "date": "day", "oil_rate": "oil"})
    path = tmp_path / "volve_wells.csv"
    long.to_csv(path, index=False)
    config = tmp_path / "run.yaml"
    config.write_text(f"model: timemixer\ndata:\n  path: {path}\n  id: wellbore\n  time: day\n  target: oil\n"
                      "  split: [0.7, 0.1, 0.2]\nexperiment: volve-user\n")
    storage = str(tmp_path / "ray")
    common = ["--config", str(config), "--smoke", "--storage", storage]
    assert main(["train", *common]) == 0
    assert main(["train", *common, "--workers", "2"]) == 0
    assert main(["sweep", *common, "--space", "smoke", "--samples", "2", "--name", "wells",
                 "--no-trial-plots"]) == 0
    assert main(["ensemble", "--sweep", "wells", "--top-k", "1", "--seeds", "2", "--storage", storage,
                 "--name", "wells-ens", "--export", "--registered-name", "wells"]) == 0
    assert main(["compare", "--sweep", "wells", "--sweep", "wells-ens"]) == 0
    out = capsys.readouterr().out
    assert "models:/wells/1" in out and "volve_wells" in out

    forecast = tmp_path / "forecast.csv"
    assert main(["predict", "--model", "models:/wells/1", "--data", str(path), "--out", str(forecast)]) == 0
    table = pd.read_csv(forecast)
    last = long.groupby("wellbore")["day"].max()
    horizon = get_spec("timemixer").smoke_overrides["output_len"]
    assert sorted(table["series"].unique()) == sorted(last.index)
    for well, rows in table.groupby("series"):
        assert len(rows) == horizon and rows["step"].tolist() == list(range(1, horizon + 1))
        first = pd.Timestamp(last[well]) + pd.Timedelta(days=1)
        assert rows["time"].iloc[0] == f"{first:%Y-%m-%d} 00:00:00"
    assert np.isfinite(table[["mean", "std", "p10", "p90"]].to_numpy()).all() and (table["mean"] >= -1e3).all()
