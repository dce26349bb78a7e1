"""RNN / LSTM / GRU price forecaster with the seasonal and trend losses of seed 002.

Task reading (``target``, see config.py): ``day_ahead`` by default — at midnight of
day d forecast its 24 hourly EPEX-France prices from the 14 days before it (the
paper's "lag window 14" in days); ``hour_ahead`` (14 hours -> next hour) is the
other reading, kept as an option. Data and eq. 26: data/epf.py. Baselines:
baselines.py. The paper's Table 3: ``python benchmarks/epf_table.py``.
"""
