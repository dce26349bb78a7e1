"""The seed guide's options on tiny data: augmentations, losses, features,
preprocessing, multi-task heads, two-stage training, search spaces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from data.features import (FeatureOptions, PreprocessOptions, causal_savgol, engineered_features, fit_sigma_clip,
                           preprocess_series)
from data.synthetic import well_production
from data.volve import build_panel
from search_spaces.space import Choice, Grid, IntRange, LogUniform, Uniform
from search_spaces.timemixer import SPACES
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.errors import ConfigError
from trainables.timemixer.augment import mix, mixup_pairs
from trainables.timemixer.model import TimeMixer, TimeMixerShape
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.data import panel_windows, prepare
from trainables.timemixer.task import SPEC, build_model, fit, load_data, load_initial_weights
from data.source import builtin_source

TINY = {**SPEC.smoke_overrides, "epochs": 2, "max_train_batches": 4}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def synthetic_panel(n_wells: int = 3, n_days: int = 400):
    frame = well_production(n_wells, n_days, seed=1)
    wells = {c: pd.DataFrame({"date": frame["date"], "oil_rate": frame[c], "shut_in": frame[c] <= 0})
             for c in frame.columns if c != "date"}
    return build_panel(wells, "test")


def test_jitter_never_leaves_series_or_split():
    data = synthetic_panel()
    cfg = build_config(TimeMixerConfig, {**TINY, "jitter": 30})
    windows = panel_windows(cfg, prepare(cfg, data), "train", 1, jitter=30)
    layout = data.meta["series"]
    for _ in range(20):
        index = torch.arange(len(windows))
        starts = windows.jittered_starts(index)
        for sid, s in enumerate(layout):
            mine = starts[windows.series_id == sid]
            assert mine.min() >= s["lo"]  # never before the series
            assert (mine + cfg.input_len + cfg.output_len).max() <= s["splits"]["train"][1]  # targets in train
    assert not torch.equal(windows.jittered_starts(torch.arange(len(windows))), windows.starts)


def test_mixup_keeps_shapes_and_blends():
    x = torch.randn(8, 12, 3)
    pair = mixup_pairs(8, 1.0, 0.2, np.random.default_rng(0))
    assert pair is not None
    lam, perm = pair
    mixed = mix(x, lam, perm)
    assert mixed.shape == x.shape and 0 <= lam <= 1
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    assert mixup_pairs(8, 0.0, 0.2, np.random.default_rng(0)) is None


def test_causal_smoothing_and_clipping_use_no_future_rows():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(200, 2)).cumsum(0)
    changed = series.copy()
    changed[150:] += 100.0  # a different future
    options = PreprocessOptions(smooth_window=21, smooth_order=3, clip_sigma=3.0)
    a, b = preprocess_series(series, (0, 100), options), preprocess_series(changed, (0, 100), options)
    np.testing.assert_allclose(a[:150], b[:150])
    # a polynomial of the filter's order passes through unchanged (past the warm-up)
    t = np.arange(60, dtype=float)[:, None]
    np.testing.assert_allclose(causal_savgol(t**2, 11, 3)[10:], (t**2)[10:], atol=1e-6)
    bounds = fit_sigma_clip(series[:100])
    assert np.allclose(bounds.upper, series[:100].mean(0) + 3 * series[:100].std(0))


def test_prepare_takes_statistics_from_training_rows_only():
    data = synthetic_panel()
    cfg = build_config(TimeMixerConfig, {**TINY, "smooth_window": 9, "clip_sigma": 3.0, "scaler": "robust",
                                         "feat_cumulative": True, "feat_rolling": 7, "segment_norm": 30})
    base = prepare(cfg, data)
    tampered = dataclasses.replace(data)
    values = data.values.copy()
    for s in data.meta["series"]:
        values[s["splits"]["test"][0]:s["hi"]] *= 5.0  # change every test row
    tampered.values = values
    other = prepare(cfg, tampered)
    for s in data.meta["series"]:
        train = slice(s["lo"], s["splits"]["train"][1])
        np.testing.assert_allclose(base.inputs[train], other.inputs[train], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(base.marks[train], other.marks[train], rtol=1e-5, atol=1e-5)


def test_features_have_no_future_leakage():
    rng = np.random.default_rng(1)
    series = np.abs(rng.normal(size=(120, 1))) * 100
    options = FeatureOptions(cumulative=True, rate_change=True, rolling_window=10, segment_norm_window=20)
    full = engineered_features(series, options)
    assert full.shape == (120, 1 + 1 + 5 + 1)
    for t in (5, 40, 90):
        past_only = engineered_features(series[: t + 1], options)
        np.testing.assert_allclose(full[: t + 1], past_only)


def test_default_config_uses_the_data_unchanged():
    data = load_data(TimeMixerConfig(), builtin_source("synthetic_wells"))
    prepared = prepare(TimeMixerConfig(), data)
    assert prepared.inputs is data.values and prepared.targets is data.values and prepared.marks is None
    assert prepare(TimeMixerConfig(use_marks=True), data).marks is data.marks


def test_quantile_outputs_are_ordered_after_training():
    data = load_data(TimeMixerConfig(), builtin_source("synthetic_wells"))
    cfg = build_config(TimeMixerConfig, {**TINY, "loss": "quantile", "epochs": 3, "max_train_batches": 6})
    result = fit(cfg, data, LocalContext("cpu"))
    q = result.outputs["test_quantiles"]
    assert q.shape[-1] == 3 and (np.diff(q, axis=-1) >= 0).all()
    assert 0.0 <= result.metrics["test_coverage_80"] <= 1.0 and result.metrics["test_coverage_80"] > 0.3
    assert np.isfinite(result.metrics["test_pinball"])


def test_every_option_at_once_trains_on_a_panel():
    data = synthetic_panel()
    cfg = build_config(TimeMixerConfig, {
        **TINY, "noise_std": 0.05, "jitter": 5, "mixup_prob": 1.0, "mixup_alpha": 0.2, "loss": "combined",
        "trend_max_weight": 0.05, "trend_min_weight": 0.05, "trend_window": 12, "seasonal_weight": 0.05,
        "season_period": 7, "multitask": True, "feat_cumulative": True, "feat_rate_change": True,
        "feat_rolling": 7, "segment_norm": 30, "series_embedding": True, "smooth_window": 9, "clip_sigma": 3.0,
        "scaler": "robust", "scheduler": "cosine_restarts", "t0": 1, "weight_decay": 1e-5})
    result = fit(cfg, data, LocalContext("cpu"))
    assert np.isfinite(result.metrics["test_mse"])
    assert result.model.series_embedding.num_embeddings == 3


def test_multitask_heads_and_series_embedding_shapes():
    shape = TimeMixerShape(input_len=32, output_len=8, channels=2, d_model=8, d_ff=16, down_sampling_layers=1,
                           moving_avg=5, n_series=4, aux_heads=True, n_outputs=3)
    out = TimeMixer(shape).forward_all(torch.randn(5, 32, 2), None, torch.tensor([0, 1, 2, 3, 0]))
    assert out["forecast"].shape == (5, 8, 2, 3)
    assert out["direction_logit"].shape == (5, 2) and out["decline_rate"].shape == (5, 2)
    assert out["hidden"].shape == (10, 32, 8)


def test_init_from_loads_weights_and_rejects_other_architectures(tmp_path):
    data = load_data(TimeMixerConfig(), builtin_source("synthetic_wells"))
    cfg = build_config(TimeMixerConfig, TINY)
    first = build_model(cfg, data)
    (tmp_path / "model").mkdir()
    torch.save(first.state_dict(), tmp_path / "model" / "state_dict.pt")
    second = build_model(cfg, data)
    load_initial_weights(second, str(tmp_path))
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)
    stage2 = build_config(TimeMixerConfig, {**TINY, "init_from": str(tmp_path), "lr": 1e-4, "epochs": 1,
                                            "max_train_batches": 2})
    assert np.isfinite(fit(stage2, data, LocalContext("cpu")).metrics["test_mse"])
    bigger = build_model(build_config(TimeMixerConfig, {**TINY, "d_model": 12}), data)
    with pytest.raises(ConfigError, match="architecture"):
        load_initial_weights(bigger, str(tmp_path))


@pytest.mark.parametrize("key", ["n_heads", "d_layers"])
def test_guide_keys_without_meaning_are_rejected(key):
    with pytest.raises(ConfigError, match="reference code silently ignores"):
        build_config(TimeMixerConfig, {key: 12})


def _sample(domain, rng):
    if isinstance(domain, (Choice, Grid)):
        return domain.values[rng.integers(len(domain.values))]
    if isinstance(domain, Uniform):
        return float(rng.uniform(domain.low, domain.high))
    if isinstance(domain, LogUniform):
        return float(np.exp(rng.uniform(np.log(domain.low), np.log(domain.high))))
    assert isinstance(domain, IntRange)
    return int(rng.integers(domain.low, domain.high + 1))


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_space_samples_valid_configs(name):
    rng = np.random.default_rng(0)
    space = SPACES[name]()
    for _ in range(20):
        build_config(TimeMixerConfig, {k: _sample(d, rng) for k, d in space.items()}, source=f"space {name}")


def test_seed_guide_space_has_the_guide_ranges():
    space = SPACES["seed_guide"]()
    assert space["d_model"] == Choice((64, 128, 192, 256))
    assert space["dropout"] == Uniform(0.05, 0.3) and space["lr"] == LogUniform(1e-5, 1e-3)
    assert {"mse_weight", "trend_weight"} <= set(SPACES["loss_weights"]())


def test_sweep_metric_is_in_data_units_whatever_the_scaler_and_loss():
    """A sweep that searches `scaler` or `loss` must rank trials on one scale:
    val/test MSE are in the dataset's own (standard) units, not the trial's."""
    data = synthetic_panel()
    assert SPEC.metric == "val_mse"
    cfg = build_config(TimeMixerConfig, {**TINY, "scaler": "robust", "loss": "mae"})
    result = fit(cfg, data, LocalContext("cpu"))
    out, targets = result.outputs, data.target_channels
    assert out["scaler"].kind == "robust" and data.scaler.kind == "standard"
    raw_err = (out["scaler"].inverse_transform(out["test_pred"], targets)
               - out["scaler"].inverse_transform(out["test_truth"], targets))
    in_data_units = raw_err / data.scaler.scale[targets]
    assert result.metrics["test_mse"] == pytest.approx(float(np.mean(in_data_units**2)), rel=1e-4)
    assert result.metrics["test_mse"] != pytest.approx(float(np.mean((out["test_pred"] - out["test_truth"]) ** 2)),
                                                       rel=1e-3)
    assert all("val_mse" in h and "val_loss" in h for h in result.history)
