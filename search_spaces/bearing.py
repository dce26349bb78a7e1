"""Search spaces of the multimodal bearing classifier (keys are BearingConfig fields).

The knobs are the ones the seed README tunes by hand: the three dropout levels,
learning rate and weight decay, the ArcFace weight and margin, the focal gamma,
mixup, STFT against CWT images, and the model size.
"""

from __future__ import annotations

from search_spaces.space import Choice, Grid, LogUniform, Space, Uniform


def default() -> Space:
    """A broad space around the seed's fine-tuning settings."""
    return {
        "dropout_low": Uniform(0.05, 0.2),
        "dropout_mid": Uniform(0.15, 0.35),
        "dropout_high": Uniform(0.25, 0.5),
        "lr": LogUniform(1e-4, 3e-3),
        "weight_decay": LogUniform(1e-5, 1e-2),
        "arcface_weight": Uniform(0.0, 1.0),
        "arcface_m": Uniform(0.2, 0.6),
        "focal_gamma": Choice((0.0, 1.0, 2.0, 3.0)),
        "mixup_alpha": Choice((0.0, 0.2, 0.4)),
        "tf_method": Choice(("stft", "cwt")),
        "model_size": Choice(("small", "medium", "large")),
    }


def cpu() -> Space:
    """The same search with the small model and STFT images: what 2 CPU cores afford."""
    space = default()
    space["model_size"] = Choice(("small",))
    space["tf_method"] = Choice(("stft",))
    return space


def loss_grid() -> Space:
    """The loss knobs on a grid: focal gamma x ArcFace weight."""
    return {"focal_gamma": Grid((0.0, 2.0)), "arcface_weight": Grid((0.0, 0.5, 1.0))}


def smoke() -> Space:
    """Seconds-long trials for tests (use with the spec's smoke overrides)."""
    return {
        "lr": LogUniform(3e-4, 3e-3),
        "dropout_high": Uniform(0.2, 0.4),
        "arcface_weight": Uniform(0.2, 0.8),
    }


SPACES = {"default": default, "cpu": cpu, "loss_grid": loss_grid, "smoke": smoke}
