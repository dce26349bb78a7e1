"""The data seam at the edge: --dataset, --data, the YAML data: block and
--set data.KEY=VALUE resolve into one DataSource, checked before Ray starts."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import ray

from data.errors import DataError
from data.source import DataSource, builtin_source, user_source
from orchestrator.__main__ import main
from orchestrator.config import resolve_run
from trainables.errors import ConfigError


def args(**given) -> SimpleNamespace:
    base = dict(config=None, model="timemixer", dataset=None, data=None, data_dir=None, set=None, seed=None,
                smoke=False, experiment=None, workers=None, gpus_per_worker=None, cpus_per_worker=None, address=None)
    return SimpleNamespace(**{**base, **given})


def test_source_round_trips_through_json_and_compares_by_value(tmp_path):
    file = tmp_path / "wells.csv"
    file.write_text("ds,y\n")
    source = user_source(file, {"split": {"train": 10, "val": 2, "test": 2}, "target": ["y"]},
                         {"split": "", "target": ""})
    again = DataSource.from_dict(json.loads(source.to_json()))
    assert again == source and hash(again) == hash(source)
    assert again.get("split") == {"train": 10, "val": 2, "test": 2} and again.get("target") == ["y"]
    assert source.name == "wells" and not source.builtin and source.flag() == f"--data {file.resolve()}"


def test_builtin_name_resolves_to_a_builtin_source():
    run = resolve_run(args())
    assert run.data == builtin_source("synthetic_wells") and run.dataset == "synthetic_wells"


def test_yaml_data_block_and_set_keys_merge_set_winning(tmp_path):
    file = tmp_path / "prod.csv"
    file.write_text("ds,y\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"model: timemixer\ndata:\n  path: {file}\n  name: field-a\n  time: ds\n  fill: zero\n")
    run = resolve_run(args(model=None, config=str(config), set=["data.fill=ffill", "lr=0.002"]))
    assert run.data.path == str(file.resolve()) and run.dataset == "field-a"
    assert run.data.options == {"time": "ds", "fill": "ffill"}
    assert run.params.lr == 0.002


def test_data_flag_wins_over_the_yaml_path(tmp_path):
    (tmp_path / "a.csv").write_text("ds,y\n")
    (tmp_path / "b.csv").write_text("ds,y\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"model: timemixer\ndata:\n  path: {tmp_path / 'a.csv'}\n")
    run = resolve_run(args(model=None, config=str(config), data=str(tmp_path / "b.csv")))
    assert run.data.name == "b"


@pytest.mark.parametrize("given,error,needle", [
    ({"data": "/no/such/file.csv"}, DataError, "--data: /no/such/file.csv does not exist"),
    ({"set": ["data.time=ds"]}, ConfigError, "data.time: layout keys describe your own file"),
    ({"dataset": "etth1", "data": "README.md"}, ConfigError, "not both"),
    ({"data": "README.md", "set": ["data.colour=red"]}, DataError, "data.colour: unknown key"),
])
def test_bad_data_arguments_name_the_flag(given, error, needle):
    with pytest.raises(error, match=needle.replace("[", r"\[").replace(".", r"\.")):
        resolve_run(args(**given))


def test_bad_data_argument_exits_2_before_ray(capsys, mlflow_uri):
    assert main(["train", "--model", "timemixer", "--data", "/no/such/file.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data: /no/such/file.csv does not exist" in err and len(err.splitlines()) == 1
    assert not ray.is_initialized()
