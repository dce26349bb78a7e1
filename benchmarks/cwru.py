"""CWRU 10-class (0 HP, drive end) benchmark of the multimodal bearing classifier.

Leak-free protocol: every recording at 12 kHz (Normal_0 decimated from 48 kHz), cut
into 20 chronological blocks; windows of 512 / step 256 inside blocks only; fold k
tests on the k-th fifth of every recording and validates on one block of the next.

Runs (each can be reduced from the command line):
  full       the default recipe on every requested fold: accuracy, macro-F1,
             seconds per epoch, and test noise at 0 / -4 dB SNR
  ablations  on --ablation-folds: each branch alone, fusion without each level,
             with NT-Xent pre-training
  labels     --label-fraction of the training windows labelled, with and without
             pre-training on all training windows

Results are written after every run to benchmarks/results/cwru_<time>.json, and a
table is printed beside the plain-CNN numbers of shared/ANCHORS.md.

  ORCH_DATA_DIR=../shared/data python benchmarks/cwru.py --folds 0 --epochs 2 --ablations none

--seeds N trains N members per fold and also scores them as one mean-probability
ensemble (their test probabilities are saved beside the report). --merge combines
reports of runs made as separate processes (e.g. one per fold and seed on a GPU):

  python benchmarks/cwru.py --noise-aug 1 --select-on val_noisy_acc --val-snr -4 \
      --ablations none --label-fraction 0 --seeds 3          # the README's noise recipe
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from trainables.bearing.config import BearingConfig
from trainables.bearing.scoring import snr_tag
from trainables.bearing.task import SPEC
from trainables.config import build_config
from trainables.context import LocalContext, pick_device
from data.source import builtin_source

ANCHOR = {  # shared/ANCHORS.md, plain WDCNN-style CNN, 80/20 chronological split, 5 seeds
    "clean": "99.08 +- 0.32",
    "snr0": "97.03 +- 0.78 (noise-trained); 59.2 clean-trained",
    "snr-4": "89.65 +- 2.00 (noise-trained); 32.7 clean-trained",
    "labels": "72.8 +- 5.5 (5 % labels, no pre-training)",
}
TARGET = {"clean": 99.5, "snr0": 98.0, "snr-4": 93.0, "labels": 90.0}

ABLATIONS = {
    "baseline": {},  # the full model at the ablation epochs: what every ablation is compared with
    "time_only": {"branches": ["time"]},
    "freq_only": {"branches": ["freq"]},
    "tf_only": {"branches": ["tf"]},
    "no_level1": {"fusion_levels": [2, 3]},
    "no_level2": {"fusion_levels": [1, 3]},
    "no_level3": {"fusion_levels": [1, 2]},
    "pretrained": {"pretrain_epochs": None},  # filled from --pretrain-epochs
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--folds", default="0,1,2,3,4", help="folds of the full run")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--size", default="small", choices=("small", "medium", "large"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--noise-aug", type=float, default=0.5, help="fraction of training windows given SNR noise")
    p.add_argument("--test-snr", default="0,-4")
    p.add_argument("--select-on", default="val_acc", choices=("val_acc", "val_loss", "val_noisy_acc"),
                   help="validation score that picks the kept epoch")
    p.add_argument("--val-snr", type=float, default=-2.0, help="SNR (dB) of the noisy validation windows")
    p.add_argument("--noise-snr", default="-4,8", help="low,high SNR (dB) of the training noise")
    p.add_argument("--ablations", default="all", help="'all', 'none' or a comma list of " + ",".join(ABLATIONS))
    p.add_argument("--ablation-folds", default="0")
    p.add_argument("--ablation-epochs", type=int, default=0, help="0 = --epochs")
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--label-fraction", type=float, default=0.05, help="0 = skip the few-label runs")
    p.add_argument("--label-epochs", type=int, default=40, help="fine-tuning epochs with few labels")
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 avoids OpenMP spin-waits when the cores are shared")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=int, default=1,
                   help="members per fold of the full run (seeds seed..seed+N-1), scored alone and as a "
                        "mean-probability ensemble")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any BearingConfig field for every run, e.g. --set dropout_high=0.5 (repeatable)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="only combine the runs of earlier reports (e.g. one process per fold) into --out")
    p.add_argument("--out", default=None)
    return p.parse_args()


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def base_values(args: argparse.Namespace) -> dict:
    noise_low, noise_high = (float(v) for v in args.noise_snr.split(","))
    return {"model_size": args.size, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
            "warmup_epochs": 1 if args.epochs > 2 else 0, "noise_aug_p": args.noise_aug, "seed": args.seed,
            "test_snr_db": [float(v) for v in args.test_snr.split(",") if v.strip()], "tsne_points": 0,
            "select_on": args.select_on, "val_snr_db": args.val_snr,
            "noise_snr_low": noise_low, "noise_snr_high": noise_high, **parse_overrides(args.overrides)}


def parse_overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs, values read as YAML scalars/lists (``0.5``, ``[time, freq]``)."""
    import yaml

    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair}: expected KEY=VALUE")
        values[key.strip()] = yaml.safe_load(text)
    return values


def run_one(name: str, values: dict, data, record: dict, path: Path, device: str = "cpu") -> dict:
    cfg = build_config(BearingConfig, values, source=name)
    started = time.perf_counter()
    def progress(metrics: dict, _checkpoint: str | None) -> None:
        print(f"  {name} stage {metrics['stage']:.0f} epoch {metrics['epoch']:.0f}: loss {metrics['train_loss']:.4f} "
              f"val_acc {metrics['val_acc']:.4f} ({metrics['epoch_seconds']:.1f} s)", flush=True)

    result = SPEC.fit(cfg, data, LocalContext(device=device, on_report=progress))
    keep = {k: v for k, v in result.metrics.items() if "_precision_" not in k and "_recall_" not in k
            and "_f1_" not in k}
    entry = {"name": name, "config": values, "metrics": keep, "wall_s": time.perf_counter() - started,
             "confusion": result.outputs["confusion"].tolist(),
             "mean_modality_weights": dict(zip(result.outputs["branch_names"],
                                               result.outputs["modality_weights"].mean(0).round(4).tolist())),
             "stage_epochs": {k: len(v) for k, v in result.stages.items()}}
    record["runs"].append(entry)
    path.write_text(json.dumps(record, indent=1))
    np.savez_compressed(probs_path(path, name), labels=result.outputs["test_labels"], clean=result.outputs["test_probs"],
                        **result.outputs["noisy_test_probs"])
    summary = {k: round(v, 4) for k, v in keep.items() if k.endswith("_acc") or k == "seconds_per_epoch"}
    print(f"[{name}] {summary} ({entry['wall_s']:.0f} s)", flush=True)
    return entry


def probs_path(report: Path, run_name: str) -> Path:
    """Test probabilities of one run, beside its report (what ensembles are scored from)."""
    return report.parent / f"{report.stem}.{run_name.replace('/', '_')}.npz"


def add_ensembles(record: dict, reports: list[Path]) -> None:
    """Score each fold's seed members as one mean-probability ensemble (runs 'ensemble/foldK')."""
    record["runs"] = [r for r in record["runs"] if not r["name"].startswith("ensemble/")]
    members: dict[int, list[Path]] = {}
    for report in reports:
        for run in json.loads(report.read_text())["runs"]:
            if run["name"].startswith("full/") and probs_path(report, run["name"]).exists():
                members.setdefault(run["config"]["fold"], []).append(probs_path(report, run["name"]))
    for fold, paths in sorted(members.items()):
        if len(paths) < 2:
            continue
        loaded = [np.load(p) for p in paths]
        labels = loaded[0]["labels"]
        metrics = {}
        for key in loaded[0].files:
            if key != "labels":
                mean = np.mean([d[key] for d in loaded], axis=0)
                metrics["test_acc" if key == "clean" else f"test_{key}_acc"] = float((mean.argmax(-1) == labels).mean())
        record["runs"].append({"name": f"ensemble/fold{fold}", "members": len(paths), "metrics": metrics})


def target_key(snr: float) -> str:
    """The TARGET / ANCHOR key of a test SNR."""
    return "snr0" if snr == 0 else f"snr{snr:g}"


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    arr = 100 * np.asarray(values)
    return f"{arr.mean():.2f} +- {arr.std():.2f} (n={len(arr)})" if len(arr) > 1 else f"{arr[0]:.2f} (n=1)"


def table(record: dict, snrs: list[float]) -> str:
    runs = record["runs"]
    lines = ["| setting | ours (mean +- sd over folds, %) | target | plain CNN (ANCHORS.md) |", "|---|---|---|---|"]
    full = [r for r in runs if r["name"].startswith("full/")]
    if full:
        lines.append(f"| clean accuracy | {mean_sd([r['metrics']['test_acc'] for r in full])} | "
                     f">= {TARGET['clean']} | {ANCHOR['clean']} |")
        lines.append(f"| clean macro-F1 | {mean_sd([r['metrics']['test_macro_f1'] for r in full])} | | |")
        for snr in snrs:
            key = f"test_{snr_tag(snr)}_acc"
            tag = target_key(snr)
            lines.append(f"| test noise {snr:g} dB | {mean_sd([r['metrics'][key] for r in full])} | "
                         f">= {TARGET.get(tag, '-')} | {ANCHOR.get(tag, '-')} |")
        ensembles = [r for r in runs if r["name"].startswith("ensemble/")]
        if ensembles:
            size = ensembles[0]["members"]
            lines.append(f"| {size}-seed ensemble, clean | {mean_sd([r['metrics']['test_acc'] for r in ensembles])} "
                         f"| >= {TARGET['clean']} | |")
            for snr in snrs:
                tag = target_key(snr)
                key = f"test_{snr_tag(snr)}_acc"
                lines.append(f"| {size}-seed ensemble, noise {snr:g} dB | "
                             f"{mean_sd([r['metrics'][key] for r in ensembles])} | >= {TARGET.get(tag, '-')} | |")
        sec = np.mean([r["metrics"]["seconds_per_epoch"] for r in full])
        lines.append(f"| seconds per epoch ({record['args']['size']}, {record['machine']['device']}) | {sec:.1f} | | "
                     "~0.5 (2 CPU cores) |")
    for r in runs:
        if r["name"].startswith(("ablation/", "labels/")):
            m = r["metrics"]
            noisy = " / ".join(f"{100 * m[f'test_{snr_tag(s)}_acc']:.2f}" for s in snrs if f"test_{snr_tag(s)}_acc" in m)
            target = f">= {TARGET['labels']}" if r["name"].startswith("labels/") else ""
            anchor = ANCHOR["labels"] if r["name"].startswith("labels/") else ""
            lines.append(f"| {r['name']} | {100 * m['test_acc']:.2f} (F1 {100 * m['test_macro_f1']:.2f}; "
                         f"noise {noisy}) | {target} | {anchor} |")
    return "\n".join(lines)


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{torch.get_num_threads()} CPU threads"


def merge(paths: list[str], out: Path) -> None:
    """One report from several (folds run as separate processes), table recomputed."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    record = {**reports[0], "merged_from": paths, "runs": [r for rep in reports for r in rep["runs"]]}
    add_ensembles(record, [Path(p) for p in paths])
    record["table"] = table(record, record["runs"][0]["config"].get("test_snr_db", []))
    out.write_text(json.dumps(record, indent=1))
    print(record["table"])
    print(f"written: {out}")


def main() -> None:
    args = parse()
    if args.merge:
        merge(args.merge, Path(args.out or "benchmarks/results/cwru_merged.json"))
        return
    torch.set_num_threads(args.threads)
    base = base_values(args)
    snrs = base["test_snr_db"]
    data = SPEC.load_data(build_config(BearingConfig, base), builtin_source("cwru", args.data_dir or os.environ.get("ORCH_DATA_DIR")))
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = Path(args.out) if args.out else out_dir / f"cwru_{time.strftime('%Y%m%d_%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    args.device = pick_device(args.device).type
    record = {"benchmark": "cwru-10class-0hp-leakfree-5fold", "args": vars(args), "anchor": ANCHOR,
              "machine": {"cpu_threads": args.threads, "platform": platform.platform(),
                          "torch": torch.__version__, "device": device_name(args.device)},
              "windows": len(data), "runs": []}
    if not args.skip_full:
        for fold in ints(args.folds):
            for seed in range(args.seed, args.seed + args.seeds):
                name = f"full/fold{fold}" + (f"/seed{seed}" if args.seeds > 1 else "")
                run_one(name, {**base, "fold": fold, "seed": seed}, data, record, path, args.device)
        add_ensembles(record, [path])
    chosen = list(ABLATIONS) if args.ablations == "all" else [] if args.ablations == "none" else \
        [a for a in args.ablations.split(",") if a]
    abl_epochs = args.ablation_epochs or args.epochs
    for name in chosen:
        change = dict(ABLATIONS[name])
        if "pretrain_epochs" in change:
            change["pretrain_epochs"] = args.pretrain_epochs
        for fold in ints(args.ablation_folds):
            run_one(f"ablation/{name}/fold{fold}", {**base, **change, "epochs": abl_epochs, "fold": fold},
                    data, record, path, args.device)
    if args.label_fraction > 0:
        for fold in ints(args.ablation_folds):
            few = {**base, "label_fraction": args.label_fraction, "epochs": args.label_epochs, "fold": fold,
                   "batch_size": 32, "patience": 0}
            run_one(f"labels/{args.label_fraction:g}/no_pretrain/fold{fold}", few, data, record, path, args.device)
            run_one(f"labels/{args.label_fraction:g}/pretrained/fold{fold}",
                    {**few, "pretrain_epochs": args.pretrain_epochs}, data, record, path, args.device)
    text = table(record, snrs)
    record["table"] = text
    path.write_text(json.dumps(record, indent=1))
    print(text)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
