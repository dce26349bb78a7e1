"""Reader tests: CRLF, tabs, flags, selection syntax, the thpack9 defect, missing files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packing.errors import InstanceError
from packing.geometry import BoxType, orientations
from packing.instances import find_class_file, parse_selection, read_file

DATA = Path(os.environ.get("ORCH_DATA_DIR") or Path(__file__).parents[2] / "shared" / "data") / "container_loading_br"
needs_data = pytest.mark.skipif(not (DATA / "BR1.txt").is_file(), reason=f"BR files not found under {DATA}")

TEXT = "2\r\n 1 2502505\r\n587 233 220\r\n2\r\n1\t108\t0\t76\t0\t30\t1\t40\r\n 2 110 0 43 1 25 1 33\r\n" \
       "2 99\r\n10 10 10\r\n1\r\n1 5 1 5 1 5 1 3\r\n\r\n"


def test_reads_crlf_tabs_and_flags(tmp_path):
    path = tmp_path / "BRX.txt"
    path.write_bytes(TEXT.encode())
    a, b = read_file(path)
    assert a.name == "BRX/1" and a.seed == 2502505 and a.container == (587, 233, 220)
    assert a.types[0] == BoxType(1, (108, 76, 30), (0, 0, 1), 40)
    assert a.types[1].flags == (0, 1, 1) and b.types[0].quantity == 3
    assert read_file(path, [2])[0].name == "BRX/2"


def test_orientations_follow_flags():
    this_side_up = BoxType(1, (108, 76, 30), (0, 0, 1), 1)
    assert set(orientations(this_side_up)) == {(108, 76, 30), (76, 108, 30)}
    cube = BoxType(1, (5, 5, 5), (1, 1, 1), 1)
    assert orientations(cube) == ((5, 5, 5),)


def test_short_box_line_is_named(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1\n1 7\n10 10 10\n1\n1 5 1 5 1 5 3\n")
    with pytest.raises(InstanceError, match=r"bad.txt: problem 1, box type 1 \(line 5\): expected 8 fields"):
        read_file(path)


@needs_data
def test_thpack9_defect_reported_clearly_and_sound_problems_still_load():
    path = DATA / "extra" / "thpack9.txt"
    with pytest.raises(InstanceError, match=r"problem 18, box type 3 .*expected 8 fields.*got 7"):
        read_file(path)
    assert [i.number for i in read_file(path, [1, 17, 21])] == [1, 17, 21]
    assert read_file(path, [1])[0].seed is None


@needs_data
def test_every_br_class_parses():
    for k in range(16):
        problems = read_file(DATA / f"BR{k}.txt")
        assert len(problems) == 100 and all(p.container == (587, 233, 220) for p in problems)
        assert all(0.96 < p.box_volume / p.container_volume <= 1.0 for p in problems)


def test_selection_syntax():
    sel = parse_selection("BR1-BR3,BR7/2,BR1")
    assert [(s.cls, s.number) for s in sel] == [("BR1", None), ("BR2", None), ("BR3", None), ("BR7", 2)]
    for bad in ("BR16", "XY1", "BR3-BR1", ""):
        with pytest.raises(InstanceError):
            parse_selection(bad)


def test_missing_file_names_where_it_looked(tmp_path):
    with pytest.raises(InstanceError, match=str(tmp_path)):
        find_class_file("BR7", tmp_path)
