"""Block-building kernels: C2 space stretching, flat-top blocks, live reach tables, warm-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from packing import kernels
from packing import placement as K
from packing.beam import Packer, _reach_table
from packing.blocks import build_blocks, expand
from packing.geometry import BoxType, Instance
from packing.solver import solve, warm_up
from packing.verify import verify

TWO_SLABS = Instance("two-slabs", 1, None, (10, 10, 10),
                     (BoxType(1, (5, 10, 5), (0, 0, 1), 2), BoxType(2, (10, 10, 3), (0, 0, 1), 1)))


def _slab(table) -> int:
    return next(i for i in range(len(table)) if tuple(table.dims[i]) == (5, 10, 5) and table.req[i].sum() == 1)


def _two_slabs(cut_top: bool):
    table = build_blocks(TWO_SLABS, support=True, max_rounds=0)
    packer = Packer(TWO_SLABS.container, table, np.array([2, 1]), support=True, order="volume", cut_top=cut_top)
    st = packer.root()
    for _ in range(2):
        st, sp, _ = packer.step(st, 8)
        st = packer.place(st, sp, _slab(table))
    return packer, table, st


def test_c2_space_above_equal_neighbours_is_merged():
    packer, table, st = _two_slabs(cut_top=False)
    assert [0, 0, 5, 10, 10, 10] in st.spaces.tolist()  # one space over both slabs
    done = packer.greedy(st)  # the 10 x 10 x 3 lid now fits on top
    placements = [p for (b, x, y, z) in done.placed for p in expand(table, b, (x, y, z))]
    assert len(placements) == 3 and verify(TWO_SLABS, placements, "C1C2").ok


def test_c2_plain_cut_keeps_separate_tops():
    packer, _, st = _two_slabs(cut_top=True)
    assert len(packer.greedy(st).placed) == 2  # the lid finds no 10 x 10 floor


def test_c2_no_stretch_under_a_block_above():
    # a covered rectangle with a block standing on it must not be grown into
    tops = np.array([[5, 0, 0, 5, 10, 0, 0, 0, 5, 10],
                     [5, 5, 0, 10, 10, 5, 0, 0, 10, 10],
                     [8, 0, 0, 5, 10, 0, 0, 5, 5, 10]], dtype=np.int64)
    assert not K._open(0, 0, 5, 10, 5, tops) and K._open(5, 0, 10, 10, 5, tops[:2])


def test_flat_top_general_blocks_have_full_tops():
    inst = Instance("mix", 1, None, (60, 60, 60), tuple(
        BoxType(i + 1, d, (0, 0, 1), 4) for i, d in enumerate([(10, 20, 15), (10, 20, 15), (20, 20, 15), (10, 10, 7)])))
    table = build_blocks(inst, support=True, max_rounds=2, flat_top=True)
    side = [i for i in range(len(table)) if table.spec[i, 0] == 1 and table.spec[i, 3] != 2]
    assert side
    for i in side:
        assert table.top[i].tolist() == [0, 0, table.dims[i, 0], table.dims[i, 1]]


def test_live_reach_matches_static_table_with_full_stock():
    table = build_blocks(TWO_SLABS, support=False, max_rounds=0)
    packer = Packer(TWO_SLABS.container, table, np.array([2, 1]), support=False)
    for a in range(3):
        live = K.live_reach(np.array([2, 1]), packer.type_ext, a, 10)
        assert np.array_equal(live, packer.reach[a])
    # without type 2, heights only come in 5s
    assert K.live_reach(np.array([1, 0]), packer.type_ext, 2, 10).tolist() == [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 10]
    assert _reach_table(10, {3, 5}).tolist() == [0, 0, 0, 3, 3, 5, 6, 6, 8, 9, 10]


def test_warm_up_and_c2_toy_solution_verified():
    warm_up()
    sol = solve(TWO_SLABS, "blocks", "C1C2", 0.2)
    assert verify(TWO_SLABS, sol.placements, "C1C2").ok and sol.volume == TWO_SLABS.box_volume  # all boxes in


def _br_like_packer(support: bool) -> Packer:
    rng = np.random.default_rng(3)
    types = tuple(BoxType(i + 1, tuple(int(v) for v in rng.integers(20, 80, 3)), (1, 1, 1), int(rng.integers(2, 6)))
                  for i in range(45))
    inst = Instance("many", 1, None, (587, 233, 220), types)
    table = build_blocks(inst, support, max_rounds=2 if support else 1, flat_top=True)
    return Packer(inst.container, table, np.array([t.quantity for t in types]), support)


def test_sparse_uses_lists_each_blocks_box_types():
    packer = _br_like_packer(support=True)
    assert packer.uses.shape[1] >= 2  # general blocks of two rounds mix types
    dense = np.zeros_like(packer.req)
    for b, row in enumerate(packer.uses):
        for t, count in row:
            dense[b, t] += count
    assert (dense == packer.req).all()


def test_pruned_best_block_equals_the_full_ranking():
    # k == 1 stops scanning once volume can no longer win; it must pick what a full ranking ranks first
    rng = np.random.default_rng(0)
    for support in (False, True):
        packer = _br_like_packer(support)
        st = packer.root()
        for step in range(25):
            st, sp, cand = packer.step(st, len(packer.vol))
            if sp < 0:
                break
            for noise in (None, rng.random(len(packer.vol)) * 50_000.0):
                packer.noise = noise
                full = packer.candidates(st, sp, len(packer.vol))
                assert packer.candidates(st, sp, 1).tolist() == full[:1].tolist()
            packer.noise = None
            st = packer.place(st, sp, int(cand[step % len(cand)]))


def test_an_edited_placement_module_drops_the_cached_kernels(tmp_path):
    """numba keys a kernel's cache on its own file, and greedy's compiled code holds
    placement.py's kernels: a placement.py other than the one the cache was built
    against drops kernels.py's cache files (numba's own names for them), once."""
    warm_up()  # compiles and caches the kernels
    real = sorted(p.name for p in (Path(kernels.__file__).parent / "__pycache__").glob("kernels.*.nb[ic]"))
    assert any(name.startswith("kernels.greedy-") for name in real)  # the pattern matches numba's files
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    for name in ("kernels.greedy-323.py311.nbi", "kernels.greedy-323.py311.1.nbc", "beam.other.nbi"):
        (cache / name).write_bytes(b"compiled")
    assert kernels.drop_stale_cache(cache)  # no digest yet: built against an unknown placement.py
    assert sorted(p.name for p in cache.iterdir()) == ["beam.other.nbi", "kernels.placement-digest"]
    (cache / "kernels.greedy-323.py311.nbi").write_bytes(b"compiled")
    assert not kernels.drop_stale_cache(cache)  # the same placement.py: the cache stays
    assert (cache / "kernels.greedy-323.py311.nbi").exists()
    (cache / "kernels.placement-digest").write_text("0" * 16)  # placement.py changed since
    assert kernels.drop_stale_cache(cache) and not (cache / "kernels.greedy-323.py311.nbi").exists()
