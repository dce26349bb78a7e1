"""The seasonal GRU's figures for one finished run."""

from __future__ import annotations

from typing import Any

from data.epf import EpfData
from trainables.plots import learning_curve
from trainables.registry import FitResult
from trainables.seasonal_gru.config import HOURS_PER_DAY


def plots(result: FitResult, data: EpfData) -> dict[str, Any]:
    """Test forecast against truth (whole half-year and its first two weeks) and the
    training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, pred = result.outputs["test_rows"], result.outputs["test_pred"]
    times, truth = data.timestamps[rows], data.prices[rows]
    forecast, axes = plt.subplots(2, 1, figsize=(11, 6))
    for ax, span in zip(axes, (slice(None), slice(0, 14 * HOURS_PER_DAY))):
        ax.plot(times[span], truth[span], color="C0", lw=0.8, label="truth")
        ax.plot(times[span], pred[span], color="C3", lw=0.8, label="forecast")
        ax.set_ylabel("EUR/MWh")
    period = (data.schema.get("periods") or {}).get("test", ["", ""])
    axes[0].set_title(f"{data.schema.get('file', 'prices')} test {period[0]}..{period[1]}: forecast vs truth",
                      fontsize=10)
    axes[0].legend(loc="upper right", fontsize=8)
    forecast.autofmt_xdate()
    forecast.tight_layout()
    curves = learning_curve(result.history, "train objective", "val MSE (eq. 26 units)")
    return {"test_forecast.png": forecast, "training_curves.png": curves}
