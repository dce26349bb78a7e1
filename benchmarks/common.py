"""Helpers shared by the benchmark scripts: results folder, JSON, tables."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def use_shared_data() -> None:
    """Point ORCH_DATA_DIR at ../shared/data unless the caller set it."""
    os.environ.setdefault("ORCH_DATA_DIR", str(SHARED_DATA))


def code_version() -> str:
    """The git commit the benchmark ran (+ "-dirty"), as MLflow runs record it."""
    from orchestrator.tracking import git_revision

    return git_revision()


def write_report(name: str, payload: dict[str, Any], directory: Path = RESULTS) -> Path:
    """``directory/name.json``: the payload plus when, where and which code ran it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
               "python": platform.python_version(), "code_version": code_version(), **payload}
    path.write_text(json.dumps(payload, indent=1, default=float))
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(fmt(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)
