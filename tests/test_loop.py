"""The shared epoch loop on a tiny regression problem, without Ray."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainables.config import TrainConfig
from trainables.context import LocalContext
from trainables.loop import DivergenceCheck, TrainingDiverged, run_loop
from trainables.optim import WeightAverage


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.01 * torch.randn(256, 1, generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    return x, y, loader


def _fit(cfg: TrainConfig, ctx: LocalContext, val_offset: list[float] | None = None):
    torch.manual_seed(cfg.seed)
    x, y, loader = _problem()
    model = nn.Linear(4, 1)
    calls = {"n": 0}

    def step(net, batch, epoch):
        return nn.functional.mse_loss(net(batch[0]), batch[1])

    def evaluate(net):
        calls["n"] += 1
        loss = float(nn.functional.mse_loss(net(x), y))
        if val_offset is not None:
            loss += val_offset[min(calls["n"], len(val_offset)) - 1]
        return {"val_loss": loss}

    return run_loop(model, loader, cfg, ctx, step, evaluate)


@pytest.mark.parametrize("scheduler", ["none", "onecycle", "cosine", "cosine_restarts", "exponential"])
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "sgd"])
def test_loop_learns_with_every_optimiser_and_schedule(scheduler, optimizer):
    cfg = TrainConfig(epochs=6, lr=0.05, optimizer=optimizer, scheduler=scheduler, warmup_epochs=1, t0=2,
                      weight_decay=1e-4, grad_clip=5.0)
    result = _fit(cfg, LocalContext("cpu"))
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.best_metric == min(h["val_loss"] for h in result.history)


def test_exponential_schedule_halves_the_rate_after_every_epoch():
    cfg = TrainConfig(epochs=3, lr=0.08, scheduler="exponential", lr_gamma=0.5)
    ctx = LocalContext("cpu")
    _fit(cfg, ctx)
    # an epoch reports the rate the loop holds at its end: the one the next epoch trains at
    assert [h["lr"] for h in ctx.history] == pytest.approx([0.04, 0.02, 0.01])


def test_early_stopping_restores_best_weights():
    # validation gets worse after epoch 2: patience 2 stops at epoch 4
    offsets = [0.0, -1.0, 5.0, 6.0, 7.0, 8.0]
    cfg = TrainConfig(epochs=6, lr=0.01, patience=2)
    result = _fit(cfg, LocalContext("cpu"), offsets)
    assert result.stopped_early and len(result.history) == 4 and result.best_epoch == 2


def test_resume_mid_run_trains_only_the_remaining_epochs(tmp_path):
    ctx = LocalContext("cpu", checkpoint_root=tmp_path)
    _fit(TrainConfig(epochs=2, lr=0.05), ctx)
    state = torch.load(tmp_path / "latest" / "state.pt", weights_only=True)
    assert state["epoch"] == 1
    resumed_ctx = LocalContext("cpu", resume_from=tmp_path / "latest")
    result = _fit(TrainConfig(epochs=5, lr=0.05), resumed_ctx)
    assert [h["epoch"] for h in resumed_ctx.history] == [3.0, 4.0, 5.0]
    assert len(result.history) == 5


def test_nan_loss_stops_with_a_clear_status():
    cfg = TrainConfig(epochs=2, lr=1e38, optimizer="sgd")
    with pytest.raises(TrainingDiverged, match="training loss became"):
        _fit(cfg, LocalContext("cpu"))


def test_bf16_autocast_runs_on_cpu():
    result = _fit(replace(TrainConfig(epochs=2, lr=0.05), precision="bf16"), LocalContext("cpu"))
    assert math.isfinite(result.best_metric)


def test_divergence_check_reads_the_device_flag_only_every_n_steps():
    check = DivergenceCheck(torch.device("cpu"), every=3)
    check(torch.tensor(1.0), "step 1")
    check(torch.tensor(float("nan")), "step 2")  # not read yet: no host sync on accelerators
    with pytest.raises(TrainingDiverged, match="became NaN or infinite by step 3"):
        check(torch.tensor(1.0), "step 3")
    check(torch.tensor(float("inf")), "step 4")
    with pytest.raises(TrainingDiverged, match="by the end of epoch 2"):
        check.flush("the end of epoch 2")
    check.flush("the end of epoch 3")  # the flag was reset by the read
    assert DivergenceCheck(torch.device("cpu")).every == 1 and DivergenceCheck(torch.device("meta")).every == 32


def test_weight_average_matches_a_direct_moving_average_with_warm_up():
    model = nn.Linear(3, 1)
    average = WeightAverage(model, decay=0.9)
    steps = []
    for _ in range(30):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        steps.append(model.weight.detach().clone())
        average.update(model)
        if len(steps) == 10:  # until 1 / (1 - decay) updates: the plain mean of them all
            torch.testing.assert_close(average.shadow["weight"], torch.stack(steps).mean(0))
    expected = torch.stack(steps[:10]).mean(0)
    for weight in steps[10:]:
        expected = 0.9 * expected + 0.1 * weight
    torch.testing.assert_close(average.shadow["weight"], expected)
    own = model.weight.detach().clone()
    with average.swapped_in(model) as net:
        torch.testing.assert_close(net.weight.detach(), expected)
    torch.testing.assert_close(model.weight.detach(), own)  # its own weights are back


def test_loop_with_ema_validates_and_returns_the_averaged_weights():
    seen = []
    torch.manual_seed(0)
    x, y, loader = _problem()
    model = nn.Linear(4, 1)
    cfg = TrainConfig(epochs=3, lr=0.05, ema_decay=0.95)

    def step(net, batch, epoch):
        return nn.functional.mse_loss(net(batch[0]), batch[1])

    def evaluate(net):
        seen.append(net.weight.detach().clone())
        return {"val_loss": float(nn.functional.mse_loss(net(x), y))}

    result = run_loop(model, loader, cfg, LocalContext("cpu"), step, evaluate)
    # the returned model holds the average validated at the best epoch, not the last step's weights
    torch.testing.assert_close(result.model.weight.detach(), seen[result.best_epoch - 1])
    plain = _fit(TrainConfig(epochs=3, lr=0.05), LocalContext("cpu"))
    assert not torch.allclose(result.model.weight, plain.model.weight)
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_resume_carries_the_weight_average(tmp_path):
    # in a fixed batch order a resumed run must score every epoch as the straight run did,
    # which it only does when the checkpoint carried the average
    x, y, _ = _problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)

    def fit(epochs: int, ctx: LocalContext):
        torch.manual_seed(0)
        return run_loop(nn.Linear(4, 1), loader, TrainConfig(epochs=epochs, lr=0.05, ema_decay=0.9), ctx,
                        lambda net, batch, epoch: nn.functional.mse_loss(net(batch[0]), batch[1]),
                        lambda net: {"val_loss": float(nn.functional.mse_loss(net(x), y))})

    straight = fit(4, LocalContext("cpu"))
    fit(2, LocalContext("cpu", checkpoint_root=tmp_path))
    assert torch.load(tmp_path / "latest" / "state.pt", weights_only=True)["average"]["updates"] == 2 * len(loader)
    resumed = fit(4, LocalContext("cpu", resume_from=tmp_path / "latest"))
    assert [h["val_loss"] for h in resumed.history] == pytest.approx([h["val_loss"] for h in straight.history])
    torch.testing.assert_close(resumed.model.weight, straight.model.weight)
