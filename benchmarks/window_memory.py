"""Windowing memory and table caching.

1. The seed guide's windows (input 3000, output 1000, step 50) over long series:
   peak memory of building the windows and iterating batches, against the raw data.
2. Loading a parsed table from the Parquet cache against parsing the CSV.

    python benchmarks/window_memory.py [--rows 1000000] [--channels 8]

Prints a ratio table and writes benchmarks/results/window_memory.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks.common import table, use_shared_data, write_report  # noqa: E402
from data.windows import WindowDataset, keep_batch, window_starts  # noqa: E402


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def window_peak(rows: int, channels: int, batch: int) -> dict:
    """Peak resident memory while cutting and iterating windows, series included.

    The kernel's high-water mark (VmHWM) is reset once the series exists, so the
    extra it records is what windowing itself costs (torch tensors included, which
    tracemalloc would not see)."""
    series = np.random.default_rng(0).normal(size=(rows, channels)).astype(np.float32)
    raw = series.nbytes
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _status_kb("VmRSS") * 1024
    starts = window_starts((0, rows), 3000, 1000, 50, lookback_from_previous=False)
    dataset = WindowDataset(series, starts, 3000, 1000)
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, collate_fn=keep_batch)
    seen = 0
    for x, y in loader:
        seen += len(x)
    peak = max(0, _status_kb("VmHWM") * 1024 - baseline)
    copies = len(starts) * 4000 * channels * 4  # what materialising every window would take
    return {"rows": rows, "channels": channels, "windows": len(starts), "raw_mb": raw / 2**20,
            "peak_mb": (raw + peak) / 2**20, "ratio": (raw + peak) / raw, "materialised_mb": copies / 2**20,
            "batch": batch, "windows_seen": seen}


def cache_speed() -> dict:
    from data.cache import cached_table
    from data.ett import read_ett_csv
    from data.registry import dataset_file

    path = dataset_file("ettm1")
    cached_table(path, read_ett_csv)  # make sure the cache exists
    started = time.perf_counter()
    for _ in range(3):
        read_ett_csv(path)
    csv_s = (time.perf_counter() - started) / 3
    started = time.perf_counter()
    for _ in range(3):
        cached_table(path, read_ett_csv)
    parquet_s = (time.perf_counter() - started) / 3
    return {"file": path.name, "csv_parse_s": csv_s, "parquet_load_s": parquet_s, "speedup": csv_s / parquet_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    use_shared_data()
    memory = window_peak(args.rows, args.channels, args.batch)
    print(table([memory], ["rows", "channels", "windows", "raw_mb", "peak_mb", "ratio", "materialised_mb"]))
    print("target: peak <= 1.5 x raw data")
    cache = cache_speed()
    print(table([cache], ["file", "csv_parse_s", "parquet_load_s", "speedup"]))
    path = write_report("window_memory", {"windows": memory, "cache": cache})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
