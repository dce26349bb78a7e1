"""Bearing transforms: FFT spectrum, STFT and CWT images computed per batch on the
training device, against reading precomputed features from memory.

    python benchmarks/bearing_transforms.py [--windows 4096] [--batch 64] [--device cpu|cuda]

On-the-fly transforms keep memory at one batch and allow augmentation before the
transform; precomputing costs memory proportional to the dataset. Prints windows
per second and memory for each, writes benchmarks/results/bearing_transforms.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import table, write_report  # noqa: E402
from data.signal import CWT, fft_spectrum, stft_image  # noqa: E402


def transforms(device: torch.device) -> dict:
    cwt = CWT(size=(64, 64)).to(device)
    return {
        "fft": fft_spectrum,
        "stft": lambda x: stft_image(x, n_fft=126, hop=8, size=(64, 64)),
        "cwt": cwt,
    }


def per_batch(fn, signals: torch.Tensor, batch: int) -> float:
    started = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(signals), batch):
            fn(signals[lo: lo + batch])
    if signals.is_cuda:
        torch.cuda.synchronize()
    return len(signals) / (time.perf_counter() - started)


def precomputed(fn, signals: torch.Tensor, batch: int) -> tuple[float, float, float]:
    """(windows/s to precompute, windows/s to read batches back, MB held)."""
    started = time.perf_counter()
    with torch.no_grad():
        features = torch.cat([fn(signals[lo: lo + batch]) for lo in range(0, len(signals), batch)])
    build = len(signals) / (time.perf_counter() - started)
    started = time.perf_counter()
    for lo in range(0, len(features), batch):
        features[lo: lo + batch].clone()
    read = len(features) / (time.perf_counter() - started)
    return build, read, features.numel() * features.element_size() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    signals = torch.randn(args.windows, 512, device=device)
    rows = []
    for name, fn in transforms(device).items():
        on_the_fly = per_batch(fn, signals, args.batch)
        build, read, megabytes = precomputed(fn, signals, args.batch)
        batch_mb = megabytes * args.batch / args.windows
        rows.append({"transform": name, "on_the_fly_win_s": on_the_fly, "precompute_win_s": build,
                     "precomputed_read_win_s": read, "precomputed_mb": megabytes, "per_batch_mb": batch_mb,
                     "read_speedup": read / on_the_fly})
    print(table(rows, list(rows[0])))
    print(f"device {device}; {args.windows} windows of 512 samples; memory per batch vs whole precomputed set")
    path = write_report("bearing_transforms", {"device": str(device), "windows": args.windows, "batch": args.batch,
                                               "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
