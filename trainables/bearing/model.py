"""The seed's multimodal bearing fault classifier.

Three branches see one vibration window through three views: the raw signal (time
branch), its spectrum (frequency branch) and a time-frequency image (STFT or CWT).
Each ends in a 256-d feature; a three-level fusion (modality-importance weights,
cross-modal attention, MLP compression to 128-d) combines them, and two heads
read the fused feature: a softmax classifier and an ArcFace cosine head.

The spectrum and image are computed inside ``forward`` from the (possibly
augmented) window so that all branches always see the same sample and the data
set stays one array of windows. Ablations drop whole branches or fusion levels,
so only the parameters in use exist (DDP needs every parameter to get a gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from data.signal import CWT, fft_spectrum, stft_image

BRANCHES = ("time", "freq", "tf")
TF_METHODS = ("stft", "cwt")


@dataclass(frozen=True)
class BearingShape:
    """Every width of the network; ``SIZES`` holds the seed's three configurations."""

    n_classes: int = 10
    window: int = 512
    time_channels: int = 32
    gru_hidden: int = 64
    gru_layers: int = 1
    heads: int = 4
    freq_channels: int = 32
    tf_channels: int = 16  # the 2D CNN's blocks have c, 2c, 4c channels
    tf_size: int = 32  # the time-frequency image is tf_size x tf_size
    tf_pool: int = 2  # adaptive pooling grid before the branch's MLP
    tf_double_conv: bool = False  # two convs per 2D block (medium/large) or one (small, CPU-cheap)
    tf_method: str = "stft"
    modal_dim: int = 256
    fusion_hidden: int = 384
    importance_hidden: int = 128
    fused_dim: int = 128
    head_hidden: int = 256
    branches: tuple[str, ...] = BRANCHES
    fusion_levels: tuple[int, ...] = (1, 2, 3)
    dropout_low: float = 0.1  # shallow layers
    dropout_mid: float = 0.25  # fusion
    dropout_high: float = 0.35  # classifier


SIZES: dict[str, BearingShape] = {
    "small": BearingShape(fusion_hidden=128, importance_hidden=64),
    "medium": BearingShape(time_channels=64, gru_hidden=128, gru_layers=2, freq_channels=64, tf_channels=24,
                           tf_size=64, tf_pool=4, tf_double_conv=True, fusion_hidden=256),
    "large": BearingShape(time_channels=128, gru_hidden=256, gru_layers=2, freq_channels=128, tf_channels=64,
                          tf_size=64, tf_pool=4, tf_double_conv=True, fusion_hidden=768),
}


def shape_for(size: str, **changes) -> BearingShape:
    """A named size with some fields replaced (classes, branches, dropouts...)."""
    return replace(SIZES[size], **changes)


# --- building blocks ------------------------------------------------------------------

def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, dims: int = 1) -> nn.Sequential:
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return nn.Sequential(conv(c_in, c_out, kernel, stride, kernel // 2, bias=False), norm(c_out))


class MultiScaleBlock(nn.Module):
    """MSFEB: parallel kernels 3/5/7, 1x1 merge, residual, then halve the length."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.paths = nn.ModuleList(conv_bn(channels, channels, k) for k in (3, 5, 7))
        self.merge = conv_bn(3 * channels, channels, 1)
        self.out = nn.Sequential(nn.LeakyReLU(0.1), nn.MaxPool1d(2), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multi = torch.cat([F.leaky_relu(p(x), 0.1) for p in self.paths], dim=1)
        return self.out(self.merge(multi) + x)


class CBAM1d(nn.Module):
    """Channel attention (avg + max through a shared MLP), then spatial attention."""

    def __init__(self, channels: int, reduction: int = 4, kernel: int = 7) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial = nn.Conv1d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.mlp(x.mean(-1)) + self.mlp(x.amax(-1)))
        x = x * gate[..., None]
        where = torch.sigmoid(self.spatial(torch.stack([x.mean(1), x.amax(1)], dim=1)))
        return x * where


class SE(nn.Module):
    """Squeeze-and-excitation over channels (1D or 2D feature maps)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.mlp(x.flatten(2).mean(-1))
        return x * gate.view(*gate.shape, *([1] * (x.dim() - 2)))


class ResBlock1d(nn.Module):
    """Basic residual block; a strided 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_out, 3, stride), nn.ReLU(), conv_bn(c_out, c_out, 3))
        self.skip = nn.Identity() if (c_in == c_out and stride == 1) else conv_bn(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class EMA(nn.Module):
    """Efficient Multi-scale Attention (Ouyang et al., ICASSP 2023) for 2D maps.

    Channels are split in groups; a 1x1 path encodes the H and W directions, a 3x3
    path the local context, and each path's pooled descriptor attends over the
    other's positions (cross-spatial learning) to produce a per-pixel gate.
    """

    def __init__(self, channels: int, groups: int = 8) -> None:
        super().__init__()
        self.groups = groups if channels % groups == 0 else 1
        c = channels // self.groups
        self.conv1 = nn.Conv2d(c, c, 1)
        self.conv3 = nn.Conv2d(c, c, 3, padding=1)
        self.norm = nn.GroupNorm(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, ch, h, w = x.shape
        g = x.reshape(b * self.groups, ch // self.groups, h, w)
        x_h = g.mean(dim=3, keepdim=True)  # (bg, c, h, 1)
        x_w = g.mean(dim=2, keepdim=True).transpose(2, 3)  # (bg, c, w, 1)
        hw = self.conv1(torch.cat([x_h, x_w], dim=2))
        a_h, a_w = torch.split(hw, [h, w], dim=2)
        x1 = self.norm(g * a_h.sigmoid() * a_w.transpose(2, 3).sigmoid())
        x2 = self.conv3(g)
        d1 = torch.softmax(x1.mean(dim=(2, 3)), dim=-1)[:, None]  # (bg, 1, c)
        d2 = torch.softmax(x2.mean(dim=(2, 3)), dim=-1)[:, None]
        weights = d1 @ x2.flatten(2) + d2 @ x1.flatten(2)  # (bg, 1, hw)
        return (g * weights.view(-1, 1, h, w).sigmoid()).reshape(b, ch, h, w)


# --- branches --------------------------------------------------------------------------

class TimeBranch(nn.Module):
    """Wide conv (denoising, 8x stride) -> 2 MSFEB -> CBAM -> Bi-GRU -> self-attention
    -> max + avg + attention pooling -> 256-d."""

    def __init__(self, s: BearingShape) -> None:
        super().__init__()
        c, h = s.time_channels, s.gru_hidden
        self.stem = nn.Sequential(nn.Conv1d(1, c, 64, stride=8, padding=28, bias=False), nn.BatchNorm1d(c),
                                  nn.LeakyReLU(0.1), nn.Dropout(s.dropout_low))
        self.blocks = nn.Sequential(MultiScaleBlock(c, s.dropout_low * 1.5), MultiScaleBlock(c, s.dropout_low * 1.5))
        self.cbam = CBAM1d(c)
        self.gru = nn.GRU(c, h, s.gru_layers, batch_first=True, bidirectional=True,
                          dropout=0.2 if s.gru_layers > 1 else 0.0)
        self.attn = nn.MultiheadAttention(2 * h, s.heads, dropout=s.dropout_low, batch_first=True)
        self.norm = nn.LayerNorm(2 * h)
        self.score = nn.Linear(2 * h, 1)
        self.out = nn.Sequential(nn.Linear(6 * h, s.modal_dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.cbam(self.blocks(self.stem(x[:, None])))  # (B, c, L/32)
        seq, _ = self.gru(z.transpose(1, 2))
        seq = self.norm(seq + self.attn(seq, seq, seq, need_weights=False)[0])
        attn_pool = (torch.softmax(self.score(seq), dim=1) * seq).sum(1)
        return self.out(torch.cat([seq.amax(1), seq.mean(1), attn_pool], dim=-1))


class FrequencyBranch(nn.Module):
    """Log spectrum -> 1D ResNet (2 blocks) -> SE -> avg + max pooling -> 256-d."""

    def __init__(self, s: BearingShape) -> None:
        super().__init__()
        c = s.freq_channels
        self.stem = nn.Sequential(nn.BatchNorm1d(1), conv_bn(1, c, 7, 2), nn.ReLU(), nn.MaxPool1d(2))
        self.res = nn.Sequential(ResBlock1d(c, c), ResBlock1d(c, 2 * c, stride=2))
        self.se = SE(2 * c)
        self.out = nn.Sequential(nn.Linear(4 * c, s.modal_dim), nn.ReLU())

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:
        z = self.se(self.res(self.stem(spectrum[:, None])))
        return self.out(torch.cat([z.mean(-1), z.amax(-1)], dim=-1))


class TimeFrequencyBranch(nn.Module):
    """STFT/CWT image -> 3 conv blocks (c, 2c, 4c; each halves the image) -> EMA
    -> pooled grid -> 256-d."""

    def __init__(self, s: BearingShape) -> None:
        super().__init__()
        c = s.tf_channels
        blocks, c_in = [nn.BatchNorm2d(1)], 1
        for c_out in (c, 2 * c, 4 * c):
            blocks += [conv_bn(c_in, c_out, 3, dims=2), nn.ReLU()]
            if s.tf_double_conv:
                blocks += [conv_bn(c_out, c_out, 3, dims=2), nn.ReLU()]
            blocks.append(nn.MaxPool2d(2))
            c_in = c_out
        self.cnn = nn.Sequential(*blocks)
        self.ema = EMA(4 * c)
        self.pool = nn.AdaptiveAvgPool2d(s.tf_pool)
        self.out = nn.Sequential(nn.Dropout(s.dropout_low), nn.Linear(4 * c * s.tf_pool ** 2, s.modal_dim), nn.ReLU())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.out(self.pool(self.ema(self.cnn(image))).flatten(1))


# --- fusion and heads ------------------------------------------------------------------

class HierarchicalFusion(nn.Module):
    """Level 1: softmax modality weights from the concatenated features; level 2:
    the weighted feature queries the modality tokens (multi-head attention, residual);
    level 3: an MLP compresses [interaction, re-weighted modality features] to 128-d.

    A level left out is replaced by its neutral form: uniform weights, no
    interaction (the weighted sum passes through), a single linear projection.
    """

    def __init__(self, n_modal: int, s: BearingShape) -> None:
        super().__init__()
        d = s.modal_dim
        self.n_modal = n_modal
        self.levels = tuple(s.fusion_levels)
        if 1 in self.levels and n_modal > 1:
            self.importance = nn.Sequential(nn.Linear(n_modal * d, s.importance_hidden), nn.ReLU(),
                                            nn.Dropout(s.dropout_mid), nn.Linear(s.importance_hidden, n_modal))
        else:
            self.importance = None
        if 2 in self.levels:
            self.modal_embed = nn.Parameter(torch.zeros(n_modal, d))
            self.attn = nn.MultiheadAttention(d, s.heads, dropout=s.dropout_mid, batch_first=True)
            self.norm = nn.LayerNorm(d)
        else:
            self.attn = None
        width = d * (n_modal + 1)
        if 3 in self.levels:
            self.compress = nn.Sequential(nn.Dropout(s.dropout_mid), nn.Linear(width, s.fusion_hidden),
                                          nn.BatchNorm1d(s.fusion_hidden), nn.ReLU(), nn.Dropout(s.dropout_high),
                                          nn.Linear(s.fusion_hidden, s.fused_dim))
        else:
            self.compress = nn.Linear(width, s.fused_dim)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        stack = torch.stack(features, dim=1)  # (B, n, d)
        if self.importance is not None:
            weights = torch.softmax(self.importance(stack.flatten(1)), dim=-1)
        else:
            weights = stack.new_full(stack.shape[:2], 1.0 / self.n_modal)
        weighted = (weights[..., None] * stack).sum(1)
        if self.attn is not None:
            tokens = stack + self.modal_embed
            mixed = self.attn(weighted[:, None], tokens, tokens, need_weights=False)[0][:, 0]
            interaction = self.norm(mixed + weighted)
        else:
            interaction = weighted
        rescaled = stack * weights[..., None] * self.n_modal  # identity under uniform weights
        fused = self.compress(torch.cat([interaction, rescaled.flatten(1)], dim=-1))
        return fused, weights


class ArcFaceHead(nn.Module):
    """Cosine of the angle between the L2-normalised feature and each class centre.

    The margin needs the label, so it is applied in the loss (``arcface_logits``);
    the head itself is label-free and therefore usable at inference time.
    """

    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(features.float(), dim=-1), F.normalize(self.weight.float(), dim=-1))


class Backbone(nn.Module):
    """Views + branches + fusion: window (B, L) -> fused (B, 128), weights (B, n)."""

    def __init__(self, s: BearingShape) -> None:
        super().__init__()
        unknown = set(s.branches) - set(BRANCHES)
        if not s.branches or unknown:
            raise ValueError(f"branches: expected a non-empty subset of {BRANCHES}, got {s.branches}")
        self.shape = s
        self.branch_names = tuple(b for b in BRANCHES if b in s.branches)
        makers = {"time": TimeBranch, "freq": FrequencyBranch, "tf": TimeFrequencyBranch}
        self.branches = nn.ModuleDict({name: makers[name](s) for name in self.branch_names})
        self.cwt = CWT(size=(s.tf_size, s.tf_size)) if (s.tf_method == "cwt" and "tf" in s.branches) else None
        self.fusion = HierarchicalFusion(len(self.branch_names), s)

    def views(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The inputs of each branch, computed in fp32 whatever the autocast."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            out = {"time": x}
            if "freq" in self.branches:
                out["freq"] = fft_spectrum(x)
            if "tf" in self.branches:
                size = (self.shape.tf_size, self.shape.tf_size)
                out["tf"] = self.cwt(x) if self.cwt is not None else stft_image(
                    x, n_fft=2 * self.shape.tf_size - 2, hop=max(1, x.shape[-1] // (2 * self.shape.tf_size)), size=size)
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.views(x)
        features = [self.branches[name](inputs[name]) for name in self.branch_names]
        return self.fusion(features)


class BearingNet(nn.Module):
    """Backbone + softmax head + ArcFace head.

    ``forward`` returns (softmax logits, ArcFace cosines, fused feature, modality
    weights); prediction uses the softmax logits, as in the seed.
    """

    def __init__(self, s: BearingShape) -> None:
        super().__init__()
        self.shape = s
        self.backbone = Backbone(s)
        self.softmax_head = nn.Sequential(
            nn.Dropout(s.dropout_high), nn.Linear(s.fused_dim, s.head_hidden), nn.BatchNorm1d(s.head_hidden),
            nn.ReLU(), nn.Dropout(s.dropout_high * 0.75), nn.Linear(s.head_hidden, s.n_classes))
        self.arcface_head = ArcFaceHead(s.fused_dim, s.n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        fused, weights = self.backbone(x)
        return self.softmax_head(fused), self.arcface_head(fused), fused, weights


class ContrastiveNet(nn.Module):
    """Backbone + projection MLP for NT-Xent pre-training (SimCLR).

    It shares the backbone module with a ``BearingNet``, so pre-trained weights
    are simply there when fine-tuning starts; the projection is thrown away.
    """

    def __init__(self, backbone: Backbone, dim: int = 64) -> None:
        super().__init__()
        fused = backbone.shape.fused_dim
        self.backbone = backbone
        self.projection = nn.Sequential(nn.Linear(fused, fused), nn.ReLU(), nn.Linear(fused, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(x)[0])
