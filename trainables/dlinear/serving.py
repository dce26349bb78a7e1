"""DLinear for ensembles and export: prediction on a split, scoring, and the
forecasting families' raw-input pipeline (``trainables.forecast_serving``)."""

from __future__ import annotations

import torch
from torch import nn

from data.forecasting import ForecastData
from trainables.dlinear.config import DLinearConfig
from trainables.dlinear.task import build_model, predict_split, split_windows
from trainables.forecast_serving import ForecastPipeline, forecast_pipeline
from trainables.forecasting import score
from trainables.registry import EnsembleAdapter


def predict(model: nn.Module, cfg: DLinearConfig, data: ForecastData, split: str):
    """Scaled forecasts and truths for every window of ``split``."""
    return predict_split(model, split_windows(cfg, data, split), cfg.eval_batch_size, torch.device("cpu"),
                         data.target_channels)


def serving(cfg: DLinearConfig, data: ForecastData) -> ForecastPipeline:
    return forecast_pipeline("dlinear", data, cfg.input_len, cfg.output_len)


ADAPTER = EnsembleAdapter(build_model=build_model, predict=predict, score=score, serving=serving,
                          metric="mse", mode="min")
