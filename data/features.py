"""Leak-free preprocessing and engineered features for forecasting series.

Every function here either looks only backwards in time (causal filters, running
sums, trailing windows) or takes its statistics from the training rows alone, so a
value at row ``t`` never depends on rows after ``t`` or outside the training split.
That is what lets the seed guide's options (Savitzky-Golay smoothing, 3-sigma
clipping, segment normalisation, cumulative production, rate of change, rolling
statistics) be searched without leaking the test period into the inputs.

Arrays are (rows, channels) float64 in original units unless stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.errors import DataError


def causal_savgol(values: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing that uses each row and the ``window - 1`` before it.

    The usual centred filter reads half a window into the future; here the local
    polynomial is evaluated at the window's last point instead. The first rows use
    a shorter history (edge replication), still never a later row.
    """
    if window < 2 or order >= window:
        raise DataError(f"smoothing: need window >= 2 and order < window, got window={window}, order={order}")
    from scipy.signal import savgol_coeffs  # here, not at the top: scipy.signal costs ~1 s to import

    coeffs = savgol_coeffs(window, order, pos=window - 1, use="dot")  # weights for rows t-w+1 .. t
    padded = np.concatenate([np.repeat(values[:1], window - 1, axis=0), values], axis=0)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (rows, channels, window)
    return view @ coeffs


@dataclass(frozen=True)
class ClipBounds:
    """Per-channel clipping limits learnt from training rows."""

    lower: np.ndarray
    upper: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.lower, self.upper)


def fit_sigma_clip(train_values: np.ndarray, n_sigma: float = 3.0) -> ClipBounds:
    """mean +- n_sigma * std of the training rows (the guide's 3-sigma rule)."""
    mean, std = np.nanmean(train_values, axis=0), np.nanstd(train_values, axis=0)
    return ClipBounds(mean - n_sigma * std, mean + n_sigma * std)


def trailing_mean_std(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the trailing ``window`` rows (fewer at the start), causal."""
    csum = np.cumsum(np.vstack([np.zeros((1, values.shape[1])), values]), axis=0)
    csq = np.cumsum(np.vstack([np.zeros((1, values.shape[1])), values**2]), axis=0)
    rows = np.arange(1, len(values) + 1)
    lo = np.maximum(0, rows - window)
    count = (rows - lo)[:, None]
    mean = (csum[rows] - csum[lo]) / count
    var = np.maximum((csq[rows] - csq[lo]) / count - mean**2, 0.0)
    return mean, np.sqrt(var)


def segment_normalize(values: np.ndarray, window: int, eps: float = 1e-6) -> np.ndarray:
    """The guide's segment normalisation, made causal: each row is scaled by the
    mean/std of the ``window`` rows ending at it (the guide's fixed segments read
    up to a whole segment ahead)."""
    mean, std = trailing_mean_std(values, window)
    return (values - mean) / (std + eps)


def cumulative(values: np.ndarray) -> np.ndarray:
    """Running total (cumulative production when values are daily rates)."""
    return np.cumsum(np.nan_to_num(values), axis=0)


def rate_of_change(values: np.ndarray, lag: int = 1) -> np.ndarray:
    """Difference to ``lag`` rows earlier (0 for the first rows): backward only."""
    out = np.zeros_like(values)
    out[lag:] = values[lag:] - values[:-lag]
    return out


def rolling_features(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean, std, min, max and slope over ``window`` rows, per channel.

    The guide's per-window statistics (mean/std/min/max/trend) as per-row causal
    features: (rows, 5 * channels).
    """
    mean, std = trailing_mean_std(values, window)
    padded = np.concatenate([np.repeat(values[:1], window - 1, axis=0), values], axis=0)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    low, high = view.min(axis=-1), view.max(axis=-1)
    slope = (values - padded[: len(values)]) / window  # change over the trailing window
    return np.concatenate([mean, std, low, high, slope], axis=1)


@dataclass(frozen=True)
class FeatureOptions:
    """Which engineered features to compute (all causal)."""

    cumulative: bool = False
    rate_change: bool = False
    rolling_window: int = 0  # 0 = off
    segment_norm_window: int = 0  # 0 = off

    @property
    def any(self) -> bool:
        return self.cumulative or self.rate_change or self.rolling_window > 0 or self.segment_norm_window > 0


def engineered_features(values: np.ndarray, options: FeatureOptions) -> np.ndarray:
    """The selected features of one series, (rows, k); k may be 0."""
    parts = []
    if options.cumulative:
        parts.append(cumulative(values))
    if options.rate_change:
        parts.append(rate_of_change(values))
    if options.rolling_window > 0:
        parts.append(rolling_features(values, options.rolling_window))
    if options.segment_norm_window > 0:
        parts.append(segment_normalize(values, options.segment_norm_window))
    if not parts:
        return np.zeros((len(values), 0))
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class PreprocessOptions:
    """Input-side preprocessing of the guide; targets are never altered."""

    smooth_window: int = 0  # Savitzky-Golay window; 0 = off
    smooth_order: int = 3
    clip_sigma: float = 0.0  # 0 = off

    @property
    def any(self) -> bool:
        return self.smooth_window > 0 or self.clip_sigma > 0


def preprocess_series(values: np.ndarray, train: tuple[int, int], options: PreprocessOptions) -> np.ndarray:
    """Clip with training-row limits, then smooth causally; rows keep their count."""
    out = np.asarray(values, dtype=np.float64)
    if options.clip_sigma > 0:
        lo, hi = train
        if hi <= lo:
            raise DataError("clipping: the training split is empty")
        out = fit_sigma_clip(out[lo:hi], options.clip_sigma).apply(out)
    if options.smooth_window > 0:
        out = causal_savgol(out, options.smooth_window, options.smooth_order)
    return out
