"""DLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?",
AAAI 2023): a moving-average decomposition of the input window into trend and
remainder (seasonal), one linear map from ``input_len`` to ``output_len`` steps for
each part, the two forecasts summed.

Input ``x`` is (batch, input_len, channels); output is (batch, output_len, channels).
Every channel is forecast from its own history only (channel-independent); the maps
are shared by all channels, or one pair per channel with ``individual``.

Follows the reference code, cure-lab/LTSF-Linear ``models/DLinear.py`` (the same in
thuml/Time-Series-Library ``models/DLinear.py`` and its ``series_decomp``):

* the trend is an average over ``kernel`` steps at stride 1, the window's ends padded
  by repeating its first and last value, so the trend has the window's length; the
  reference pads ``(kernel - 1) // 2`` steps at both ends, which for an even kernel
  leaves the trend one step short and fails; here the end gets ``kernel // 2``, the
  same for odd kernels (the default 25) and defined for even ones;
* each map's weights start at ``1 / input_len`` (a forecast of the window's mean),
  the biases at PyTorch's ``nn.Linear`` default, uniform in +-1/sqrt(input_len);
* the reference's ``Linear_Decoder`` layers are left out: its forward never uses them
  (they only add parameters to its count).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SeriesDecomposition(nn.Module):
    """(seasonal, trend): trend = edge-replicated moving average, seasonal = x - trend."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = x[:, :1, :].expand(-1, (self.kernel - 1) // 2, -1)
        back = x[:, -1:, :].expand(-1, self.kernel // 2, -1)
        padded = torch.cat([front, x, back], dim=1)
        trend = F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1).transpose(1, 2)
        return x - trend, trend


class TimeLinear(nn.Module):
    """A linear map along time, input_len -> output_len, applied to every channel:
    one map shared by all (``groups=1``) or one per channel (``groups=channels``)."""

    def __init__(self, input_len: int, output_len: int, groups: int = 1) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((groups, output_len, input_len), 1.0 / input_len))
        bound = 1.0 / math.sqrt(input_len)
        self.bias = nn.Parameter(torch.empty(groups, output_len).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, input_len) -> (batch, channels, output_len)."""
        if self.weight.shape[0] == 1:
            return F.linear(x, self.weight[0], self.bias[0])
        return torch.einsum("bci,coi->bco", x, self.weight) + self.bias


class DLinear(nn.Module):
    def __init__(self, input_len: int, output_len: int, channels: int, moving_avg: int = 25,
                 individual: bool = False) -> None:
        super().__init__()
        self.input_len, self.output_len, self.channels = input_len, output_len, channels
        self.decompose = SeriesDecomposition(moving_avg)
        groups = channels if individual else 1
        self.seasonal = TimeLinear(input_len, output_len, groups)
        self.trend = TimeLinear(input_len, output_len, groups)

    def forward(self, x: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Forecast (batch, output_len, channels) from (batch, input_len, channels);
        ``marks`` (calendar features) are accepted as every forecaster's are, and unused."""
        seasonal, trend = self.decompose(x)
        out = self.seasonal(seasonal.transpose(1, 2)) + self.trend(trend.transpose(1, 2))
        return out.transpose(1, 2)
