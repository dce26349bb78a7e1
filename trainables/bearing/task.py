"""The multimodal bearing classifier as a trainable: loading, the model, ``fit`` and
the registry entry. Config, per-trial data, the two training stages (NT-Xent
pre-training, then supervised fine-tuning), scoring, plots and serving live in the
sibling modules.

Both stages run inside one ``fit``; each stage's history is returned separately in
``FitResult.stages`` so that the orchestrator can log them as two MLflow runs.
"""

from __future__ import annotations

import numpy as np
import torch

from data.bearing import BearingData, effective_number_weights
from data.recordings import LAYOUT_KEYS, load_source
from data.source import DataSource
from trainables.bearing.config import BearingConfig
from trainables.bearing.data import make_splits, split_spec, window_tensors
from trainables.bearing.model import BearingNet, shape_for
from trainables.bearing.plots import plots
from trainables.bearing.scoring import classification_metrics, predict, snr_tag
from trainables.bearing.stages import checkpoint_stage, finetune, pretrain
from trainables.common import n_parameters, seed_everything
from trainables.context import TrainContext
from trainables.registry import FitResult, TrainableSpec


def load_data(cfg: BearingConfig, source: DataSource) -> BearingData:
    """Read, resample, block and window the data set once (on the driver): a built-in
    set and the user's class folders alike, by their layout keys."""
    return load_source(source, split_spec(cfg))


def build_model(cfg: BearingConfig, n_classes: int) -> BearingNet:
    return BearingNet(shape_for(
        cfg.model_size, n_classes=n_classes, window=cfg.window, branches=tuple(cfg.branches),
        fusion_levels=tuple(cfg.fusion_levels), tf_method=cfg.tf_method, dropout_low=cfg.dropout_low,
        dropout_mid=cfg.dropout_mid, dropout_high=cfg.dropout_high))


def fit(cfg: BearingConfig, data: BearingData, ctx: TrainContext) -> FitResult:
    """Optional pre-training, fine-tuning, then scoring on the fold's test blocks
    (clean and at each ``test_snr_db``)."""
    seed_everything(cfg.seed)
    splits = make_splits(cfg, data)
    labelled = window_tensors(data, splits.labelled)
    val = window_tensors(data, splits.val)
    test = window_tensors(data, splits.test)
    counts = np.bincount(data.win_label[splits.labelled], minlength=data.n_classes)
    weights = torch.tensor(effective_number_weights(counts, cfg.class_weight_beta), dtype=torch.float32)
    net = build_model(cfg, data.n_classes)

    stages: dict[str, list[dict[str, float]]] = {}
    metrics: dict[str, float] = {}
    if cfg.pretrain_epochs > 0 and checkpoint_stage(ctx.restore()) != "finetune":
        pre = pretrain(cfg, net, window_tensors(data, splits.train), labelled, val, ctx)
        stages["pretrain"] = pre.history
        metrics.update({"pretrain_best_val_contrastive_loss": pre.best_metric,
                        "pretrain_val_acc": pre.history[-1]["val_acc"] if pre.history else float("nan"),
                        "pretrain_seconds_per_epoch": float(np.mean([h["epoch_seconds"] for h in pre.history]))})
    noisy_val = (window_tensors(data, splits.val, snr_db=cfg.val_snr_db, seed=cfg.seed + 2000)
                 if cfg.select_on == "val_noisy_acc" else None)
    result = finetune(cfg, net, labelled, val, weights, ctx, noisy_val)
    stages["finetune"] = result.history
    model = result.model

    val_out = predict(model, val, cfg.eval_batch_size, ctx.device)
    test_out = predict(model, test, cfg.eval_batch_size, ctx.device)
    metrics.update(classification_metrics(val_out["probs"], val_out["labels"], "val"))
    metrics.update(classification_metrics(test_out["probs"], test_out["labels"], "test", data.class_names))
    noisy_test_probs = {}
    for snr in cfg.test_snr_db:
        noisy = window_tensors(data, splits.test, snr_db=snr, seed=cfg.test_noise_seed)
        out = predict(model, noisy, cfg.eval_batch_size, ctx.device)
        metrics.update(classification_metrics(out["probs"], out["labels"], f"test_{snr_tag(snr)}"))
        noisy_test_probs[snr_tag(snr)] = out["probs"]
    epoch_seconds = [h["epoch_seconds"] for h in result.history]
    metrics.update({
        "best_epoch": float(result.best_epoch), "epochs_run": float(len(result.history)),
        "n_parameters": float(n_parameters(model)), "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "n_train_labelled": float(len(splits.labelled)), "n_train": float(len(splits.train)),
        "n_test": float(len(splits.test)), "fit_seconds": result.seconds,
    })
    from sklearn.metrics import confusion_matrix

    pick = np.linspace(0, len(test) - 1, min(cfg.tsne_points, len(test))).astype(int)
    outputs = {
        "class_names": data.class_names, "branch_names": model.backbone.branch_names,
        "val_probs": val_out["probs"], "val_labels": val_out["labels"],
        "test_probs": test_out["probs"], "test_labels": test_out["labels"], "noisy_test_probs": noisy_test_probs,
        "confusion": confusion_matrix(test_out["labels"], test_out["probs"].argmax(-1),
                                      labels=range(data.n_classes)),
        "features": test_out["features"][pick], "feature_labels": test_out["labels"][pick],
        "modality_weights": test_out["weights"],
    }
    return FitResult(metrics=metrics, model=model, history=result.history, outputs=outputs, stages=stages)


SPEC = TrainableSpec(
    name="bearing",
    config_cls=BearingConfig,
    datasets=("cwru", "bearing_excel"),
    default_dataset="cwru",
    load_data=load_data,
    fit=fit,
    plots=plots,
    metric="val_acc",
    mode="max",
    rankable={"val_macro_f1": "max", "val_loss": "min"},
    smoke_overrides={
        "epochs": 2, "pretrain_epochs": 1, "batch_size": 32, "pretrain_batch_size": 32, "max_train_batches": 3,
        "max_windows_per_class": 24, "warmup_epochs": 0, "eval_batch_size": 256, "tsne_points": 60,
    },
    description="Multimodal (time / spectrum / STFT-CWT) bearing fault classifier with hierarchical fusion, "
                "dual softmax+ArcFace heads and NT-Xent pre-training (seed 001)",
    data_keys=LAYOUT_KEYS,
)
