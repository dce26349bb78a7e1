"""The packing solver's own parameters as named search spaces (no Ray here).

Keys are dotted paths into ``packing.solver.SolverParams`` (``beam.branching`` sets
``SolverParams.beam.branching``); tune them with Ray Tune over a sample of instances,
scoring mean fill rate.
"""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.space import Choice, Grid, IntRange, Space, Uniform


def default() -> Space:
    """The block-building knobs that moved fill rates most in our runs."""
    return {
        "beam.branching": Choice((4, 8, 16, 32)),
        "beam.start_width": Choice((1, 2, 4)),
        "beam.order": Choice(("fit", "volume")),
        "blocks.general_rounds": IntRange(-1, 2),
        "blocks.min_fill": Uniform(0.96, 1.0),
        "blocks.max_blocks": Choice((2000, 6000, 10000)),
        "jitter": Uniform(0.0, 0.05),
        "beam.evaluate": Choice(("auto", "", "both")),
        "beam.waste": Uniform(0.5, 2.0),
        "beam.space": Choice(("auto", "anchor", "low")),
        "blocks.flat_top": Choice((True, False)),
    }


def mltrs() -> Space:
    """The multi-level tree search's breadth: layer depths and strip widths tried."""
    return {
        "mltrs.max_depths": Choice((2, 4, 8, 16)),
        "mltrs.max_widths": IntRange(2, 10),
    }


def smoke() -> Space:
    """Two grid points: a quick end-to-end check of the tuning path."""
    return {"beam.branching": Grid((4, 16))}


SPACES: dict[str, Callable[[], Space]] = {"default": default, "mltrs": mltrs, "smoke": smoke}
