"""Ensembles: combination rules, greedy selection, export round trip, serving."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.__main__ import main
from trainables.ensemble import combine, greedy_selection, rank_weights, spread
from data.source import builtin_source


def _mse(truth):
    return lambda pred: float(np.mean((pred - truth) ** 2))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7))
def test_greedy_is_never_worse_than_its_best_member_on_validation(seed, members):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(30, 4))
    preds = truth + rng.normal(scale=rng.uniform(0.1, 2.0, size=(members, 1, 1)), size=(members, 30, 4))
    score = _mse(truth)
    result = greedy_selection(preds, score, "min")
    best_member = min(score(p) for p in preds)
    assert score(combine(preds, result.weights)) <= best_member + 1e-12
    assert np.isclose(result.weights.sum(), 1.0) and (result.weights >= 0).all()


def test_greedy_maximises_when_asked():
    truth = np.array([1.0, 0.0, 1.0, 1.0])
    preds = np.array([[1.0, 0, 1, 0], [0.0, 0, 1, 1], [1.0, 1, 0, 1]])
    accuracy = lambda p: float(np.mean((p > 0.5) == (truth > 0.5)))  # noqa: E731
    result = greedy_selection(preds, accuracy, "max")
    assert accuracy(combine(preds, result.weights)) >= max(accuracy(p) for p in preds)


def test_rank_weights_split_each_share_across_seeds():
    weights = rank_weights([0, 0, 1, 1, 2], (0.5, 0.3, 0.2))
    np.testing.assert_allclose(weights, [0.25, 0.25, 0.15, 0.15, 0.2])
    np.testing.assert_allclose(combine(np.array([[1.0], [3.0]]), [1, 3]), [2.5])
    np.testing.assert_allclose(spread(np.array([[1.0], [3.0]])), [1.0])


@pytest.mark.ray
def test_sweep_to_ensemble_to_exported_model(ray_cluster, mlflow_uri, tmp_path, capsys):
    import mlflow
    from mlflow.tracking import MlflowClient

    from orchestrator import tracking
    from orchestrator.ensemble import evaluate_members
    from orchestrator.export import predictor_from_bundle
    from trainables.config import build_config
    from trainables.ensemble import EnsemblePredictor
    from trainables.timemixer.serving import serving
    from trainables.timemixer.task import SPEC, load_data

    storage = str(tmp_path / "ray")
    assert main(["sweep", "--model", "timemixer", "--smoke", "--space", "smoke", "--samples", "3",
                 "--experiment", "ens", "--storage", storage, "--name", "src", "--no-trial-plots"]) == 0
    assert main(["ensemble", "--sweep", "src", "--top-k", "2", "--seeds", "2", "--storage", storage,
                 "--name", "ens1", "--export", "--registered-name", "tm-ens"]) == 0
    out = capsys.readouterr().out
    assert "greedy" in out and "models:/tm-ens/1" in out

    client = MlflowClient(mlflow_uri)
    parent = tracking.find_parent(mlflow_uri, "ens1", ("ensemble",), "--ensemble")
    assert parent.info.status == "FINISHED"
    metrics = parent.data.metrics
    assert {"rankall_test_mse_mean", "rankall_test_mse_std", "greedy_test_mse", "mean_test_mse"} <= set(metrics)
    # greedy selection is never worse on validation than the best member
    assert metrics["greedy_val_mse"] <= metrics["best_member_val_mse"] + 1e-12
    members = client.search_runs([parent.info.experiment_id],
                                 filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(members) == 4 and all(m.data.tags["orch.kind"] == "member" for m in members)
    # different seeds give different members
    by_rank: dict[str, list[float]] = {}
    for m in members:
        by_rank.setdefault(m.data.tags["orch.member_rank"], []).append(m.data.metrics["test_mse"])
    assert all(len(set(v)) == len(v) for v in by_rank.values())

    # the exported model equals the in-process ensemble on raw input
    cfg = build_config(SPEC.config_cls, json.loads(open(client.download_artifacts(
        members[0].info.run_id, "model/config.json")).read()))
    data = load_data(cfg, builtin_source("synthetic_wells"))
    evaluated = evaluate_members(mlflow_uri, parent, "timemixer", data)
    ensemble_json = json.loads(open(client.download_artifacts(parent.info.run_id, "ensemble.json")).read())
    weights = np.array(ensemble_json["rules"]["greedy"]["weights"])
    keep = [i for i, w in enumerate(weights) if w > 0]
    pipeline = serving(cfg, data)
    in_process = EnsemblePredictor("timemixer", [evaluated[i].config for i in keep],
                                   [evaluated[i].state for i in keep], weights[keep], pipeline)
    raw = pipeline.example(data)
    loaded = mlflow.pyfunc.load_model("models:/tm-ens/1")
    expected, got = in_process.predict(raw), loaded.predict(raw)
    np.testing.assert_allclose(got["mean"].to_numpy(), expected["mean"].to_numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(got["std"].to_numpy(), expected["std"].to_numpy(), atol=1e-6, rtol=0)
    assert (got["p10"] <= got["p90"]).all()
    assert predictor_from_bundle is not None

    # compare: a grid sweep and the Optuna sweep of the same space, with the ensemble
    assert main(["sweep", "--model", "timemixer", "--smoke", "--space", "smoke", "--search", "random",
                 "--samples", "2", "--experiment", "ens", "--storage", storage, "--name", "rnd",
                 "--no-trial-plots"]) == 0
    capsys.readouterr()
    report = tmp_path / "report"
    assert main(["compare", "--sweep", "src", "--sweep", "rnd", "--sweep", "ens1", "--out", str(report)]) == 0
    board = capsys.readouterr().out
    assert "val_mse" in board and "src" in board and "rnd" in board and "ens1" in board
    page = (report / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {"metric_vs_params.png", "learning_curves.png", "ensembles_vs_members.png",
            "optuna_importances.png"} <= set(images)
    assert all((report / image).is_file() for image in images)
    runs = client.search_runs([client.get_experiment_by_name("comparisons").experiment_id])
    assert any(a.path == "report" for a in client.list_artifacts(runs[0].info.run_id))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_rest_scoring_server_answers(mlflow_uri, tmp_path):
    """Export a tiny two-member ensemble and score it through `mlflow models serve`."""
    from orchestrator import tracking
    from orchestrator.export import bundle, log_ensemble_model
    from trainables.config import as_dict, build_config
    from trainables.context import LocalContext
    from trainables.timemixer.serving import serving
    from trainables.timemixer.task import SPEC, fit, load_data

    cfg = build_config(SPEC.config_cls, {**SPEC.smoke_overrides, "epochs": 1})
    data = load_data(cfg, builtin_source("synthetic_wells"))
    states = [fit(build_config(SPEC.config_cls, {"seed": s}, base=cfg), data, LocalContext("cpu")).model.state_dict()
              for s in (0, 1)]
    pipeline = serving(cfg, data)
    uri = tracking.resolve_tracking_uri()
    experiment = tracking.ensure_experiment(uri, "serve")
    run_id = tracking.start_run(uri, experiment, "serve", {})
    payload = bundle("timemixer", [as_dict(cfg)] * 2, states, [0.5, 0.5], pipeline)
    model_uri = log_ensemble_model(uri, run_id, payload, pipeline.example(data), "served")
    tracking.end_run(uri, run_id)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        # mlflow execs `uvicorn` by name: this interpreter's bin/ must be on PATH
        env={**os.environ, "MLFLOW_TRACKING_URI": uri,
             "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        frame = pipeline.example(data)
        body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()
        deadline, answer = time.time() + 120, None
        while time.time() < deadline and answer is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
            except OSError:
                if server.poll() is not None:
                    pytest.fail("mlflow models serve exited")
                time.sleep(1.0)
        assert answer is not None, "server did not answer within 120 s"
        rows = answer["predictions"]
        assert len(rows) == cfg.output_len * data.n_channels
        assert {"mean", "std", "p10", "p90", "step", "channel"} <= set(rows[0])
    finally:
        server.terminate()
        server.wait(timeout=30)
