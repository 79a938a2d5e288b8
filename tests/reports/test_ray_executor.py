"""The Ray executor: a 2-cell smoke sweep on a local Ray gives the same table as the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from sflaudit.reports.collect import collect_rows
from sflaudit.reports.executors import run_sweep
from sflaudit.reports.grid import plan_cells
from sflaudit.artifacts import RunDir

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'sflaudit[ray]')")

# Columns that legitimately differ between two runs of the same cell: where it ran and how long it took.
VOLATILE = ("run_dir", "grid", "grids", "train_wall_s", "invert_wall_s", "mia_wall_s", "attack_prior_wall_s",
            "attack_decoder_wall_s", "attack_hybrid_wall_s")


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


@pytest.fixture()
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor__same_table_as_the_local_executor(local_ray, smoke_sweep, tmp_path: Path) -> None:
    cells = plan_cells(smoke_sweep.config, [1], smoke_sweep.methods, tmp_path / "runs")
    results = run_sweep(cells, executor="ray", cpus_per_cell=1, gpus_per_cell=0, progress=False)
    assert [(r.name, r.status) for r in results] == [("mocosfl-d1", "ok"), ("monacosfl-d1", "ok")]
    assert all(r.stages_run == ("train", "profile", "eval", "invert", "membership") for r in results)
    local = plan_cells(smoke_sweep.config, [1], smoke_sweep.methods, smoke_sweep.runs)
    assert stable(collect_rows(cells)) == stable(collect_rows(local))
    for mine, theirs in zip(cells, local):          # the very same numbers, not just the same summary
        assert RunDir(mine.run_dir).read_traffic() == RunDir(theirs.run_dir).read_traffic()
        a, b = RunDir(mine.run_dir).read_attack(mine.attack_id), RunDir(theirs.run_dir).read_attack(theirs.attack_id)
        assert a is not None and b is not None and a.mean == b.mean
    again = run_sweep(cells, executor="ray", progress=False)    # complete cells are skipped before Ray is asked
    assert [r.status for r in again] == ["skipped", "skipped"]
