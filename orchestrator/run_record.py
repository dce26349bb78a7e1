"""What one training run records in MLflow: its resolved config, data set, seed
and code version when it starts; final metrics, stage runs, plots and best weights
when it ends. Trials, DDP workers and `train` all record through here."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from orchestrator import tracking
from orchestrator.config import RunOptions
from orchestrator.tracking import Tag
from trainables.common import WEIGHTS_FILE
from trainables.config import as_dict
from trainables.registry import FitResult, TrainableSpec


def data_checksum(data: Any) -> str:
    return str(getattr(data, "checksum", "") or "unknown")


def log_data_source(uri: str, run_id: str, run: RunOptions, data: Any) -> None:
    """The data set a run read: the ``orch.data_source`` tag (enough to load it
    again: path or built-in name, layout keys) and MLflow's dataset tracking
    (name, digest, source, schema)."""
    from data.registry import get_info

    source = run.data
    where = source.path or get_info(source.name).source or f"generated:{source.name}"
    schema = {"keys": source.options, **dict(getattr(data, "schema", None) or {})}
    tracking.set_tags(uri, run_id, {Tag.DATA_SOURCE: source.to_json()})
    tracking.log_dataset(uri, run_id, source.name, data_checksum(data), where, schema)


def log_run_start(uri: str, run_id: str, run: RunOptions, params: Any, data: Any) -> None:
    """Params = the full resolved config; tags = seed, data checksum, code version;
    the data set as an MLflow dataset input."""
    tracking.log_params(uri, run_id, {"model": run.model, "dataset": run.dataset, **as_dict(params),
                                      "workers": run.workers, "gpus_per_worker": run.gpus_per_worker})
    tracking.set_tags(uri, run_id, {
        Tag.MODEL: run.model, Tag.DATASET: run.dataset, Tag.SEED: params.seed,
        Tag.DATA_CHECKSUM: data_checksum(data), Tag.CONFIG_DIGEST: tracking.config_digest(as_dict(params)),
    })
    log_data_source(uri, run_id, run, data)


def log_fit_result(uri: str, run_id: str, spec: TrainableSpec, params: Any, data: Any, result: FitResult,
                   with_plots: bool = True) -> None:
    """Final metrics, plots and the best weights (+ config) of a finished fit.

    Final metrics go one step past the last epoch, so MLflow's "latest" value of
    ``val_*`` is the restored best model's, while the epochs before stay the curve.
    """
    tracking.log_metrics(uri, run_id, result.metrics, step=len(result.history) + 1)
    log_stages(uri, run_id, result.stages)
    if with_plots:
        for name, figure in spec.plots(result, data).items():
            tracking.log_figure(uri, run_id, figure, f"plots/{name}")
    with tempfile.TemporaryDirectory(prefix="orch-model-") as tmp:
        torch.save(result.model.state_dict(), Path(tmp) / WEIGHTS_FILE)
        (Path(tmp) / "config.json").write_text(json.dumps(as_dict(params), indent=1, default=str))
        tracking.log_artifact_dir(uri, run_id, tmp, "model")


def log_stages(uri: str, run_id: str, stages: dict[str, list[dict[str, float]]]) -> None:
    """Multi-stage fits (e.g. contrastive pre-training, then fine-tuning): one child
    run per stage under the run, each with its own per-epoch curves."""
    if not stages:
        return
    run = tracking.client(uri).get_run(run_id)
    for index, (stage, history) in enumerate(stages.items()):
        child = tracking.start_run(uri, run.info.experiment_id, f"{run.info.run_name}/{stage}",
                                   {Tag.KIND: "stage", Tag.STAGE: stage, Tag.STAGE_INDEX: str(index),
                                    **{k: v for k, v in run.data.tags.items()
                                       if k in (Tag.MODEL, Tag.DATASET, Tag.SEED)}},
                                   parent_run_id=run_id)
        for row in history:
            tracking.log_metrics(uri, child, row, step=int(row.get("epoch", 0)))
        tracking.end_run(uri, child)
