"""Per-channel scalers fitted on training rows only, with exact inverses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.errors import DataError

SCALERS = ("standard", "robust", "none")


@dataclass
class Scaler:
    """``(x - center) / scale`` per channel; state is two arrays (picklable, loggable)."""

    kind: str
    center: np.ndarray
    scale: np.ndarray

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.center) / self.scale).astype(np.float32)

    def inverse_transform(self, values: np.ndarray, channels: list[int] | None = None) -> np.ndarray:
        center, scale = (self.center, self.scale) if channels is None else (self.center[channels], self.scale[channels])
        return values * scale + center

    def to_dict(self) -> dict:
        return {"kind": self.kind, "center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, state: dict) -> "Scaler":
        return cls(state["kind"], np.asarray(state["center"], dtype=np.float64),
                   np.asarray(state["scale"], dtype=np.float64))


def fit_scaler(train_values: np.ndarray, kind: str = "standard") -> Scaler:
    """Fit on the training rows (2-D: rows x channels). Zero spread maps to scale 1."""
    if kind not in SCALERS:
        raise DataError(f"scaler: expected one of {SCALERS}, got {kind!r}")
    values = np.asarray(train_values, dtype=np.float64)
    if kind == "none":
        center, scale = np.zeros(values.shape[1]), np.ones(values.shape[1])
    elif kind == "robust":
        center = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        scale = q75 - q25
    else:
        center = np.nanmean(values, axis=0)
        scale = np.nanstd(values, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return Scaler(kind, center, scale)
