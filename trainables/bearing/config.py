"""The bearing classifier's hyper-parameters: the typed config and the choices it
checks against."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainables.bearing.model import BRANCHES, SIZES, TF_METHODS
from trainables.config import TrainConfig, check

AUGMENTS = ("progressive", "none", "weak", "medium", "strong")
SELECT_ON = ("val_acc", "val_loss", "val_noisy_acc")
ARCFACE_SCHEDULE = ((0.3, 0.6), (0.6, 1.0), (1.01, 1.4))  # (fraction of epochs, x arcface_weight): 0.3/0.5/0.7


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
