"""An ensemble as one MLflow pyfunc model: members' weights, configs, the feature
pipeline and the combination weights, loaded safely (``weights_only=True``).

This module imports no Ray: a model server loads it with MLflow and PyTorch only.
"""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch

from trainables.ensemble import EnsemblePredictor

BUNDLE = "ensemble.pt"


def bundle(model: str, configs: list[dict], states: list[dict], weights: list[float], pipeline: Any) -> dict:
    """Everything an EnsemblePredictor needs, as tensors and plain values only."""
    cls = type(pipeline)
    return {
        "model": model, "configs": configs, "states": states, "weights": [float(w) for w in weights],
        "pipeline_class": f"{cls.__module__}.{cls.__qualname__}",
        "pipeline": dataclasses.asdict(pipeline),
    }


def predictor_from_bundle(payload: dict) -> EnsemblePredictor:
    module, _, name = payload["pipeline_class"].rpartition(".")
    pipeline = getattr(importlib.import_module(module), name)(**payload["pipeline"])
    return EnsemblePredictor(payload["model"], payload["configs"], payload["states"], payload["weights"], pipeline)


class EnsembleModel(mlflow.pyfunc.PythonModel):
    """pyfunc: raw input frame -> ensemble mean, std and p10/p90 across members."""

    def load_context(self, context) -> None:
        payload = torch.load(context.artifacts["ensemble"], map_location="cpu", weights_only=True)
        self.predictor = predictor_from_bundle(payload)

    def predict(self, context, model_input, params=None):
        return self.predictor.predict(model_input)


def log_ensemble_model(uri: str, run_id: str, payload: dict, example: Any, registered_name: str | None) -> str:
    """Log the pyfunc under ``run_id`` (name "ensemble"); register it if asked.

    Returns the model URI to load (``models:/NAME/VERSION`` when registered).
    """
    mlflow.set_tracking_uri(uri)
    with tempfile.TemporaryDirectory(prefix="orch-export-") as tmp:
        path = Path(tmp) / BUNDLE
        torch.save(payload, path)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="ensemble", python_model=EnsembleModel(), artifacts={"ensemble": str(path)},
                input_example=example, registered_model_name=registered_name,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}",
                                  f"mlflow=={mlflow.__version__}", "pandas"],
            )
    if registered_name and info.registered_model_version:
        return f"models:/{registered_name}/{info.registered_model_version}"
    return info.model_uri
