"""The paper's non-recurrent baselines on the same day-ahead task: naive
persistence, ARIMA on eq. 27's transform, and SVR / KRR with cubic polynomial
kernels tuned by 5-fold cross-validation.

Every function is pure: it takes ``EpfData`` and returns forecast prices for the
test rows (or metrics); the benchmark driver prints and saves them. Each forecast
of day d uses only prices up to the end of day d-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.epf import EpfData, persistence
from trainables.seasonal_gru.config import HOURS_PER_DAY
from trainables.seasonal_gru.task import price_metrics

DAILY, WEEKLY = 24, 168


def naive_metrics(data: EpfData, lag: int) -> dict[str, float]:
    """Persistence ``lag`` hours back: 24 is the naive forecast of the day-ahead task."""
    lo, hi = data.splits["test"]
    return price_metrics(persistence(data.prices, (lo, hi), lag), data.prices[lo:hi])


# --- ARIMA (eq. 27) ---------------------------------------------------------------

@dataclass(frozen=True)
class ArimaFit:
    """ARMA(p, q) coefficients fitted on the differenced log series."""

    const: float
    ar: np.ndarray
    ma: np.ndarray
    shift: float  # min training price - 1, so log(p - shift) = log(p - min p + 1)


def log_transform(prices: np.ndarray, shift: float) -> np.ndarray:
    """ln(p - min p + 1); prices below the training minimum are floored at +1e-3."""
    return np.log(np.maximum(prices - shift, 1e-3))


def seasonal_difference(y: np.ndarray) -> np.ndarray:
    """(1 - B^24)(1 - B^168) y; the first 192 values are NaN."""
    d = np.full_like(y, np.nan)
    d[WEEKLY + DAILY:] = y[WEEKLY + DAILY:] - y[WEEKLY:-DAILY] - y[DAILY:-WEEKLY] + y[:-(WEEKLY + DAILY)]
    return d


def fit_arima(data: EpfData, order: tuple[int, int] = (2, 1), fit_days: int = 365) -> ArimaFit:
    """Fit ARMA(p, q) by maximum likelihood (statsmodels) on the last ``fit_days`` of
    the training + validation period (the model is stationary after eq. 27, and
    a year of hourly data pins down a few coefficients on a 2-core machine)."""
    from statsmodels.tsa.arima.model import ARIMA

    end = data.splits["val"][1]
    shift = float(data.prices[:data.splits["train"][1]].min()) - 1.0
    d = seasonal_difference(log_transform(data.prices[:end], shift))
    sample = d[max(WEEKLY + DAILY, end - fit_days * HOURS_PER_DAY):]
    result = ARIMA(sample, order=(order[0], 0, order[1]), trend="c").fit()
    params = dict(zip(result.model.param_names, result.params))
    ar = np.array([params[f"ar.L{i}"] for i in range(1, order[0] + 1)])
    ma = np.array([params[f"ma.L{i}"] for i in range(1, order[1] + 1)])
    return ArimaFit(float(params["const"]), ar, ma, shift)


def arima_forecast(data: EpfData, fit: ArimaFit) -> np.ndarray:
    """Day-ahead forecasts of the test rows: 24-step ARMA forecasts of the
    differenced series from each midnight, integrated back with known prices."""
    lo, hi = data.splits["test"]
    y = log_transform(data.prices, fit.shift)
    d = seasonal_difference(y)
    mean = fit.const
    residual = _arma_residuals(d, fit, mean)
    out = np.empty(hi - lo)
    for origin in range(lo, hi, HOURS_PER_DAY):
        d_hat = _arma_path(d, residual, fit, mean, origin, HOURS_PER_DAY)
        t = np.arange(origin, origin + HOURS_PER_DAY)
        y_hat = d_hat + y[t - DAILY] + y[t - WEEKLY] - y[t - WEEKLY - DAILY]
        out[origin - lo:origin - lo + HOURS_PER_DAY] = np.exp(y_hat) + fit.shift
    return out


def _arma_residuals(d: np.ndarray, fit: ArimaFit, mean: float) -> np.ndarray:
    """One-step innovations of the ARMA model (zero before enough history exists)."""
    p, q = len(fit.ar), len(fit.ma)
    x = np.nan_to_num(d - mean)
    eps = np.zeros_like(x)
    for t in range(WEEKLY + DAILY + max(p, q), len(x)):
        eps[t] = x[t] - fit.ar @ x[t - p:t][::-1] - fit.ma @ eps[t - q:t][::-1]
    return eps


def _arma_path(d: np.ndarray, eps: np.ndarray, fit: ArimaFit, mean: float, origin: int, steps: int) -> np.ndarray:
    """Forecasts of d[origin : origin + steps] from data before ``origin``."""
    p, q = len(fit.ar), len(fit.ma)
    x = list(np.nan_to_num(d[origin - p:origin] - mean)) if p else []
    e = list(eps[origin - q:origin]) if q else []
    path = []
    for _ in range(steps):
        ar_part = float(fit.ar @ np.array(x[::-1][:p])) if p else 0.0
        ma_part = float(fit.ma @ np.array(e[::-1][:q])) if q else 0.0
        value = ar_part + ma_part
        path.append(value)
        x.append(value)
        e.append(0.0)  # future innovations have mean zero
    return np.array(path) + mean


# --- SVR and KRR ------------------------------------------------------------------

def day_features(data: EpfData, origins: np.ndarray, lag_days: int) -> np.ndarray:
    """Per forecast day: the eq. 26 prices of the previous ``lag_days`` days, the
    target day's day-of-week one-hot and, when the data carries them, its 24-hour
    day-ahead load and generation forecasts (all known before the auction)."""
    lag = lag_days * HOURS_PER_DAY
    windows = np.stack([data.z[o - lag:o] for o in origins])
    dow = (data.timestamps[origins].astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    parts = [windows, np.eye(7)[dow]]
    for name in ("load_forecast", "generation_forecast"):
        if name in data.feature_names:
            column = data.features[:, data.feature_names.index(name)]
            parts.append(np.stack([column[o:o + HOURS_PER_DAY] for o in origins]))
    return np.concatenate(parts, axis=1)


def day_targets(data: EpfData, origins: np.ndarray) -> np.ndarray:
    return np.stack([data.z[o:o + HOURS_PER_DAY] for o in origins])


def kernel_forecast(data: EpfData, kind: str = "krr", lag_days: int = 14, folds: int = 5,
                    grid: tuple[float, ...] = (0.1, 1.0, 10.0), n_jobs: int = 1) -> tuple[np.ndarray, dict]:
    """SVR or KRR with a cubic polynomial kernel, fitted on every day of
    2012-2015 (after the first ``lag_days``); C (SVR) or alpha (KRR) by ``folds``-fold
    CV. Returns test-row prices and the chosen hyper-parameters."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.svm import SVR

    lag = lag_days * HOURS_PER_DAY
    train_hi = data.splits["val"][1]
    fit_origins = np.arange(lag, train_hi, HOURS_PER_DAY)
    x, y = day_features(data, fit_origins, lag_days), day_targets(data, fit_origins)
    gamma = 1.0 / x.shape[1]
    if kind == "krr":
        search = GridSearchCV(KernelRidge(kernel="poly", degree=3, coef0=1.0, gamma=gamma),
                              {"alpha": list(grid)}, cv=KFold(folds), scoring="neg_mean_squared_error",
                              n_jobs=n_jobs)
    elif kind == "svr":
        svr = MultiOutputRegressor(SVR(kernel="poly", degree=3, coef0=1.0, gamma=gamma, epsilon=0.05))
        search = GridSearchCV(svr, {"estimator__C": list(grid)}, cv=KFold(folds),
                              scoring="neg_mean_squared_error", n_jobs=n_jobs)
    else:
        raise ValueError(f"kind must be 'svr' or 'krr', got {kind!r}")
    search.fit(x, y)
    lo, hi = data.splits["test"]
    test_origins = np.arange(lo, hi, HOURS_PER_DAY)
    z = search.predict(day_features(data, test_origins, lag_days)).reshape(-1)
    return data.to_prices(z, np.arange(lo, hi)), dict(search.best_params_)


def score_test(data: EpfData, prices: np.ndarray) -> dict[str, float]:
    """RMSE / MAE / MAE_MAX / MAE_MIN of test-row forecasts."""
    lo, hi = data.splits["test"]
    return price_metrics(prices, data.prices[lo:hi])
