"""The bearing classifier on the user's own recordings: class folders of .csv,
.xlsx, .npy or .mat files with layout keys, read by the same path as the built-in
CWRU set; bad input as one named line; the exported pipeline on user classes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.recordings import load_source
from data.errors import DataError
from data.registry import get_info
from data.source import builtin_source, user_source
from orchestrator.tracking import Tag
from tests.conftest import require_data
from trainables.bearing.serving import ADAPTER
from trainables.bearing.config import BearingConfig
from trainables.bearing.data import split_spec
from trainables.bearing.task import SPEC
from trainables.config import as_dict, build_config
from trainables.context import LocalContext

ROOT = Path(__file__).resolve().parents[1]
RATES = {"low": 24_000, "*": 12_000}  # the csv class is recorded at 24 kHz, the others at 12 kHz
TONES = {"low": 500.0, "mid": 1500.0, "high": 3000.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on shared cores OpenMP spin-waits make 2 threads ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tone(freq: float, rate: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    return np.sin(2 * np.pi * freq * t) + 0.3 * rng.standard_normal(n)


def write_folder(root: Path) -> Path:
    """Three classes, one format each: a .csv with a time column at 24 kHz, a bare .npy
    and a header-less seed-style .xlsx (index, signal) at 12 kHz; 16 000 samples at
    12 kHz per class (enough for 20 blocks, so 5 folds of 4)."""
    for name in TONES:
        (root / name).mkdir(parents=True)
    x = tone(TONES["low"], 24_000, 32_000, 0)
    pd.DataFrame({"time": np.arange(len(x)) / 24_000, "accel": x}).to_csv(root / "low" / "run1.csv", index=False)
    np.save(root / "mid" / "run1.npy", tone(TONES["mid"], 12_000, 16_000, 1))
    y = tone(TONES["high"], 12_000, 16_000, 2)
    pd.DataFrame({0: np.arange(1, len(y) + 1), 1: y}).to_excel(root / "high" / "run1.xlsx", index=False, header=False)
    return root


def user(root: Path, **keys) -> object:
    return user_source(root, keys, SPEC.data_keys)


def load(root: Path, **keys):
    return SPEC.load_data(BearingConfig(), user(root, **keys))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("signals") / "my_rig")


def smoke(**extra) -> BearingConfig:
    return build_config(BearingConfig, {**SPEC.smoke_overrides, "pretrain_epochs": 0, "epochs": 1,
                                        "max_train_batches": 2, "max_windows_per_class": 16, "tsne_points": 0,
                                        **extra})


def model_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that describe the model (not how long it took)."""
    return {k: v for k, v in metrics.items() if "seconds" not in k}


# --- CWRU: the built-in set and the same files as the user's class folders ---------------------

def test_cwru_as_class_folders_equals_the_builtin_set(tmp_path):
    cwru = require_data("cwru").parent
    layout = get_info("cwru").layout
    for name, relative in layout["files"].items():
        (tmp_path / name).mkdir()
        (tmp_path / name / Path(relative).name).symlink_to(cwru / Path(relative).name)
    order = layout["classes"]
    cfg = smoke()
    builtin = SPEC.load_data(cfg, builtin_source("cwru"))
    mine = SPEC.load_data(cfg, user(tmp_path, sample_rate={"normal": 48_000, "*": 12_000}, classes=order))
    assert mine.class_names == builtin.class_names == tuple(order) and mine.fs == builtin.fs == 12_000
    for field in ("signal", "win_offset", "win_label", "win_block", "block_range", "block_fold", "block_label"):
        np.testing.assert_array_equal(getattr(mine, field), getattr(builtin, field), err_msg=field)
    for fold in range(cfg.n_folds):
        np.testing.assert_array_equal(mine.block_is_val[fold], builtin.block_is_val[fold])
    default = load_source(user(tmp_path, sample_rate={"normal": 48_000, "*": 12_000}), split_spec(cfg))
    assert default.class_names == ("normal", "B007", "B014", "B021", "IR007", "IR014", "IR021", "OR007", "OR014",
                                   "OR021")  # sorted, the seed's "normal" first

    first, second = (SPEC.fit(cfg, data, LocalContext(device="cpu")) for data in (builtin, mine))
    assert model_metrics(first.metrics) == model_metrics(second.metrics)
    assert "test_f1_OR021" in first.metrics


# --- the user's own formats -------------------------------------------------------------------

def test_csv_npy_xlsx_at_two_rates_load_at_one_rate_train_and_serve(folder):
    data = load(folder, sample_rate=RATES)
    assert data.name == "my_rig" and data.class_names == ("high", "low", "mid") and data.fs == 12_000
    assert data.sources == ("high/run1.xlsx", "low/run1.csv", "mid/run1.npy")
    lengths = np.diff(data.block_range, axis=1).ravel()
    per_recording = np.bincount(data.block_recording, weights=lengths).astype(int)
    assert per_recording.tolist() == [16_000, 16_000, 16_000]  # the 24 kHz csv halved
    for r, name in enumerate(data.sources):  # each tone where it was, at the common rate
        lo, hi = data.block_range[data.block_recording == r][[0, -1]].ravel()[[0, 3]]
        spectrum = np.abs(np.fft.rfft(data.signal[lo:hi]))
        peak = np.fft.rfftfreq(hi - lo, 1 / 12_000)[spectrum.argmax()]
        assert abs(peak - TONES[name.split("/")[0]]) < 5, name
    assert data.schema["file_rates_hz"] == [12_000, 24_000] and data.schema["files"] == 3
    assert data.checksum == load(folder, sample_rate=RATES).checksum
    upsampled = load(folder, sample_rate=RATES, target_rate=24_000)
    assert upsampled.fs == 24_000 and len(upsampled.signal) == 3 * 32_000

    cfg = smoke()
    result = SPEC.fit(cfg, data, LocalContext(device="cpu"))
    assert result.outputs["test_probs"].shape[1] == 3
    assert {"test_acc", "test_f1_low", "test_recall_mid", "test_precision_high"} <= set(result.metrics)

    # The exported pipeline: the user's class names, raw samples at the training rate in.
    from orchestrator.export import bundle, predictor_from_bundle

    pipeline = ADAPTER.serving(cfg, data)
    assert pipeline.class_names == ["high", "low", "mid"] and pipeline.fs == 12_000
    predictor = predictor_from_bundle(bundle("bearing", [as_dict(cfg)], [result.model.state_dict()], [1.0],
                                             pipeline))
    raw = data.windows(np.arange(3)).reshape(-1).astype(np.float64)
    out = predictor.predict(pd.DataFrame({"signal": raw}))  # 3 consecutive windows, no ids
    assert set(out["class"]) == {"high", "low", "mid"} and len(out) == 3 * 3
    assert np.allclose(out.groupby("window")["probability"].sum(), 1.0)
    with pytest.raises(ValueError, match="multiple of 512"):
        pipeline.inputs(pd.DataFrame({"signal": raw[:700]}))


def test_mat_files_pick_their_signal_variable(tmp_path):
    from scipy.io import savemat

    for k, name in enumerate(("a", "b")):
        (tmp_path / name).mkdir()
        x = tone(1000.0 * (k + 1), 12_000, 16_000, k)[:, None]
        savemat(tmp_path / name / "r.mat", {"X1_DE_time": x, "X1_FE_time": -x, "X1RPM": np.array([[1797]])})
    de = load(tmp_path, sample_rate=12_000)
    fe = load(tmp_path, sample_rate=12_000, signal="_FE_time")
    np.testing.assert_allclose(de.signal, -fe.signal)


# --- bad input: one line naming what the user gave ---------------------------------------------

def test_a_class_folder_without_a_readable_file_is_named(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "empty_fault").mkdir()
    (tmp_path / "empty_fault" / "notes.txt").write_text("to do")
    with pytest.raises(DataError, match=r"class folder 'empty_fault' holds no readable file.*\.csv"):
        load(tmp_path, sample_rate=RATES)


def test_files_without_a_rate_name_the_files_and_the_key(folder):
    with pytest.raises(DataError, match=r"no sampling rate for high/run1\.xlsx, low/run1\.csv, mid/run1\.npy: "
                                        r"\.csv/\.npy/\.xlsx files carry none; set data\.sample_rate=HZ"):
        load(folder)
    # Mixed rates with a mapping that leaves some folders out: those are named.
    with pytest.raises(DataError, match=r"no sampling rate for high/run1\.xlsx, mid/run1\.npy: .*'\*': HZ"):
        load(folder, sample_rate={"low": 24_000})
    with pytest.raises(DataError, match=r"data\.sample_rate names 'lowww', which is no class folder"):
        load(folder, sample_rate={"lowww": 24_000, "*": 12_000})
    with pytest.raises(DataError, match=r"data\.sample_rate: expected a positive whole number of Hz, got 'fast'"):
        load(folder, sample_rate="fast")


def test_fewer_than_two_classes(tmp_path):
    (tmp_path / "only").mkdir()
    np.save(tmp_path / "only" / "r.npy", np.zeros(20_000))
    with pytest.raises(DataError, match=r"1 class \(only\); a classifier needs at least 2"):
        load(tmp_path, sample_rate=12_000)


def test_an_absent_signal_column_or_variable_lists_the_ones_found(tmp_path):
    from scipy.io import savemat

    for name in ("a", "b"):
        (tmp_path / "csv" / name).mkdir(parents=True)
        pd.DataFrame({"time": np.arange(20_000), "accel": np.ones(20_000)}).to_csv(tmp_path / "csv" / name / "r.csv",
                                                                                  index=False)
        (tmp_path / "mat" / name).mkdir(parents=True)
        savemat(tmp_path / "mat" / name / "r.mat", {"X1_FE_time": np.zeros((20_000, 1))})
    with pytest.raises(DataError, match=r"a/r\.csv: data\.signal='vibration' names no column; "
                                        r"found columns 0: 'time', 1: 'accel'"):
        load(tmp_path / "csv", sample_rate=12_000, signal="vibration")
    with pytest.raises(DataError, match=r"a/r\.mat: data\.signal='_DE_time' matches no variables .*'X1_FE_time'"):
        load(tmp_path / "mat", sample_rate=12_000, signal="_DE_time")


def test_a_recording_shorter_than_one_window(tmp_path):
    write_folder(tmp_path)
    np.save(tmp_path / "mid" / "short.npy", np.ones(600))  # 600 samples at 24 kHz: 300 at 12 kHz
    with pytest.raises(DataError, match=r"mid/short\.npy has 300 samples at 12000 Hz, fewer than one window of 512"):
        load(tmp_path, sample_rate={"mid": 24_000, "low": 24_000, "*": 12_000})


def test_classes_must_name_every_class_folder(folder):
    with pytest.raises(DataError, match=r"data\.classes should list every class exactly once.*'high', 'low', 'mid'"):
        load(folder, sample_rate=RATES, classes=["low", "mid"])
    assert load(folder, sample_rate=RATES, classes=["mid", "low", "high"]).class_names == ("mid", "low", "high")


def test_bad_input_is_one_line_and_exit_2_from_the_cli(folder, capsys, mlflow_uri):
    from orchestrator.__main__ import main

    code = main(["train", "--model", "bearing", "--data", str(folder), "--smoke"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --data ") and "data.sample_rate" in err[0]


# --- the command line -------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_trains_on_a_user_folder_and_records_the_dataset(folder, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "train", "--model", "bearing", "--data", str(folder),
         "--set", "data.sample_rate={low: 24000, '*': 12000}", "--set", "max_windows_per_class=8",
         "--set", "pretrain_epochs=0", "--set", "tsne_points=0", "--smoke", "--experiment", "user-signals"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("user-signals")
    (run,) = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(Tag.KIND) == "train"]
    (dataset,) = [d.dataset for d in client.get_run(run.info.run_id).inputs.dataset_inputs]
    assert dataset.name == "my_rig"
    assert dataset.digest == load(folder, sample_rate=RATES).checksum[:len(dataset.digest)]
    assert "high" in dataset.schema and "24000" in dataset.schema
    assert run.data.metrics["test_acc"] >= 0
