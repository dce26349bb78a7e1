"""The seasonal-loss GRU for seed ensembles: forecasts in EUR/MWh and the paper's
metrics. (Export as a model taking raw prices is not offered yet: its input
pipeline needs the eq. 26 profile and lagged prices.)"""

from __future__ import annotations

import numpy as np

from trainables.registry import EnsembleAdapter
from trainables.seasonal_gru import task


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return task.price_metrics(pred, truth)


ADAPTER = EnsembleAdapter(build_model=task.build_model, predict=task.predict_split, score=score,
                          serving=None, metric="rmse", mode="min")
