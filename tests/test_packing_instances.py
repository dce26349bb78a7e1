"""Reader tests: CRLF, tabs, flags, selection syntax, the thpack9 defect, missing files, a file by path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import data_root, require_data

from packing.errors import InstanceError
from packing.geometry import BoxType, orientations
from packing.instances import describe_input, find_class_file, input_path, load_input, parse_selection, read_file

DATA = data_root("br", "container_loading_br/BR1.txt") / "container_loading_br"
needs_data = pytest.mark.needs_data("br", "container_loading_br/BR1.txt")

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


def thpack9() -> Path:
    """The thpack9 file, or skip naming `python -m orchestrator datasets fetch br` (a fresh clone has no data)."""
    return require_data("br", "container_loading_br/extra/thpack9.txt")


def test_instances_value_is_classes_or_a_path():
    for spec in ("BR7", "BR1,BR2", "br1-br7", "BR7/3,BR8/1", "BR16", ""):
        assert input_path(spec) is None  # class errors stay class errors ("BR16: unknown class")
    for spec in ("BR7.txt", "data/thpack9.txt", "order.json", "~/ship.csv", "XY1"):
        assert input_path(spec) is not None


def test_thpack9_defects_are_exactly_the_ones_the_readme_names():
    path = thpack9()
    readme_path = path.parents[1] / "README.md"
    if not readme_path.is_file():
        pytest.skip(f"{readme_path} not found: the data README names thpack9's defects (in ../shared/data)")
    readme = readme_path.read_text()
    named = re.search(r"Known defect in thpack9\.txt.*?in problems ([\d, and]+), box type", readme, re.S)
    assert named, "the data README no longer names thpack9's defective problems"
    expected = {int(n) for n in re.findall(r"\d+", named.group(1))}
    instances, skipped = load_input(str(path), None)
    assert {int(re.search(r"problem (\d+),", s).group(1)) for s in skipped} == expected == {18, 19, 20}
    assert all(s.startswith(f"{path}: problem ") and "expected 8 fields" in s and "got 7" in s for s in skipped)
    assert len(skipped) == 3 and all("\n" not in s for s in skipped)
    assert [i.number for i in instances] == [n for n in range(1, 48) if n not in expected]
    assert instances[0].name == "thpack9/1" and instances[-1].container == (25, 60, 43)


def test_limit_takes_a_files_first_problems():
    path = thpack9()
    instances, skipped = load_input(str(path), 20)
    assert [i.number for i in instances] == list(range(1, 18)) and len(skipped) == 3
    instances, skipped = load_input(str(path), 5)
    assert len(instances) == 5 and skipped == ()


def test_a_box_that_fits_nowhere_is_a_named_defect(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("2\n1\n10 10 10\n1\n1 5 1 5 1 5 1 3\n2\n10 10 10\n1\n1 12 0 5 0 5 1 3\n")
    instances, skipped = load_input(str(path), None)
    assert [i.name for i in instances] == ["mine/1"]
    assert skipped == (f"{path}: problem 2, box type 1 (line 9): box 12x5x5 fits the container 10x10x10 "
                       "in no allowed orientation (flags 0 0 1)",)
    with pytest.raises(InstanceError, match="problem 2, box type 1"):
        read_file(path)


def test_describe_input_names_the_file_or_the_classes(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("1\n1\n10 10 10\n1\n1 5 1 5 1 5 1 3\n")
    info = describe_input(str(path))
    assert (info.name, info.source, info.format, info.files) == ("mine", str(path.resolve()), "br", (path,))
    if (DATA / "BR1.txt").is_file():
        info = describe_input("BR1/1,BR8,BR1")
        assert (info.name, info.source, info.format) == ("BR1,BR8", str(DATA.resolve()), "br")
