"""Deliberate, one-shot process deaths for the fault-tolerance tests.

``ORCH_FAULTS`` on the driver names injection points and conditions, e.g.
``train_worker_exit@rank=1,epoch=2;pack_task_exit@branch=0``. The driver reads it
once and ships the text inside the jobs it submits (workers do not share the
driver's environment); a point fires at most once per ``ORCH_FAULTS_DIR`` marker,
so the retried work then succeeds. Unset, nothing here does anything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV = "ORCH_FAULTS"
DIR_ENV = "ORCH_FAULTS_DIR"
EXIT_CODE = 17


def current() -> str:
    """The fault plan to ship with submitted work ('' normally), with its marker dir."""
    plan = os.environ.get(ENV, "")
    return f"{plan}|{os.environ.get(DIR_ENV, tempfile.gettempdir())}" if plan else ""


def maybe_exit(plan: str, point: str, **where: object) -> None:
    """Kill this process (as a crash would) if ``plan`` names ``point`` here, once."""
    if not plan:
        return
    faults, _, marker_dir = plan.partition("|")
    for item in faults.split(";"):
        name, _, conditions = item.partition("@")
        if name.strip() != point:
            continue
        wanted = dict(kv.split("=", 1) for kv in conditions.split(",") if "=" in kv)
        if all(str(where.get(k)) == v for k, v in wanted.items()):
            marker = Path(marker_dir) / f"orch-fault-{point}-{conditions.replace(',', '_').replace('=', '-')}"
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os._exit(EXIT_CODE)
