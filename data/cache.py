"""Parsed tables cached as Parquet, keyed by the source file's checksum."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from data.registry import cache_dir, file_sha256


def cached_table(source: Path, reader: Callable[[Path], pd.DataFrame], version: str = "1") -> pd.DataFrame:
    """``reader(source)``, served from a Parquet copy when the source is unchanged.

    The cache key is the source's sha256 plus a reader version, so an edited file
    or a changed parser never serves stale rows. A cache that cannot be written
    (read-only home) is skipped silently: caching is only a speed-up.
    """
    key = f"{source.stem}-{file_sha256(source)[:16]}-v{version}.parquet"
    path = cache_dir() / "parquet" / key
    if path.is_file():
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    frame = reader(source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    except OSError:
        pass
    return frame
