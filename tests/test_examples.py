"""The README's "Your own data" commands run as written, on the files
examples/make_files.py writes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[list[str]]:
    """The orchestrator commands of the README's own-data block, in order."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Your own data.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no 'Your own data' bash block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    assert "python examples/make_files.py my_data" in lines
    return [shlex.split(line)[3:] for line in lines if line.startswith("python -m orchestrator ")]


@pytest.fixture(scope="module")
def my_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("own") / "my_data"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "make_files.py"), str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder


def localised(argv: list[str], my_data: Path, tmp: Path) -> list[str]:
    """The command with my_data/ pointing at the generated files and outputs in ``tmp``."""
    out = []
    for arg in argv:
        if arg.startswith("my_data/"):
            arg = str(my_data / arg[len("my_data/"):])
        elif arg.endswith((".csv", ".jsonl")) and "/" not in arg:
            arg = str(tmp / arg)
        out.append(arg)
    return out


def test_every_family_trains_on_its_example_file(my_data, tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trains = [argv for argv in readme_commands() if argv[0] == "train"]
    assert {argv[argv.index("--model") + 1] if "--model" in argv else "config" for argv in trains} == {
        "timemixer", "bearing", "config"}
    for argv in trains:
        assert main(localised(argv, my_data, tmp_path)) == 0, argv


@pytest.mark.ray
@pytest.mark.slow
def test_the_whole_block_runs_in_order(my_data, tmp_path, ray_cluster, mlflow_uri, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in readme_commands():
        if argv[0] == "train":
            continue  # the test above
        assert main([*localised(argv, my_data, tmp_path), *(["--storage", str(tmp_path / "ray")]
                     if argv[0] in ("sweep", "ensemble") else [])]) == 0, argv
    forecast = (tmp_path / "forecast.csv").read_text().splitlines()
    assert forecast[0].startswith("window,series,time,step,channel,mean,std,p10,p90")
    assert len(forecast) == 1 + 3 * 24  # 3 wells x the smoke horizon, one channel
    assert (tmp_path / "plan.jsonl").read_text().count("\n") == 1
