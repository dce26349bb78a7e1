"""Batch augmentations for standardised vibration windows (B, L), vectorised.

Each augmentation is drawn per window with its own probability, as in the seed's
pipelines. ``LEVELS`` holds the seed's weak / medium / strong (supervised,
progressive by epoch) and contrastive (pre-training) settings; ``snr_noise`` is the
separate noise augmentation at a random SNR that makes the model robust to test
noise (the ANCHORS plain CNN was trained the same way, drawing SNR in [-4, 8] dB).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from data.signal import add_noise_snr, standardize


@dataclass(frozen=True)
class AugmentLevel:
    """Per-window probabilities and ranges; a probability of 0 switches one off."""

    noise_sigma: float = 0.0
    noise_p: float = 0.0
    shift: int = 0
    shift_p: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    scale_p: float = 0.0
    warp: tuple[float, float] = (1.0, 1.0)
    warp_p: float = 0.0
    mask_ratio: float = 0.0
    mask_p: float = 0.0
    impulses: int = 0
    impulse_p: float = 0.0


LEVELS: dict[str, AugmentLevel] = {
    "none": AugmentLevel(),
    "weak": AugmentLevel(noise_sigma=0.01, noise_p=0.3, scale=(0.9, 1.1), scale_p=0.3),
    "medium": AugmentLevel(noise_sigma=0.03, noise_p=0.5, shift=30, shift_p=0.4, scale=(0.8, 1.2), scale_p=0.5),
    "strong": AugmentLevel(noise_sigma=0.05, noise_p=0.6, shift=50, shift_p=0.5, scale=(0.7, 1.3), scale_p=0.6,
                           warp=(0.9, 1.1), warp_p=0.4, mask_ratio=0.1, mask_p=0.4),
    "contrastive": AugmentLevel(noise_sigma=0.05, noise_p=0.8, shift=50, shift_p=0.6, scale=(0.7, 1.3), scale_p=0.7,
                                warp=(0.85, 1.15), warp_p=0.5, mask_ratio=0.15, mask_p=0.5, impulses=3,
                                impulse_p=0.4),
}

PROGRESSIVE = ((0.3, "weak"), (0.7, "medium"), (1.01, "strong"))  # (fraction of epochs, level)


def progressive_level(epoch: int, epochs: int) -> str:
    """The seed's schedule: weak for the first 30 % of epochs, medium to 70 %, strong."""
    fraction = epoch / max(1, epochs)
    return next(name for bound, name in PROGRESSIVE if fraction < bound)


def _chosen(n: int, p: float, device: torch.device) -> torch.Tensor:
    return torch.rand(n, device=device) < p


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=device)


def time_warp(x: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """Stretch each window about its centre by ``ratio`` (linear interpolation)."""
    n, length = x.shape
    centre = (length - 1) / 2
    grid = torch.arange(length, device=x.device, dtype=x.dtype)
    pos = (centre + (grid[None] - centre) * ratio[:, None]).clamp(0, length - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=length - 1)
    frac = pos - lo
    return torch.gather(x, 1, lo) * (1 - frac) + torch.gather(x, 1, hi) * frac


def augment(x: torch.Tensor, level: AugmentLevel) -> torch.Tensor:
    """One random draw of ``level`` applied to a batch of windows (B, L)."""
    n, length = x.shape
    dev = x.device
    x = x.clone()
    if level.shift_p and level.shift:
        offsets = torch.randint(-level.shift, level.shift + 1, (n,), device=dev)
        offsets = torch.where(_chosen(n, level.shift_p, dev), offsets, 0)
        index = (torch.arange(length, device=dev)[None] - offsets[:, None]) % length
        x = torch.gather(x, 1, index)
    if level.warp_p:
        ratio = torch.where(_chosen(n, level.warp_p, dev), _uniform(n, *level.warp, dev), 1.0)
        x = time_warp(x, ratio.to(x.dtype))
    if level.scale_p:
        factor = torch.where(_chosen(n, level.scale_p, dev), _uniform(n, *level.scale, dev), 1.0)
        x = x * factor[:, None]
    if level.noise_p and level.noise_sigma:
        sigma = torch.where(_chosen(n, level.noise_p, dev), level.noise_sigma, 0.0)
        x = x + torch.randn_like(x) * sigma[:, None]
    if level.mask_p and level.mask_ratio:
        width = int(level.mask_ratio * length)
        start = torch.randint(0, length - width + 1, (n, 1), device=dev)
        grid = torch.arange(length, device=dev)[None]
        hide = (grid >= start) & (grid < start + width) & _chosen(n, level.mask_p, dev)[:, None]
        x = x.masked_fill(hide, 0.0)
    if level.impulse_p and level.impulses:
        count = torch.randint(1, level.impulses + 1, (n, 1), device=dev)
        slots = torch.arange(level.impulses, device=dev)[None] < count
        slots &= _chosen(n, level.impulse_p, dev)[:, None]
        where = torch.randint(0, length, (n, level.impulses), device=dev)
        height = _uniform(n * level.impulses, 2.0, 5.0, dev).view(n, -1) * torch.sign(torch.randn(n, level.impulses,
                                                                                                 device=dev))
        x = x.scatter_add(1, where, (height * slots).to(x.dtype))
    return x


def snr_noise(x: torch.Tensor, low_db: float, high_db: float, p: float) -> torch.Tensor:
    """White noise at an SNR drawn uniformly in [low_db, high_db] for a fraction p
    of the windows, then re-standardised (as the test windows are)."""
    n = x.shape[0]
    chosen = _chosen(n, p, x.device)
    if not bool(chosen.any()):
        return x
    snr = _uniform(n, low_db, high_db, x.device)
    noisy = standardize(add_noise_snr(x, snr))
    return torch.where(chosen[:, None], noisy, x)


def mixup(x: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix each window with a random partner: (mixed, partner order, lambda)."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 1.0
    lam = max(lam, 1.0 - lam)  # keep the first label dominant
    order = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1.0 - lam) * x[order], order, lam
