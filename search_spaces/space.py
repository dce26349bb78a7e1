"""A tiny, Ray-free vocabulary for search spaces.

Spaces are plain dicts ``{config_field: Domain}``. The orchestrator translates them
to Ray Tune samplers or Optuna distributions, so the spaces never depend on either
library's API, and a grid can be run by Tune's grid search or Optuna's GridSampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class Choice:
    """One of a few categorical values (sampled)."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Uniform:
    """A float uniformly in [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    """A float log-uniformly in [low, high] (learning rates, weight decays)."""

    low: float
    high: float


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high] inclusive, optionally on a step."""

    low: int
    high: int
    step: int = 1


@dataclass(frozen=True)
class Grid:
    """Every value is tried (the cross product over all Grid entries of a space)."""

    values: tuple[Any, ...]


Domain = Union[Choice, Uniform, LogUniform, IntRange, Grid]
Space = dict[str, Domain]


def choice(values: Sequence[Any]) -> Choice:
    return Choice(tuple(values))


def grid(values: Sequence[Any]) -> Grid:
    return Grid(tuple(values))


def is_grid(space: Space) -> bool:
    """True when every entry is a Grid (the space is a finite, exhaustive grid)."""
    return bool(space) and all(isinstance(d, Grid) for d in space.values())


def grid_size(space: Space) -> int:
    """Number of points in the cross product of the space's Grid entries."""
    size = 1
    for domain in space.values():
        if isinstance(domain, Grid):
            size *= len(domain.values)
    return size
