"""Data layer: lookup, readers, splits, windows as views, train-only scalers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import DataError
from data.ett import load_ett, read_ett_csv
from data.registry import data_roots, dataset_file, find_file
from data.scalers import fit_scaler
from data.synthetic import load_synthetic_wells, well_production
from data.windows import WindowDataset, window_starts, window_view
from tests.conftest import require_data


def test_missing_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a fetched ETTh1 in the user cache would be found
    with pytest.raises(DataError) as err:
        find_file("ett/ETTh1.csv", tmp_path / "cli", source="https://example.org/ett")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "cli") in message and str(tmp_path / "env") in message
    assert "example.org" in message


def test_lookup_order_prefers_data_dir(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        (root / "ett").mkdir(parents=True)
        (root / "ett" / "ETTh1.csv").write_text("x")
    monkeypatch.setenv("ORCH_DATA_DIR", str(second))
    assert data_roots(first)[0] == first
    assert dataset_file("etth1", first) == (first / "ett" / "ETTh1.csv").resolve()
    assert dataset_file("etth1") == (second / "ett" / "ETTh1.csv").resolve()


def test_ett_standard_split_and_train_only_scaler():
    require_data("etth1")
    data = load_ett("etth1")
    assert data.values.shape == (17420, 7)
    assert data.splits == {"train": (0, 8640), "val": (8640, 11520), "test": (11520, 14400)}
    train = data.values[:8640]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-3)
    assert data.marks.shape == (17420, 4)


def test_scaler_ignores_rows_outside_train():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(100, 3))
    altered = values.copy()
    altered[70:] += 1000.0  # val/test rows changed wildly
    a, b = fit_scaler(values[:70]), fit_scaler(altered[:70])
    np.testing.assert_array_equal(a.center, b.center)
    np.testing.assert_allclose(a.inverse_transform(a.transform(values)), values, atol=1e-5)
    robust = fit_scaler(values[:70], "robust")
    np.testing.assert_allclose(robust.center, np.median(values[:70], axis=0))


@pytest.mark.parametrize("lookback", [True, False])
@pytest.mark.parametrize("input_len,output_len,step", [(96, 96, 1), (24, 7, 5), (3, 50, 13)])
def test_no_window_target_crosses_a_split(lookback, input_len, output_len, step):
    splits = {"train": (0, 400), "val": (400, 600), "test": (600, 900)}
    seen_targets: dict[str, set[int]] = {}
    for name, (lo, hi) in splits.items():
        starts = window_starts((lo, hi), input_len, output_len, step, lookback)
        assert len(starts)
        targets = starts[:, None] + input_len + np.arange(output_len)
        assert targets.min() >= lo and targets.max() < hi
        if not lookback:
            assert starts.min() >= lo
        seen_targets[name] = set(targets.ravel().tolist())
    assert not seen_targets["train"] & seen_targets["val"]
    assert not seen_targets["val"] & seen_targets["test"]


def test_windows_are_views_not_copies():
    series = np.arange(3000 * 2, dtype=np.float32).reshape(3000, 2)
    view = window_view(series, 1050)
    assert view.shape == (3000 - 1050 + 1, 1050, 2)
    assert np.shares_memory(view, series)
    np.testing.assert_array_equal(view[7], series[7:1057])
    starts = window_starts((0, 3000), 1000, 50, 50, lookback_from_previous=False)
    dataset = WindowDataset(series, starts, 1000, 50)
    assert dataset.values.data_ptr() == dataset.values.data_ptr()  # one tensor for all windows
    assert np.shares_memory(dataset.values.numpy(), series)
    x, y = dataset.__getitems__([0, 3])
    np.testing.assert_array_equal(x[1].numpy(), series[150:1150])
    np.testing.assert_array_equal(y[1].numpy(), series[1150:1200])


def test_too_short_series_fails_clearly():
    data = load_synthetic_wells(n_days=300)
    from dataclasses import replace

    from trainables.timemixer.config import TimeMixerConfig
    from trainables.timemixer.task import preflight

    cfg = replace(TimeMixerConfig(), input_len=3000, output_len=1000, step_len=50)
    with pytest.raises(DataError, match="too short for input_len=3000"):
        preflight(cfg, data)


def test_synthetic_wells_decline_with_shut_ins():
    frame = well_production(n_wells=3, n_days=2000, seed=1)
    assert list(frame.columns) == ["date", "well_1", "well_2", "well_3"]
    for well in ("well_1", "well_2", "well_3"):
        rate = frame[well].to_numpy()
        assert (rate == 0).any(), "shut-in days are zero"
        producing = rate[rate > 0]
        assert producing[:200].mean() > 1.5 * producing[-200:].mean(), "production declines"
    pd.testing.assert_frame_equal(frame, well_production(n_wells=3, n_days=2000, seed=1))


def test_ett_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,HUFL\n2016-07-01 00:00:00,1.0\n")
    with pytest.raises(DataError, match="missing columns"):
        read_ett_csv(bad)
    nan = tmp_path / "nan.csv"
    nan.write_text("date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n2016-07-01 00:00:00,1,2,3,4,5,,7\n")
    with pytest.raises(DataError, match="missing value in data row 1"):
        read_ett_csv(nan)


def test_ett_reader_rejects_gaps_and_repeats(tmp_path):
    header = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
    row = ",1,2,3,4,5,6,7\n"
    gap = tmp_path / "gap.csv"
    gap.write_text(header + "".join(f"2016-07-01 0{h}:00:00{row}" for h in (0, 1, 3)))
    with pytest.raises(DataError, match="not a regular 1h grid: a gap after 2016-07-01 01:00:00"):
        read_ett_csv(gap)
    repeat = tmp_path / "repeat.csv"
    repeat.write_text(header + "".join(f"2016-07-01 0{h}:00:00{row}" for h in (0, 1, 1)))
    with pytest.raises(DataError, match="more than one row at 2016-07-01 01:00:00"):
        read_ett_csv(repeat)
