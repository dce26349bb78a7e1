"""The bearing classifier's losses: focal loss, ArcFace margin logits, NT-Xent.

Kept here rather than in the shared ``trainables/losses.py`` because they are
classification / representation losses only this family uses so far.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smoothed_targets(target: torch.Tensor, n_classes: int, smoothing: float) -> torch.Tensor:
    """(1 - eps) one-hot + eps / K, the label-smoothing target distribution."""
    onehot = F.one_hot(target, n_classes).float()
    return onehot * (1.0 - smoothing) + smoothing / n_classes


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, smoothing: float = 0.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) with label smoothing and class weights.

    loss_i = -sum_c q_ic w_c (1 - p_ic)^gamma log p_ic, averaged with the weights of
    the true classes as the normaliser: at gamma = 0 this is exactly
    ``F.cross_entropy(logits, target, weight, label_smoothing=smoothing)``, so the
    focusing term is the only thing the focal loss adds.
    """
    n_classes = logits.shape[-1]
    log_p = F.log_softmax(logits.float(), dim=-1)
    q = smoothed_targets(target, n_classes, smoothing)
    w = torch.ones(n_classes, device=logits.device) if weight is None else weight.to(logits.device).float()
    focus = (1.0 - log_p.exp()).clamp_min(0.0).pow(gamma) if gamma else torch.ones_like(log_p)
    per_sample = -(q * w * focus * log_p).sum(-1)
    return per_sample.sum() / w[target].sum()


def arcface_logits(cosine: torch.Tensor, target: torch.Tensor, scale: float = 30.0, margin: float = 0.5) -> torch.Tensor:
    """s * cos(theta + m) for the true class, s * cos(theta) for the others.

    Where theta + m would pass pi the additive margin would make the logit grow
    again; there the usual ArcFace fallback cos(theta) - m sin(m) keeps it monotonic.
    """
    cosine = cosine.float().clamp(-1.0 + 1e-7, 1.0 - 1e-7)
    sine = (1.0 - cosine.pow(2)).sqrt()
    with_margin = cosine * math.cos(margin) - sine * math.sin(margin)
    threshold = math.cos(math.pi - margin)
    with_margin = torch.where(cosine > threshold, with_margin, cosine - math.sin(math.pi - margin) * margin)
    onehot = F.one_hot(target, cosine.shape[-1]).bool()
    return scale * torch.where(onehot, with_margin, cosine)


def arcface_loss(cosine: torch.Tensor, target: torch.Tensor, scale: float = 30.0, margin: float = 0.5,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the ArcFace logits."""
    return F.cross_entropy(arcface_logits(cosine, target, scale, margin), target, weight=weight)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent (SimCLR): each view must pick its partner among the 2B - 1 others."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=-1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)
