"""RNN / LSTM / GRU price forecaster with the seasonal and trend losses of seed 002."""
