"""CLI input validation: bad values exit 2 with one line, before Ray starts."""

from __future__ import annotations

import pytest
import ray

from orchestrator.__main__ import main


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["train", "--model", "timemixer", "--set", "dropout=1.5"], "dropout: expected a number in [0, 1)"),
    (["train", "--model", "timemixer", "--set", "lr=0"], "lr: expected a number > 0"),
    (["train", "--model", "timemixer", "--set", "colour=blue"], "unknown key 'colour'"),
    (["train", "--model", "timemixer", "--set", "n_heads=16"], "no attention heads"),
    (["train", "--model", "timemixer", "--set", "lr"], "expected key=value"),
    (["train", "--model", "timemixer", "--dataset", "imagenet"], "supports"),
    (["train", "--model", "timemixer", "--workers", "0"], "--workers"),
    (["sweep", "--model", "timemixer", "--space", "huge"], "unknown search space 'huge'"),
    (["sweep", "--model", "timemixer", "--search", "bayes"], "--search"),
    (["sweep", "--model", "timemixer", "--space", "default", "--search", "grid"], "non-grid entries"),
    (["sweep", "--resume", "never-ran", "--storage", "/nonexistent"], "no sweep 'never-ran'"),
    (["sweep", "--model", "timemixer", "--metric", "val_acc"], "--metric: expected one of ['val_loss', 'val_mae'"),
    (["compare", "--sweep", "no-such"], "--sweep: no sweep or ensemble run named or with id 'no-such'"),
    (["ensemble", "--sweep", "no-such"], "--sweep: no sweep run named or with id 'no-such'"),
    (["export", "--ensemble", "no-such"], "--ensemble: no ensemble run named or with id 'no-such'"),
    (["ensemble", "--model", "timemixer", "--seeds", "0"], "--seeds: expected an integer >= 1"),
])
def test_bad_values_exit_2_before_ray(argv, needle, capsys, mlflow_uri):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not ray.is_initialized()


def test_missing_data_file_exits_2(tmp_path, monkeypatch, capsys, mlflow_uri):
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["train", "--model", "timemixer", "--dataset", "etth1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ett/ETTh1.csv not found" in err and str(tmp_path) in err
    assert len(err.splitlines()) == 1
    assert not ray.is_initialized()


def test_windows_longer_than_splits_exit_2(capsys, mlflow_uri):
    argv = ["train", "--model", "timemixer", "--set", "input_len=3000", "--set", "output_len=1000"]
    assert main(argv) == 2
    assert "too short for input_len=3000" in capsys.readouterr().err


@pytest.mark.parametrize("text,needle", [
    ("model: [unclosed", "invalid YAML"),
    ("- a\n- b\n", "mapping"),
    ("model: timemixer\nparams:\n  dropout: 2\n", "dropout"),
    ("model: timemixer\nlearning_rate: 1\n", "unknown key"),
])
def test_bad_yaml_exit_2(tmp_path, text, needle, capsys, mlflow_uri):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(path) in err or needle in err


def test_datasets_lists_models_and_files(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "timemixer" in out and "etth1" in out and "synthetic_wells" in out


def test_init_from_an_unknown_run_exits_2(capsys, mlflow_uri):
    assert main(["train", "--model", "timemixer", "--smoke", "--init-from", "no-such-run"]) == 2
    assert "--init-from: no run 'no-such-run'" in capsys.readouterr().err


def test_two_stage_training_starts_from_an_earlier_run(capsys, mlflow_uri):
    """Stage 1 in-process, then stage 2 from its logged weights at a lower lr."""
    assert main(["train", "--model", "timemixer", "--smoke", "--experiment", "stages"]) == 0
    first = capsys.readouterr().out.split()[1]
    assert main(["train", "--model", "timemixer", "--smoke", "--experiment", "stages", "--init-from", first,
                 "--set", "lr=0.0005"]) == 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("stages").experiment_id])
    second = next(r for r in runs if r.info.run_id != first)
    assert first in second.data.params["init_from"] or "model" in second.data.params["init_from"]
    assert second.data.params["lr"] == "0.0005"


def test_demo_is_the_sweep_command_with_preset_flags():
    """`demo` parses to a sweep of TimeMixer on the generated wells; a flag given to
    it still wins, and a --set adds to the presets."""
    from orchestrator.__main__ import build_parser
    from orchestrator.commands import sweep_command

    args = build_parser().parse_args(["demo", "--samples", "2", "--set", "epochs=1"])
    assert args.func is sweep_command
    assert (args.model, args.dataset, args.space, args.samples) == ("timemixer", "synthetic_wells", "demo", 2)
    assert args.set[-1] == "epochs=1" and "input_len=96" in args.set
    assert "epochs=1" not in build_parser().parse_args(["demo"]).set  # the presets are not changed in place
