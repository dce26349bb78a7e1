"""TimeMixer for ensembles and export: prediction on a split, scoring, and the
forecasting families' raw-input pipeline (``trainables.forecast_serving``)."""

from __future__ import annotations

import torch
from torch import nn

from data.forecasting import ForecastData
from trainables.forecast_serving import ForecastPipeline, forecast_pipeline
from trainables.forecasting import score
from trainables.registry import EnsembleAdapter
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.data import split_dataset
from trainables.timemixer.task import build_model, predict_split


def predict(model: nn.Module, cfg: TimeMixerConfig, data: ForecastData, split: str):
    """Scaled forecasts and truths for every window of ``split``."""
    dataset = split_dataset(cfg, data, split, 1)
    return predict_split(model, dataset, cfg.eval_batch_size, torch.device("cpu"), data.target_channels)


def serving(cfg: TimeMixerConfig, data: ForecastData) -> ForecastPipeline:
    marks = data.marks.shape[1] if (cfg.use_marks and data.marks is not None) else 0
    return forecast_pipeline("timemixer", data, cfg.input_len, cfg.output_len, marks)


ADAPTER = EnsembleAdapter(build_model=build_model, predict=predict, score=score, serving=serving,
                          metric="mse", mode="min")
