"""Plots every family shares (matplotlib only, no tracking)."""

from __future__ import annotations

from typing import Any

import numpy as np


def learning_curve(history: list[dict[str, float]], train_label: str = "train loss",
                   val_label: str = "val loss") -> Any:
    """Training and validation loss per epoch, as one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label=train_label)
    ax.plot(epochs, [h["val_loss"] for h in history], label=val_label)
    ax.set_xlabel("epoch")
    ax.legend()
    figure.tight_layout()
    return figure


def forecast_figures(result: Any, data: Any) -> dict[str, Any]:
    """A forecasting family's figures: forecast against truth on a few test windows
    (its last target channel, in original units), and the learning curve.

    ``result.outputs`` holds ``examples`` (index, input, pred, truth of those windows,
    scaled) and optionally the ``scaler`` the run trained with (else the data's)."""
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
