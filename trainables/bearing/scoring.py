"""Scoring windows: a model's class probabilities, fused features and modality weights,
and the classification metrics that fine-tuning's validation, ``fit`` and the
benchmarks report (noisy test sets named by ``snr_tag``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from trainables.bearing.data import Windows
from trainables.bearing.model import BearingNet
from trainables.common import predict_batches


def predict(model: BearingNet, windows: Windows, batch_size: int, device: torch.device) -> dict[str, np.ndarray]:
    """Class probabilities, fused features and modality weights for every window."""
    def forward(net: nn.Module, batch: Any) -> tuple[torch.Tensor, ...]:
        logits, _, fused, weights = net(batch[0].to(device))
        return torch.softmax(logits.float(), -1), fused, weights

    probs, features, weights = predict_batches(model, windows, batch_size, forward)
    return {"probs": probs.numpy(), "features": features.numpy(), "weights": weights.numpy(),
            "labels": windows.y.numpy()}


def classification_metrics(probs: np.ndarray, labels: np.ndarray, prefix: str,
                           class_names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Accuracy and macro-F1, plus per-class precision/recall/F1 when names are given."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    pred = probs.argmax(-1)
    k = probs.shape[1]
    out = {f"{prefix}_acc": float((pred == labels).mean()),
           f"{prefix}_macro_f1": float(f1_score(labels, pred, labels=range(k), average="macro", zero_division=0))}
    if class_names is not None:
        p, r, f, _ = precision_recall_fscore_support(labels, pred, labels=range(k), zero_division=0)
        for i, name in enumerate(class_names):
            out.update({f"{prefix}_precision_{name}": float(p[i]), f"{prefix}_recall_{name}": float(r[i]),
                        f"{prefix}_f1_{name}": float(f[i])})
    return out


def snr_tag(snr: float) -> str:
    """0 -> 'snr0db', -4 -> 'snr_m4db' (metric names without a minus sign)."""
    value = f"{abs(snr):g}".replace(".", "p")
    return f"snr_m{value}db" if snr < 0 else f"snr{value}db"
