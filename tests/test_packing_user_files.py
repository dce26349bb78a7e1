"""`pack --instances FILE`: the user's own BR-format files and shipments (JSON / CSV),
solved by the real solver and checked by the real verifier; bad files exit 2 with one line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_data

from data.registry import file_sha256
from orchestrator.__main__ import main
from packing.errors import InstanceError
from packing.geometry import Placement
from packing.instances import load_input
from packing.shipment import load_shipment
from packing.verify import verify

ROOT = Path(__file__).resolve().parents[1]

SHIPMENT = {
    "name": "order-1017",
    "container": {"L": 120, "W": 80, "H": 60},
    "boxes": [
        {"id": "tv", "l": 40, "w": 30, "h": 10, "count": 12, "vertical": "h"},
        {"id": "chair", "l": 35, "w": 20, "h": 15, "count": 10, "vertical": "wh"},
        {"id": "crate", "l": 25, "w": 25, "h": 20, "count": 8, "vertical": [1, 1, 1]},
    ],
}
SHIPMENT_CSV = """# the same shipment as SHIPMENT
name,order-1017
container,120,80,60
id,l,w,h,count,vertical
tv,40,30,10,12,h
chair,35,20,15,10,wh
crate,25,25,20,8,lwh
"""


def thpack9() -> Path:
    """The thpack9 file, or skip naming `python -m orchestrator datasets fetch br` (a fresh clone has no data)."""
    return require_data("br", "container_loading_br/extra/thpack9.txt")


def pack_args(instances: str, **over):
    from orchestrator import pack

    parser = argparse.ArgumentParser()
    pack.register(parser.add_subparsers())
    ns = parser.parse_args(["pack", "--instances", instances])
    for k, v in over.items():
        setattr(ns, k, v)
    return ns


def write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return path


def test_csv_and_json_shipments_load_to_the_same_instance(tmp_path):
    a = load_shipment(write(tmp_path / "s.json", SHIPMENT))
    b = load_shipment(write(tmp_path / "s.csv", SHIPMENT_CSV))
    assert a == b
    assert a.name == "order-1017" and a.container == (120, 80, 60) and a.seed is None
    assert [(t.index, t.dims, t.flags, t.quantity) for t in a.types] == [
        (1, (40, 30, 10), (0, 0, 1), 12), (2, (35, 20, 15), (0, 1, 1), 10), (3, (25, 25, 20), (1, 1, 1), 8)]
    # columns in any order, spreadsheet padding, a byte-order mark, no name row (the file's stem)
    csv = "\ufeffcontainer,120,80,60,,\ncount,vertical,h,w,l\n12,h,10,30,40,\n10,wh,15,20,35\n8,lwh,20,25,25\n"
    c = load_shipment(write(tmp_path / "plain.csv", csv))
    assert c.name == "plain" and c.types == a.types
    assert load_input(str(tmp_path / "s.json"), 1) == ((a,), ())


@pytest.mark.parametrize("doc, needle", [
    # a box that fits the container in no allowed orientation
    ({**SHIPMENT, "boxes": [{"id": "wide", "l": 130, "w": 90, "h": 10, "count": 1, "vertical": "h"}]},
     "box 1 (id 'wide'): box 130x90x10 fits the container 120x80x60 in no allowed orientation (vertical: 'h')"),
    ({**SHIPMENT, "boxes": [{"l": 90, "w": 90, "h": 10, "count": 1, "vertical": "h"}]}, "box 1: box 90x90x10"),
    # a count below 1
    ({**SHIPMENT, "boxes": [{"id": "tv", "l": 4, "w": 3, "h": 1, "count": 0, "vertical": "h"}]},
     "box 1 (id 'tv'): count: expected at least 1, got 0"),
    # a missing field, named
    ({**SHIPMENT, "boxes": [{"l": 4, "w": 3, "count": 2, "vertical": "h"}]}, "box 1: missing field 'h'"),
    ({**SHIPMENT, "container": {"L": 120, "H": 60}}, "container: missing field 'W'"),
    ({"container": {"L": 1, "W": 1, "H": 1}}, "missing field 'boxes'"),
    ({**SHIPMENT, "boxes": [{"l": 4, "w": 3, "h": 1, "count": 2}]}, "box 1: missing field 'vertical'"),
    # non-numeric and negative dimensions
    ({**SHIPMENT, "boxes": [{"l": "four", "w": 3, "h": 1, "count": 2, "vertical": "h"}]},
     "box 1: l: expected a whole number, got 'four'"),
    ({**SHIPMENT, "boxes": [{"l": 4, "w": -3, "h": 1, "count": 2, "vertical": "h"}]},
     "box 1: w: expected a positive dimension, got -3"),
    ({**SHIPMENT, "container": {"L": 120, "W": 80, "H": 0}}, "container: H: expected a positive dimension, got 0"),
    ({**SHIPMENT, "boxes": [{"l": 4.5, "w": 3, "h": 1, "count": 2, "vertical": "h"}]}, "l: expected a whole number"),
    # other malformed fields
    ({**SHIPMENT, "boxes": [{"l": 4, "w": 3, "h": 1, "count": 2, "vertical": "up"}]}, "box 1: vertical: expected"),
    ({**SHIPMENT, "boxes": [{"l": 4, "w": 3, "h": 1, "count": 2, "vertical": [0, 0, 0]}]}, "no dimension may stand"),
    ({**SHIPMENT, "boxes": [{"l": 4, "w": 3, "h": 1, "cuont": 2, "vertical": "h"}]}, "unknown field 'cuont'"),
    ({**SHIPMENT, "name": "a/b"}, "name: expected a non-empty text without '/'"),
    ("{\"name\": ", "not valid JSON"),
])
def test_bad_json_shipment_is_one_line_naming_file_and_field(tmp_path, doc, needle):
    path = write(tmp_path / "bad.json", doc)
    with pytest.raises(InstanceError) as err:
        load_shipment(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


@pytest.mark.parametrize("text, needle", [
    ("id,l,w,h,count,vertical\ntv,4,3,1,2,h\n", "container: missing"),
    ("container,120,80\nid,l,w,h,count,vertical\n", "line 1: container: expected 'container,L,W,H'"),
    ("container,120,80,60\nid,l,w,h,count\ntv,4,3,1,2\n", "line 2: header: missing column 'vertical'"),
    ("container,120,80,60\nid,l,w,h,count,vertical,colour\n", "line 2: unknown column 'colour'"),
    ("container,120,80,60\nid,l,w,h,count,vertical\ntv,4,3,1,0,h\n", "line 3 (id 'tv'): count: expected at least 1"),
    ("container,120,80,60\nid,l,w,h,count,vertical\ntv,4,x,1,2,h\n", "line 3 (id 'tv'): w: expected a whole number"),
    ("container,120,80,60\nid,l,w,h,count,vertical\ntv,4,3,,2,h\n", "line 3 (id 'tv'): missing field 'h'"),
    ("container,120,80,60\nid,l,w,h,count,vertical\ntv,4,3,1,2,h\ntv,5,3,1,2,h\n", "id: 'tv' already used by box 1"),
    ("container,120,80,-60\nid,l,w,h,count,vertical\n", "container: H: expected a positive dimension, got '-60'"),
    ("container,120,80,60\nid,l,w,h,count,vertical\n", "boxes: no box rows"),
])
def test_bad_csv_shipment_is_one_line_naming_file_and_field(tmp_path, text, needle):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InstanceError) as err:
        load_shipment(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


@pytest.mark.parametrize("name, content, needle", [
    ("wide.json", {**SHIPMENT, "boxes": [{"id": "w", "l": 130, "w": 90, "h": 10, "count": 1, "vertical": "h"}]},
     "in no allowed orientation"),
    ("zero.json", {**SHIPMENT, "boxes": [{"l": 4, "w": 3, "h": 1, "count": 0, "vertical": "h"}]}, "count:"),
    ("short.json", {**SHIPMENT, "boxes": [{"l": 4, "w": 3, "count": 2, "vertical": "h"}]}, "missing field 'h'"),
    ("neg.csv", "container,120,80,60\nid,l,w,h,count,vertical\nx,-4,3,1,2,h\n", "l: expected a positive"),
    ("dir.json", None, "cannot read file"),  # a directory: exists, cannot be read
    ("latin1.csv", b"container,120,80,60\nid,l,w,h,count,vertical\n\xe9,4,3,1,2,h\n", "not UTF-8 text"),
    ("order.xlsx", "whatever", "unknown file type '.xlsx'"),
    ("missing.json", "", "no such file"),
])
def test_bad_file_exits_2_with_one_line_before_ray(tmp_path, monkeypatch, capsys, mlflow_uri, name, content, needle):
    from orchestrator import cluster

    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif name != "missing.json":
        write(path, content)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: pytest.fail("Ray started before validation"))
    assert main(["pack", "--instances", str(path), "--time-limit", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and needle in err, err


@pytest.mark.slow
def test_bad_shipment_through_the_cli_exits_2(tmp_path):
    path = write(tmp_path / "order.json", {**SHIPMENT, "boxes": [{"id": "tv", "l": 4, "w": 3, "h": 1,
                                                                   "count": 0, "vertical": "h"}]})
    done = subprocess.run([sys.executable, "-m", "orchestrator", "pack", "--instances", str(path)], cwd=tmp_path,
                          env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [f"error: {path}: box 1 (id 'tv'): count: expected at least 1, got 0"]


@pytest.mark.ray
@pytest.mark.slow
def test_a_shipment_packs_and_verifies_through_the_cli(ray_cluster, tmp_path):
    from mlflow.tracking import MlflowClient

    path = write(tmp_path / "order.json", SHIPMENT)
    out, uri = tmp_path / "packing.jsonl", f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "pack", "--instances", str(path), "--out", str(out),
         "--time-limit", "0.5", "--branches", "2", "--experiment", "shipment"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "RAY_ADDRESS": ray_cluster,
                           "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(record) == ["instance", "container", "constraints", "fill_rate", "seconds", "placements"]
    assert record["instance"] == "order-1017" and record["container"] == [120, 80, 60]
    inst = load_shipment(path)
    report = verify(inst, [Placement(*p) for p in record["placements"]], "C1")
    assert report.ok and abs(report.fill_rate - record["fill_rate"]) < 1e-12 and record["fill_rate"] > 0.5
    assert {p[0] for p in record["placements"]} <= {1, 2, 3}

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("shipment").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "pack")
    assert parent.data.tags["orch.data_checksum"] == file_sha256(path)[:16]
    (dataset,) = [d.dataset for d in parent.inputs.dataset_inputs]
    assert (dataset.name, dataset.digest) == ("order", file_sha256(path)[:16])
    assert json.loads(dataset.source)["uri"] == str(path.resolve())
    assert json.loads(dataset.schema) == {"format": "shipment", "instances": 1}
    assert all(r.info.status == "FINISHED" for r in runs)


@pytest.mark.ray
@pytest.mark.needs_data("br", "container_loading_br/extra/thpack9.txt")  # before Ray starts
def test_thpack9_by_path_solves_and_verifies_skipping_the_defective(ray_cluster, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from orchestrator import pack

    path = thpack9()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "thpack9.jsonl"
    assert pack.run(pack_args(str(path), limit=47, time_limit=0.2, branches=1, out=str(out),
                              experiment="thpack9")) == 0
    skipped = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped ")]
    assert [line.split(": problem ")[1].split(",")[0] for line in skipped] == ["18", "19", "20"]
    assert all(str(path) in line and "got 7" in line for line in skipped)

    records = {r["instance"]: r for r in map(json.loads, out.read_text().splitlines())}
    instances, _ = load_input(str(path), None)
    assert sorted(records) == sorted(i.name for i in instances) and len(records) == 44
    for inst in instances:
        rec = records[inst.name]
        report = verify(inst, [Placement(*p) for p in rec["placements"]], "C1")
        assert report.ok and abs(report.fill_rate - rec["fill_rate"]) < 1e-12 and rec["fill_rate"] > 0.5

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("thpack9").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "pack")
    assert parent.info.run_name == "pack-thpack9-C1"
    assert parent.data.tags["orch.data_checksum"] == file_sha256(path)[:16]
    (dataset,) = [d.dataset for d in parent.inputs.dataset_inputs]
    assert dataset.name == "thpack9" and json.loads(dataset.schema) == {"format": "br", "instances": 44}


@pytest.mark.ray
def test_pack_tune_takes_a_shipment_and_records_it(ray_cluster, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from orchestrator import pack_record, pack_tune

    path = write(tmp_path / "order.csv", SHIPMENT_CSV)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    parser = argparse.ArgumentParser()
    pack_tune.register(parser.add_subparsers())
    ns = parser.parse_args(["pack-tune", "--instances", str(path), "--time-limit", "0.3", "--space", "smoke",
                            "--samples", "1", "--experiment", "tune-shipment", "--storage", str(tmp_path / "ray")])
    assert pack_tune.run(ns) == 0
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tune-shipment").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("orch.kind") == "pack-tune")
    assert parent.info.run_name.startswith("pack-tune-order-C1-")
    assert parent.data.tags["orch.data_checksum"] == pack_record.data_checksum(str(path), None) == file_sha256(path)[:16]
    (dataset,) = [d.dataset for d in parent.inputs.dataset_inputs]
    assert dataset.name == "order" and json.loads(dataset.schema) == {"format": "shipment", "instances": 1}
    assert all(r.info.status == "FINISHED" for r in runs)
