"""Synthetic well production: Arps decline, noise and shut-in days.

Gives the offline demo and the tests a realistic, fully reproducible series with
no download: each well starts at its own rate, declines hyperbolically, is shut
in now and then (rate 0) and flushes slightly above trend when it restarts.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from data.forecasting import ForecastData, build_forecast_data


def arps_rate(t: np.ndarray, qi: float, di: float, b: float) -> np.ndarray:
    """Arps decline: hyperbolic for b > 0, exponential at b = 0."""
    if b <= 1e-9:
        return qi * np.exp(-di * t)
    return qi / np.power(1.0 + b * di * t, 1.0 / b)


def well_production(n_wells: int = 4, n_days: int = 1500, seed: int = 0,
                    shut_in_rate: float = 0.01, noise: float = 0.05) -> pd.DataFrame:
    """A wide daily frame: ``date`` plus one rate column per well (``well_1``, ...)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days, dtype=np.float64)
    frame = {"date": pd.date_range("2010-01-01", periods=n_days, freq="D")}
    for well in range(n_wells):
        qi, di, b = rng.uniform(800, 2500), rng.uniform(0.001, 0.004), rng.uniform(0.2, 1.0)
        trend = arps_rate(t, qi, di, b)
        seasonal = 1.0 + 0.03 * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi))
        rate = trend * seasonal * rng.lognormal(0.0, noise, n_days)
        shut = np.zeros(n_days, dtype=bool)
        for start in np.flatnonzero(rng.random(n_days) < shut_in_rate):
            shut[start:start + int(rng.integers(1, 8))] = True
        flush = np.zeros(n_days)
        restarts = np.flatnonzero(shut[:-1] & ~shut[1:]) + 1
        for day in restarts:
            span = np.arange(day, min(n_days, day + 10))
            flush[span] += 0.15 * np.exp(-(span - day) / 3.0)
        rate = np.where(shut, 0.0, rate * (1.0 + flush))
        frame[f"well_{well + 1}"] = rate.astype(np.float32)
    return pd.DataFrame(frame)


def load_synthetic_wells(n_wells: int = 4, n_days: int = 1500, seed: int = 0,
                         scaler: str = "standard", split: tuple[float, float] = (0.7, 0.1)) -> ForecastData:
    """Synthetic wells as ForecastData, chronological 70/10/20 split by default."""
    frame = well_production(n_wells, n_days, seed)
    wells = [c for c in frame.columns if c != "date"]
    n_train = int(n_days * split[0])
    n_val = int(n_days * split[1])
    splits = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n_days)}
    checksum = hashlib.sha256(frame[wells].to_numpy().tobytes()).hexdigest()
    data = build_forecast_data("synthetic_wells", frame, "date", wells, wells, splits, "d", checksum, scaler)
    data.meta = {"generator": "data.synthetic.well_production", "n_wells": n_wells, "n_days": n_days, "seed": seed}
    return data
