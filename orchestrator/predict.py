"""`predict`: an exported ensemble on new raw data, written to a CSV file.

A thin CLI over the exported MLflow model, which stays the one serving path: the
model's own pipeline reads the new data with the layout keys it was trained with
(refined by the user's ``data:`` keys), builds the raw input frame the pyfunc
takes, and labels each output row with what the user knows it by (series and
time, file and window, forecast day). The pyfunc then predicts exactly as
``mlflow models serve`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from data.errors import DataError
from data.source import DataSource, user_source
from orchestrator import tracking
from trainables.errors import ConfigError


def load_model(model_uri: str) -> Any:
    """The pyfunc at ``model_uri`` (``models:/NAME/VERSION``, ``runs:/ID/ensemble`` or
    a path), or a ConfigError naming the flag."""
    import mlflow

    mlflow.set_tracking_uri(tracking.resolve_tracking_uri())
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing model
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"--model: cannot load {model_uri!r} from {tracking.resolve_tracking_uri()} "
                          f"({first[:200]})") from exc


def pipeline_of(model: Any) -> Any:
    """The exported ensemble's feature pipeline (it knows how raw data is laid out)."""
    python_model = model.unwrap_python_model()
    predictor = getattr(python_model, "predictor", None)
    if predictor is None:
        raise ConfigError("--model: not an ensemble exported by this project (no feature pipeline inside)")
    return predictor.pipeline


def new_data_source(pipeline: Any, path: str, keys: dict[str, Any]) -> DataSource:
    """The new data described as the training data was: the pipeline's layout keys,
    with the user's keys on top (a column renamed in the new file, a sheet, ...)."""
    layout = dict(getattr(pipeline, "layout", None) or {})
    allowed = {key: "" for key in {*layout, *keys}}
    return user_source(path, {**layout, **keys}, allowed)


def run_predict(model_uri: str, path: str, keys: dict[str, Any], out: str | None) -> pd.DataFrame:
    """Predict on the file or folder at ``path``; write CSV to ``out`` when given."""
    if not Path(path).expanduser().exists():
        raise DataError(f"--data: {Path(path).expanduser()} does not exist")
    model = load_model(model_uri)
    pipeline = pipeline_of(model)
    frame, labels = pipeline.request(new_data_source(pipeline, path, keys))
    try:
        result = model.predict(frame)
    except ValueError as exc:
        raise DataError(f"--data {path}: {exc}") from exc
    table = labels.merge(result, on="window", how="right") if labels is not None else result
    table = pipeline.label(table)
    if out:
        target = Path(out).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(target, index=False)
    return table
