"""The multimodal bearing classifier as a trainable: config, data, the two training
stages (NT-Xent pre-training, then supervised fine-tuning), metrics and plots.

Both stages run through the shared ``run_loop`` inside one ``fit``; each stage's
history is returned separately in ``FitResult.stages`` so that the
orchestrator can log them as two MLflow runs, and every reported epoch carries a
``stage`` metric (0 pre-training, 1 fine-tuning). A checkpoint records which stage
wrote it, so a resumed run skips a finished pre-training instead of redoing it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from data.source import DataSource
from data.bearing import LAYOUT_KEYS, BearingData, SplitSpec, effective_number_weights, labelled_subset, load_source
from data.signal import add_noise_snr, standardize
from data.windows import keep_batch
from trainables.bearing.augment import LEVELS, augment, mixup, progressive_level, snr_noise
from trainables.bearing.losses import arcface_loss, focal_loss, nt_xent
from trainables.bearing.model import BRANCHES, SIZES, TF_METHODS, BearingNet, ContrastiveNet, shape_for
from trainables.common import n_parameters, predict_batches, seed_everything
from trainables.config import TrainConfig, check
from trainables.context import TrainContext
from trainables.loop import run_loop
from trainables.registry import FitResult, TrainableSpec

AUGMENTS = ("progressive", "none", "weak", "medium", "strong")
SELECT_ON = ("val_acc", "val_loss", "val_noisy_acc")
ARCFACE_SCHEDULE = ((0.3, 0.6), (0.6, 1.0), (1.01, 1.4))  # (fraction of epochs, x arcface_weight): 0.3/0.5/0.7
STAGE_FILE = "stage.txt"
STAGES = ("pretrain", "finetune")


@dataclass(frozen=True)
class BearingConfig(TrainConfig):
    """Defaults follow the seed's fine-tuning config (AdamW 5e-4, wd 5e-4, warm-up +
    cosine, clip 1.0, patience 15 on val accuracy) with the small model."""

    # data: windows, blocks, folds
    window: int = 512
    step: int = 256
    n_folds: int = 5
    blocks_per_fold: int = 4
    val_fraction: float = 0.05
    fold: int = 0
    label_fraction: float = 1.0  # the rest of the training windows only serve pre-training
    max_windows_per_class: int = 0  # cap per class and split (smoke runs); 0 = all
    # model
    model_size: str = "small"
    branches: tuple[str, ...] = BRANCHES
    fusion_levels: tuple[int, ...] = (1, 2, 3)
    tf_method: str = "stft"
    dropout_low: float = 0.1
    dropout_mid: float = 0.25
    dropout_high: float = 0.35
    # objective
    focal_gamma: float = 2.0
    label_smoothing: float = 0.1
    class_weight_beta: float = 0.9999
    arcface_s: float = 30.0
    arcface_m: float = 0.5
    arcface_weight: float = 0.5  # the middle of the schedule 0.6x / 1.0x / 1.4x (0.3 -> 0.5 -> 0.7)
    # augmentation
    augment: str = "progressive"
    mixup_alpha: float = 0.2
    mixup_prob: float = 0.5
    noise_aug_p: float = 0.0  # fraction of windows given white noise at a random SNR
    noise_snr_low: float = -4.0
    noise_snr_high: float = 8.0
    # contrastive pre-training (0 epochs = off)
    pretrain_epochs: int = 0
    pretrain_lr: float = 1e-3
    pretrain_weight_decay: float = 1e-4
    pretrain_batch_size: int = 64
    temperature: float = 0.1
    # evaluation
    test_snr_db: tuple[float, ...] = ()
    # Seed of the noise added to the test windows: fixed apart from the training seed so
    # that members of a seed ensemble (and runs of different seeds) see the same windows.
    test_noise_seed: int = 1000
    # Which validation score picks the fine-tuned epoch. Clean validation accuracy
    # saturates at 100 % within a few epochs on CWRU, so it keeps an early,
    # noise-fragile model; "val_loss" keeps the most confident one, and
    # "val_noisy_acc" scores the validation windows with white noise at val_snr_db.
    select_on: str = "val_acc"
    val_snr_db: float = -2.0
    eval_batch_size: int = 512
    tsne_points: int = 600
    # the seed's fine-tuning settings
    seed: int = 42
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    optimizer: str = "adamw"
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    warmup_epochs: int = 2
    patience: int = 15
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.window >= 64, "window", "an integer >= 64", self.window)
        check(self.step >= 1, "step", "an integer >= 1", self.step)
        check(self.n_folds >= 2, "n_folds", "an integer >= 2", self.n_folds)
        check(self.blocks_per_fold >= 1, "blocks_per_fold", "an integer >= 1", self.blocks_per_fold)
        check(0 < self.val_fraction < 0.5, "val_fraction", "a number in (0, 0.5)", self.val_fraction)
        check(0 <= self.fold < self.n_folds, "fold", f"an integer in [0, n_folds={self.n_folds})", self.fold)
        check(0 < self.label_fraction <= 1, "label_fraction", "a number in (0, 1]", self.label_fraction)
        check(self.max_windows_per_class >= 0, "max_windows_per_class", "an integer >= 0", self.max_windows_per_class)
        check(self.model_size in SIZES, "model_size", f"one of {tuple(SIZES)}", self.model_size)
        check(bool(self.branches) and set(self.branches) <= set(BRANCHES) and len(set(self.branches)) == len(
            self.branches), "branches", f"a non-empty subset of {BRANCHES}", self.branches)
        check(set(self.fusion_levels) <= {1, 2, 3}, "fusion_levels", "a subset of (1, 2, 3)", self.fusion_levels)
        check(self.tf_method in TF_METHODS, "tf_method", f"one of {TF_METHODS}", self.tf_method)
        for name in ("dropout_low", "dropout_mid", "dropout_high"):
            check(0 <= getattr(self, name) < 1, name, "a number in [0, 1)", getattr(self, name))
        check(self.focal_gamma >= 0, "focal_gamma", "a number >= 0", self.focal_gamma)
        check(0 <= self.label_smoothing < 1, "label_smoothing", "a number in [0, 1)", self.label_smoothing)
        check(0 < self.class_weight_beta < 1, "class_weight_beta", "a number in (0, 1)", self.class_weight_beta)
        check(self.arcface_s > 0, "arcface_s", "a number > 0", self.arcface_s)
        check(0 <= self.arcface_m < math.pi / 2, "arcface_m", "a number in [0, pi/2)", self.arcface_m)
        check(self.arcface_weight >= 0, "arcface_weight", "a number >= 0", self.arcface_weight)
        check(self.augment in AUGMENTS, "augment", f"one of {AUGMENTS}", self.augment)
        check(self.mixup_alpha >= 0, "mixup_alpha", "a number >= 0", self.mixup_alpha)
        check(0 <= self.mixup_prob <= 1, "mixup_prob", "a number in [0, 1]", self.mixup_prob)
        check(0 <= self.noise_aug_p <= 1, "noise_aug_p", "a number in [0, 1]", self.noise_aug_p)
        check(self.noise_snr_low <= self.noise_snr_high, "noise_snr_high", f"a number >= noise_snr_low "
              f"({self.noise_snr_low})", self.noise_snr_high)
        check(self.pretrain_epochs >= 0, "pretrain_epochs", "an integer >= 0", self.pretrain_epochs)
        check(self.pretrain_lr > 0, "pretrain_lr", "a number > 0", self.pretrain_lr)
        check(self.pretrain_weight_decay >= 0, "pretrain_weight_decay", "a number >= 0", self.pretrain_weight_decay)
        check(self.pretrain_batch_size >= 2, "pretrain_batch_size", "an integer >= 2", self.pretrain_batch_size)
        check(self.temperature > 0, "temperature", "a number > 0", self.temperature)
        check(all(math.isfinite(s) for s in self.test_snr_db), "test_snr_db", "finite numbers (dB)", self.test_snr_db)
        check(self.select_on in SELECT_ON, "select_on", f"one of {SELECT_ON}", self.select_on)
        check(math.isfinite(self.val_snr_db), "val_snr_db", "a finite number (dB)", self.val_snr_db)
        check(self.eval_batch_size >= 1, "eval_batch_size", "an integer >= 1", self.eval_batch_size)
        check(self.tsne_points >= 0, "tsne_points", "an integer >= 0", self.tsne_points)


# --- data --------------------------------------------------------------------------------

def split_spec(cfg: BearingConfig) -> SplitSpec:
    return SplitSpec(cfg.window, cfg.step, cfg.n_folds, cfg.blocks_per_fold, cfg.val_fraction)


def load_data(cfg: BearingConfig, source: DataSource) -> BearingData:
    """Read, resample, block and window the data set once (on the driver): a built-in
    set and the user's class folders alike, by their layout keys."""
    return load_source(source, split_spec(cfg))


class Windows(Dataset):
    """Standardised windows and labels as two tensors; batches gathered at once."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.x[index], self.y[index]


def cap_per_class(index: np.ndarray, labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` windows per class (evenly spaced, so all blocks stay represented)."""
    if not cap:
        return index
    kept = []
    for label in np.unique(labels[index]):
        members = index[labels[index] == label]
        kept.append(members[np.linspace(0, len(members) - 1, min(cap, len(members))).astype(int)])
    return np.sort(np.concatenate(kept))


def window_tensors(data: BearingData, index: np.ndarray, snr_db: float | None = None,
                   seed: int = 0) -> Windows:
    """Windows (optionally with white noise at ``snr_db``), then standardised."""
    x = torch.from_numpy(data.windows(index))
    if snr_db is not None:
        x = add_noise_snr(x, float(snr_db), generator=torch.Generator().manual_seed(seed))
    return Windows(standardize(x), torch.from_numpy(data.win_label[index]).long())


@dataclass
class Splits:
    """Window indices of one fold: labelled training, all training, val, test."""

    labelled: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def make_splits(cfg: BearingConfig, data: BearingData) -> Splits:
    parts = data.split(cfg.fold)
    labels = data.win_label
    train = cap_per_class(parts["train"], labels, cfg.max_windows_per_class, cfg.seed)
    return Splits(
        labelled=labelled_subset(train, labels, cfg.label_fraction, cfg.seed),
        train=train,
        val=cap_per_class(parts["val"], labels, cfg.max_windows_per_class, cfg.seed),
        test=cap_per_class(parts["test"], labels, cfg.max_windows_per_class, cfg.seed),
    )


# --- model and objective --------------------------------------------------------------------

def build_model(cfg: BearingConfig, n_classes: int) -> BearingNet:
    return BearingNet(shape_for(
        cfg.model_size, n_classes=n_classes, window=cfg.window, branches=tuple(cfg.branches),
        fusion_levels=tuple(cfg.fusion_levels), tf_method=cfg.tf_method, dropout_low=cfg.dropout_low,
        dropout_mid=cfg.dropout_mid, dropout_high=cfg.dropout_high))


def arcface_weight_at(cfg: BearingConfig, epoch: int) -> float:
    """The seed's ArcFace weight schedule 0.3 -> 0.5 -> 0.7, scaled by ``arcface_weight / 0.5``."""
    fraction = epoch / max(1, cfg.epochs)
    factor = next(f for bound, f in ARCFACE_SCHEDULE if fraction < bound)
    return cfg.arcface_weight * factor


def supervised_loss(cfg: BearingConfig, logits: torch.Tensor, cosine: torch.Tensor, y: torch.Tensor,
                    weights: torch.Tensor, arc_weight: float) -> torch.Tensor:
    loss = focal_loss(logits, y, cfg.focal_gamma, cfg.label_smoothing, weights)
    if arc_weight > 0:
        loss = loss + arc_weight * arcface_loss(cosine, y, cfg.arcface_s, cfg.arcface_m)
    return loss


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


# --- stages ----------------------------------------------------------------------------------

class StageContext:
    """A TrainContext for one stage: tags reports and checkpoints with the stage.

    ``restore`` only hands back a checkpoint this stage wrote, so a run resumed in
    fine-tuning does not feed fine-tuning weights to the pre-training loop.
    """

    def __init__(self, ctx: TrainContext, stage: str) -> None:
        self.ctx, self.stage = ctx, stage
        self.device, self.world_rank, self.world_size = ctx.device, ctx.world_rank, ctx.world_size

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return self.ctx.prepare_model(model)

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        return self.ctx.prepare_loader(loader)

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        if checkpoint_dir:
            (Path(checkpoint_dir) / STAGE_FILE).write_text(self.stage)
        self.ctx.report({**metrics, "stage": float(STAGES.index(self.stage))}, checkpoint_dir)

    def restore(self) -> str | None:
        found = self.ctx.restore()
        return found if found and checkpoint_stage(found) == self.stage else None


def checkpoint_stage(directory: str | None) -> str | None:
    marker = Path(directory) / STAGE_FILE if directory else None
    return marker.read_text().strip() if marker and marker.is_file() else None


def loader_for(windows: Windows, batch_size: int, seed: int, drop_last: bool = False) -> DataLoader:
    return DataLoader(windows, batch_size=batch_size, shuffle=True, collate_fn=keep_batch,
                      drop_last=drop_last and len(windows) >= 2 * batch_size,
                      generator=torch.Generator().manual_seed(seed))


def centroid_accuracy(backbone: nn.Module, reference: Windows, query: Windows, device: torch.device,
                      batch_size: int) -> float:
    """Nearest-class-centroid accuracy (cosine) of backbone features: a label-cheap
    probe of what pre-training has learned so far."""
    def features(w: Windows) -> torch.Tensor:
        out = [backbone(w.x[lo: lo + batch_size].to(device))[0].float() for lo in range(0, len(w), batch_size)]
        return torch.nn.functional.normalize(torch.cat(out), dim=-1)

    ref, qry = features(reference), features(query)
    labels = reference.y.to(device)
    k = int(max(labels.max(), query.y.max())) + 1
    centres = torch.zeros(k, ref.shape[1], device=device).index_add_(0, labels, ref)
    pred = (qry @ torch.nn.functional.normalize(centres, dim=-1).T).argmax(-1).cpu()
    return float((pred == query.y).float().mean())


def pretrain(cfg: BearingConfig, net: BearingNet, train_all: Windows, labelled: Windows, val: Windows,
             ctx: TrainContext):
    """NT-Xent on two strongly augmented views of every training window (labels unused)."""
    stage_cfg = dataclasses.replace(
        cfg, epochs=cfg.pretrain_epochs, lr=cfg.pretrain_lr, weight_decay=cfg.pretrain_weight_decay,
        batch_size=cfg.pretrain_batch_size, patience=0, warmup_epochs=min(cfg.warmup_epochs, cfg.pretrain_epochs - 1))
    model = ContrastiveNet(net.backbone)
    strong = LEVELS["contrastive"]
    device = ctx.device
    probe = Windows(labelled.x[:: max(1, len(labelled) // 512)], labelled.y[:: max(1, len(labelled) // 512)])

    def views(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = augment(x, strong), augment(x, strong)
        if cfg.noise_aug_p:
            x1 = snr_noise(x1, cfg.noise_snr_low, cfg.noise_snr_high, cfg.noise_aug_p)
            x2 = snr_noise(x2, cfg.noise_snr_low, cfg.noise_snr_high, cfg.noise_aug_p)
        z = m(torch.cat([x1, x2]))
        return nt_xent(*z.chunk(2), temperature=cfg.temperature)

    def train_step(m: nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        return views(m, batch[0].to(device))

    def evaluate(m: nn.Module) -> dict[str, float]:
        generator_state = torch.get_rng_state()
        torch.manual_seed(cfg.seed)  # the same views every epoch: comparable losses
        losses = [float(views(m, val.x[lo: lo + 256].to(device))) for lo in range(0, len(val), 256)
                  if len(val) - lo >= 2]
        torch.set_rng_state(generator_state)
        return {"val_contrastive_loss": float(np.mean(losses)) if losses else float("nan"),
                "val_acc": centroid_accuracy(m.backbone, probe, val, device, cfg.eval_batch_size)}

    loader = loader_for(train_all, stage_cfg.batch_size, cfg.seed, drop_last=True)
    return run_loop(model, loader, stage_cfg, StageContext(ctx, "pretrain"), train_step, evaluate,
                    monitor="val_contrastive_loss", mode="min")


def finetune(cfg: BearingConfig, net: BearingNet, labelled: Windows, val: Windows, weights: torch.Tensor,
             ctx: TrainContext, noisy_val: Windows | None = None):
    """Focal + scheduled ArcFace loss, progressive augmentation, mixup; the epoch kept
    is the best by ``cfg.select_on`` (``noisy_val`` feeds "val_noisy_acc")."""
    device = ctx.device
    class_weights = weights.to(device)

    def train_step(m: nn.Module, batch: Any, epoch: int) -> torch.Tensor:
        x, y = batch[0].to(device), batch[1].to(device)
        level = progressive_level(epoch, cfg.epochs) if cfg.augment == "progressive" else cfg.augment
        x = augment(x, LEVELS[level])
        if cfg.noise_aug_p:
            x = snr_noise(x, cfg.noise_snr_low, cfg.noise_snr_high, cfg.noise_aug_p)
        arc = arcface_weight_at(cfg, epoch)
        if cfg.mixup_alpha > 0 and float(torch.rand(())) < cfg.mixup_prob:
            mixed, order, lam = mixup(x, cfg.mixup_alpha)
            logits, cosine, _, _ = m(mixed)
            return (lam * supervised_loss(cfg, logits, cosine, y, class_weights, arc)
                    + (1 - lam) * supervised_loss(cfg, logits, cosine, y[order], class_weights, arc))
        logits, cosine, _, _ = m(x)
        return supervised_loss(cfg, logits, cosine, y, class_weights, arc)

    def evaluate(m: nn.Module) -> dict[str, float]:
        out = predict(m, val, cfg.eval_batch_size, device)
        probs = torch.from_numpy(out["probs"]).clamp_min(1e-12)
        loss = float(torch.nn.functional.nll_loss(probs.log(), torch.from_numpy(out["labels"])))
        metrics = {"val_loss": loss, **classification_metrics(out["probs"], out["labels"], "val")}
        if noisy_val is not None:
            noisy = predict(m, noisy_val, cfg.eval_batch_size, device)
            metrics["val_noisy_acc"] = float((noisy["probs"].argmax(-1) == noisy["labels"]).mean())
        return metrics

    if cfg.select_on == "val_noisy_acc" and noisy_val is None:
        raise ValueError("select_on='val_noisy_acc' needs the noisy validation windows")
    loader = loader_for(labelled, cfg.batch_size, cfg.seed + 1)
    return run_loop(net, loader, cfg, StageContext(ctx, "finetune"), train_step, evaluate,
                    monitor=cfg.select_on, mode="min" if cfg.select_on == "val_loss" else "max")


# --- fit ------------------------------------------------------------------------------------

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


# --- plots ----------------------------------------------------------------------------------

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
