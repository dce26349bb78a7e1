"""GPU paths: AMP bf16 against fp32, torch.compile, and DDP step time, on each
trainable's real training step (issue "Performance").

    python benchmarks/gpu_paths.py [--device auto|cpu|cuda] [--models timemixer,bearing,seasonal_gru]
        [--variants fp32,bf16,compile,bf16+compile] [--steps 50] [--warmup 10] [--batch-size B] [--out PATH]

Per trainable (TimeMixer reference config on ETTh1, bearing small on CWRU, seasonal
GRU on EPF FR) and variant it runs W warm-up steps (their time is ``compile_s``: with
torch.compile it holds the tracing and code generation) and then N timed steps, each
exactly run_loop's per-batch body: autocast, the family's own ``train_step`` (built by
its ``fit``), the finite-loss check, backward, clipping, optimiser and schedule step.
Batches are put on the device beforehand, so loading and host-to-device copies are
not timed. Then, for TimeMixer, the same step on the bare model against the model
wrapped in DistributedDataParallel (world size 1, in this process).

peak_mem_mb (CUDA only) is the peak above what the pre-loaded batches hold: model,
gradients, optimiser state, activations. final_loss is the mean loss of the last
steps of the same seeded run; with dropout, compiled variants also draw other random
numbers than eager ones, so part of their difference is not precision. compile_s is
a cold compile only on a machine's first run: inductor keeps its kernels on disk, so
point TORCHINDUCTOR_CACHE_DIR at an empty folder to time a cold compile again.

Prints the tables and writes benchmarks/results/gpu_paths_<cpu|cuda>.json (or --out).
Needs torch, numpy and the project's data / trainables packages only (no Ray, MLflow).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from benchmarks.common import table, use_shared_data, write_report  # noqa: E402
from benchmarks.family_step import Stepper, capture, device_batches  # noqa: E402
from trainables.config import TrainConfig, build_config  # noqa: E402
from trainables.context import pick_device  # noqa: E402
from trainables.registry import get_spec  # noqa: E402
from data.source import builtin_source

# model -> (dataset, config overrides). TimeMixer: the reference ETTh1 settings (pred 96),
# the TimeMixerConfig defaults, as in loop_overhead.py; bearing: the small model, no
# pre-training (the fine-tuning step is the one that trains every epoch).
WORKLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "timemixer": ("etth1", {}),
    "bearing": ("cwru", {"model_size": "small", "pretrain_epochs": 0}),
    "seasonal_gru": ("epf_fr", {}),
}
# variant -> (precision, torch.compile mode)
VARIANTS: dict[str, tuple[str, str]] = {
    "fp32": ("fp32", "none"),
    "bf16": ("bf16", "none"),
    "compile": ("fp32", "default"),
    "bf16+compile": ("bf16", "default"),
}
LOSS_TAIL = 5  # final_loss: mean loss of the last steps (one batch alone is noisy)
COLUMNS = ["model", "variant", "samples_per_s", "vs_fp32", "peak_mem_mb", "compile_s", "final_loss"]
DDP_COLUMNS = ["model", "path", "ms_per_step", "samples_per_s", "vs_bare"]


# --- measuring -------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clean_slate(device: torch.device) -> None:
    """Forget compiled code and cached memory, so each variant starts cold and its
    peak memory is its own."""
    gc.collect()
    torch._dynamo.reset()
    counters.clear()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def memory_mark(device: torch.device) -> int:
    """Reset the peak counter and return what is allocated now (the batches), which
    the peak then leaves out."""
    if device.type != "cuda":
        return 0
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def measure(model: str, cfg: TrainConfig, data: Any, device: torch.device, precision: str, compile_mode: str,
            warmup: int, steps: int, ddp: bool = False) -> dict[str, Any]:
    """Warm-up then timed steps of one model on one path; throughput, memory, loss."""
    clean_slate(device)
    captured = capture(model, cfg, data, device)
    batches = device_batches(captured.loader, device, warmup + steps, captured.cfg.batch_size)
    held = memory_mark(device)
    net = captured.ctx.prepare_model(captured.model)  # as run_loop: prepare, (DDP), compile
    if ddp:
        net = DistributedDataParallel(net, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None)
    if compile_mode != "none":
        net = torch.compile(net, mode=compile_mode)
    stepper = Stepper(captured, net, precision, warmup + steps)
    net.train()

    sync(device)
    started = time.perf_counter()
    for batch in batches[:warmup]:
        stepper.step(batch)
    sync(device)
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    losses = [stepper.step(batch) for batch in batches[warmup:]]
    sync(device)
    elapsed = time.perf_counter() - started
    stepper.diverged.flush(f"step {stepper.done}")

    samples = sum(len(batch[0]) for batch in batches[warmup:])
    peak = (torch.cuda.max_memory_allocated(device) - held) / 2**20 if device.type == "cuda" else "n/a"
    result = {"samples_per_s": samples / elapsed, "ms_per_step": 1000 * elapsed / steps, "peak_mem_mb": peak,
              "compile_s": warm_s, "final_loss": float(torch.stack(losses[-LOSS_TAIL:]).float().mean()),
              "batch_size": captured.cfg.batch_size}
    if compile_mode != "none":
        result.update(compile_report())
    return result


def compile_report() -> dict[str, Any]:
    """How much of the model torch.compile really compiled: the graphs, the graph
    breaks, and why parts run eagerly (e.g. Dynamo leaves nn.GRU to eager code)."""
    reasons = list(counters["graph_break"]) + list(counters["unimplemented"])
    eager = sorted({str(r).strip().splitlines()[0] for r in reasons if str(r).strip()})
    return {"graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
            "eager_because": eager}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def model_config(model: str, batch_size: int | None) -> tuple[TrainConfig, str]:
    dataset, overrides = WORKLOADS[model]
    values = {**overrides, **({"batch_size": batch_size} if batch_size else {})}
    return build_config(get_spec(model).config_cls, values, source=f"{model} workload"), dataset


def variant_rows(model: str, variants: list[str], device: torch.device, warmup: int, steps: int,
                 batch_size: int | None) -> list[dict[str, Any]]:
    """One row per variant; a failing variant records its error and the rest go on."""
    cfg, dataset = model_config(model, batch_size)
    data = get_spec(model).load_data(cfg, builtin_source(dataset))
    rows = []
    for variant in variants:
        precision, compile_mode = VARIANTS[variant]
        row: dict[str, Any] = {"model": model, "variant": variant, "precision": precision, "compile": compile_mode}
        try:
            row.update(measure(model, cfg, data, device, precision, compile_mode, warmup, steps))
        except Exception as exc:  # noqa: BLE001 - one broken path must not hide the others
            row["error"] = one_line(exc)
        note = f"; eager parts: {'; '.join(row['eager_because'])}" if row.get("eager_because") else ""
        print(f"  {model} {variant}: " + (row.get("error") or f"{row['samples_per_s']:.1f} samples/s{note}"),
              flush=True)
        rows.append(row)
    base = next((r for r in rows if r["variant"] == "fp32" and "error" not in r), None)
    for row in rows:
        row["vs_fp32"] = row["samples_per_s"] / base["samples_per_s"] if base and "error" not in row else "n/a"
    return rows


# --- DDP ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_rows(device: torch.device, warmup: int, steps: int, batch_size: int | None) -> list[dict[str, Any]]:
    """TimeMixer fp32 eager: bare model against DDP at world size 1 (the wrapper's own
    cost: bucketing, the all-reduce hooks and the forward_all routing through __call__)."""
    cfg, dataset = model_config("timemixer", batch_size)
    data = get_spec("timemixer").load_data(cfg, builtin_source(dataset))
    backend = "nccl" if device.type == "cuda" else "gloo"
    rows: list[dict[str, Any]] = []
    try:
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    except Exception as exc:  # noqa: BLE001
        return [{"model": "timemixer", "path": f"DDP ({backend})", "error": one_line(exc)}]
    try:
        for path, wrap in (("bare model", False), (f"DDP ({backend}, world size 1)", True)):
            row: dict[str, Any] = {"model": "timemixer", "path": path}
            try:
                result = measure("timemixer", cfg, data, device, "fp32", "none", warmup, steps, ddp=wrap)
                row.update(ms_per_step=result["ms_per_step"], samples_per_s=result["samples_per_s"])
            except Exception as exc:  # noqa: BLE001
                row["error"] = one_line(exc)
            print(f"  {path}: " + (row.get("error") or f"{row['ms_per_step']:.2f} ms/step"), flush=True)
            rows.append(row)
    finally:
        dist.destroy_process_group()
    bare = rows[0] if "error" not in rows[0] else None
    for row in rows:
        row["vs_bare"] = row["ms_per_step"] / bare["ms_per_step"] if bare and "error" not in row else "n/a"
    return rows


# --- main --------------------------------------------------------------------------------------

def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--models", default=",".join(WORKLOADS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on cuda, 5 on cpu)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 10 on cuda, 2 on cpu)")
    parser.add_argument("--batch-size", type=int, default=None, help="override every model's batch size")
    parser.add_argument("--out", default=None, help="report path (default benchmarks/results/gpu_paths_<device>.json)")
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.variants = [v for v in args.variants.split(",") if v]
    for name, known in (("--models", WORKLOADS), ("--variants", VARIANTS)):
        unknown = [v for v in getattr(args, name[2:]) if v not in known]
        if unknown:
            parser.error(f"{name}: unknown {unknown}; expected some of {list(known)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    cuda = pick_device(args.device).type == "cuda"
    args.steps = args.steps or (50 if cuda else 5)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1 (warm-up holds compilation, kept out of throughput)")
    return args


def save(payload: dict[str, Any], device: torch.device, out: str | None) -> Path:
    if out is None:
        return write_report(f"gpu_paths_{device.type}", payload)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": "gpu_paths", "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "python": platform.python_version(), **payload}, indent=1, default=float))
    return path


def main() -> None:
    args = parse()
    use_shared_data()
    device = pick_device(args.device)
    print(f"device {device_name(device)}, torch {torch.__version__}, {args.warmup} warm-up + {args.steps} timed steps")
    rows = []
    for model in args.models:
        rows += variant_rows(model, args.variants, device, args.warmup, args.steps, args.batch_size)
    ddp = ddp_rows(device, args.warmup, args.steps, args.batch_size) if "timemixer" in args.models else []

    print()
    print(table(rows, COLUMNS + (["error"] if any("error" in r for r in rows) else [])))
    if ddp:
        print()
        print(table(ddp, DDP_COLUMNS + (["error"] if any("error" in r for r in ddp) else [])))
    payload = {"device": device.type, "device_name": device_name(device), "torch": torch.__version__,
               "cuda": torch.version.cuda, "float32_matmul_precision": torch.get_float32_matmul_precision(),
               "numpy": np.__version__, "steps": args.steps, "warmup": args.warmup, "models": args.models,
               "variants": args.variants, "batch_size_override": args.batch_size, "rows": rows, "ddp_rows": ddp}
    print(f"wrote {save(payload, device, args.out)}")


if __name__ == "__main__":
    main()
