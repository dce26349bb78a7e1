"""Search spaces in and out of the project's Ray-free vocabulary, in one place.

A space (``search_spaces.space``: Choice, Grid, Uniform, LogUniform, IntRange) comes
from a family's space module or a YAML ``sweep.space`` block, is saved with a sweep
for ``--resume``, and becomes Ray Tune samplers searched by Optuna's TPE or Tune's
own variant generator. Every one of those translations is here, so a new domain
kind is added once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from search_spaces.space import Choice, Domain, Grid, IntRange, LogUniform, Space, Uniform
from trainables.errors import ConfigError

KINDS: dict[str, type] = {cls.__name__: cls for cls in (Choice, Grid, IntRange, LogUniform, Uniform)}
YAML_KINDS = ("grid", "choice", "uniform", "loguniform", "int")


def to_tune(space: Space, search: str) -> dict[str, Any]:
    """Tune samplers for ``space``; grids become choices under TPE (Optuna samples
    them) and grid searches under Tune's variant generator."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, domain in space.items():
        if isinstance(domain, Grid):
            out[key] = tune.choice(list(domain.values)) if search == "tpe" else tune.grid_search(list(domain.values))
        elif isinstance(domain, Choice):
            out[key] = tune.choice(list(domain.values))
        elif isinstance(domain, Uniform):
            out[key] = tune.uniform(domain.low, domain.high)
        elif isinstance(domain, LogUniform):
            out[key] = tune.loguniform(domain.low, domain.high)
        elif isinstance(domain, IntRange):
            out[key] = tune.randint(domain.low, domain.high + 1) if domain.step == 1 else \
                tune.qrandint(domain.low, domain.high, domain.step)
        else:  # pragma: no cover - the vocabulary is closed
            raise ConfigError(f"search space: unsupported domain for {key!r}: {domain!r}")
    return out


def optuna_tpe(seed: int, samples: int, metric: str, mode: str):
    """Optuna's TPE sampler behind Tune, seeded; a third of the trials (2-10) random first."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, samples // 3)))
    return OptunaSearch(metric=metric, mode=mode, sampler=sampler)


def from_yaml(raw: dict[str, Any], source: str) -> Space:
    """A space written in YAML: ``{field: {grid|choice: [...]}}`` or
    ``{field: {uniform|loguniform|int: [low, high]}}``."""
    space: Space = {}
    for key, spec in raw.items():
        where = f"{source}: sweep.space.{key}"
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in YAML_KINDS:
            raise ConfigError(f"{where}: expected one of {{{', '.join(YAML_KINDS)}}}: [values]")
        kind, values = next(iter(spec.items()))
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{kind}: expected a non-empty list")
        if kind in ("grid", "choice"):
            space[key] = Grid(tuple(values)) if kind == "grid" else Choice(tuple(values))
            continue
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) \
                or values[0] >= values[1]:
            raise ConfigError(f"{where}.{kind}: expected [low, high] numbers with low < high, got {values}")
        if kind == "loguniform" and values[0] <= 0:
            raise ConfigError(f"{where}.loguniform: expected low > 0, got {values[0]}")
        if kind == "int":
            space[key] = IntRange(int(values[0]), int(values[1]))
        else:
            space[key] = (LogUniform if kind == "loguniform" else Uniform)(float(values[0]), float(values[1]))
    return space


def to_state(space: Space) -> dict[str, list]:
    """JSON for a sweep's saved state: ``{key: [kind, fields]}``."""
    return {key: [type(domain).__name__, asdict(domain)] for key, domain in space.items()}


def from_state(state: dict[str, list]) -> Space:
    """The space :func:`to_state` wrote (JSON lists back to tuples)."""
    return {key: KINDS[kind](**{f: tuple(v) if isinstance(v, list) else v for f, v in fields.items()})
            for key, (kind, fields) in state.items()}


def example_value(domain: Domain) -> Any:
    """One value the domain can produce: type-checks a space before any trial runs."""
    if isinstance(domain, (Choice, Grid)):
        return domain.values[0]
    if isinstance(domain, (Uniform, LogUniform, IntRange)):
        return domain.low
    raise ConfigError(f"search space: unsupported domain {domain!r}")


def described(space: Space) -> dict[str, str]:
    """The space as MLflow shows it (``search_space.json`` on a parent run)."""
    return {key: repr(domain) for key, domain in space.items()}
