"""Seed groups: cells equal but for the seed become one row with means and a t-interval."""

from __future__ import annotations

import pytest
from scipy import stats

from sflaudit.reports.seeds import group_rows


def _row(cell: str, group: str, knn: float, status: str = "ok") -> dict:
    return {"cell": cell, "group": group, "status": status, "depth": 1, "method": "mocosfl", "knn_best": knn,
            "knn_best_low": knn - 1, "knn_best_high": knn + 1, "run_up": 100, "run_dir": f"/r/{cell}",
            "error": None}


def test_group_rows__mean_and_t_interval_across_seeds() -> None:
    rows = [_row("a", "a", 40.0), _row("a-seed2", "a", 44.0), _row("a-seed3", "a", 45.0), _row("b", "b", 50.0)]
    a, b = group_rows(rows)
    assert a["cell"] == "a" and a["seeds"] == 3 and a["seed_variance"] is True
    assert a["knn_best"] == pytest.approx(43.0) and a["run_up"] == 100
    half = stats.t.ppf(0.975, 2) * stats.tstd([40.0, 44.0, 45.0]) / 3 ** 0.5
    assert a["knn_best_low"] == pytest.approx(43.0 - half) and a["knn_best_high"] == pytest.approx(43.0 + half)
    assert b["seeds"] == 1 and b["seed_variance"] is False and b["knn_best_low"] == 49.0


def test_group_rows__an_unfinished_seed_makes_the_group_missing() -> None:
    (row,) = group_rows([_row("a", "a", 40.0), _row("a-seed2", "a", 41.0, status="missing")])
    assert row["status"] == "missing" and "1 of 2 seeds" in row["error"]
