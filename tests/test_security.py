"""Security defaults and keeping what is recorded: secrets never become params or
tags, bad input never touches an existing store, checkpoints load weights only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-value-that-must-not-leak"


@pytest.mark.ray
def test_secrets_in_the_environment_are_not_logged_and_bad_input_loses_nothing(
        ray_cluster, mlflow_uri, tmp_path, monkeypatch, capsys):
    for name in ("AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_PASSWORD", "HF_TOKEN", "DATABASE_PASSWORD"):
        monkeypatch.setenv(name, SECRET)
    argv = ["sweep", "--model", "timemixer", "--smoke", "--space", "smoke", "--samples", "2", "--experiment",
            "safe", "--storage", str(tmp_path / "ray"), "--no-trial-plots"]
    assert main(argv) == 0
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("safe").experiment_id
    before = client.search_runs([experiment])
    for run in before:
        values = list(run.data.params.values()) + list(run.data.tags.values()) + list(run.data.params)
        assert not any(SECRET in str(v) for v in values), run.info.run_name

    # bad input against the same store: exit 2, nothing started, nothing lost
    assert main(["sweep", "--model", "timemixer", "--set", "dropout=7", "--experiment", "safe"]) == 2
    assert main(["sweep", "--resume", "no-such-sweep", "--storage", str(tmp_path / "ray")]) == 2
    after = client.search_runs([experiment])
    assert sorted((r.info.run_id, r.info.status) for r in after) == sorted((r.info.run_id, r.info.status)
                                                                           for r in before)


def test_checkpoints_and_yaml_are_loaded_safely():
    """Every torch.load passes weights_only=True; YAML is only ever safe_load-ed."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = getattr(node.func.value, "id", "")
                if owner == "torch" and node.func.attr == "load":
                    flags = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                    if flags.get("weights_only") is not True:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} torch.load")
                if owner == "yaml" and node.func.attr in ("load", "unsafe_load", "full_load"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} yaml.{node.func.attr}")
    assert not offenders, offenders


def test_servers_bind_to_loopback_by_default():
    source = (ROOT / "orchestrator" / "cluster.py").read_text()
    assert 'dashboard_host="127.0.0.1"' in source
    readme = (ROOT / "README.md").read_text()
    assert "--host 0.0.0.0" not in readme
