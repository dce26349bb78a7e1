"""Real cluster use: cluster.yaml validation, `ray job submit` to a two-node local
cluster (token auth), and an MLflow tracking server on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.servers import BIN, mlflow_server, postgres, postgres_bindir, ray_head

ROOT = Path(__file__).resolve().parents[1]


def _validate(config: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(config))


def test_cluster_yaml_passes_rays_own_validation():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    _validate(config)
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"].get("GPU", 0) == 0
    assert any(n["resources"].get("GPU", 0) >= 1 for n in nodes.values())
    assert any("pip install" in c and "orchestrator" in c for c in config["setup_commands"])
    assert config["file_mounts"]


def test_documented_on_prem_variant_passes_validation():
    doc = (ROOT / "docs" / "cluster.md").read_text()
    block = re.search(r"```yaml\n(# on-prem.*?)```", doc, re.S)
    assert block, "docs/cluster.md has the on-prem cluster variant"
    config = yaml.safe_load(block.group(1))
    assert config["provider"]["type"] == "local"
    _validate(config)


def _ray_cli(*argv: str, timeout: float = 120) -> str:
    """The `ray` CLI with token auth (a fresh process: Ray reads RAY_AUTH_MODE at import)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([str(BIN / "ray"), *argv], capture_output=True, text=True, timeout=timeout,
                          env={**env, "RAY_AUTH_MODE": "token"})
    return done.stdout + done.stderr


def _job_status(dashboard: str, submission_id: str, seconds: float) -> str:
    """Poll `ray job status` until the job ends; print its log tail if it failed."""
    deadline = time.time() + seconds
    status = "UNKNOWN"
    probe = ("import sys; from ray.job_submission import JobSubmissionClient; "
             "print(JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2]).value)")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    while time.time() < deadline:
        done = subprocess.run([sys.executable, "-c", probe, dashboard, submission_id], capture_output=True,
                              text=True, timeout=120, env={**env, "RAY_AUTH_MODE": "token"})
        lines = done.stdout.strip().splitlines()
        status = lines[-1] if lines else "UNKNOWN"
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(3.0)
    if status != "SUCCEEDED":
        print(_ray_cli("job", "logs", "--address", dashboard, submission_id)[-3000:])
    return status


def _submit(dashboard: str, submission_id: str, tracking_url: str, data_dir: str, *argv: str) -> None:
    # eager_install off: the test's second node shares the head's session directory on
    # this one machine, and its own copy of the working directory would be collected
    # from under the driver. On real multi-machine clusters the default is fine.
    runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": tracking_url, "ORCH_DATA_DIR": data_dir},
                   "config": {"eager_install": False}}
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the session cluster's, if any
    for _ in range(20):  # a just-started head answers "No available agent" for a while
        done = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", dashboard, "--working-dir", str(ROOT),
             "--submission-id", submission_id, "--runtime-env-json", json.dumps(runtime_env), "--no-wait", "--",
             sys.executable, "-m", "orchestrator", *argv],
            capture_output=True, text=True, env={**env, "RAY_AUTH_MODE": "token"}, timeout=180)
        if done.returncode == 0 or "No available agent" not in done.stderr:
            break
        time.sleep(3.0)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(postgres_bindir() is None, reason="PostgreSQL not installed (.ci/run installs it)")
@pytest.mark.needs_data("br", "container_loading_br/BR1.txt")  # the pack job's BR1/1
def test_job_submit_on_two_nodes_logs_to_an_mlflow_server(tmp_path):
    data_dir = os.environ["ORCH_DATA_DIR"]
    with postgres() as database, mlflow_server(database, tmp_path / "artifacts") as tracking_url, \
            ray_head(extra_nodes=1) as (address, dashboard):
        # a node-local store on a multi-node cluster is refused with one clear line
        env = {**os.environ, "RAY_ADDRESS": address, "RAY_AUTH_MODE": "token",
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/local.db"}
        refused = subprocess.run([sys.executable, "-m", "orchestrator", "sweep", "--model", "timemixer",
                                  "--smoke", "--space", "smoke", "--samples", "1"],
                                 env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert "node-local" in refused.stderr.strip().splitlines()[-1]

        _submit(dashboard, "sweep-job", tracking_url, data_dir, "sweep", "--model", "timemixer", "--smoke",
                "--space", "smoke", "--samples", "2", "--experiment", "cluster", "--name", "job-sweep",
                "--no-trial-plots")
        assert _job_status(dashboard, "sweep-job", 400) == "SUCCEEDED"
        _submit(dashboard, "ensemble-job", tracking_url, data_dir, "ensemble", "--sweep", "job-sweep",
                "--top-k", "1", "--seeds", "2", "--name", "job-ensemble", "--export",
                "--registered-name", "cluster-ensemble")
        assert _job_status(dashboard, "ensemble-job", 400) == "SUCCEEDED"
        _submit(dashboard, "pack-job", tracking_url, data_dir, "pack", "--instances", "BR1/1",
                "--time-limit", "1", "--branches", "2", "--experiment", "cluster")
        assert _job_status(dashboard, "pack-job", 300) == "SUCCEEDED"

        client = MlflowClient(tracking_url)
        experiment = client.get_experiment_by_name("cluster")
        runs = client.search_runs([experiment.experiment_id])
        kinds = [r.data.tags.get("orch.kind") for r in runs]
        assert kinds.count("sweep") == 1 and kinds.count("trial") == 2 and "pack" in kinds
        assert kinds.count("ensemble") == 1 and kinds.count("member") == 2
        assert all(r.info.status == "FINISHED" for r in runs)
        trial = next(r for r in runs if r.data.tags.get("orch.kind") == "trial")
        assert client.list_artifacts(trial.info.run_id, "model"), "artifacts went through the server"
        ensemble = next(r for r in runs if r.data.tags.get("orch.kind") == "ensemble")
        assert ensemble.data.tags["orch.model_uri"] == "models:/cluster-ensemble/1"
        assert client.get_registered_model("cluster-ensemble").name == "cluster-ensemble"
