"""DLinear search spaces (keys are DLinearConfig fields)."""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.space import Choice, Grid, LogUniform, Space


def default() -> Space:
    """DLinear has few knobs: the optimiser's rate and batch, the trend's kernel, the
    shared or per-channel maps, and the loss."""
    return {
        "lr": LogUniform(1e-4, 1e-2),
        "batch_size": Choice((16, 32, 64)),
        "moving_avg": Choice((13, 25, 49)),
        "individual": Choice((False, True)),
        "loss": Choice(("mse", "mae")),
    }


def lookback() -> Space:
    """The paper's look-back study: longer inputs help a linear forecaster."""
    return {"input_len": Grid((96, 192, 336, 720))}


def smoke() -> Space:
    """Seconds-long trials for tests (with the spec's smoke overrides)."""
    return {"lr": LogUniform(1e-3, 1e-2), "individual": Choice((False, True))}


SPACES: dict[str, Callable[[], Space]] = {"default": default, "lookback": lookback, "smoke": smoke}
