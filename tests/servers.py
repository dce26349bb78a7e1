"""Real servers for the cluster tests, all bound to 127.0.0.1: PostgreSQL, an MLflow
tracking server on it, and a Ray head (plus an extra node) started with `ray start`."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return Path(found).resolve().parent if found else None


@contextmanager
def postgres():
    """A throw-away PostgreSQL cluster with a database `mlflow`; yields its URI."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; .ci/run does this)")
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="orch-pg-", dir="/tmp"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    as_owner: list[str] = []
    if root:  # PostgreSQL refuses to run as root
        for path in (data, sock):
            shutil.chown(path, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(sock / "log"), "-w",
                    "-o", f"-p {port} -h 127.0.0.1 -k {sock}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "-c", "CREATE DATABASE mlflow"], check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


class StartError(RuntimeError):
    """A server process exited before it answered."""


def wait_http(url: str, seconds: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answered (e.g. 401 without the auth token): it is up
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise StartError(f"{proc.args[:3]} exited with {proc.returncode}{_tail(log)}")
            time.sleep(1.0)
    raise TimeoutError(f"{url} did not answer within {seconds} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    """The end of a server's output, so a failed start says why."""
    if log is None or not log.exists():
        return ""
    return "; its output ends:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path):
    """`mlflow server` on 127.0.0.1 with a database backend; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 180, proc)
        yield url
    finally:
        _signal_group(proc, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(proc, 9)
            proc.wait(timeout=30)


RAY_ADDRESS_FILE = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"


@contextmanager
def kept_ray_address_file():
    """Put /tmp/ray/ray_current_cluster back as it was afterwards: `ray start` points it
    at itself, and a head stopped by a signal leaves it stale."""
    saved = RAY_ADDRESS_FILE.read_text() if RAY_ADDRESS_FILE.exists() else None
    try:
        yield RAY_ADDRESS_FILE
    finally:
        if saved is None:
            RAY_ADDRESS_FILE.unlink(missing_ok=True)
        else:
            RAY_ADDRESS_FILE.write_text(saved)


@contextmanager
def ray_head(extra_nodes: int = 0, cpus: int = 2):
    """:func:`_ray_head`, leaving the machine's Ray address file as it found it."""
    with kept_ray_address_file(), _ray_head(extra_nodes, cpus) as head:
        yield head


@contextmanager
def _ray_head(extra_nodes: int = 0, cpus: int = 2):
    """`ray start --head` (dashboard on 127.0.0.1) plus ``extra_nodes`` more nodes.

    The extra nodes hold no CPUs: on one machine all nodes share one session
    directory, and a second node running tasks would garbage-collect the job's
    working directory under the head's driver.

    Yields (gcs address, dashboard URL). Every `ray start` runs with --block in its
    own process group and is stopped by a signal, so other Ray clusters on this
    machine (the test session's) are left alone; `ray stop` would kill them too.
    Each node's output goes to a log whose end a failed start reports. A head that
    exits before it answers is started once more on fresh ports: the ports are
    chosen free but only bound by Ray later, so another process can take one first.
    """
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    logs = Path(tempfile.mkdtemp(prefix="orch-ray-logs-"))
    procs: list[subprocess.Popen] = []
    try:
        for attempt in (1, 2):
            port, dash = free_port(), free_port()
            log = logs / f"head-{attempt}.log"
            procs.append(_ray_start(["--head", f"--port={port}", "--dashboard-host=127.0.0.1",
                                     f"--dashboard-port={dash}", f"--num-cpus={cpus}",
                                     f"--ray-client-server-port={free_port()}"], env, log))
            address, url = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
            try:
                wait_http(f"{url}/api/version", 120, procs[-1], log)
                break
            except StartError as exc:
                procs.pop().wait(timeout=60)
                if attempt == 2:
                    raise
                warnings.warn(f"ray start --head, started again on fresh ports: {exc}")
        for k in range(extra_nodes):
            procs.append(_ray_start([f"--address={address}", "--num-cpus=0"], env, logs / f"node-{k + 1}.log"))
        if extra_nodes:
            wait_nodes(address, 1 + extra_nodes, env, 120)
        yield address, url
    finally:
        for proc in reversed(procs):
            _signal_group(proc, 15)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _signal_group(proc, 9)
        shutil.rmtree(logs, ignore_errors=True)


def _ray_start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([str(BIN / "ray"), "start", "--node-ip-address=127.0.0.1", *args, *_own_ports(),
                                 "--block"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _own_ports() -> list[str]:
    """Agent and metrics ports of our own: Ray's fixed defaults would collide with
    the test session's cluster on this machine (its job agent would never start)."""
    return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]


def wait_nodes(address: str, count: int, env: dict, seconds: float) -> None:
    """Block until ``count`` nodes are alive (a joining node takes a few seconds)."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))")
    deadline = time.time() + seconds
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", probe, address], env=env, capture_output=True, text=True)
        lines = out.stdout.strip().splitlines()
        if lines and lines[-1].isdigit() and int(lines[-1]) >= count:
            return
        time.sleep(2.0)
    raise TimeoutError(f"the cluster at {address} did not reach {count} nodes within {seconds} s")


def _signal_group(proc: subprocess.Popen, signal_number: int) -> None:
    try:
        os.killpg(proc.pid, signal_number)
    except ProcessLookupError:
        pass
