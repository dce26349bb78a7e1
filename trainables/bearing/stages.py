"""The bearing classifier's two training stages, each one ``run_loop``: NT-Xent
pre-training of the backbone on unlabelled views, then supervised fine-tuning
(focal loss plus a scheduled ArcFace term, progressive augmentation, mixup).

A checkpoint records which stage wrote it (``STAGE_FILE``), so a resumed run skips
a finished pre-training instead of redoing it, and every reported epoch carries a
``stage`` metric (0 pre-training, 1 fine-tuning).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from trainables.bearing.augment import LEVELS, augment, mixup, progressive_level, snr_noise
from trainables.bearing.config import ARCFACE_SCHEDULE, BearingConfig
from trainables.bearing.data import Windows, loader_for
from trainables.bearing.losses import arcface_loss, focal_loss, nt_xent
from trainables.bearing.model import BearingNet, ContrastiveNet
from trainables.bearing.scoring import classification_metrics, predict
from trainables.context import TrainContext
from trainables.loop import LoopResult, run_loop

STAGE_FILE = "stage.txt"
STAGES = ("pretrain", "finetune")


# --- objective -------------------------------------------------------------------------------

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
             ctx: TrainContext) -> LoopResult:
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
             ctx: TrainContext, noisy_val: Windows | None = None) -> LoopResult:
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
