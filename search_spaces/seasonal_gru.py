"""Search spaces of the seasonal-loss GRU (seed 002).

``loss_grid`` is the paper's Table 2 grid: lambda_S x lambda_MAX (= lambda_MIN,
tied through the single field ``lambda_maxmin``), 12 points; run it with the seed
grid of the ensemble command for the paper's "10 trainings, mean +- std".
"""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.space import Choice, Grid, IntRange, LogUniform, Space, Uniform


def default() -> Space:
    """Loss weights in the paper's ranges (Table 2) plus the usual RNN knobs."""
    return {
        "lambda_s": Uniform(0.0, 0.15),
        "lambda_maxmin": Uniform(0.0, 0.1),
        "lr": LogUniform(3e-4, 3e-3),
        "hidden": Choice((32, 64, 128)),
        "batch_size": Choice((32, 64)),
        "grad_clip": Choice((0.5, 1.0, 5.0)),
        "epochs": IntRange(24, 48, 12),
    }


def loss_grid() -> Space:
    """lambda_S in {0, .05, .1, .15} x lambda_MAX = lambda_MIN in {0, .05, .1}."""
    return {
        "lambda_s": Grid((0.0, 0.05, 0.1, 0.15)),
        "lambda_maxmin": Grid((0.0, 0.05, 0.1)),
    }


def smoke() -> Space:
    """Two points that run in seconds with the spec's smoke overrides."""
    return {"lambda_s": Grid((0.0, 0.05)), "lambda_maxmin": Grid((0.05,))}


SPACES: dict[str, Callable[[], Space]] = {"default": default, "loss_grid": loss_grid, "smoke": smoke}
