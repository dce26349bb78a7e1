"""TimeMixer's figures for one finished run."""

from __future__ import annotations

from typing import Any

import numpy as np

from data.forecasting import ForecastData
from trainables.plots import learning_curve
from trainables.registry import FitResult


def plots(result: FitResult, data: ForecastData) -> dict[str, Any]:
    """Forecast against truth on a few test windows (target channel, original units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = result.outputs["examples"]
    scaler = result.outputs.get("scaler", data.scaler)
    channel = len(data.target_channels) - 1  # last target channel (OT for ETT)
    source = data.target_channels[channel]
    fig, axes = plt.subplots(len(ex["index"]), 1, figsize=(10, 2.6 * len(ex["index"])), squeeze=False)
    for row, ax in enumerate(axes[:, 0]):
        history = scaler.inverse_transform(ex["input"][row][:, source], [source])
        truth = scaler.inverse_transform(ex["truth"][row][:, channel], [source])
        pred = scaler.inverse_transform(ex["pred"][row][:, channel], [source])
        t_hist = np.arange(len(history))
        t_future = np.arange(len(history), len(history) + len(truth))
        ax.plot(t_hist, history, color="0.4", lw=1, label="input")
        ax.plot(t_future, truth, color="C0", lw=1.2, label="truth")
        ax.plot(t_future, pred, color="C3", lw=1.2, label="forecast")
        ax.set_ylabel(data.columns[source])
        ax.set_title(f"test window {int(ex['index'][row])}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    curves = learning_curve(result.history)
    return {"forecast_vs_truth.png": fig, "learning_curve.png": curves}
