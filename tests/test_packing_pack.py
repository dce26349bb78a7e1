"""The `pack` and `pack-tune` commands end to end: input checks before Ray, JSONL contract, MLflow runs."""

from __future__ import annotations

import argparse
import json

import pytest

from packing.errors import InstanceError
from packing.geometry import Placement
from packing.instances import read_file
from packing.verify import verify
from trainables.errors import ConfigError
from tests.conftest import data_root

DATA = data_root("br", "container_loading_br/BR1.txt")
needs_data = pytest.mark.needs_data("br", "container_loading_br/BR1.txt")


def args(command: str = "pack", **over) -> argparse.Namespace:
    from orchestrator import pack, pack_tune

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    pack.register(sub)
    pack_tune.register(sub)
    base = [command, "--instances", "BR1", "--data-dir", str(DATA)]
    ns = parser.parse_args(base)
    for k, v in over.items():
        setattr(ns, k, v)
    return ns


@needs_data
@pytest.mark.parametrize("over, error", [
    ({"instances": "BR16"}, InstanceError),
    ({"instances": "BR7/101"}, InstanceError),
    ({"limit": 0}, ConfigError),
    ({"time_limit": -1.0}, ConfigError),
    ({"strategy": "magic"}, ConfigError),
    ({"constraints": "C3"}, ConfigError),
    ({"data_dir": "/nonexistent/dir"}, InstanceError),
    ({"set": ["beam.nope=1"]}, ConfigError),
    ({"set": ["beam.branching=wide"]}, ConfigError),
    ({"set": ["beam.branching"]}, ConfigError),
])
def test_bad_input_rejected_before_ray(over, error, monkeypatch):
    from orchestrator import cluster, pack

    monkeypatch.setattr(cluster, "connect", lambda *a, **k: pytest.fail("Ray started before validation"))
    with pytest.raises(error):
        pack.run(args(**over))


@needs_data
@pytest.mark.parametrize("over, error, match", [
    ({"space": "nope"}, ConfigError, "unknown search space 'nope'"),
    ({"samples": 0}, ConfigError, "--samples"),
    ({"concurrency": 0}, ConfigError, "--concurrency"),
    ({"time_limit": 0.0}, ConfigError, "--time-limit"),
    ({"constraints": "C3"}, ConfigError, "--constraints"),
    ({"instances": "BR16"}, InstanceError, "BR16"),
])
def test_pack_tune_bad_input_rejected_before_ray(over, error, match, monkeypatch):
    from orchestrator import cluster, pack_tune

    monkeypatch.setattr(cluster, "connect", lambda *a, **k: pytest.fail("Ray started before validation"))
    with pytest.raises(error, match=match):
        pack_tune.run(args("pack-tune", **over))


def test_every_packing_space_names_real_solver_parameters(monkeypatch):
    """A space key or value type the solver does not take fails at validation, not in a trial."""
    import search_spaces.packing as spaces
    from orchestrator import pack_tune
    from search_spaces.space import Choice

    for name in spaces.SPACES:
        assert pack_tune.options(args("pack-tune", space=name)).space_name == name
    monkeypatch.setitem(spaces.SPACES, "typo", lambda: {"beam.branchin": Choice((4, 8))})
    monkeypatch.setitem(spaces.SPACES, "wrong-type", lambda: {"beam.branching": Choice(("wide",))})
    with pytest.raises(ConfigError, match="--space typo: solver parameter 'beam.branchin': unknown"):
        pack_tune.options(args("pack-tune", space="typo"))
    with pytest.raises(ConfigError, match="--space wrong-type: solver parameter 'beam.branching': expected int, got 'wide'"):
        pack_tune.options(args("pack-tune", space="wrong-type"))


@pytest.mark.ray
@needs_data
def test_pack_tune_end_to_end(ray_cluster, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from orchestrator import pack_tune

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code = pack_tune.run(args("pack-tune", instances="BR1/1,BR8/1", time_limit=0.5, space="smoke", samples=2,
                              experiment="tune-test", storage=str(tmp_path / "ray")))
    assert code == 0
    flags = capsys.readouterr().out.strip()
    assert flags.startswith("--set beam.branching=")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tune-test")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "pack-tune")
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in runs)
    best = max(t.data.metrics["mean_fill_rate"] for t in trials)
    assert parent.data.metrics["best_mean_fill_rate"] == pytest.approx(best) and 0.7 < best <= 1.0
    assert {"fill_rate.BR1_1", "fill_rate.BR8_1"} <= set(trials[0].data.metrics)
    assert {"beam.branching", "blocks.max_blocks", "seed", "time_limit"} <= set(trials[0].data.params)
    assert len(parent.data.tags["orch.data_checksum"]) == 16
    assert [d.name for d in (tmp_path / "ray").iterdir()] == [parent.info.run_name]  # one flat run directory
    assert flags == f"--set beam.branching={parent.data.params['best.beam.branching']}"
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"fill_rate_over_trials.png", "best_pack_flags.txt", "search_space.json"} <= arts


@needs_data
def test_malformed_instance_rejected_before_ray(tmp_path, monkeypatch):
    from orchestrator import cluster, pack

    (tmp_path / "BR3.txt").write_text("1\n1 5\n10 10 10\n1\n1 5 1 5 1 5 3\n")
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: pytest.fail("Ray started before validation"))
    with pytest.raises(InstanceError, match="BR3.txt: problem 1, box type 1"):
        pack.run(args(instances="BR3", data_dir=str(tmp_path)))


@pytest.mark.ray
@needs_data
def test_pack_end_to_end(ray_cluster, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from orchestrator import pack

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "results.jsonl"
    code = pack.run(args(instances="BR1/1,BR8/2", constraints="C1C2", time_limit=2.0, out=str(out),
                         branches=2, experiment="pack-test", set=["beam.branching=8"]))
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["instance"] for r in lines) == ["BR1/1", "BR8/2"]
    for rec in lines:
        assert list(rec) == ["instance", "container", "constraints", "fill_rate", "seconds", "placements"]
        assert rec["container"] == [587, 233, 220] and rec["constraints"] == "C1C2"
        cls, number = rec["instance"].split("/")
        inst = read_file(DATA / "container_loading_br" / f"{cls}.txt", [int(number)])[0]
        report = verify(inst, [Placement(*p) for p in rec["placements"]], "C1C2")
        assert report.ok and abs(report.fill_rate - rec["fill_rate"]) < 1e-12 and rec["fill_rate"] > 0.8
    assert "BR1/1 C1C2 fill" in capsys.readouterr().err

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("pack-test")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("orch.kind") == "pack"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and sorted(r.data.tags["orch.class"] for r in children) == ["BR1", "BR8"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert "mean_fill_rate.BR1" in parents[0].data.metrics
    assert parents[0].data.params["solver.beam.branching"] == "8"  # --set reached the solver's record
    assert parents[0].data.params["solver.beam.order"] == "fit"  # and so did every default
    assert len(parents[0].data.tags["orch.data_checksum"]) == 16
    for child in children:
        assert 0.8 < child.data.metrics["mean_fill_rate"] <= 1.0
        arts = [a.path for a in client.list_artifacts(child.info.run_id, "render")]
        assert any(a.endswith(".png") for a in arts)
