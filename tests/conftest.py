"""Shared fixtures: real data files, one local Ray cluster per session, a fresh
MLflow sqlite store per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Absolute, so subprocesses and Ray jobs running in other directories find the data.
os.environ["ORCH_DATA_DIR"] = str(Path(os.environ.get("ORCH_DATA_DIR") or SHARED_DATA).resolve())
os.environ.setdefault("RAY_DEDUP_LOGS", "1")


def data_dir() -> Path:
    return Path(os.environ["ORCH_DATA_DIR"])


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """A fresh sqlite MLflow store, set as MLFLOW_TRACKING_URI for the test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs) shared by every `ray` test of the session."""
    import ray

    from orchestrator import cluster

    if not ray.is_initialized():
        cluster.connect(None, num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
