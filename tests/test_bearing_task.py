"""A tiny end-to-end fit of the bearing trainable on real CWRU windows (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.bearing.config import BearingConfig
from trainables.bearing.data import window_tensors
from trainables.bearing.scoring import snr_tag
from trainables.bearing.stages import StageContext, checkpoint_stage
from trainables.bearing.task import SPEC
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.errors import ConfigError
from data.source import builtin_source
from tests.conftest import require_data


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on shared cores OpenMP spin-waits make 2 threads ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_run():
    require_data("cwru")
    values = {**SPEC.smoke_overrides, "test_snr_db": [0.0, -4.0], "label_fraction": 0.5,
              "max_windows_per_class": 16, "max_train_batches": 2, "tsne_points": 40}
    cfg = build_config(BearingConfig, values)
    data = SPEC.load_data(cfg, builtin_source("cwru"))
    ctx = LocalContext(device="cpu")
    return SPEC.fit(cfg, data, ctx), data, ctx


def test_tiny_fit_reports_both_stages_and_all_metrics(tiny_run):
    result, data, ctx = tiny_run
    m = result.metrics
    for key in ("val_acc", "val_macro_f1", "test_acc", "test_macro_f1", "test_snr0db_acc", "test_snr_m4db_acc",
                "test_precision_normal", "test_recall_OR021", "test_f1_B007", "seconds_per_epoch"):
        assert key in m and 0 <= m[key] or key == "seconds_per_epoch", key
    assert set(result.stages) == {"pretrain", "finetune"}
    assert len(result.stages["pretrain"]) == 1 and len(result.history) == 2
    assert [h["stage"] for h in ctx.history] == [0.0, 1.0, 1.0]  # every epoch reported, tagged by stage
    assert m["n_train_labelled"] == m["n_train"] / 2
    assert result.outputs["test_probs"].shape == (m["n_test"], 10)
    noisy = result.outputs["noisy_test_probs"]
    assert set(noisy) == {"snr0db", "snr_m4db"}
    for tag, probs in noisy.items():  # what seed ensembles average, scored like the metric
        assert probs.shape == (m["n_test"], 10)
        assert (probs.argmax(-1) == result.outputs["test_labels"]).mean() == pytest.approx(m[f"test_{tag}_acc"])


def test_test_noise_does_not_depend_on_the_training_seed(tiny_run):
    """Seed-ensemble members must be scored on the same noisy windows."""
    _, data, _ = tiny_run
    index = np.arange(min(20, len(data)))
    first, second = (window_tensors(data, index, snr_db=-4.0, seed=BearingConfig(seed=s).test_noise_seed)
                     for s in (1, 2))
    assert torch.equal(first.x, second.x)
    assert not torch.equal(first.x, window_tensors(data, index, snr_db=-4.0, seed=7).x)


def test_plots_are_the_four_figures(tiny_run):
    result, data, _ = tiny_run
    figures = SPEC.plots(result, data)
    assert set(figures) == {"confusion_matrix.png", "tsne.png", "modality_weights.png", "learning_curves.png"}


def test_a_checkpoint_is_only_restored_by_the_stage_that_wrote_it(tmp_path):
    ctx = LocalContext(device="cpu", resume_from=tmp_path)
    (tmp_path / "stage.txt").write_text("finetune")
    assert checkpoint_stage(str(tmp_path)) == "finetune"
    assert StageContext(ctx, "pretrain").restore() is None
    assert StageContext(ctx, "finetune").restore() == str(tmp_path)


def test_noisy_validation_picks_the_kept_epoch():
    require_data("cwru")
    values = {**SPEC.smoke_overrides, "pretrain_epochs": 0, "epochs": 3, "max_windows_per_class": 16,
              "max_train_batches": 2, "tsne_points": 0, "select_on": "val_noisy_acc", "val_snr_db": -4.0}
    cfg = build_config(BearingConfig, values)
    result = SPEC.fit(cfg, SPEC.load_data(cfg, builtin_source("cwru")), LocalContext(device="cpu"))
    scores = [h["val_noisy_acc"] for h in result.history]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert result.metrics["best_epoch"] == 1 + scores.index(max(scores))


def test_config_rejects_bad_values_in_one_line():
    with pytest.raises(ConfigError, match="branches"):
        build_config(BearingConfig, {"branches": ["time", "audio"]})
    with pytest.raises(ConfigError, match="fold"):
        build_config(BearingConfig, {"fold": 5})
    with pytest.raises(ConfigError, match="select_on"):
        build_config(BearingConfig, {"select_on": "test_acc"})
    assert snr_tag(-4) == "snr_m4db" and snr_tag(0) == "snr0db"


def test_search_spaces_name_config_fields():
    from dataclasses import fields

    from search_spaces.bearing import SPACES

    known = {f.name for f in fields(BearingConfig)}
    for make in SPACES.values():
        assert set(make()) <= known
