"""The training hyper-parameters every family shares, and typed config building.

A family's config is a frozen dataclass that extends ``TrainConfig``. Values come
from YAML, ``--set key=value`` or a sampled search-space point; ``build_config``
checks keys against the dataclass and coerces types, and each ``__post_init__``
checks ranges, so a bad value is rejected once, at the edge, with a one-line error.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from trainables.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")  # 3e-3, 1E5: numbers YAML leaves as text
SCHEDULERS = ("none", "onecycle", "cosine", "cosine_restarts", "exponential")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def check(condition: bool, field: str, expected: str, value: Any) -> None:
    """Raise a one-line ConfigError naming the field when ``condition`` is false."""
    if not condition:
        raise ConfigError(f"{field}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and loop settings shared by all trainables."""

    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    scheduler: str = "none"
    pct_start: float = 0.3  # OneCycle warm-up fraction
    warmup_epochs: int = 0  # linear warm-up before cosine
    t0: int = 10  # CosineAnnealingWarmRestarts
    t_mult: int = 2
    eta_min: float = 0.0
    lr_gamma: float = 0.5  # exponential: the learning rate is multiplied by this after every epoch
    patience: int = 0  # early stopping on the monitored metric; 0 = off
    grad_clip: float = 0.0  # max grad norm; 0 = off
    ema_decay: float = 0.0  # > 0: validate, keep and return a moving average of the weights
    precision: str = "fp32"  # autocast dtype on the training device
    compile: str = "none"  # torch.compile mode for the training forward passes; "none" = eager
    checkpoint_every: int = 1  # epochs between checkpoints; 0 = never
    max_train_batches: int = 0  # cap batches per epoch (smoke runs); 0 = all

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", "an integer >= 1", self.epochs)
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(math.isfinite(self.lr) and self.lr > 0, "lr", "a number > 0", self.lr)
        check(self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}", self.optimizer)
        check(self.weight_decay >= 0, "weight_decay", "a number >= 0", self.weight_decay)
        check(self.scheduler in SCHEDULERS, "scheduler", f"one of {SCHEDULERS}", self.scheduler)
        check(0 < self.pct_start < 1, "pct_start", "a number in (0, 1)", self.pct_start)
        check(self.warmup_epochs >= 0, "warmup_epochs", "an integer >= 0", self.warmup_epochs)
        check(self.t0 >= 1, "t0", "an integer >= 1", self.t0)
        check(self.t_mult >= 1, "t_mult", "an integer >= 1", self.t_mult)
        check(0 <= self.eta_min < self.lr, "eta_min", "a number in [0, lr)", self.eta_min)
        check(0 < self.lr_gamma <= 1, "lr_gamma", "a number in (0, 1]", self.lr_gamma)
        check(self.patience >= 0, "patience", "an integer >= 0", self.patience)
        check(self.grad_clip >= 0, "grad_clip", "a number >= 0", self.grad_clip)
        check(0 <= self.ema_decay < 1, "ema_decay", "a number in [0, 1) (0 = off)", self.ema_decay)
        check(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}", self.precision)
        check(self.compile in COMPILE_MODES, "compile", f"one of {COMPILE_MODES}", self.compile)
        check(self.checkpoint_every >= 0, "checkpoint_every", "an integer >= 0", self.checkpoint_every)
        check(self.max_train_batches >= 0, "max_train_batches", "an integer >= 0", self.max_train_batches)


C = TypeVar("C")


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_config(cls: type[C], values: Mapping[str, Any], source: str = "--set", base: C | None = None) -> C:
    """Build ``cls`` from ``values`` on top of ``base`` (or the defaults).

    Unknown keys and values of the wrong type raise ConfigError naming ``source``
    and the key; range checks run in the dataclass's ``__post_init__``.
    """
    hints = typing.get_type_hints(cls)
    known = set(field_names(cls))
    rejected = getattr(cls, "REJECTED_KEYS", {})
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        if key in rejected:
            raise ConfigError(f"{source}: {key!r} is not a parameter of this model: {rejected[key]}")
        if key not in known:
            raise ConfigError(f"{source}: unknown key {key!r}; expected one of {sorted(known)}")
        coerced[key] = coerce(value, hints[key], f"{source} {key}")
    start = base if base is not None else cls()
    try:
        return dataclasses.replace(start, **coerced)
    except TypeError as exc:  # pragma: no cover - guarded by the key check above
        raise ConfigError(f"{source}: {exc}") from exc


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Coerce a YAML/CLI value to a dataclass field type (int->float, list->tuple)."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or float(value) != int(value)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, str) and SCIENTIFIC.match(value.strip()):
            value = float(value)  # YAML 1.1 reads 3e-3 (no decimal point) as a string
        # NaN passes no range check as intended (every comparison is false), so it is
        # refused here; infinity stays, where a field's own check allows it.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(coerce(v, item, where) for v in value)
    return value


def as_dict(cfg: Any) -> dict[str, Any]:
    """A flat dict of a config (tuples kept as lists for JSON/MLflow)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
