"""Plots every family shares (matplotlib only, no tracking)."""

from __future__ import annotations

from typing import Any


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
