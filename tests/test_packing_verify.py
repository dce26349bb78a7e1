"""The verifier must reject each kind of broken packing and accept a sound one."""

from __future__ import annotations

from packing.geometry import BoxType, Instance, Placement
from packing.verify import verify

INST = Instance("T/1", 1, None, (10, 10, 10), (
    BoxType(1, (4, 5, 3), (0, 0, 1), 4),  # this side up
    BoxType(2, (10, 10, 2), (1, 1, 1), 1),
))


def P(t, x, y, z, lx, ly, lz):
    return Placement(t, x, y, z, lx, ly, lz)


GOOD = [P(1, 0, 0, 0, 4, 5, 3), P(1, 4, 0, 0, 5, 4, 3), P(1, 0, 5, 0, 4, 5, 3), P(2, 0, 0, 3, 10, 10, 2)]


def problems(placements, cons="C1"):
    return verify(INST, placements, cons).problems


def test_accepts_sound_packing_under_c2():
    # box 4 rests on three boxes but the gap at x 9..10 leaves part unsupported
    report = verify(INST, GOOD[:3], "C1C2")
    assert report.ok and report.volume == 180 and abs(report.fill_rate - 0.18) < 1e-9


def test_rejects_overlap():
    assert any("overlap" in p for p in problems(GOOD[:2] + [P(1, 2, 2, 0, 4, 5, 3)]))


def test_touching_is_not_overlap():
    assert not problems([P(1, 0, 0, 0, 4, 5, 3), P(1, 4, 0, 0, 4, 5, 3)])


def test_rejects_out_of_bounds():
    assert any("not inside" in p for p in problems([P(1, 7, 0, 0, 4, 5, 3)]))
    assert any("not inside" in p for p in problems([P(1, -1, 0, 0, 4, 5, 3)]))


def test_rejects_wrong_orientation():
    assert any("orientation" in p for p in problems([P(1, 0, 0, 0, 4, 3, 5)]))
    assert any("orientation" in p for p in problems([P(1, 0, 0, 0, 4, 4, 3)]))  # not even a rotation


def test_rejects_over_stock_and_unknown_type():
    assert any("in stock" in p for p in problems([P(2, 0, 0, 0, 10, 10, 2), P(2, 0, 0, 2, 10, 10, 2)]))
    assert any("unknown type" in p for p in problems([P(3, 0, 0, 0, 1, 1, 1)]))


def test_rejects_unsupported_only_under_c2():
    floating = GOOD[:3] + [P(2, 0, 0, 3, 10, 10, 2)]  # lid over a partly empty floor
    assert verify(INST, floating, "C1").ok
    assert any("supported" in p for p in problems(floating, "C1C2"))
    hovering = [P(1, 0, 0, 1, 4, 5, 3)]
    assert any("supported" in p for p in problems(hovering, "C1C2"))
    stacked = [P(1, 0, 0, 0, 4, 5, 3), P(1, 0, 0, 3, 4, 5, 3)]
    assert verify(INST, stacked, "C1C2").ok
