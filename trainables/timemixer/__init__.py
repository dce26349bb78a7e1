"""TimeMixer (Wang et al., ICLR 2024): decomposable multiscale mixing for forecasting."""
