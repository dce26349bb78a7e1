"""Connecting to Ray: an embedded local cluster by default, RAY_ADDRESS / --address else."""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path

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
    ray.init(
        address="local",  # a fresh embedded cluster, never a stale `ray start` one
        num_cpus=num_cpus,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        logging_level=logging.WARNING,
        log_to_driver=True,
        _node_ip_address="127.0.0.1",
    )
    _advertise_local_cluster(ray.get_runtime_context().gcs_address)


def _advertise_local_cluster(gcs_address: str) -> None:
    """Point ``/tmp/ray/ray_current_cluster`` at the embedded cluster while it runs.

    Ray Train V2's controller finds its cluster's state API through that file (it
    reads no RAY_ADDRESS in our workers). A stale file, left by a `ray start` head
    that was killed instead of stopped, makes those lookups time out: the finished
    DDP trial's placement group is never released and the next trial's workers wait
    forever for CPUs. `ray start` writes the file the same way; we put back what
    was there when this process exits.
    """
    from ray._private.utils import get_ray_address_file, write_ray_address

    path = Path(get_ray_address_file(None))
    previous = path.read_text() if path.exists() else None
    write_ray_address(gcs_address)

    def restore() -> None:
        try:
            if path.exists() and path.read_text() == gcs_address:
                if previous is None:
                    path.unlink()
                else:
                    path.write_text(previous)
        except OSError:
            pass

    atexit.register(restore)


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
