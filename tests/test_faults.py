"""Fault tolerance with real processes dying: trials, DDP workers, the driver, packing tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.__main__ import main

pytestmark = pytest.mark.ray


def _runs(uri: str, experiment: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_a_diverging_trial_fails_clearly_and_the_sweep_goes_on(ray_cluster, mlflow_uri, tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text("model: timemixer\nsweep:\n  space: {lr: {grid: [0.003, 1.0e+30]}}\n  search: grid\n")
    argv = ["sweep", "--config", str(config), "--smoke", "--experiment", "faulty", "--name", "faulty",
            "--storage", str(tmp_path / "ray"), "--no-trial-plots"]
    assert main(argv) == 0
    assert "1 failed" in capsys.readouterr().out
    _, runs = _runs(mlflow_uri, "faulty")
    trials = {r.data.params["lr"]: r for r in runs if r.data.tags.get("orch.kind") == "trial"}
    assert trials["1e+30"].info.status == "FAILED"
    assert "TrainingDiverged: training loss became" in trials["1e+30"].data.tags["orch.error"]
    assert trials["0.003"].info.status == "FINISHED"
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "sweep")
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_failed"] == 1


def test_a_killed_ddp_worker_is_restored_from_its_last_checkpoint(ray_cluster, mlflow_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_FAULTS", "train_worker_exit@rank=1,epoch=3")
    monkeypatch.setenv("ORCH_FAULTS_DIR", str(tmp_path))
    argv = ["train", "--model", "timemixer", "--smoke", "--set", "epochs=5", "--workers", "2",
            "--max-failures", "1", "--experiment", "ddp-fault", "--storage", str(tmp_path / "ray")]
    assert main(argv) == 0
    assert any(p.name.startswith("orch-fault-train_worker_exit") for p in tmp_path.iterdir()), "fault fired"
    client, (run,) = _runs(mlflow_uri, "ddp-fault")
    assert run.info.status == "FINISHED"
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train_loss"))
    # The worker died after reporting epoch 3. Train V2 reports pass a barrier and a
    # one-slot queue, so by then both ranks' epoch-1 reports were consumed and that
    # checkpoint registered: the restarted gang resumed from epoch 1, 2 or 3 and
    # epoch 1 was never trained twice.
    assert steps.count(1) == 1 and set(steps) == {1, 2, 3, 4, 5} and len(steps) <= 7


def test_a_killed_driver_resumes_without_reruns_or_duplicates(ray_cluster, mlflow_uri, tmp_path):
    storage = tmp_path / "ray"
    argv = ["sweep", "--model", "timemixer", "--smoke", "--space", "smoke", "--samples", "3",
            "--concurrency", "1", "--search", "random", "--experiment", "killed", "--storage", str(storage),
            "--name", "killed", "--set", "epochs=12", "--no-trial-plots"]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *argv], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 240
    for line in proc.stderr:
        if "trial 1/3 done" in line or time.time() > deadline:
            break
    time.sleep(0.5)  # the second trial (~2 s) is running, the third still to come
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    client, runs = _runs(mlflow_uri, "killed")
    finished_before = {r.data.tags["orch.trial_id"] for r in runs
                       if r.data.tags.get("orch.kind") == "trial" and r.info.status == "FINISHED"}
    assert finished_before
    time.sleep(2.0)  # let the cluster reap the dead driver's trial actors
    assert main(["sweep", "--resume", "killed", "--storage", str(storage)]) == 0
    client, runs = _runs(mlflow_uri, "killed")
    children = [r for r in runs if r.data.tags.get("orch.kind") == "trial"]
    ids = [r.data.tags["orch.trial_id"] for r in children]
    assert len(ids) == len(set(ids)) == 3
    for child in children:
        assert child.info.status == "FINISHED"
        if child.data.tags["orch.trial_id"] in finished_before:
            assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 12
    assert sum(r.data.tags.get("orch.kind") == "sweep" for r in runs) == 1


@pytest.mark.needs_data("br", "container_loading_br/BR1.txt")
def test_a_lost_packing_task_is_retried(ray_cluster, mlflow_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_FAULTS", "pack_task_exit@branch=0")
    monkeypatch.setenv("ORCH_FAULTS_DIR", str(tmp_path))
    out = tmp_path / "packing.jsonl"
    argv = ["pack", "--instances", "BR1/1", "--constraints", "C1", "--time-limit", "1", "--branches", "2",
            "--out", str(out), "--experiment", "pack-fault"]
    assert main(argv) == 0
    assert any(p.name.startswith("orch-fault-pack_task_exit") for p in tmp_path.iterdir()), "fault fired"
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert record["instance"] == "BR1/1" and 0.5 < record["fill_rate"] <= 1.0
