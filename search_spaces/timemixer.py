"""TimeMixer search spaces (keys are TimeMixerConfig fields)."""

from __future__ import annotations

from search_spaces.space import Choice, Grid, IntRange, LogUniform, Space, Uniform


def default() -> Space:
    """The architecture and optimiser knobs that matter most."""
    return {
        "d_model": Choice((16, 32, 64)),
        "e_layers": IntRange(1, 3),
        "dropout": Uniform(0.0, 0.3),
        "lr": LogUniform(1e-4, 3e-2),
    }


def grid() -> Space:
    """The seed guide's grid: dropout x learning rate."""
    return {
        "dropout": Grid((0.1, 0.15, 0.2, 0.25)),
        "lr": Grid((5e-5, 8e-5, 1e-4)),
    }


def demo() -> Space:
    """The offline demo: a few minutes on 2 cores."""
    return {
        "d_model": Choice((8, 16, 32)),
        "dropout": Uniform(0.0, 0.3),
        "lr": LogUniform(1e-3, 3e-2),
    }


def smoke() -> Space:
    """Seconds-long trials for tests."""
    return {
        "dropout": Uniform(0.0, 0.2),
        "lr": LogUniform(1e-3, 1e-2),
    }


SPACES = {"default": default, "grid": grid, "demo": demo, "smoke": smoke}
