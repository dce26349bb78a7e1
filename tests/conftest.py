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


def require_data(name: str, relative: str | None = None) -> Path:
    """The built-in data set ``name`` found by the project's own lookup (data dir,
    ``$ORCH_DATA_DIR``, user cache): the path of its file ``relative`` (default: its
    first file). Skips the test, naming the command that fetches it, when absent:
    a fresh clone has no ../shared beside it."""
    from data.errors import DataError
    from data.registry import find_file, get_info

    info = get_info(name)
    try:
        return find_file(relative or next(iter(info.files)))
    except DataError:
        pytest.skip(f"needs data set {name!r}: run `python -m orchestrator datasets fetch {name}`")


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


def data_root(name: str, relative: str | None = None) -> Path:
    """The data root (a data dir or the user cache, in the project's lookup order)
    that holds the built-in set ``name``'s file ``relative`` (default: its first
    file), for tests that build paths under it; ``$ORCH_DATA_DIR`` when absent, where
    the tests that read it skip through ``require_data`` or the ``needs_data`` mark."""
    from data.registry import data_roots, get_info

    relative = relative or next(iter(get_info(name).files))
    return next((root for root in data_roots() if (root / relative).is_file()), data_dir())


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_data(name, relative=None): require_data(name, relative) before any fixture is set up")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Runs ``require_data`` for each ``needs_data`` mark before the test's fixtures,
    so a test whose data is absent skips before it starts Ray, a server or a subprocess."""
    for mark in item.iter_markers("needs_data"):
        require_data(*mark.args, **mark.kwargs)
