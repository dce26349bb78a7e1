"""Volve panel loader, the guide's 3000/1000/50 windows, and the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from data.errors import DataError
from data.synthetic import arps_rate, well_production
from data.volve import build_panel, load_volve
from trainables.config import build_config
from trainables.timemixer.baselines import arps_forecast, fit_arps, last_value, seasonal_naive
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.data import panel_windows, prepare
from trainables.timemixer.task import build_model, preflight
from tests.conftest import require_data

GUIDE = {"input_len": 3000, "output_len": 1000, "step_len": 50, "d_model": 8, "d_ff": 16, "e_layers": 1,
         "trend_window": 24}


@pytest.fixture(scope="module")
def volve():
    require_data("volve")
    return load_volve()


def test_volve_wells_are_gap_free_with_shut_ins(volve):
    series = volve.meta["series"]
    assert len(series) == 5 and {"NO 15/9-F-12 H", "NO 15/9-F-14 H"} <= {s["name"] for s in series}
    for s in series:
        days = pd.DatetimeIndex(volve.timestamps[s["lo"]:s["hi"]])
        assert (np.diff(days.values).astype("timedelta64[D]").astype(int) == 1).all()
        test = s["splits"]["test"]
        assert abs((test[1] - test[0]) - 0.2 * (s["hi"] - s["lo"])) <= 1  # the last 20 %
    raw = volve.raw()[:, 0]
    assert raw.min() >= 0 and volve.meta["shut_in"].any()
    assert (volve.meta["shut_in"][raw <= 0]).all()


# The panel as the raw-export conversion gave it before Volve took the common table
# path: (well, first row, end row, first day, last day, oil in Sm3, shut-in days).
OLD_PANEL = [
    ("NO 15/9-F-1 C", 0, 716, "2014-04-22", "2016-04-06", 177187.342, 287),
    ("NO 15/9-F-11 H", 716, 1868, "2013-07-24", "2016-09-17", 1147849.101, 30),
    ("NO 15/9-F-12 H", 1868, 4973, "2008-02-12", "2016-08-12", 4579609.564, 269),
    ("NO 15/9-F-14 H", 4973, 7896, "2008-07-13", "2016-07-13", 3942233.398, 200),
    ("NO 15/9-F-15 D", 7896, 8799, "2014-01-16", "2016-07-06", 148518.565, 136),
]
OLD_SCALER = (1484.2695404352066, 1452.7118480222146)  # mean, std of the wells' training rows
OLD_SUMS = (-2109.633593607985, -141.32146114576608)  # scaled values, calendar marks


def test_volve_panel_is_the_raw_export_conversion(volve):
    assert volve.columns == ["oil_rate"] and volve.freq == "d" and volve.checksum.startswith("fed8c624482b216b")
    assert volve.meta["units"] == "Sm3/day" and volve.meta["split"] == [0.7, 0.1]
    np.testing.assert_allclose([volve.scaler.center[0], volve.scaler.scale[0]], OLD_SCALER, rtol=1e-12)
    np.testing.assert_allclose([volve.values.astype(np.float64).sum(), volve.marks.astype(np.float64).sum()],
                               OLD_SUMS, rtol=1e-9)
    raw = volve.raw()[:, 0].astype(np.float64)
    for s, (name, lo, hi, first, last, oil, shut) in zip(volve.meta["series"], OLD_PANEL, strict=True):
        days = pd.DatetimeIndex(volve.timestamps[lo:hi])
        assert (s["name"], s["lo"], s["hi"]) == (name, lo, hi)
        assert (str(days[0].date()), str(days[-1].date())) == (first, last)
        assert abs(raw[lo:hi].sum() - oil) < 1.0 and int(volve.meta["shut_in"][lo:hi].sum()) == shut
        n = hi - lo
        assert s["splits"]["train"] == (lo, lo + int(n * 0.7))
        assert s["splits"]["val"] == (lo + int(n * 0.7), lo + int(n * 0.7) + int(n * 0.1))
    assert volve.splits == volve.meta["series"][2]["splits"]  # the longest well's


def test_guide_windows_fail_clearly_on_volve(volve):
    cfg = build_config(TimeMixerConfig, GUIDE)
    with pytest.raises(DataError, match="too short for input_len=3000 \\+ output_len=1000.*F-12 H"):
        preflight(cfg, volve)


def test_guide_windows_work_on_a_long_series():
    torch.set_num_threads(1)
    frame = well_production(n_wells=2, n_days=10_500, seed=3)
    wells = {c: pd.DataFrame({"date": frame["date"], "oil_rate": frame[c], "shut_in": frame[c] <= 0})
             for c in ("well_1", "well_2")}
    wells["short"] = wells["well_1"].iloc[:2000].reset_index(drop=True)  # skipped, too short
    data = build_panel(wells, "long")
    cfg = build_config(TimeMixerConfig, GUIDE)
    preflight(cfg, data)
    train = panel_windows(cfg, prepare(cfg, data), "train", cfg.step_len)
    assert len(train) > 100 and set(train.series_id.tolist()) == {0, 1}
    assert (np.diff(train.starts.numpy()[train.series_id.numpy() == 0]) == 50).all()
    x, y, marks, sid = train.__getitems__([0, len(train) - 1])
    assert x.shape == (2, 3000, 1) and y.shape == (2, 1000, 1)
    with torch.no_grad():
        assert build_model(cfg, data)(x, marks).shape == (2, 1000, 1)


def test_arps_fit_recovers_a_decline_and_ignores_shut_ins():
    t = np.arange(1000, dtype=float)
    rate = arps_rate(t, 2000.0, 0.003, 0.6)
    rate[::37] = 0.0  # shut-ins
    params = fit_arps(t, rate)
    future = np.arange(1000, 1200, dtype=float)
    np.testing.assert_allclose(arps_forecast(params, future), arps_rate(future, 2000.0, 0.003, 0.6), rtol=0.02)


def test_naive_baselines():
    x = np.arange(20, dtype=float).reshape(2, 10)
    assert (last_value(x, 3) == np.array([[9, 9, 9], [19, 19, 19]])).all()
    np.testing.assert_array_equal(seasonal_naive(x, 5, period=3), [[7, 8, 9, 7, 8], [17, 18, 19, 17, 18]])
