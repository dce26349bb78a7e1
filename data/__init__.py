"""Datasets: registry and file lookup, readers, windows, scalers, synthetic generators."""

from data.errors import DataError

__all__ = ["DataError"]
