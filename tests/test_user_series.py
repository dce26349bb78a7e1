"""The user's own series: one loader (data/table_data.py) for built-in sets and --data
files in long or wide layout, as CSV, Parquet or Excel; its one-line errors; and a
Ray sweep -> ensemble -> export on a user file."""

from __future__ import annotations

import string
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.errors import DataError
from data.registry import file_sha256
from data.source import builtin_source, user_source
from data.synthetic import well_production
from data.series import freq_letter
from data.table_data import DATA_KEYS, load_table_data
from data.volve import volve_long_table
from orchestrator.__main__ import build_parser, main
from orchestrator.config import resolve_run
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.data import panel_windows, prepare
from trainables.timemixer.task import SPEC, fit, load_data, preflight
from tests.conftest import require_data

ROOT = Path(__file__).resolve().parents[1]
SMALL = build_config(TimeMixerConfig, {**SPEC.smoke_overrides, "input_len": 60, "output_len": 30})


def assert_same_arrays(got, want) -> None:
    """Two ForecastData hold the same series, scaled alike, split alike."""
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.timestamps.astype("datetime64[ns]"), want.timestamps.astype("datetime64[ns]"))
    np.testing.assert_array_equal(got.marks, want.marks)
    np.testing.assert_array_equal(got.scaler.center, want.scaler.center)
    np.testing.assert_array_equal(got.scaler.scale, want.scaler.scale)
    assert got.target_channels == want.target_channels and got.freq == want.freq
    assert got.splits == want.splits
    layout = [[(s["lo"], s["hi"], s["splits"]) for s in d.meta["series"]] for d in (got, want)]
    assert layout[0] == layout[1]


def assert_windows_stay_in_their_series(cfg, data) -> None:
    prepared = prepare(cfg, data)
    for split in ("train", "val", "test"):
        windows = panel_windows(cfg, prepared, split, 1)
        starts, ids = windows.starts.numpy(), windows.series_id.numpy()
        assert len(starts)
        for sid, s in enumerate(data.meta["series"]):
            mine = starts[ids == sid]
            if len(mine):
                assert mine.min() >= s["lo"] and mine.max() + cfg.input_len + cfg.output_len <= s["hi"], s["name"]


@pytest.fixture(scope="module")
def _module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def parquet_cache(_module_cache, monkeypatch) -> Path:
    """Parsed tables of these tests (tens of temporary files) go to a cache of their own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_module_cache))
    return _module_cache


def user(path: Path, **keys):
    return user_source(path, keys, DATA_KEYS)


@pytest.fixture(scope="module")
def volve_long(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Volve's daily export converted to a long CSV panel, Nixtla's column names."""
    raw = require_data("volve")
    frame = volve_long_table(raw).rename(columns={"well": "unique_id", "date": "ds", "oil_rate": "y"})
    path = tmp_path_factory.mktemp("volve") / "volve_long.csv"
    frame.to_csv(path, index=False)
    return path, frame


# --- built-in and user path are the same ------------------------------------------

def test_ettm1_as_user_file_gives_the_builtin_windows_and_test_mse(tmp_path):
    """``--dataset ettm1`` and ``--data ETTm1.csv`` with the 12/4/4-month split as row
    counts in the YAML's data: block: the same arrays and windows for M and S, and
    the same test MSE at a fixed seed (fitted on S, one channel, to keep it quick)."""
    path = require_data("ettm1")
    parse = build_parser().parse_args
    runs = {}
    for features in ("M", "S"):
        params = f"params: {{epochs: 1, max_train_batches: 2, features: {features}}}\n"
        (tmp_path / "mine.yaml").write_text("data:\n  split: {train: 34560, val: 11520, test: 11520}\n" + params)
        (tmp_path / "builtin.yaml").write_text(params)
        mine = resolve_run(parse(["train", "--model", "timemixer", "--smoke", "--config", str(tmp_path / "mine.yaml"),
                                  "--data", str(path)]))
        builtin = resolve_run(parse(["train", "--model", "timemixer", "--smoke", "--config",
                                     str(tmp_path / "builtin.yaml"), "--dataset", "ettm1"]))
        assert mine.data.path and builtin.data.builtin and mine.params == builtin.params
        ours, theirs = load_data(mine.params, mine.data), load_data(builtin.params, builtin.data)
        assert_same_arrays(ours, theirs)
        assert ours.checksum == theirs.checksum == file_sha256(path) and ours.columns == theirs.columns
        assert len(ours.columns) == (7 if features == "M" else 1) and ours.columns[-1] == "OT"
        cfg = mine.params
        for split in ("train", "val", "test"):
            a = panel_windows(cfg, prepare(cfg, ours), split, cfg.step_len)
            b = panel_windows(cfg, prepare(cfg, theirs), split, cfg.step_len)
            assert torch.equal(a.starts, b.starts) and torch.equal(a.series_id, b.series_id)
        runs[features] = (cfg, ours, theirs)
    cfg, ours, theirs = runs["S"]
    scores = [fit(cfg, d, LocalContext("cpu")).metrics["test_mse"] for d in (ours, theirs)]
    assert abs(scores[0] - scores[1]) <= 1e-6


def test_volve_long_csv_loads_as_the_builtin_panel(volve_long):
    path, frame = volve_long
    builtin = load_data(SMALL, builtin_source("volve"))
    mine = load_data(SMALL, user(path, split=[0.7, 0.1]))
    assert_same_arrays(mine, builtin)
    np.testing.assert_array_equal(mine.meta["shut_in"], builtin.meta["shut_in"])
    assert [s["name"] for s in mine.meta["series"]] == [s["name"] for s in builtin.meta["series"]]
    assert mine.schema["layout"] == "long" and mine.schema["series"] == 5 and mine.schema["freq"] == "D"
    assert mine.checksum == file_sha256(path)
    assert_windows_stay_in_their_series(SMALL, mine)


@pytest.mark.parametrize("fmt", ["csv_decimal_comma_bom_semicolon", "excel", "parquet"])
def test_long_table_in_every_format_loads_alike(volve_long, tmp_path, fmt):
    path, frame = volve_long
    want = load_table_data(path, {"split": [0.7, 0.1]}, "volve")
    if fmt == "excel":
        other = tmp_path / "volve.xlsx"
        frame.to_excel(other, index=False, sheet_name="wells")
        keys = {"sheet": "wells"}
    elif fmt == "parquet":
        other = tmp_path / "volve.parquet"
        frame.to_parquet(other)
        keys = {}
    else:
        other = tmp_path / "volve.csv"
        frame.to_csv(other, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        assert other.read_bytes().startswith(b"\xef\xbb\xbf") and b"," in other.read_bytes()
        keys = {}
    assert_same_arrays(load_table_data(other, {"split": [0.7, 0.1], **keys}, "volve"), want)


@pytest.mark.parametrize("fmt", ["csv", "csv_decimal_comma_bom_semicolon", "excel", "parquet"])
def test_wide_table_in_every_format_loads_alike(tmp_path, fmt):
    """Time-Series-Library's custom layout: a time column, one column per channel,
    the target last; M forecasts every column, S the last."""
    frame = well_production(n_wells=3, n_days=400, seed=2).astype({"well_1": "float64", "well_2": "float64",
                                                                    "well_3": "float64"})
    plain = tmp_path / "wells.csv"
    frame.to_csv(plain, index=False)
    path = {"excel": tmp_path / "wells.xlsx", "parquet": tmp_path / "wells.parquet"}.get(fmt, tmp_path / "w2.csv")
    if fmt == "excel":
        frame.to_excel(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "csv":
        path = plain
    else:
        frame.to_csv(path, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    want = load_table_data(plain, {}, "wells")
    got = load_table_data(path, {}, "wells")
    assert_same_arrays(got, want)
    assert got.columns == ["well_1", "well_2", "well_3"] and got.target_channels == [0, 1, 2]
    assert got.splits == {"train": (0, 280), "val": (280, 320), "test": (320, 400)}  # TSLib 0.7/0.1/0.2
    single = load_table_data(path, {}, "wells", features="S")
    assert single.columns == ["well_3"] and single.target_channels == [0]
    chosen = load_table_data(path, {"target": "well_1", "inputs": ["well_2"]}, "wells")
    assert chosen.columns == ["well_2", "well_1"] and chosen.target_channels == [1]


# --- layout keys -----------------------------------------------------------------

def _hourly(path: Path, hours: list[int], ids: list[str] | None = None) -> Path:
    stamps = pd.Timestamp("2021-03-01") + pd.to_timedelta(hours, unit="h")
    frame = pd.DataFrame({"ds": stamps, "y": np.arange(len(hours), dtype=float) + 1.0, "temp": 0.5})
    if ids is not None:
        frame.insert(0, "unique_id", ids)
    frame.to_csv(path, index=False)
    return path


def test_fill_split_and_freq_keys(tmp_path):
    gap = _hourly(tmp_path / "gap.csv", [0, 1, 2, 5, 6, 7, 8, 9, 10, 11])
    with pytest.raises(DataError, match="not a regular 1h grid: a gap after 2021-03-01 02:00:00"):
        load_table_data(gap, {}, "gap")
    filled = load_table_data(gap, {"fill": "ffill"}, "gap")
    assert len(filled.values) == 12 and filled.freq == "h"
    np.testing.assert_allclose(filled.raw()[2:6, 0], [3, 3, 3, 4], rtol=1e-6)
    assert abs(load_table_data(gap, {"fill": "zero"}, "gap").raw()[3, 0]) < 1e-6
    assert len(load_table_data(gap, {"fill": "drop"}, "gap").values) == 10
    assert len(load_table_data(gap, {"freq": "h", "fill": "zero"}, "gap").values) == 12

    steps = _hourly(tmp_path / "steps.csv", list(range(100)))
    counts = load_table_data(steps, {"split": {"train": 60, "val": 20, "test": 10}}, "s")
    assert counts.splits == {"train": (0, 60), "val": (60, 80), "test": (80, 90)}
    dates = load_table_data(steps, {"split": {"val": "2021-03-03", "test": "2021-03-04"}}, "s")
    assert dates.splits == {"train": (0, 48), "val": (48, 72), "test": (72, 100)}
    assert load_table_data(steps, {"split": "[0.5, 0.25]"}, "s").splits["test"] == (75, 100)
    with pytest.raises(DataError, match="data.split"):
        load_table_data(steps, {"split": [0.5, 0.6, 0.2]}, "s")
    with pytest.raises(DataError, match="data.split: series .s. in .* has 100 rows, fewer than the 120"):
        load_table_data(steps, {"split": {"train": 100, "val": 20}}, "s")

    assert freq_letter(pd.tseries.frequencies.to_offset("15min")) == "t"
    assert freq_letter(pd.tseries.frequencies.to_offset("h")) == "h"
    assert freq_letter(pd.tseries.frequencies.to_offset("MS")) == "d"
    monthly = tmp_path / "monthly.csv"
    pd.DataFrame({"month": pd.date_range("2000-01-01", periods=40, freq="MS"), "sales": np.arange(40.0)}).to_csv(
        monthly, index=False)
    assert load_table_data(monthly, {}, "m").schema["freq"] == "MS"


def test_long_table_windows_never_cross_series(tmp_path):
    ids = ["b"] * 150 + ["a"] * 200 + ["c"] * 40  # c is too short for a window in every split
    hours = list(range(150)) + list(range(200)) + list(range(40))
    path = _hourly(tmp_path / "panel.csv", hours, ids)
    data = load_table_data(path, {"inputs": "temp"}, "panel")
    assert [s["name"] for s in data.meta["series"]] == ["b", "a", "c"]
    assert data.columns == ["temp", "y"] and data.target_channels == [1]
    cfg = replace(SMALL, input_len=12, output_len=6, trend_window=6)
    assert_windows_stay_in_their_series(cfg, data)


# --- bad input: one line, naming what to fix -----------------------------------------

BAD = {
    "empty file": ("", {}, "empty file"),
    "no time column": ("a,b\n1,2\n3,4\n", {}, "no column looks like the time column; set data.time to one of"),
    "unparsable time": ("date,y\n2020-01-01,1\nnot a date,2\n", {}, "time column 'date' is not parsable as dates "
                                                                    "\\(data row 2: 'not a date'\\)"),
    "irregular steps": ("date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-05,3\n2020-01-06,4\n", {},
                        "not a regular 1D grid: a gap after 2020-01-02.*set data.fill"),
    "non-numeric target": ("date,y\n2020-01-01,1\n2020-01-02,oops\n", {}, "target column 'y' is not numeric "
                                                                          "\\(data row 2: 'oops'\\)"),
    "unknown column": ("date,y\n2020-01-01,1\n2020-01-02,2\n", {"target": "rate"},
                       "data.target: no column 'rate' in .*; columns found: \\['date', 'y'\\]"),
    "unknown series column": ("date,y\n2020-01-01,1\n2020-01-02,2\n", {"id": "well"},
                              "data.id: no column 'well' .*columns found"),
    "missing value": ("date,y\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n", {}, "missing value at 2020-01-02"),
    "repeated step": ("date,y\n2020-01-01,1\n2020-01-01,2\n2020-01-02,3\n", {}, "more than one row at 2020-01-01"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tables_raise_one_line(tmp_path, case):
    text, keys, message = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        load_data(SMALL, user(path, **keys))
    assert "\n" not in str(err.value)


CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                  st.sampled_from(["2020-01-01", "2020-01-02 03:00", "2020-13-01", "x", "", "1,5", "a;b"]),
                  st.text(alphabet=string.printable, max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([["ds", "y"], ["unique_id", "ds", "y"], ["date", "a", "b"], ["a", "b"]]),
       st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=25), st.sampled_from([",", ";"]),
       st.sampled_from([{}, {"fill": "ffill"}, {"fill": "drop"}, {"freq": "D"}, {"split": [0.5, 0.2]}]))
def test_any_table_gives_data_or_one_data_error(header, rows, sep, keys):
    text = "\n".join([sep.join(header)] + [sep.join(str(c) for c in row) for row in rows])
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
        handle.write(text)
    try:
        load_table_data(Path(handle.name), keys, "fuzz")
    except DataError as exc:
        assert "\n" not in str(exc)
    finally:
        Path(handle.name).unlink()


def test_too_short_series_is_named(tmp_path):
    path = _hourly(tmp_path / "short.csv", list(range(50)), ["pump-7"] * 50)
    data = load_data(SMALL, user(path))
    with pytest.raises(DataError, match="too short for input_len=60 \\+ output_len=30.*series 'pump-7'"):
        preflight(SMALL, data)


def test_cli_rejects_a_bad_file_with_exit_2_and_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,y\n2020-01-01,1\n2020-01-02,2\n2020-01-04,3\n")
    done = subprocess.run([sys.executable, "-m", "orchestrator", "train", "--model", "timemixer", "--data", str(bad),
                           "--smoke"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0] and "gap" in lines[0]


# --- a user's file through Ray: sweep -> ensemble -> exported model ---------------------

@pytest.mark.ray
def test_user_csv_sweep_ensemble_export(ray_cluster, mlflow_uri, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking import find_parent

    frame = well_production(n_wells=3, n_days=500, seed=4)
    long = frame.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    path = tmp_path / "my_wells.csv"
    long.to_csv(path, index=False)
    storage = str(tmp_path / "ray")
    assert main(["sweep", "--model", "timemixer", "--smoke", "--space", "smoke", "--samples", "2", "--data", str(path),
                 "--experiment", "user", "--storage", storage, "--name", "mine", "--no-trial-plots"]) == 0
    assert main(["ensemble", "--sweep", "mine", "--top-k", "1", "--seeds", "2", "--storage", storage,
                 "--name", "mine-ens", "--export", "--registered-name", "user-ens"]) == 0
    assert "models:/user-ens/1" in capsys.readouterr().out

    client = MlflowClient(mlflow_uri)
    assert client.get_registered_model("user-ens").name == "user-ens"
    sweep = find_parent(mlflow_uri, "mine", ("sweep",), "--sweep")
    trials = client.search_runs([sweep.info.experiment_id],
                                filter_string=f"tags.`mlflow.parentRunId` = '{sweep.info.run_id}'")
    assert len(trials) == 2
    digest = file_sha256(path)
    for run in trials:
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        assert inputs and inputs[0].dataset.digest == digest[:len(inputs[0].dataset.digest)]
        assert inputs[0].dataset.name == "my_wells" and '"series": 3' in inputs[0].dataset.schema
