"""TimeMixer model and task: shapes across configurations, pieces, config checks."""

from __future__ import annotations

import itertools

import pytest
import torch

from trainables.common import n_parameters
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.errors import ConfigError
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.model import DFTDecomposition, MovingAvgDecomposition, RevIN, TimeMixer, TimeMixerShape
from trainables.timemixer.task import SPEC, fit, load_data
from data.source import builtin_source


@pytest.mark.parametrize(
    "ci,method,decomp,layers,marks",
    list(itertools.product([True, False], ["avg", "max", "conv"], ["moving_avg", "dft"], [0, 2], [0, 4])),
)
def test_output_shape_across_configurations(ci, method, decomp, layers, marks):
    shape = TimeMixerShape(input_len=32, output_len=12, channels=3, d_model=8, d_ff=16, e_layers=2,
                           down_sampling_layers=layers, down_sampling_method=method, decomposition=decomp,
                           moving_avg=5, channel_independence=ci, mark_features=marks)
    model = TimeMixer(shape)
    x = torch.randn(4, 32, 3)
    m = torch.randn(4, 32, marks) if marks else None
    out = model(x, m)
    assert out.shape == (4, 12, 3)
    out.sum().backward()


def test_reference_parameter_count():
    # The reference ETTh1 model has 75,497 parameters, two of its LayerNorms
    # (2 x 32) being defined but never used; ours omits those.
    model = TimeMixer(TimeMixerShape(96, 96, 7, mark_features=4))
    assert n_parameters(model) == 75_497 - 64


def test_revin_round_trip():
    norm = RevIN(3)
    x = torch.randn(2, 50, 3) * 5 + 3
    normed = norm.normalize(x)
    torch.testing.assert_close(normed.mean(dim=1), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.denormalize(normed), x, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("decomposition", [MovingAvgDecomposition(5), DFTDecomposition(3)])
def test_decomposition_sums_back(decomposition):
    x = torch.randn(2, 40, 4)
    season, trend = decomposition(x)
    torch.testing.assert_close(season + trend, x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel", [1, 4, 5, 25])
@pytest.mark.parametrize("length", [3, 12, 96, 200])
def test_moving_average_matrix_equals_replicate_padded_pooling(kernel, length):
    """The matmul path (short inputs) and the pooling path (long ones) compute the
    same trend as the reference's replicate-pad + avg_pool, values and gradients."""
    x = torch.randn(3, length, 4, requires_grad=True)
    trend = MovingAvgDecomposition(kernel)(x)[1]
    front, back = x[:, :1].repeat(1, (kernel - 1) // 2, 1), x[:, -1:].repeat(1, kernel // 2, 1)
    padded = torch.cat([front, x, back], dim=1).transpose(1, 2)
    expected = torch.nn.functional.avg_pool1d(padded, kernel, stride=1).transpose(1, 2)
    torch.testing.assert_close(trend, expected, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(trend)
    (got,) = torch.autograd.grad((trend * weights).sum(), x)
    (want,) = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_dft_keeps_a_pure_tone_in_the_season():
    t = torch.arange(64, dtype=torch.float32)
    x = (torch.sin(2 * torch.pi * 4 * t / 64) + 3.0).view(1, 64, 1)
    season, trend = DFTDecomposition(1)(x)
    torch.testing.assert_close(trend, torch.full_like(x, 3.0), atol=1e-4, rtol=0)


@pytest.mark.parametrize("key,value,message", [
    ("dropout", 1.5, "dropout"), ("lr", 0.0, "lr"), ("down_sampling_method", "median", "down_sampling_method"),
    ("n_heads", 16, "no attention heads"), ("d_layers", 2, "no decoder layers"), ("colour", 1, "unknown key"),
    ("e_layers", 1.5, "expected an integer"), ("seed", float("nan"), "expected an integer"),
    ("seed", float("inf"), "expected an integer"), ("noise_std", float("nan"), "expected a number"),
])
def test_config_rejects_bad_values(key, value, message):
    with pytest.raises(ConfigError, match=message):
        build_config(TimeMixerConfig, {key: value})


def test_scientific_notation_reads_as_a_number_from_cli_and_yaml():
    """`--set lr=3e-3` and `lr: 3e-3` in YAML: PyYAML (YAML 1.1) reads these as strings."""
    from orchestrator.config import parse_set

    assert build_config(TimeMixerConfig, parse_set(["lr=3e-3", "weight_decay=1E-5"])).lr == 0.003
    with pytest.raises(ConfigError, match="expected a number"):
        build_config(TimeMixerConfig, parse_set(["lr=3e-3x"]))


def test_tiny_fit_learns_synthetic_wells():
    cfg = build_config(TimeMixerConfig, {**SPEC.smoke_overrides, "epochs": 3, "max_train_batches": 0})
    data = load_data(cfg, builtin_source("synthetic_wells"))
    ctx = LocalContext("cpu")
    result = fit(cfg, data, ctx)
    assert len(ctx.history) == 3
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.metrics["test_mse"] < 0.5  # beats predicting the mean (1.0 in scaled units)
    figures = SPEC.plots(result, data)
    assert set(figures) == {"forecast_vs_truth.png", "learning_curve.png"}
