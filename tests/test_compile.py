"""``TrainConfig.compile``: training through torch.compile matches eager training,
and checkpoints keep the bare model's state-dict keys (no ``_orig_mod.``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader, TensorDataset

from trainables.config import TrainConfig, build_config
from trainables.context import LocalContext
from trainables.errors import ConfigError
from trainables.loop import run_loop
from trainables.timemixer.config import TimeMixerConfig
from trainables.timemixer.task import SPEC, fit, load_data
from data.source import builtin_source


def _require_cpp_compiler() -> None:
    """Inductor's CPU backend builds C++ kernels: skip (never pass) without a compiler."""
    from torch._inductor.cpp_builder import get_cpp_compiler
    from torch._inductor.exc import InvalidCxxCompiler

    try:
        get_cpp_compiler()
    except InvalidCxxCompiler as exc:
        pytest.skip(f"torch.compile (inductor) needs a C++ compiler on CPU: {exc}")


@pytest.mark.parametrize("cls", [TrainConfig, TimeMixerConfig])
def test_invalid_compile_mode_is_rejected(cls):
    with pytest.raises(ConfigError, match=r"^compile: expected one of \('none', 'default'"):
        build_config(cls, {"compile": "fast"})
    assert build_config(cls, {"compile": "max-autotune"}).compile == "max-autotune"


def _checkpoint(root) -> dict:
    return torch.load(root / "latest" / "state.pt", map_location="cpu", weights_only=True)


def _loop_fit(mode: str, root):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def step(net, batch, epoch):
        return nn.functional.mse_loss(net(batch[0]), batch[1])

    def evaluate(net):
        assert not hasattr(net, "_orig_mod")  # evaluation runs on the bare model
        return {"val_loss": float(nn.functional.mse_loss(net(x), y))}

    cfg = TrainConfig(epochs=2, lr=0.01, compile=mode)
    return run_loop(model, loader, cfg, LocalContext("cpu", checkpoint_root=root), step, evaluate)


def test_loop_trains_through_torch_compile(tmp_path):
    _require_cpp_compiler()
    eager = _loop_fit("none", tmp_path / "none")
    counters.clear()
    compiled = _loop_fit("default", tmp_path / "default")
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo really captured the training forward
    assert type(compiled.model) is nn.Sequential  # the returned model is unwrapped
    keys = list(eager.model.state_dict())
    for part in ("model", "best_state"):
        assert list(_checkpoint(tmp_path / "default")[part]) == keys
    for e, c in zip(eager.history, compiled.history):
        assert c["train_loss"] == pytest.approx(e["train_loss"], rel=1e-4)


@pytest.mark.slow  # inductor's first (cold-cache) compile of TimeMixer takes ~40 s on 2 CPU cores
def test_timemixer_trains_through_torch_compile(tmp_path):
    _require_cpp_compiler()
    # dropout off: compiled kernels draw their own random numbers, eager ones torch's
    small = {"down_sampling_layers": 1, "input_len": 24, "output_len": 12, "moving_avg": 5, "trend_window": 12,
             "epochs": 2, "max_train_batches": 4, "dropout": 0.0}
    runs = {}
    counters.clear()
    for mode in ("none", "default"):
        cfg = build_config(TimeMixerConfig, {**SPEC.smoke_overrides, **small, "compile": mode})
        ctx = LocalContext("cpu", checkpoint_root=tmp_path / mode)
        runs[mode] = fit(cfg, load_data(cfg, builtin_source("synthetic_wells")), ctx)
    eager, compiled = runs["none"], runs["default"]
    assert counters["stats"]["unique_graphs"] >= 1
    assert len(compiled.history) == len(eager.history) == 2
    keys = list(eager.model.state_dict())
    assert not any("_orig_mod." in k for k in keys)
    assert list(compiled.model.state_dict()) == keys
    for part in ("model", "best_state"):
        assert list(_checkpoint(tmp_path / "default")[part]) == keys
    assert compiled.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], rel=1e-3)
