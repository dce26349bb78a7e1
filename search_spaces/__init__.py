"""Named search spaces, one module per trainable; see space.py for the vocabulary.

A module ``search_spaces/<model>.py`` defines ``SPACES: dict[str, Callable[[], Space]]``.
"""

from __future__ import annotations

import importlib

from search_spaces.space import Space
from trainables.errors import ConfigError


def space_names(model: str) -> list[str]:
    """The space names a model offers."""
    return sorted(_module(model).SPACES)


def get_space(model: str, name: str) -> Space:
    """The named space of ``model``, or a ConfigError listing the valid names."""
    spaces = _module(model).SPACES
    if name not in spaces:
        raise ConfigError(
            f"--space: unknown search space {name!r} for model {model!r}; expected one of {sorted(spaces)}"
        )
    return spaces[name]()


def _module(model: str):
    try:
        return importlib.import_module(f"search_spaces.{model}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--model: no search spaces for model {model!r}") from exc
