"""EPEX-France data: FR.csv quirks, the paper's splits, eq. 26 and its leak-freedom."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data import epf
from data.errors import DataError
from tests.conftest import data_root

DATA_ROOT = data_root("epf_fr")
FR_CSV = DATA_ROOT / "epf" / "FR.csv"
needs_fr = pytest.mark.needs_data("epf_fr")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return epf.read_fr_csv(FR_CSV)


def hourly(start: str, days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    times = pd.date_range(start, periods=days * 24, freq="h").to_numpy()
    prices = np.random.default_rng(seed).normal(40, 12, days * 24)
    return times, prices


@needs_fr
def test_reader_strips_header_spaces_and_keeps_24_rows_a_day(frame):
    assert list(frame.columns) == ["timestamp", "price", "load", "generation"]  # the registry layout's order
    assert len(frame) == 52416 and len(frame) % 24 == 0
    # spring-forward day: the synthetic 02:00 is the mean of 01:00 and 03:00 (README)
    day = frame[frame.timestamp.dt.date == pd.Timestamp("2015-03-29").date()].price.to_numpy()
    assert day[2] == pytest.approx((day[1] + day[3]) / 2)


def test_reader_rejects_a_day_without_24_hours(tmp_path):
    """One missing hour a day is the spring DST change and is filled in; three are a gap."""
    times = pd.date_range("2016-01-01", periods=72, freq="h").delete([30, 31, 32])
    text = "Date, Prices, Generation forecast, System load forecast\n" + "".join(
        f"{t:%Y-%m-%d %H:%M:%S},1.0,2.0,3.0\n" for t in times)
    (tmp_path / "FR.csv").write_text(text)
    with pytest.raises(DataError, match="FR.csv: day 2016-01-02 lacks 3 hours of price"):
        epf.read_fr_csv(tmp_path / "FR.csv")


@needs_fr
def test_paper_splits(frame):
    data = epf.build_epf(frame, "x")
    ts = pd.DatetimeIndex(data.timestamps)
    (a, b), (c, d), (e, f) = data.splits["train"], data.splits["val"], data.splits["test"]
    assert ts[a] == pd.Timestamp("2012-01-01") and ts[b - 1] == pd.Timestamp("2015-11-30 23:00")
    assert (c, e) == (b, d) and ts[c] == pd.Timestamp("2015-12-01") and ts[d - 1] == pd.Timestamp("2015-12-31 23:00")
    assert ts[e] == pd.Timestamp("2016-01-01") and ts[f - 1] == pd.Timestamp("2016-06-30 23:00")
    assert (f - e) == 182 * 24 and len(data.z) == 39432


@pytest.mark.parametrize("clip,smooth", [(0.0, 0), (0.0, 3), (0.01, 0)])
def test_eq26_inverts_exactly(clip, smooth):
    times, prices = hourly("2012-01-01", 3 * 366)
    profile = epf.fit_profile(prices, times, clip, smooth)
    inside = (prices >= profile.low) & (prices <= profile.high)
    back = profile.inverse(profile.transform(prices, times), times)
    np.testing.assert_allclose(back[inside], prices[inside], rtol=0, atol=1e-9)
    assert inside.mean() > 0.97


def test_eq26_subtracts_the_mean_of_the_same_hour_of_the_year():
    times = pd.date_range("2012-01-01", "2014-12-31 23:00", freq="h").to_numpy()
    years = pd.DatetimeIndex(times).year.to_numpy()
    prices = 30.0 + 10.0 * (years - 2012)  # 30, 40, 50: slot means are 40 (Feb 29: 30)
    profile = epf.fit_profile(prices, times)
    z = profile.transform(prices, times)
    march = pd.DatetimeIndex(times).month == 3
    np.testing.assert_allclose(z[march & (years == 2014)], 10.0 / prices.std())
    assert profile.slot_mean(np.array(["2016-02-29T05:00"], dtype="datetime64[ns]"))[0] == pytest.approx(30.0)


@needs_fr
@pytest.mark.parametrize("smooth", [0, 7])
def test_test_period_never_touches_training_statistics(frame, smooth):
    base = epf.build_epf(frame, "x", smooth_days=smooth, exogenous=True)
    changed = frame.copy()
    late = changed.timestamp >= pd.Timestamp("2015-12-01")  # validation and test rows
    changed.loc[late, ["price", "load", "generation"]] *= 7.0
    changed.loc[late, "price"] += 1000.0
    other = epf.build_epf(changed, "x", smooth_days=smooth, exogenous=True)
    np.testing.assert_array_equal(base.profile.mean, other.profile.mean)
    assert (base.profile.std, base.profile.low, base.profile.high) == (
        other.profile.std, other.profile.low, other.profile.high)
    lo, hi = base.splits["train"]
    np.testing.assert_array_equal(base.z[lo:hi], other.z[lo:hi])
    np.testing.assert_array_equal(base.features[lo:hi], other.features[lo:hi])


@needs_fr
def test_naive_day_ahead_persistence_matches_the_anchor(frame):
    data = epf.build_epf(frame, "x")
    rows = data.splits["test"]
    err = epf.persistence(data.prices, rows, 24) - data.prices[rows[0]:rows[1]]
    assert np.sqrt(np.mean(err**2)) == pytest.approx(7.99, abs=0.005)
    assert np.mean(np.abs(err)) == pytest.approx(5.74, abs=0.005)
