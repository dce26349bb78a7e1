"""Forecast baselines for well production: last value, seasonal naive, Arps decline.

Pure functions on raw (unscaled) arrays, so they score on exactly the windows and
units the network is scored on.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit

from data.synthetic import arps_rate


def last_value(inputs: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat each window's last input value: (n, input_len) -> (n, horizon)."""
    return np.repeat(inputs[:, -1:], horizon, axis=1)


def seasonal_naive(inputs: np.ndarray, horizon: int, period: int = 7) -> np.ndarray:
    """Repeat the last ``period`` input values (weekly by default for daily data)."""
    season = inputs[:, -period:]
    reps = int(np.ceil(horizon / period))
    return np.tile(season, (1, reps))[:, :horizon]


def fit_arps(days: np.ndarray, rate: np.ndarray) -> tuple[float, float, float]:
    """Least-squares Arps (qi, di, b) on producing days (rate > 0).

    Shut-in days carry no information about the reservoir's decline and are left
    out; b is bounded to [0, 2] and di to positive values, as usual for the model.
    """
    keep = rate > 0
    t, q = days[keep].astype(np.float64), rate[keep].astype(np.float64)
    if len(q) < 3:
        return float(q.mean() if len(q) else 0.0), 0.0, 0.0
    guess = (float(np.percentile(q[: max(3, len(q) // 10)], 90)), 1e-3, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = curve_fit(lambda x, qi, di, b: arps_rate(x, qi, di, b) if b > 1e-9 else qi * np.exp(-di * x),
                                  t, q, p0=guess, bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, 2.0]), maxfev=20000)
        except (RuntimeError, ValueError):
            return float(q.mean()), 0.0, 0.0
    return float(params[0]), float(params[1]), float(params[2])


def arps_forecast(params: tuple[float, float, float], days: np.ndarray) -> np.ndarray:
    qi, di, b = params
    return arps_rate(days.astype(np.float64), qi, di, b)
