"""TimeMixer: Past-Decomposable-Mixing over several scales, then one predictor per
scale summed (Future-Multipredictor-Mixing).

Input ``x`` is (batch, input_len, channels); output is (batch, output_len, channels).
Design follows the paper (Wang et al., ICLR 2024) and its reference code, with one
deliberate difference: the DFT decomposition works along time (the paper's intent);
the reference applies the FFT to the last (feature) axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TimeMixerShape:
    """The architectural settings the model needs (a view of the task config)."""

    input_len: int
    output_len: int
    channels: int
    d_model: int = 16
    d_ff: int = 32
    e_layers: int = 2
    down_sampling_layers: int = 3
    down_sampling_window: int = 2
    down_sampling_method: str = "avg"  # avg | max | conv
    decomposition: str = "moving_avg"  # moving_avg | dft
    moving_avg: int = 25
    top_k: int = 5
    channel_independence: bool = True
    dropout: float = 0.1
    use_norm: bool = True
    mark_features: int = 0  # calendar features per step; 0 = none
    out_channels: int = 0  # 0 = same as channels
    n_outputs: int = 1  # values per step and channel (3 for the 0.1/0.5/0.9 quantiles)
    n_series: int = 0  # learned per-series (per-well) embedding; 0 = none
    aux_heads: bool = False  # multi-task: trend direction + decline rate from the encoder


class RevIN(nn.Module):
    """Reversible instance normalisation: per-series mean/std, learnable affine."""

    def __init__(self, channels: int, eps: float = 1e-5, enabled: bool = True) -> None:
        super().__init__()
        self.eps, self.enabled = eps, enabled
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        self.mean = x.mean(dim=1, keepdim=True).detach()
        self.std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        return (x - self.mean) / self.std * self.weight + self.bias

    def denormalize(self, x: torch.Tensor, channels: slice | None = None) -> torch.Tensor:
        if not self.enabled:
            return x
        weight, bias = self.weight, self.bias
        mean, std = self.mean, self.std
        if channels is not None:
            weight, bias, mean, std = weight[channels], bias[channels], mean[..., channels], std[..., channels]
        x = (x - bias) / (weight + self.eps * self.eps)
        return x * std + mean


class MovingAvgDecomposition(nn.Module):
    """Trend = moving average with edge replication; season = residual.

    Up to ``MATMUL_MAX_LENGTH`` steps the average is one matmul with a fixed
    (length x length) matrix that folds the edge replication in: the same values up to
    float rounding, 2-4x faster on CPU than padding + avg_pool (which grows as
    length x kernel instead of length², so longer inputs keep it)."""

    MATMUL_MAX_LENGTH = 128

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self._matrices: dict[tuple[int, torch.device], torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = x.shape[1]
        if length > self.MATMUL_MAX_LENGTH:
            front = x[:, :1, :].repeat(1, (self.kernel - 1) // 2, 1)
            back = x[:, -1:, :].repeat(1, self.kernel // 2, 1)
            padded = torch.cat([front, x, back], dim=1)
            trend = F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1).transpose(1, 2)
            return x - trend, trend
        with torch.autocast(device_type=x.device.type, enabled=False):  # exact 1/kernel weights
            trend = torch.matmul(self.averaging_matrix(length, x.device), x.float()).to(x.dtype)
        return x - trend, trend

    def averaging_matrix(self, length: int, device: torch.device) -> torch.Tensor:
        """Row t holds the weights of x[0..length) in the replicate-padded window at t."""
        key = (length, device)
        if key not in self._matrices:
            left = (self.kernel - 1) // 2
            rows = torch.arange(length).repeat_interleave(self.kernel)
            cols = (torch.arange(length)[:, None] + torch.arange(self.kernel) - left).clamp(0, length - 1).flatten()
            matrix = torch.zeros(length, length, dtype=torch.float32)
            matrix.index_put_((rows, cols), torch.full((rows.numel(),), 1.0 / self.kernel), accumulate=True)
            self._matrices[key] = matrix.to(device)
        return self._matrices[key]


class DFTDecomposition(nn.Module):
    """Season = the top-k frequencies along time; trend = the rest."""

    def __init__(self, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spectrum = torch.fft.rfft(x, dim=1)
        power = spectrum.abs()
        power[:, 0] = 0
        k = min(self.top_k, power.shape[1])
        threshold = torch.topk(power, k, dim=1).values[:, -1:, :]
        season = torch.fft.irfft(spectrum * (power >= threshold), n=x.shape[1], dim=1)
        return season, x - season


def _time_mlp(length_in: int, length_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(length_in, length_out), nn.GELU(), nn.Linear(length_out, length_out))


class SeasonMixing(nn.Module):
    """Bottom-up: fine-scale seasonal patterns inform coarser ones."""

    def __init__(self, lengths: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_time_mlp(lengths[i], lengths[i + 1]) for i in range(len(lengths) - 1))

    def forward(self, seasons: list[torch.Tensor]) -> list[torch.Tensor]:
        # tensors are (batch, d_model, length)
        high, out = seasons[0], [seasons[0]]
        for i, layer in enumerate(self.layers):
            high = seasons[i + 1] + layer(high)
            out.append(high)
        return out


class TrendMixing(nn.Module):
    """Top-down: coarse-scale trends guide finer ones."""

    def __init__(self, lengths: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _time_mlp(lengths[i + 1], lengths[i]) for i in reversed(range(len(lengths) - 1))
        )

    def forward(self, trends: list[torch.Tensor]) -> list[torch.Tensor]:
        reverse = trends[::-1]
        low, out = reverse[0], [reverse[0]]
        for i, layer in enumerate(self.layers):
            low = reverse[i + 1] + layer(low)
            out.append(low)
        return out[::-1]


class PastDecomposableMixing(nn.Module):
    """One PDM block: decompose each scale, mix seasons up and trends down, add back."""

    def __init__(self, shape: TimeMixerShape, lengths: list[int]) -> None:
        super().__init__()
        self.channel_independence = shape.channel_independence
        if shape.decomposition == "dft":
            self.decompose: nn.Module = DFTDecomposition(shape.top_k)
        else:
            self.decompose = MovingAvgDecomposition(shape.moving_avg)
        if not shape.channel_independence:  # mixes channels inside d_model
            self.cross = nn.Sequential(
                nn.Linear(shape.d_model, shape.d_ff), nn.GELU(), nn.Linear(shape.d_ff, shape.d_model)
            )
        self.season_mixing = SeasonMixing(lengths)
        self.trend_mixing = TrendMixing(lengths)
        self.feed_forward = nn.Sequential(
            nn.Linear(shape.d_model, shape.d_ff), nn.GELU(), nn.Linear(shape.d_ff, shape.d_model)
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        seasons, trends = [], []
        for x in xs:  # (batch, length, d_model)
            season, trend = self.decompose(x)
            if not self.channel_independence:
                season, trend = self.cross(season), self.cross(trend)
            seasons.append(season.transpose(1, 2))
            trends.append(trend.transpose(1, 2))
        mixed_seasons = self.season_mixing(seasons)
        mixed_trends = self.trend_mixing(trends)
        out = []
        for x, season, trend in zip(xs, mixed_seasons, mixed_trends):
            mixed = (season + trend).transpose(1, 2)
            if self.channel_independence:
                mixed = x + self.feed_forward(mixed)
            out.append(mixed[:, : x.shape[1], :])
        return out


class TokenEmbedding(nn.Module):
    """Circular 1-D convolution (kernel 3) from channels to d_model, plus calendar marks."""

    def __init__(self, c_in: int, d_model: int, mark_features: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, d_model, kernel_size=3, padding=1, padding_mode="circular", bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="leaky_relu")
        self.marks = nn.Linear(mark_features, d_model, bias=False) if mark_features else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, marks: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x.transpose(1, 2)).transpose(1, 2)
        if self.marks is not None and marks is not None:
            out = out + self.marks(marks)
        return self.dropout(out)


class TimeMixer(nn.Module):
    """Multiscale mixing forecaster; see the module docstring."""

    def __init__(self, shape: TimeMixerShape) -> None:
        super().__init__()
        self.shape = shape
        window, layers = shape.down_sampling_window, shape.down_sampling_layers
        self.lengths = [shape.input_len // window**i for i in range(layers + 1)]
        if self.lengths[-1] < 1:
            raise ValueError(f"input_len {shape.input_len} is too short for {layers} down-samplings by {window}")
        c = shape.channels
        self.out_channels = shape.out_channels or c
        self.norms = nn.ModuleList(RevIN(c, enabled=shape.use_norm) for _ in self.lengths)
        if shape.down_sampling_method == "conv":
            self.down_convs = nn.ModuleList(
                nn.Conv1d(c, c, kernel_size=3, padding=1, stride=window, padding_mode="circular", bias=False)
                for _ in range(layers)
            )
        c_in = 1 if shape.channel_independence else c
        self.embedding = TokenEmbedding(c_in, shape.d_model, shape.mark_features, shape.dropout)
        self.blocks = nn.ModuleList(PastDecomposableMixing(shape, self.lengths) for _ in range(shape.e_layers))
        self.predictors = nn.ModuleList(nn.Linear(length, shape.output_len) for length in self.lengths)
        self.n_outputs = shape.n_outputs
        if shape.channel_independence:
            self.projection = nn.Linear(shape.d_model, shape.n_outputs)
        else:
            self.projection = nn.Linear(shape.d_model, self.out_channels * shape.n_outputs)
            self.pre_decompose = MovingAvgDecomposition(shape.moving_avg)
            self.residual_layers = nn.ModuleList(nn.Linear(n, n) for n in self.lengths)
            self.regression_layers = nn.ModuleList(nn.Linear(n, shape.output_len) for n in self.lengths)
        # Extras of the seed guide; absent (no parameters) at their defaults, so the
        # reference model and its parameter count are unchanged.
        self.series_embedding = nn.Embedding(shape.n_series, shape.d_model) if shape.n_series else None
        if shape.aux_heads:
            self.direction_head = nn.Linear(shape.d_model, 1)
            self.decline_head = nn.Linear(shape.d_model, 1)

    def _downsample(self, x: torch.Tensor, marks: torch.Tensor | None):
        xs, ms = [x], [marks]
        current = x.transpose(1, 2)  # (batch, channels, length)
        window = self.shape.down_sampling_window
        for i in range(self.shape.down_sampling_layers):
            if self.shape.down_sampling_method == "max":
                current = F.max_pool1d(current, window)
            elif self.shape.down_sampling_method == "conv":
                current = self.down_convs[i](current)
            else:
                current = F.avg_pool1d(current, window)
            xs.append(current.transpose(1, 2))
            ms.append(None if marks is None else marks[:, :: window ** (i + 1), :][:, : xs[-1].shape[1]])
        return xs, ms

    def series_vectors(self, series_id: torch.Tensor) -> torch.Tensor:
        """(batch, d_model) embeddings of the series ids (mixup blends these)."""
        if self.series_embedding is None:
            raise ValueError("this model has no series embedding (n_series = 0)")
        return self.series_embedding(series_id)

    def forward(self, x: torch.Tensor, marks: torch.Tensor | None = None, series: torch.Tensor | None = None,
                all_outputs: bool = False) -> torch.Tensor | dict[str, torch.Tensor]:
        """Forecast (batch, output_len, out_channels[, n_outputs when > 1]); with
        ``all_outputs`` the dict of ``forward_all``. Training asks for that through
        ``__call__``, the one entry DDP syncs gradients through and torch.compile compiles."""
        out = self.forward_all(x, marks, series)
        return out if all_outputs else out["forecast"]

    def forward_all(self, x: torch.Tensor, marks: torch.Tensor | None = None,
                    series: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Forecast plus what auxiliary losses need: the finest-scale hidden states
        and, with ``aux_heads``, trend-direction logits and decline rates (both per
        channel, in the window's normalised units).

        ``series`` is either integer ids (batch,) or ready vectors (batch, d_model).
        """
        batch, _, channels = x.shape
        xs, ms = self._downsample(x, marks)
        xs = [norm.normalize(xi) for norm, xi in zip(self.norms, xs)]
        residual_trends = None
        if self.shape.channel_independence:
            tokens = [xi.transpose(1, 2).reshape(batch * channels, xi.shape[1], 1) for xi in xs]
            ms = [None if m is None else m.repeat_interleave(channels, dim=0) for m in ms]
        else:
            parts = [self.pre_decompose(xi) for xi in xs]
            tokens = [season for season, _ in parts]
            residual_trends = [trend for _, trend in parts]
        hidden = [self.embedding(t, m) for t, m in zip(tokens, ms)]
        if series is not None and self.series_embedding is not None:
            vec = self.series_vectors(series) if series.dim() == 1 else series
            if self.shape.channel_independence:
                vec = vec.repeat_interleave(channels, dim=0)
            hidden = [h + vec.unsqueeze(1) for h in hidden]
        for block in self.blocks:
            hidden = block(hidden)
        outputs = []
        n_out = self.n_outputs
        for i, h in enumerate(hidden):
            out = self.predictors[i](h.transpose(1, 2)).transpose(1, 2)  # (B*, output_len, d_model)
            out = self.projection(out)
            if self.shape.channel_independence:
                out = out.reshape(batch, channels, self.shape.output_len, n_out).permute(0, 2, 1, 3)
            else:
                out = out.reshape(batch, self.shape.output_len, self.out_channels, n_out)
                trend = residual_trends[i].transpose(1, 2)
                trend = self.regression_layers[i](self.residual_layers[i](trend)).transpose(1, 2)
                out = out + trend[..., : self.out_channels].unsqueeze(-1)
            outputs.append(out)
        forecast = torch.stack(outputs, dim=-1).sum(-1)  # (B, L, C, n_out)
        channels_out = slice(0, self.out_channels) if self.out_channels != channels else None
        forecast = torch.stack([self.norms[0].denormalize(forecast[..., k], channels_out) for k in range(n_out)], -1)
        if n_out == 1:
            forecast = forecast[..., 0]
        else:  # quantiles: sorting keeps them non-crossing whatever the affine signs
            forecast = forecast.sort(dim=-1).values
        result = {"forecast": forecast, "hidden": hidden[0]}
        if self.shape.aux_heads:
            pooled = hidden[0].mean(dim=1)  # (B*, d_model)
            direction, decline = self.direction_head(pooled), self.decline_head(pooled)
            if self.shape.channel_independence:
                direction = direction.reshape(batch, channels)
                decline = decline.reshape(batch, channels)
            else:  # one summary for all channels
                direction, decline = direction.expand(batch, channels), decline.expand(batch, channels)
            result["direction_logit"], result["decline_rate"] = direction, decline
        return result
