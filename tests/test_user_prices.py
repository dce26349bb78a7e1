"""The seasonal GRU on any hourly market's price file: one path for FR.csv and a
user's file, DST days repaired to 24 hours, bad files named in one line, and an
exported ensemble that takes the user's raw rows."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.errors import DataError
from data.price_layout import layout_of
from data.prices import read_prices
from data.registry import file_sha256, get_info
from data.source import user_source
from tests.conftest import require_data
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.seasonal_gru import task

SPEC = task.SPEC
PERIODS = {"train": ["2013-01-01", "2015-01-01"], "val": ["2015-01-01", "2015-02-01"],
           "test": ["2015-02-01", "2015-04-01"]}  # the test months hold the spring DST day 2015-03-29


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def local_hours(start: str, end: str) -> pd.DatetimeIndex:
    """Every real hour of Paris time in [start, end): 23-hour spring days, 25-hour autumn days."""
    return pd.date_range(pd.Timestamp(start, tz="Europe/Paris"), pd.Timestamp(end, tz="Europe/Paris"),
                         freq="h", inclusive="left")


def synthetic_market(start: str = "2013-01-01", end: str = "2015-04-01", seed: int = 0) -> pd.DataFrame:
    """Hourly prices with a daily and a weekly cycle plus noise, and a day-ahead load
    forecast that drives part of the price, on Paris local time (DST included)."""
    stamps = local_hours(start, end)
    rng = np.random.default_rng(seed)
    hour, dow = stamps.hour.to_numpy(), stamps.day_of_week.to_numpy()
    load = 50_000 + 8_000 * np.sin(2 * np.pi * (hour - 6) / 24) - 5_000 * (dow >= 5) + rng.normal(0, 500, len(stamps))
    price = 20 + 0.0005 * load + 6 * np.sin(2 * np.pi * (dow + hour / 24) / 7) + rng.normal(0, 2, len(stamps))
    return pd.DataFrame({"stamps": stamps, "price": price.round(3), "load": load.round(1)})


def write_market(path: Path, market: pd.DataFrame, names=("Zeit", "Preis", "Last"), sep: str = ";",
                 decimal: str = ",", offsets: bool = False) -> Path:
    """The market as a CSV with local clock times (``offsets``: ISO times with their UTC offset)."""
    times = market["stamps"].map(lambda t: t.isoformat()) if offsets else market["stamps"].dt.strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({names[0]: times, names[1]: market["price"], names[2]: market["load"]})
    frame.to_csv(path, sep=sep, decimal=decimal, index=False)
    return path


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_market()


@pytest.fixture(scope="module")
def market_csv(tmp_path_factory, market) -> Path:
    return write_market(tmp_path_factory.mktemp("market") / "my_market.csv", market)


USER_KEYS = {"time": "Zeit", "price": "Preis", "exogenous": ["Last"], **PERIODS}


# --- FR.csv: the built-in set and the same file given as --data ----------------------

def resolved(argv: list[str]):
    from orchestrator.__main__ import build_parser
    from orchestrator.config import resolve_run

    return resolve_run(build_parser().parse_args(argv))


def test_fr_by_name_and_as_a_user_file_give_the_same_arrays_and_test_metrics(tmp_path, one_thread):
    from orchestrator.commands import load_checked

    fr = require_data("epf_fr")
    layout = get_info("epf_fr").layout
    yaml = tmp_path / "run.yaml"
    yaml.write_text(json.dumps({"data": {k: layout[k] for k in ("time", "exogenous", "train", "val")}}))
    builtin = resolved(["train", "--model", "seasonal_gru", "--dataset", "epf_fr", "--smoke"])
    user = resolved(["train", "--model", "seasonal_gru", "--config", str(yaml), "--data", str(fr), "--smoke",
                     "--set", "data.price=Prices", "--set", "data.test=[2016-01-01, 2016-07-01]"])
    assert builtin.data.builtin and not user.data.builtin and user.params == builtin.params
    a, b = load_checked(builtin), load_checked(user)
    for name in ("timestamps", "prices", "z", "features", "exogenous"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.splits == b.splits and a.checksum == b.checksum == file_sha256(fr)
    assert a.feature_names[-2:] == ["load_forecast", "generation_forecast"]
    assert b.feature_names[-2:] == ["System load forecast_forecast", "Generation forecast_forecast"]
    first = SPEC.fit(builtin.params, a, LocalContext("cpu")).metrics
    second = SPEC.fit(user.params, b, LocalContext("cpu")).metrics
    for key in ("test_rmse", "test_mae", "test_mae_max", "test_mae_min", "val_loss"):
        assert second[key] == pytest.approx(first[key], rel=1e-6, abs=1e-6), key


# --- reading a user's market ------------------------------------------------------------

def test_semicolon_decimal_comma_csv_gets_its_dst_days_repaired_to_24_hours(tmp_path, market):
    path = write_market(tmp_path / "m.csv", market)
    assert "2014-10-26 02:00;" in path.read_text() and "2014-03-30 02:00;" not in path.read_text()
    frame = read_prices(path, layout_of({"time": "Zeit", "price": "Preis", "exogenous": ["Last"]}))
    assert list(frame.columns) == ["timestamp", "price", "Last"]
    days = frame.groupby(frame.timestamp.dt.normalize()).size()
    assert (days == 24).all() and len(days) == len(pd.date_range("2013-01-01", "2015-03-31"))
    assert (frame.timestamp.diff().dropna() == pd.Timedelta(hours=1)).all()

    def day(date: str) -> pd.DataFrame:
        part = frame[frame.timestamp.dt.normalize() == pd.Timestamp(date)]
        return part.set_index(part.timestamp.dt.hour.to_numpy())

    local = market.assign(clock=market.stamps.dt.tz_localize(None))
    spring = day("2014-03-30")  # 02:00 never happened: interpolated
    for column in ("price", "Last"):
        assert spring.loc[2, column] == pytest.approx((spring.loc[1, column] + spring.loc[3, column]) / 2)
    autumn = day("2014-10-26")  # 02:00 happened twice: merged by the mean
    twice = local[local.clock == pd.Timestamp("2014-10-26 02:00")]
    assert len(twice) == 2
    assert autumn.loc[2, "price"] == pytest.approx(twice["price"].mean())
    assert autumn.loc[2, "Last"] == pytest.approx(twice["load"].mean())
    ordinary = day("2014-06-02")
    same_day = local[local.clock.dt.normalize() == pd.Timestamp("2014-06-02")]
    np.testing.assert_allclose(ordinary["price"].to_numpy(), same_day["price"].to_numpy())

    # the same market with UTC offsets on every time: read as the clock time written there
    aware = read_prices(write_market(tmp_path / "aware.csv", market, offsets=True),
                        layout_of({"time": "Zeit", "price": "Preis", "exogenous": ["Last"]}))
    pd.testing.assert_frame_equal(aware, frame)


def test_inferred_columns_and_a_timezone_conversion(tmp_path, market):
    """Columns named timestamp / price need no keys; UTC times with ``timezone`` become Paris clock time."""
    utc = market.assign(stamps=market.stamps.dt.tz_convert("UTC"))
    path = tmp_path / "utc.csv"
    frame = pd.DataFrame({"timestamp": utc.stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "Price": utc.price})
    frame.to_csv(path, index=False)
    converted = read_prices(path, layout_of({"timezone": "Europe/Paris"}))
    local = read_prices(write_market(tmp_path / "m.csv", market), layout_of({"time": "Zeit", "price": "Preis"}))
    pd.testing.assert_frame_equal(converted, local)


def test_parquet_with_zone_aware_times_and_excel_read_like_the_csv(tmp_path):
    """Parquet keeps the zone-aware times (read as Paris clock time); Excel holds naive clock times."""
    market = synthetic_market("2014-10-20", "2014-11-03")  # the autumn DST day 2014-10-26
    expected = read_prices(write_market(tmp_path / "m.csv", market), layout_of({"time": "Zeit", "price": "Preis"}))
    market.rename(columns={"stamps": "Zeit", "price": "Preis"}).to_parquet(tmp_path / "m.parquet")
    parquet = read_prices(tmp_path / "m.parquet", layout_of({"time": "Zeit", "price": "Preis"}))
    pd.testing.assert_frame_equal(parquet, expected)
    naive = market.assign(stamps=market.stamps.dt.tz_localize(None)).rename(columns={"stamps": "date"})
    naive.to_excel(tmp_path / "m.xlsx", index=False)
    pd.testing.assert_frame_equal(read_prices(tmp_path / "m.xlsx", layout_of({})), expected)


# --- bad input: one line naming what to fix --------------------------------------------

def load(path: Path, **keys):
    cfg = build_config(SPEC.config_cls, dict(SPEC.smoke_overrides))
    return SPEC.load_data(cfg, user_source(path, keys, SPEC.data_keys))


def small_csv(tmp_path: Path, rows: list[str], header: str = "Date,Price,Load") -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def hours(start: str, n: int, price=lambda i: f"{40 + i % 7}.5") -> list[str]:
    return [f"{t:%Y-%m-%d %H:%M},{price(i)},{50000 + i}" for i, t in
            enumerate(pd.date_range(start, periods=n, freq="h"))]


@pytest.mark.parametrize("header,rows,keys,message", [
    ("When,Price,Load", hours("2015-01-01", 48), {},
     r"set data.time to the timestamp column \(none is named date/.*columns found: \['When', 'Price', 'Load'\]"),
    ("Date,Price,Load", hours("2015-01-01", 2) + ["yesterday,1.0,2"], {},
     r"data.time: column 'Date' data row 3 holds 'yesterday', expected a timestamp"),
    ("Date,Price,Load", hours("2015-01-01", 2) + ["2015-01-01 02:00,abc,2"], {},
     r"data.price: column 'Price' data row 3 holds 'abc', expected a number"),
    ("Date,Price,Load", hours("2015-01-01", 48), {"price": "Prize"},
     r"data.price: no column 'Prize'; columns found: \['Date', 'Price', 'Load'\]"),
    ("Date,Price,Load", hours("2015-01-01", 48), {"exogenous": ["Load", "Wind"]},
     r"data.exogenous: no column 'Wind'; columns found: \['Date', 'Price', 'Load'\]"),
    ("Date,Price,Load", hours("2015-01-01", 24) + hours("2015-01-02 04:00", 44), {},
     r"day 2015-01-02 lacks 4 hours of price \(00:00, 01:00, 02:00, 03:00\); only one missing hour a day"),
    ("Date,Price,Load", hours("2015-01-01", 48) + hours("2015-01-02 05:00", 2), {},
     r"day 2015-01-02 repeats the hours \['05:00', '06:00'\]"),
])
def test_bad_files_are_one_line_naming_the_key_and_column(tmp_path, header, rows, keys, message):
    path = small_csv(tmp_path, rows, header=header)
    with pytest.raises(DataError, match=message) as caught:
        load(path, **keys)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("keys,message", [
    ({"test": ["2015-03-01", "2015-05-01"]},
     r"data.test: 2015-03-01..2015-05-01 is outside the file's whole days 2013-01-01..2015-03-31"),
    ({"train": ["2012-01-01", "2015-01-01"]}, r"data.train: 2012-01-01..2015-01-01 is outside"),
    ({"val": ["2014-12-01", "2015-02-01"]},
     r"data.val: starts 2014-12-01, before data.train ends \(2015-01-01\); periods must be in the order"),
    ({"test": ["2015-03-01", "2015-02-01"]}, r"data.test: the start 2015-03-01 is not before the end 2015-02-01"),
    ({"train": ["2014-06-01", "2015-01-01"]}, r"data.train: 214 days of training data; eq. 26's .* at least 365"),
    ({"train": ["2013-01-01 06:00", "2015-01-01"]}, r"data.train: expected whole local days"),
    ({"exogenous_names": ["a", "b"]}, r"data.exogenous_names: 2 names for 1 exogenous columns"),
])
def test_bad_periods_are_named(market_csv, keys, message):
    with pytest.raises(DataError, match=message) as caught:
        load(market_csv, **{**USER_KEYS, **keys})
    assert "\n" not in str(caught.value)


def test_cli_refuses_a_bad_file_with_exit_2_before_any_ray_work(market_csv, capsys):
    import ray

    from orchestrator.__main__ import main

    started = ray.is_initialized()
    code = main(["train", "--model", "seasonal_gru", "--data", str(market_csv), "--smoke", "--set", "data.time=Zeit",
                 "--set", "data.price=Price"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert "data.price: no column 'Price'; columns found: ['Zeit', 'Preis', 'Last']" in err[0]
    assert ray.is_initialized() == started


# --- training and export on a user's market ----------------------------------------------

def test_user_market_trains_and_its_exported_ensemble_forecasts_from_raw_rows(market_csv, mlflow_uri, one_thread):
    """The export carries the file's column names: a frame in the pipeline's names and
    rows cut straight from the user's file both give the members' forecasts."""
    import mlflow

    from orchestrator.export import bundle, log_ensemble_model
    from orchestrator.tracking import client
    from trainables.ensemble import EnsemblePredictor
    from trainables.seasonal_gru.serving import serving

    base = build_config(SPEC.config_cls, dict(SPEC.smoke_overrides))
    data = SPEC.load_data(base, user_source(market_csv, USER_KEYS, SPEC.data_keys))
    assert data.exogenous_names == ["Last"] and data.source_columns == {"timestamp": "Zeit", "price": "Preis",
                                                                         "Last": "Last"}
    assert data.schema["columns"] == {"time": "Zeit", "price": "Preis", "exogenous": ["Last"]}
    configs, states, forecasts = [], [], []
    for seed in (0, 1):
        cfg = build_config(SPEC.config_cls, {"seed": seed}, base=base)
        result = SPEC.fit(cfg, data, LocalContext("cpu"))
        assert np.isfinite(result.metrics["test_rmse"]) and result.outputs["test_pred"].shape == (59 * 24,)
        configs.append(dataclasses.asdict(cfg))
        states.append(result.model.eval().state_dict())
        forecasts.append(task.predict_prices(result.model, cfg, data, "test"))
    expected = (0.25 * forecasts[0] + 0.75 * forecasts[1])[:24]
    pipeline = serving(base, data)
    assert pipeline.columns == ["timestamp", "price", "Last"]
    example = pipeline.example(data)

    run_id = client(mlflow_uri).create_run(client(mlflow_uri).create_experiment("export")).info.run_id
    uri = log_ensemble_model(mlflow_uri, run_id, bundle("seasonal_gru", configs, states, [0.25, 0.75], pipeline),
                             example, None)
    served = mlflow.pyfunc.load_model(uri).predict(example)
    np.testing.assert_allclose(served["mean"], expected, atol=1e-4)

    # rows of the user's own file, under its own column names and decimal commas
    raw = pd.read_csv(market_csv, sep=";", decimal=",")
    first = raw.index[raw["Zeit"] == "2015-02-01 00:00"][0]
    rows = raw.iloc[first - pipeline.history:first + 24].reset_index(drop=True)
    rows.loc[pipeline.history:, "Preis"] = np.nan
    direct = EnsemblePredictor("seasonal_gru", configs, states, [0.25, 0.75], pipeline)
    np.testing.assert_allclose(direct.predict(rows)["mean"], expected, atol=1e-4)
    with pytest.raises(ValueError, match=r"missing columns \['Last'\]"):
        direct.predict(rows.drop(columns="Last"))


@pytest.mark.ray
@pytest.mark.slow
def test_cli_trains_on_a_user_file_and_records_it_in_mlflow(ray_cluster, mlflow_uri, tmp_path, market):
    path = tmp_path / "my.csv"
    pd.DataFrame({"timestamp": market.stamps.dt.strftime("%Y-%m-%d %H:%M"), "Preis": market.price,
                  "Last": market.load}).to_csv(path, index=False)
    argv = ["train", "--model", "seasonal_gru", "--data", str(path), "--set", "data.price=Preis", "--smoke",
            "--set", "data.exogenous=[Last]", "--storage", str(tmp_path / "ray"),
            *[f"--set=data.{k}=[{v[0]}, {v[1]}]" for k, v in PERIODS.items()]]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    from orchestrator.tracking import client

    runs = client(mlflow_uri).search_runs([e.experiment_id for e in client(mlflow_uri).search_experiments()])
    runs = [r for r in runs if "test_rmse" in r.data.metrics]
    assert len(runs) == 1 and np.isfinite(runs[0].data.metrics["test_rmse"])
    inputs = client(mlflow_uri).get_run(runs[0].info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "my" and dataset.digest == file_sha256(path)[:36]
    schema = json.loads(dataset.schema)
    assert schema["keys"]["price"] == "Preis" and schema["columns"] == {"time": "timestamp", "price": "Preis",
                                                                        "exogenous": ["Last"]}
    assert schema["periods"]["test"] == PERIODS["test"] and path.name in dataset.source
