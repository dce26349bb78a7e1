"""What a long job shows while it runs: one line per epoch, trial or instance, on
stderr (stdout stays for results), and nothing of Ray's per-epoch chatter."""

from __future__ import annotations

import logging
import sys

# Ray logs an INFO line for every checkpoint a trial or worker persists and, in Ray
# Train, for every report of every worker (each one per epoch here), and streams them to
# the driver's terminal; our own progress lines say enough.
PER_EPOCH_RAY_LOGGERS = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
RAY_TRAIN_REPORT_MODULE = "ray.train.v2._internal.execution.context"  # its logger is named by its file path


def quiet_per_epoch_ray_logs() -> None:
    """Drop Ray's per-checkpoint and per-report INFO lines in this trial or worker process."""
    names = list(PER_EPOCH_RAY_LOGGERS)
    report_module = sys.modules.get(RAY_TRAIN_REPORT_MODULE)
    if report_module is not None:
        names.append(report_module.__file__)
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)


def progress(line: str) -> None:
    """Progress goes to stderr so stdout stays for results. Written, not printed: Ray
    Train replaces ``print`` in its workers with one that writes the line and logs it
    too, and both copies reach the driver's terminal."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def epoch_line(prefix: str, metrics: dict[str, float], metric: str) -> str:
    shown = [f"epoch {int(metrics.get('epoch', 0))}"]
    for key in ("train_loss", metric, "epoch_seconds"):
        if key in metrics:
            shown.append(f"{key}={metrics[key]:.4g}")
    return f"[{prefix}] " + " ".join(shown)
