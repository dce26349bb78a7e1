"""The parallel search of one instance: one worker is the single-process search, more
workers never do worse under the same work cap per worker, and `pack --workers`."""

from __future__ import annotations

import hashlib
import json

import pytest

from packing.beam import BeamParams
from packing.instances import read_file
from packing.solver import SolverParams, solve
from packing.verify import verify
from tests.conftest import data_root

DATA = data_root("br", "container_loading_br/BR1.txt")
needs_data = pytest.mark.needs_data("br", "container_loading_br/BR1.txt")


def instance(cls: str, number: int = 1):
    return read_file(DATA / "container_loading_br" / f"{cls}.txt", [number])[0]


def capped(evals: int) -> SolverParams:
    return SolverParams(beam=BeamParams(max_evals=evals))


def digest(sol) -> str:
    return hashlib.sha256(json.dumps([p.as_list() for p in sol.placements]).encode()).hexdigest()[:16]


@needs_data
@pytest.mark.parametrize("cls, number, cons, evals, volume, boxes, placements", [
    # the single-process search's packings at a work cap, recorded before the parallel search existed
    ("BR5", 1, "C1", 400, 27660788, 88, "d3b62954e726c17e"),
    ("BR8", 2, "C1C2", 300, 27080525, 116, "e5c1932985ef2f73"),
])
def test_one_worker_is_the_single_process_search_exactly(cls, number, cons, evals, volume, boxes, placements):
    inst = instance(cls, number)
    lone = solve(inst, "blocks", cons, 600, params=capped(evals))
    one = solve(inst, "blocks", cons, 600, params=capped(evals), worker=0, workers=1)
    for sol in (lone, one):
        assert (sol.volume, len(sol.placements), digest(sol), sol.stats) == (volume, boxes, placements,
                                                                               (("evals", float(evals)),))


@needs_data
@pytest.mark.parametrize("cls, cons, evals", [("BR7", "C1", 1500), ("BR3", "C1C2", 1000), ("BR12", "C1", 300)])
def test_two_workers_at_least_match_one_under_the_same_cap_per_worker(cls, cons, evals):
    """Worker k of N runs the widths 2^i, i = k (mod N): each pass the lone search makes,
    sooner, so the best of the workers is at least the lone search's best."""
    inst = instance(cls, 2)
    lone = solve(inst, "blocks", cons, 600, params=capped(evals))
    pair = [solve(inst, "blocks", cons, 600, params=capped(evals), worker=k, workers=2) for k in range(2)]
    assert pair[0].stats == (("evals", float(evals)), ("worker", 0.0))
    best = max(pair, key=lambda s: s.fill_rate)
    assert verify(inst, best.placements, cons).ok
    assert best.fill_rate >= lone.fill_rate


@needs_data
def test_worker_out_of_range_is_refused():
    from packing.errors import InstanceError

    with pytest.raises(InstanceError, match="worker 2 not in 0..1"):
        solve(instance("BR1"), "blocks", "C1", 0.1, worker=2, workers=2)


@needs_data
@pytest.mark.parametrize("flag", ["0", "-3"])
def test_workers_flag_must_be_positive(flag, monkeypatch, capsys):
    from orchestrator import cluster
    from orchestrator.__main__ import main

    monkeypatch.setattr(cluster, "connect", lambda *a, **k: pytest.fail("Ray started before validation"))
    argv = ["pack", "--instances", "BR1/1", "--data-dir", str(DATA), "--workers", flag]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --workers: expected a positive number of workers per instance, got {flag}")


@pytest.mark.ray
@needs_data
def test_pack_with_two_workers_is_verified_and_at_least_one_workers_fill(ray_cluster, tmp_path, monkeypatch, capsys):
    from orchestrator.__main__ import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    fills = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.jsonl"
        argv = ["pack", "--instances", "BR7/2,BR12/2", "--data-dir", str(DATA), "--time-limit", "120",
                "--workers", str(workers), "--set", "beam.max_evals=600", "--out", str(out),
                "--experiment", "pack-workers"]
        assert main(argv) == 0
        for line in out.read_text().splitlines():
            rec = json.loads(line)
            cls, number = rec["instance"].split("/")
            from packing.geometry import Placement

            report = verify(instance(cls, int(number)), [Placement(*p) for p in rec["placements"]], "C1")
            assert report.ok and report.fill_rate == pytest.approx(rec["fill_rate"])
            fills[workers, rec["instance"]] = rec["fill_rate"]
    for name in ("BR7/2", "BR12/2"):
        assert fills[2, name] >= fills[1, name]
    assert "of 2," in capsys.readouterr().err  # the progress line names the worker that won
    argv = ["pack", "--instances", "BR1/1", "--data-dir", str(DATA), "--workers", "3"]
    assert main(argv) == 2  # more workers than the cluster's 2 CPUs: refused, not queued
