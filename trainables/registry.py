"""The registry of model families: what the orchestrator may train.

A family registers one ``TrainableSpec`` in its ``task.py``. The orchestrator only
uses the spec's fields, so adding a model never touches ``orchestrator/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import nn

from trainables.context import TrainContext
from trainables.errors import ConfigError

# name -> module that defines SPEC (imported lazily: a family's heavy imports stay
# out of commands that do not use it).
FAMILIES: dict[str, str] = {
    "timemixer": "trainables.timemixer.task",
    "seasonal_gru": "trainables.seasonal_gru.task",
    "bearing": "trainables.bearing.task",
    "dlinear": "trainables.dlinear.task",
}


@dataclass
class FitResult:
    """What ``fit`` returns: final metrics, the trained model and what plots need."""

    metrics: dict[str, float]
    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    # Arrays for the family's plots and for ensembles (e.g. predictions on val/test).
    outputs: dict[str, Any] = field(default_factory=dict)
    # A family that trains in several stages: stage name -> that stage's history, in
    # order (the orchestrator logs each as its own run under the trial's run).
    stages: dict[str, list[dict[str, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainableSpec:
    """Everything the orchestrator needs to know about a model family."""

    name: str
    config_cls: type
    datasets: tuple[str, ...]  # the built-in sets it reads by name
    default_dataset: str
    # Runs once on the driver; the result is shipped to trials via the object store.
    # Takes a built-in set or the user's own file alike (a data.source.DataSource).
    load_data: Callable[[Any, Any], Any]
    fit: Callable[[Any, Any, TrainContext], FitResult]
    # Figures worth looking at for one finished run: {artifact file name: figure}.
    plots: Callable[[FitResult, Any], Mapping[str, Any]]
    metric: str = "val_loss"
    mode: str = "min"
    # Further per-epoch validation metrics a sweep may rank on (`--metric`): name -> mode.
    rankable: Mapping[str, str] = field(default_factory=dict)
    # Optional dry check of a config against loaded data (e.g. windows fit the
    # splits), run on the driver so bad input fails before any cluster work.
    preflight: Callable[[Any, Any], None] | None = None
    # Configs that make a run finish in seconds: used by `--smoke` and the tests.
    smoke_overrides: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    # Layout keys a user's own data set (`--data PATH`) may set: key -> what it means.
    # Empty: the family reads only its built-in sets.
    data_keys: Mapping[str, str] = field(default_factory=dict)


def metric_modes(spec: TrainableSpec) -> dict[str, str]:
    """Every metric a sweep of this family may rank on, with its direction."""
    return {spec.metric: spec.mode, **spec.rankable}


def kept_epoch(history: list[dict[str, float]], spec: TrainableSpec) -> dict[str, float] | None:
    """The history row of the epoch a run keeps: the best by its family's own metric."""
    rows = [h for h in history if spec.metric in h]
    if not rows:
        return None
    return (min if spec.mode == "min" else max)(rows, key=lambda h: h[spec.metric])


def final_report(result: FitResult, spec: TrainableSpec) -> dict[str, float]:
    """What a finished trial reports to the sweep: its final metrics, with every
    metric a sweep may rank on (``--metric``) as it was at the kept epoch, so trials
    are ranked on the epoch whose weights they keep, whatever metric ranks them."""
    kept = kept_epoch(result.history, spec) or {}
    report = {**result.metrics, **{m: kept[m] for m in metric_modes(spec) if m in kept}}
    report.setdefault(spec.metric, float("nan"))
    return report


def names() -> list[str]:
    return sorted(FAMILIES)


def get_spec(name: str) -> TrainableSpec:
    """The spec of family ``name``, or a ConfigError listing the known families."""
    if name not in FAMILIES:
        raise ConfigError(f"--model: unknown model {name!r}; expected one of {names()}")
    return importlib.import_module(FAMILIES[name]).SPEC


@runtime_checkable
class ServingPipeline(Protocol):
    """What an exported ensemble carries besides its members' weights: raw input in,
    predictions out, and new files read the way the training data was.

    It is a dataclass of plain values (``orchestrator.export`` stores it with
    ``dataclasses.asdict`` and loads it ``weights_only``), so it holds no tensors or
    arrays, only lists, numbers and strings.
    """

    layout: dict  # the training data's layout keys (time, id, target, ...): how `predict` reads new files

    def build_model(self, cfg: Any) -> nn.Module:
        """An untrained network of ``cfg``'s architecture for these inputs."""

    def inputs(self, frame: Any) -> Any:
        """The raw request frame as the networks' input tensors."""

    def forward(self, model: nn.Module, inputs: Any) -> Any:
        """One member's output for ``inputs`` in raw units, as an array."""

    def outputs(self, members: Any, weights: Any) -> Any:
        """The weighted ensemble of the members' outputs and their spread, as a DataFrame."""

    def example(self, data: Any) -> Any:
        """A request frame cut from the training data (the model signature's example)."""

    def request(self, source: Any) -> tuple[Any, Any]:
        """A new data source (a ``data.source.DataSource``) as a request frame, and a
        frame naming each request window (series and time, file, day) or None."""

    def label(self, table: Any) -> Any:
        """The joined prediction table in the terms the user knows it by."""


@dataclass(frozen=True)
class EnsembleAdapter:
    """What ensembles and export need of a family, beyond training.

    ``predict`` returns (predictions, truths) for a split: forecasts (N, H, C) in
    scaled units, or class probabilities (N, K) with integer labels. ``score`` turns
    them into metrics without a split prefix; ``metric``/``mode`` name the one that
    greedy selection optimises on validation data. ``serving`` builds the
    ``ServingPipeline`` an exported model uses on raw input.
    """

    build_model: Callable[[Any, Any], nn.Module]
    predict: Callable[[nn.Module, Any, Any, str], tuple[Any, Any]]
    score: Callable[[Any, Any], dict[str, float]]
    serving: Callable[[Any, Any], ServingPipeline]
    metric: str = "mse"
    mode: str = "min"


def get_adapter(name: str) -> EnsembleAdapter:
    """The family's ensemble adapter (``trainables.<family>.serving.ADAPTER``)."""
    get_spec(name)
    return importlib.import_module(FAMILIES[name].rsplit(".", 1)[0] + ".serving").ADAPTER
