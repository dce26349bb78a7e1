"""End-to-end with a real local Ray cluster, real Optuna and a real MLflow store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.__main__ import main

pytestmark = pytest.mark.ray
SMOKE = ["--model", "timemixer", "--smoke", "--space", "smoke"]


def _runs(uri: str, experiment: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_optuna_sweep_logs_parent_and_finished_children(ray_cluster, mlflow_uri, tmp_path, capsys):
    argv = ["sweep", *SMOKE, "--samples", "3", "--search", "tpe", "--experiment", "sweep3",
            "--storage", str(tmp_path / "ray"), "--name", "tpe3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "best trial" in out and "mlflow ui --backend-store-uri" in out
    assert "Configuration for experiment" not in out  # Tune's own tables go to stderr, with the progress
    client, runs = _runs(mlflow_uri, "sweep3")
    parents = [r for r in runs if r.data.tags.get("orch.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("orch.kind") == "trial"]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert "best_val_mse" in parent.data.metrics and "best.lr" in parent.data.params
    assert any(a.path.startswith("best_trial") for a in client.list_artifacts(parent.info.run_id))
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert {"lr", "dropout", "d_model", "seed", "dataset"} <= set(child.data.params)
        assert {"val_loss", "val_mse", "test_mse", "test_mae", "train_loss"} <= set(child.data.metrics)
        assert child.data.tags["orch.data_checksum"] and child.data.tags["orch.git_revision"]
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2  # per epoch


def test_sweep_ranks_on_the_metric_asked_for(ray_cluster, mlflow_uri, tmp_path, capsys):
    argv = ["sweep", *SMOKE, "--samples", "3", "--search", "random", "--metric", "val_mae", "--experiment",
            "by-mae", "--storage", str(tmp_path / "ray"), "--name", "mae3", "--no-trial-plots"]
    assert main(argv) == 0
    assert "val_mae=" in capsys.readouterr().out
    client, runs = _runs(mlflow_uri, "by-mae")
    (parent,) = [r for r in runs if r.data.tags.get("orch.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("orch.kind") == "trial"]
    assert parent.data.tags["orch.metric"] == "val_mae" and "best_val_mae" in parent.data.metrics
    best = min(children, key=lambda r: r.data.metrics["val_mae"])
    assert parent.data.tags["orch.best_trial"] == best.data.tags["orch.trial_id"]
    assert parent.data.metrics["best_val_mae"] == pytest.approx(best.data.metrics["val_mae"])


def test_ddp_train_keeps_ranks_in_sync(ray_cluster, mlflow_uri, tmp_path):
    argv = ["train", "--model", "timemixer", "--smoke", "--workers", "2", "--experiment", "ddp",
            "--storage", str(tmp_path / "ray")]
    assert main(argv) == 0
    client, runs = _runs(mlflow_uri, "ddp")
    (run,) = runs
    assert run.info.status == "FINISHED" and run.data.params["workers"] == "2"
    spread = client.get_metric_history(run.info.run_id, "ddp_weight_max_diff")
    assert len(spread) == 2 and all(m.value == 0.0 for m in spread)
    assert "test_mse" in run.data.metrics


def test_sweep_terminal_shows_progress_not_a_line_per_checkpoint(ray_cluster, mlflow_uri, tmp_path):
    """Ray logs every persisted checkpoint at INFO and streams the line to the driver's
    terminal, and Tune warns each time checkpoints of sub-second epochs force it to
    snapshot the experiment (8 times in this sweep when every epoch persisted one); a
    sweep's own progress lines stay, those go."""
    argv = ["sweep", *SMOKE, "--samples", "2", "--storage", str(tmp_path / "ray"), "--no-trial-plots",
            "--set", "epochs=8", "--name", "quiet"]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[sweep] trial 2/2 done" in done.stderr
    assert "Checkpoint successfully created" not in done.stderr
    assert "Experiment state snapshotting" not in done.stderr
    kept = [len(list(trial.glob("checkpoint_*"))) for trial in (tmp_path / "ray" / "quiet").glob("run_trial_*")]
    assert kept == [1, 1], f"checkpoints persisted per trial: {kept} (8 sub-second epochs, one per 10 s)"


def test_ddp_terminal_shows_each_epoch_once_and_no_per_report_lines(ray_cluster, mlflow_uri, tmp_path):
    """Ray Train's workers log every report and re-log every print; rank 0's epoch line
    shows once per epoch, and Ray's per-report and per-checkpoint lines do not."""
    argv = ["train", *SMOKE[:3], "--workers", "2", "--storage", str(tmp_path / "ray")]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    epoch_lines = [line for line in done.stderr.splitlines() if "] epoch " in line]
    assert [line.split("] epoch ")[1].split()[0] for line in epoch_lines] == ["1", "2"], epoch_lines
    assert "Reporting training result" not in done.stderr
    assert "Checkpoint successfully created" not in done.stderr


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(ray_cluster, mlflow_uri, tmp_path):
    storage = tmp_path / "ray"
    argv = ["sweep", *SMOKE, "--samples", "3", "--concurrency", "1", "--search", "random",
            "--experiment", "resume", "--storage", str(storage), "--name", "interrupted",
            "--set", "epochs=12", "--no-trial-plots"]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *argv], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 240
    for line in proc.stderr:
        if "trial 1/3 done" in line or time.time() > deadline:
            break
    time.sleep(0.5)  # let the second trial start; it runs ~2 s, the third is still to come
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    client, runs = _runs(mlflow_uri, "resume")
    finished_before = {r.data.tags["orch.trial_id"] for r in runs
                       if r.data.tags.get("orch.kind") == "trial" and r.info.status == "FINISHED"}
    assert len(finished_before) >= 1
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "sweep")
    assert parent.info.status == "KILLED"

    assert main(["sweep", "--resume", "interrupted", "--storage", str(storage)]) == 0
    client, runs = _runs(mlflow_uri, "resume")
    children = [r for r in runs if r.data.tags.get("orch.kind") == "trial"]
    trial_ids = [r.data.tags["orch.trial_id"] for r in children]
    assert len(trial_ids) == len(set(trial_ids)) == 3, "no duplicate MLflow runs"
    for child in children:
        assert child.info.status == "FINISHED"
        history = client.get_metric_history(child.info.run_id, "train_loss")
        if child.data.tags["orch.trial_id"] in finished_before:
            assert len(history) == 12, "finished trials were not re-run"
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "sweep")
    assert parent.info.status == "FINISHED"
    kept = [len(list(trial.glob("checkpoint_*"))) for trial in (storage / "interrupted").glob("run_trial_*")]
    assert len(kept) == 3 and max(kept) <= 2, f"checkpoints kept per trial: {kept} (12 epochs, 2 kept)"


@pytest.mark.needs_data("etth1")
def test_sweep_on_the_real_etth1_file(ray_cluster, mlflow_uri, tmp_path):
    argv = ["sweep", "--model", "timemixer", "--dataset", "etth1", "--smoke", "--space", "smoke", "--samples", "2",
            "--search", "random", "--experiment", "etth1", "--storage", str(tmp_path / "ray")]
    assert main(argv) == 0
    client, runs = _runs(mlflow_uri, "etth1")
    trials = [r for r in runs if r.data.tags.get("orch.kind") == "trial"]
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
    expected = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"
    assert all(r.data.tags["orch.data_checksum"] == expected for r in trials)
