"""Ensembles of trained members: combination rules and greedy selection (pure).

Members' predictions are stacked as (members, ...). Greedy forward selection with
replacement (Caruana et al., 2004) adds, one step at a time, the member whose
inclusion most improves the validation score; repeats give weights. Because the
first step picks the best single member and a step is only kept when it does not
hurt, the result is never worse on validation than the best member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the registry imports torch; this module's math needs only numpy
    from trainables.registry import ServingPipeline


def combine(predictions: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean over the first axis (members); equal weights by default."""
    stacked = np.asarray(predictions, dtype=np.float64)
    if weights is None:
        return stacked.mean(axis=0)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (stacked.shape[0],) or w.sum() <= 0 or (w < 0).any():
        raise ValueError(f"weights: expected {stacked.shape[0]} non-negative numbers with a positive sum")
    w = w / w.sum()
    return np.tensordot(w, stacked, axes=1)


def spread(predictions: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted standard deviation over members (the ensemble's disagreement)."""
    stacked = np.asarray(predictions, dtype=np.float64)
    w = np.full(stacked.shape[0], 1.0 / stacked.shape[0]) if weights is None else \
        np.asarray(weights, dtype=np.float64) / np.sum(weights)
    mean = np.tensordot(w, stacked, axes=1)
    return np.sqrt(np.tensordot(w, (stacked - mean) ** 2, axes=1))


@dataclass
class GreedyResult:
    weights: np.ndarray  # one per member, summing to 1
    counts: np.ndarray  # times each member was picked
    history: list[float] = field(default_factory=list)  # validation score after each kept step


def greedy_selection(
    val_predictions: np.ndarray,
    score: Callable[[np.ndarray], float],
    mode: str = "min",
    steps: int = 0,
) -> GreedyResult:
    """Caruana forward selection with replacement on validation predictions.

    ``score(combined_prediction) -> float`` is evaluated on the running average;
    ``steps`` defaults to twice the number of members. Stops early when no member
    improves the score.
    """
    members = val_predictions.shape[0]
    steps = steps or 2 * members
    sign = 1.0 if mode == "min" else -1.0
    counts = np.zeros(members, dtype=np.int64)
    running = np.zeros(val_predictions.shape[1:], dtype=np.float64)
    best_score = np.inf
    history: list[float] = []
    for _ in range(steps):
        picked = counts.sum()
        candidates = [(sign * score((running * picked + val_predictions[m]) / (picked + 1)), m)
                      for m in range(members)]
        value, member = min(candidates)
        if value > best_score - 1e-12 and picked > 0:
            break
        counts[member] += 1
        running = (running * picked + val_predictions[member]) / (picked + 1)
        best_score = value
        history.append(sign * value)
    return GreedyResult(weights=counts / counts.sum(), counts=counts, history=history)


def rank_weights(ranks: Sequence[int], rank_share: Sequence[float]) -> np.ndarray:
    """Fixed weights by configuration rank, split evenly across each rank's seeds.

    E.g. the guide's large/medium/small configurations weighted 0.5/0.3/0.2.
    """
    ranks = np.asarray(ranks)
    weights = np.zeros(len(ranks))
    for rank, share in enumerate(rank_share):
        members = np.flatnonzero(ranks == rank)
        if len(members):
            weights[members] = share / len(members)
    if weights.sum() <= 0:
        raise ValueError("rank weights: no member has a weighted rank")
    return weights / weights.sum()


class EnsemblePredictor:
    """Members (config + weights) and a feature pipeline: raw frame in, forecast out.

    The same object answers in-process and inside an exported MLflow model, so an
    exported model's predictions equal the in-process ensemble's.
    """

    def __init__(self, model: str, configs: list[dict], states: list[dict], weights: Sequence[float],
                 pipeline: ServingPipeline) -> None:
        from trainables.config import build_config
        from trainables.registry import get_spec

        spec = get_spec(model)
        self.model = model
        self.configs = configs
        self.weights = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        self.pipeline = pipeline
        self.networks = []
        for config, state in zip(configs, states):
            cfg = build_config(spec.config_cls, config, source="ensemble member config")
            network = pipeline.build_model(cfg)
            network.load_state_dict(state)
            network.eval()
            self.networks.append(network)

    def member_outputs(self, frame) -> np.ndarray:
        """Each member's raw-unit output for ``frame``: (members, ...)."""
        import torch

        inputs = self.pipeline.inputs(frame)
        with torch.no_grad():
            return np.stack([self.pipeline.forward(net, inputs) for net in self.networks])

    def predict(self, frame):
        """The weighted ensemble and its spread across members, as a DataFrame."""
        return self.pipeline.outputs(self.member_outputs(frame), self.weights)
