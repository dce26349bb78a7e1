"""Connecting to Ray: an embedded local cluster by default, RAY_ADDRESS / --address else."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager

import ray

from trainables.errors import ConfigError


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start or join a Ray cluster once per process.

    With no address (and no ``RAY_ADDRESS``) a local cluster is started inside this
    process, with its dashboard bound to 127.0.0.1 (Ray Train's state queries need
    it). An already initialised Ray (tests share one cluster per session) is reused.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        return
    dashboard_port = _free_port()
    with _worker_env("RAY_API_SERVER_ADDRESS", f"http://127.0.0.1:{dashboard_port}"):
        ray.init(
            address="local",  # a fresh embedded cluster, never a stale `ray start` one
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port,
            logging_level=logging.WARNING,
            log_to_driver=True,
            _node_ip_address="127.0.0.1",
        )


@contextmanager
def _worker_env(name: str, value: str):
    """Set ``name`` while the embedded cluster starts, so its raylet and every worker
    it spawns inherit it, then put this process's environment back.

    Used for RAY_API_SERVER_ADDRESS: Ray Train V2's controller finds the state API
    through it, or else through /tmp/ray/ray_current_cluster, which names whatever
    cluster `ray start` ran last (or a dead one, if that head was killed). With the
    wrong cluster a finished DDP trial's placement group is never released and the
    next trial waits forever for CPUs. The driver's own environment (and the
    subprocesses it starts, e.g. `ray job submit`) stays untouched.
    """
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_multi_node() -> bool:
    """True when the connected cluster has more than one alive node."""
    return sum(1 for node in ray.nodes() if node.get("Alive")) > 1


def require_shared_tracking(uri: str) -> None:
    """Refuse a node-local MLflow store on a multi-node cluster.

    Trials on other nodes would write to their own local file, and the results would
    silently scatter across machines.
    """
    local = uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri
    if local and is_multi_node():
        raise ConfigError(
            f"tracking URI {uri!r} is node-local but the Ray cluster has several nodes; "
            "start an MLflow server and set MLFLOW_TRACKING_URI=http://HOST:PORT"
        )


def cluster_resources() -> dict[str, float]:
    """CPU/GPU totals of the connected cluster."""
    return {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
