"""Training-loop overhead: TimeMixer's samples per second through our loop against
a minimal plain PyTorch loop of the same model, data and optimiser, and the
reference implementation's speed on ETTh1 (ANCHORS.md: ~415 samples/s).

    python benchmarks/loop_overhead.py [--batches 40] [--repeats 3]

Prints a ratio table and writes benchmarks/results/loop_overhead.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks.common import table, use_shared_data, write_report  # noqa: E402
from data.windows import keep_batch  # noqa: E402
from trainables.config import build_config  # noqa: E402
from trainables.context import LocalContext  # noqa: E402
from trainables.timemixer.config import TimeMixerConfig  # noqa: E402
from trainables.timemixer.data import split_dataset  # noqa: E402
from trainables.timemixer.task import SPEC, build_model, load_data  # noqa: E402
from data.source import builtin_source

REFERENCE_SAMPLES_PER_S = 415.0


def plain_samples_per_s(cfg: TimeMixerConfig, data, batches: int) -> float:
    """The loop a user would write by hand: Adam, OneCycle, MSE, nothing else."""
    torch.manual_seed(cfg.seed)
    loader = DataLoader(split_dataset(cfg, data, "train", 1), batch_size=cfg.batch_size, shuffle=True,
                        collate_fn=keep_batch, generator=torch.Generator().manual_seed(cfg.seed))
    model = build_model(cfg, data)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=len(loader), pct_start=0.2)
    model.train()
    seen, started = 0, time.perf_counter()
    for i, (x, y, xm, _) in enumerate(loader):
        if i == batches:
            break
        loss = torch.nn.functional.mse_loss(model(x, xm), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen += len(x)
    return seen / (time.perf_counter() - started)


def our_samples_per_s(cfg: TimeMixerConfig, data, batches: int) -> float:
    """The same work through spec.fit: our loop's training time (evaluation excluded)."""
    capped = build_config(TimeMixerConfig, {"epochs": 1, "max_train_batches": batches, "checkpoint_every": 0},
                          base=cfg)
    ctx = LocalContext("cpu")
    SPEC.fit(capped, data, ctx)
    return batches * cfg.batch_size / ctx.history[-1]["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    use_shared_data()
    torch.set_num_threads(args.threads)
    cfg = TimeMixerConfig()  # the reference ETTh1 settings (pred 96)
    data = load_data(cfg, builtin_source("etth1"))
    plain, ours = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        plain.append(plain_samples_per_s(cfg, data, args.batches))
        ours.append(our_samples_per_s(cfg, data, args.batches))
    p, o = float(np.median(plain)), float(np.median(ours))
    rows = [
        {"path": "plain PyTorch loop", "samples_per_s": p, "vs_plain": 1.0, "vs_reference": p / REFERENCE_SAMPLES_PER_S},
        {"path": "our loop (spec.fit)", "samples_per_s": o, "vs_plain": o / p, "vs_reference": o / REFERENCE_SAMPLES_PER_S},
        {"path": "reference TimeMixer code", "samples_per_s": REFERENCE_SAMPLES_PER_S, "vs_plain": REFERENCE_SAMPLES_PER_S / p,
         "vs_reference": 1.0},
    ]
    print(table(rows, ["path", "samples_per_s", "vs_plain", "vs_reference"]))
    print(f"loop overhead: {100 * (1 - o / p):.1f} % (target <= 5 %); "
          f"speed vs reference: {o / REFERENCE_SAMPLES_PER_S:.2f} x (target >= 1.2 x)")
    path = write_report("loop_overhead", {"batches": args.batches, "repeats": args.repeats, "threads": args.threads,
                                          "plain_runs": plain, "our_runs": ours, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
