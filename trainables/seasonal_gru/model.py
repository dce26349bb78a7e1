"""A recurrent forecaster that exposes its hidden states.

The network runs hour by hour over the lag window and then over the forecast
hours. During the forecast hours the price input is zero and a flag says so;
only features known in advance (calendar, the eq. 26 slot mean, optional
day-ahead load forecasts) are fed there. Each forecast hour's output is read
from that hour's hidden state (o_t = V h_t, eq. 2), so the seasonal loss on
h_t vs h_{t+24} directly shapes the forecast's daily cycle.

With ``level_window`` > 0 the network works relative to the recent price level:
the mean of the last ``level_window`` input prices is subtracted from the price
inputs (and from the last ``price_columns`` feature columns, the lagged prices)
and added back to the forecast. Eq. 26 removes a time-of-year mean fitted on
2012-2015; 2016 sat far below it, and a network trained on absolute z-values
keeps pulling its forecasts back toward that old level.
"""

from __future__ import annotations

import torch
from torch import nn

CELLS = ("rnn", "lstm", "gru")


class RecurrentForecaster(nn.Module):
    """RNN/LSTM/GRU over ``past`` then ``future`` steps; returns (forecast, hidden)."""

    def __init__(self, n_features: int, hidden: int = 64, layers: int = 1, cell: str = "gru",
                 dropout: float = 0.0, level_window: int = 0, price_columns: int = 0) -> None:
        super().__init__()
        self.level_window = level_window
        self.price_columns = price_columns
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        # inputs per step: price, "price known" flag, known-in-advance features
        self.rnn = rnn_cls(n_features + 2, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 1)

    def forward(self, past_price: torch.Tensor, past_features: torch.Tensor,
                future_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``past_price`` (B, L, 1), features (B, L, F) and (B, H, F).

        Returns the forecast (B, H, 1) and all top-layer hidden states (B, L + H, hidden).
        """
        batch, horizon = future_features.shape[0], future_features.shape[1]
        level = None
        if self.level_window:
            level = past_price[:, -self.level_window:].mean(dim=1, keepdim=True)  # (B, 1, 1)
            past_price = past_price - level
            past_features = self._relative_prices(past_features, level)
            future_features = self._relative_prices(future_features, level)
        ones = past_price.new_ones(past_price.shape)
        zeros = future_features.new_zeros(batch, horizon, 1)
        past = torch.cat([past_price, ones, past_features], dim=-1)
        future = torch.cat([zeros, zeros, future_features], dim=-1)
        hidden, _ = self.rnn(torch.cat([past, future], dim=1))
        forecast = self.head(hidden[:, -horizon:])
        return (forecast if level is None else forecast + level), hidden

    def _relative_prices(self, features: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Subtract the level from the trailing price columns of ``features``."""
        if not self.price_columns:
            return features
        split = features.shape[-1] - self.price_columns
        return torch.cat([features[..., :split], features[..., split:] - level], dim=-1)
