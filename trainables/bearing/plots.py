"""The bearing classifier's figures for one finished run."""

from __future__ import annotations

from typing import Any

import numpy as np

from data.bearing import BearingData
from trainables.registry import FitResult


def plots(result: FitResult, data: BearingData) -> dict[str, Any]:
    """Confusion matrix, t-SNE of fused test features, modality weights, learning curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = result.outputs
    names = list(out["class_names"])
    figures: dict[str, Any] = {}

    cm = out["confusion"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(names), 0.8 + 0.55 * len(names)))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"test accuracy {result.metrics.get('test_acc', float('nan')):.4f}")
    fig.tight_layout()
    figures["confusion_matrix.png"] = fig

    feats, labels = out["features"], out["feature_labels"]
    if len(feats) >= 5:
        from sklearn.manifold import TSNE

        emb = TSNE(n_components=2, perplexity=min(30.0, len(feats) - 1.0), init="pca",
                   random_state=0).fit_transform(feats)
        fig, ax = plt.subplots(figsize=(6, 5))
        for k, name in enumerate(names):
            sel = labels == k
            ax.scatter(emb[sel, 0], emb[sel, 1], s=6, label=name)
        ax.legend(fontsize=7, markerscale=2)
        ax.set_title("t-SNE of fused test features")
        fig.tight_layout()
        figures["tsne.png"] = fig

    weights = out["modality_weights"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    branches = list(out["branch_names"])
    per_class = np.stack([weights[out["test_labels"] == k].mean(0) if (out["test_labels"] == k).any()
                          else np.zeros(len(branches)) for k in range(len(names))])
    width = 0.8 / len(branches)
    for b, branch in enumerate(branches):
        ax.bar(np.arange(len(names)) + b * width, per_class[:, b], width, label=branch)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("mean modality weight")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figures["modality_weights.png"] = fig

    stages = result.stages
    fig, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.5), squeeze=False)
    for ax, (stage, history) in zip(axes[0], stages.items()):
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
        key = "val_contrastive_loss" if stage == "pretrain" else "val_loss"
        ax.plot(epochs, [h[key] for h in history], label=key.replace("_", " "))
        twin = ax.twinx()
        twin.plot(epochs, [h["val_acc"] for h in history], color="C3", label="val acc")
        twin.set_ylim(0, 1.02)
        ax.set_title(stage)
        ax.set_xlabel("epoch")
        ax.legend(loc="upper left", fontsize=8)
        twin.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    figures["learning_curves.png"] = fig
    return figures
