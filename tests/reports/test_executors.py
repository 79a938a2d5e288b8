"""Local executor helpers."""

from __future__ import annotations

from pathlib import Path

from sflaudit.reports.executors import spread_depths
from sflaudit.reports.sweep import Cell


def _cell(method: str, depth: int) -> Cell:
    return Cell(method, depth, Path(f"/runs/{method}-d{depth}"), "", (), 1138, ("prior",))


def test_spread_depths__side_by_side_cells_differ_in_depth_and_none_is_lost() -> None:
    cells = [_cell(m, d) for d in (1, 2, 3) for m in ("mocosfl", "monacosfl")]
    order = [(c.method, c.depth) for c in spread_depths(cells)]
    assert order == [("mocosfl", 1), ("mocosfl", 2), ("mocosfl", 3),
                     ("monacosfl", 1), ("monacosfl", 2), ("monacosfl", 3)]
    assert spread_depths([]) == []


def test_usable_cpus__a_cgroup_quota_caps_the_affinity_mask(tmp_path: Path) -> None:
    import os

    from sflaudit.reports.executors import usable_cpus

    mask = len(os.sched_getaffinity(0))
    (tmp_path / "max").write_text("max 100000\n")
    (tmp_path / "one").write_text("150000 100000\n")     # 1.5 CPUs of quota: one whole core
    assert usable_cpus(tmp_path / "max") == mask == usable_cpus(tmp_path / "absent")
    assert usable_cpus(tmp_path / "one") == 1
