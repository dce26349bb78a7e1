"""Bearing data: leak-free blocks and folds, CWRU reading and resampling, the
seed's Excel layout, class weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from data.bearing import Recording, SplitSpec, build_dataset, effective_number_weights, labelled_subset
from data.recordings import load_cwru, load_excel_folders, load_source, read_signal, to_rate
from data.errors import DataError
from data.source import builtin_source
from tests.conftest import require_data


@pytest.fixture(scope="module")
def cwru():
    require_data("cwru")
    return load_cwru()


def covered(data, index):
    """Mask of the signal samples that the windows ``index`` read (difference array)."""
    edges = np.zeros(len(data.signal) + 1, dtype=np.int64)
    np.add.at(edges, data.win_offset[index], 1)
    np.add.at(edges, data.win_offset[index] + data.spec.window, -1)
    return np.cumsum(edges[:-1]) > 0


def assert_leak_free(data):
    tests = []
    for fold in range(data.spec.n_folds):
        parts = data.split(fold)
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                assert not set(parts[a]) & set(parts[b]), (fold, a, b)  # no window index in two splits
                assert not np.any(covered(data, parts[a]) & covered(data, parts[b])), (fold, a, b)  # no overlap
        assert len(parts["val"]) and len(parts["test"]) and len(parts["train"])
        assert set(np.unique(data.win_label[parts["test"]])) == set(range(data.n_classes))
        tests.append(parts["test"])
    everything = np.concatenate(tests)
    assert len(everything) == len(set(everything.tolist())) == len(data)  # test folds partition the windows
    lo, hi = data.block_range[data.win_block].T  # every window inside its own block
    assert np.all(data.win_offset >= lo) and np.all(data.win_offset + data.spec.window <= hi)


def test_cwru_windows_never_cross_splits_or_folds(cwru):
    assert cwru.class_names[0] == "normal" and cwru.n_classes == 10
    assert_leak_free(cwru)


def test_cwru_normal_is_resampled_to_12khz(cwru):
    lengths = {s: int(np.sum(cwru.block_range[cwru.block_recording == r, 1]
                             - cwru.block_range[cwru.block_recording == r, 0]))
               for r, s in enumerate(cwru.sources)}
    assert abs(lengths["cwru/Normal_0.mat"] - 243_938 / 4) <= 1
    assert all(110_000 < n < 130_000 for s, n in lengths.items() if s != "cwru/Normal_0.mat")
    assert cwru.n_classes == 10 and cwru.fs == 12_000 and cwru.schema["file_rates_hz"] == [12_000, 48_000]
    assert len(cwru.checksum) == 64


def test_resampling_is_anti_aliased_polyphase_by_the_reduced_ratio():
    t = np.arange(48_000) / 48_000
    tone = np.sin(2 * np.pi * 1000 * t)
    down = to_rate(tone, 48_000, 12_000)
    np.testing.assert_allclose(down[100:-100], np.sin(2 * np.pi * 1000 * t[::4])[100:-100], atol=1e-2)
    assert np.abs(to_rate(np.sin(2 * np.pi * 9000 * t), 48_000, 12_000)[100:-100]).max() < 0.05  # above 6 kHz: gone
    assert len(to_rate(tone[:25_600], 25_600, 12_000)) == 12_000  # not a whole multiple


def test_missing_drive_end_key_names_the_file_and_keys(tmp_path):
    path = tmp_path / "bad.mat"
    savemat(path, {"X001_FE_time": np.zeros((10, 1))})
    with pytest.raises(DataError, match=r"bad\.mat.*_DE_time.*X001_FE_time"):
        read_signal(path, "_DE_time")


def test_short_recordings_are_one_block_each_and_folds_stay_leak_free():
    rng = np.random.default_rng(0)
    recs = [Recording(k % 3, rng.standard_normal(1024), f"r{k}") for k in range(30)]
    data = build_dataset("toy", recs, ("a", "b", "c"), 12_000, SplitSpec())
    assert len(data.block_fold) == 30 and len(data) == 90  # 3 windows of 512 / 256 per 1024 samples
    assert np.any(covered(data, [0]) & covered(data, [1]))  # the overlap check does see half-overlapping windows
    assert_leak_free(data)


def test_excel_layout_reader(tmp_path):
    rng = np.random.default_rng(1)
    expected = {}
    root = tmp_path / "bearing_excel"
    for folder in ("inner_wear_train5", "normal_train5", "my_new_fault_train5"):
        (root / folder).mkdir(parents=True)
        for i in range(5):
            signal = rng.standard_normal(1024)
            frame = pd.DataFrame({"index": np.arange(1024), "value": signal})
            frame.to_excel(root / folder / f"{i:03d}.xlsx", index=False)  # with a header row
            expected[(folder, i)] = signal
    data = load_excel_folders(root)
    builtin = load_source(builtin_source("bearing_excel", str(tmp_path)))  # the same folder as a data root's
    np.testing.assert_array_equal(builtin.signal, data.signal)
    assert builtin.class_names == data.class_names and builtin.checksum == data.checksum
    assert data.class_names == ("normal", "inner_wear", "my_new_fault")  # the seed's order, then the others
    assert len(data) == 15 * 3
    first = np.flatnonzero(data.win_offset == 0)[0]  # first window of the first file (normal, file 000)
    np.testing.assert_allclose(data.windows(np.array([first]))[0], expected[("normal_train5", 0)][:512], rtol=1e-6)
    assert data.win_label[first] == 0
    assert_leak_free(data)


def test_excel_reader_names_the_columns_of_a_file_without_the_signal_column(tmp_path):
    path = tmp_path / "x.xlsx"
    frame = pd.DataFrame({"index": np.arange(1024), "acc_x": np.ones(1024), "acc_y": np.zeros(1024)})
    frame.to_excel(path, index=False)
    with pytest.raises(DataError, match=r"x\.xlsx: several numeric non-index columns; set data\.signal.*'acc_y'"):
        read_signal(path)
    np.testing.assert_array_equal(read_signal(path, "acc_y"), np.zeros(1024))
    np.testing.assert_array_equal(read_signal(path, 1), np.ones(1024))


def test_effective_number_weights_and_label_subsets():
    w = effective_number_weights(np.array([160, 120, 150, 100, 150, 180]))
    assert np.isclose(w.mean(), 1.0) and w.argmax() == 3 and w.argmin() == 5
    labels = np.repeat(np.arange(4), 100)
    chosen = labelled_subset(np.arange(400), labels, 0.05, seed=0)
    assert np.array_equal(np.bincount(labels[chosen]), [5, 5, 5, 5])
