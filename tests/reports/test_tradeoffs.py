"""The Pareto front and the recommendation on hand-made rows, with exact answers."""

from __future__ import annotations

from reports.tradeoffs import Constraints, annotate, pareto_cells, pareto_indices, recommend


def row(cell: str, ssim: float, knn: float, mb: float, *, depth: int = 1, method: str = "mocosfl",
        status: str = "ok") -> dict:
    return {"cell": cell, "depth": depth, "method": method, "status": status, "attack_ssim": ssim, "knn_best": knn,
            "mb_per_client": mb}


# ------------------------------------------------------------------------------------------------- Pareto front


def test_pareto_indices__drops_points_beaten_in_every_coordinate() -> None:
    # minimise all: (1,1) beats (2,2); (0,3) and (3,0) trade off
    assert pareto_indices([(1, 1), (2, 2), (0, 3), (3, 0)]) == [0, 2, 3]


def test_pareto_indices__equal_points_both_stay() -> None:
    assert pareto_indices([(1, 1, 1), (1, 1, 1)]) == [0, 1]


def test_pareto_indices__at_least_as_good_everywhere_and_better_in_one_dominates() -> None:
    assert pareto_indices([(1, 2, 3), (1, 2, 4)]) == [0]


def test_pareto_cells__lower_ssim_higher_knn_fewer_mb() -> None:
    rows = [row("a", 0.5, 60, 10), row("b", 0.4, 60, 10),      # b beats a (less leakage, same rest)
            row("c", 0.9, 70, 10),                              # most accurate: stays
            row("d", 0.9, 50, 5),                               # cheapest: stays
            row("e", 0.95, 40, 20)]                             # beaten by everything
    assert pareto_cells(rows) == ["b", "c", "d"]


def test_pareto_cells__ignores_failed_and_incomplete_rows() -> None:
    rows = [row("ok", 0.5, 50, 10), row("failed", 0.0, 99, 1, status="failed"),
            {**row("partial", 0.1, 90, 1), "attack_ssim": None}]
    assert pareto_cells(rows) == ["ok"]


# ----------------------------------------------------------------------------------------------- recommendation


def test_recommend__no_limits_picks_pareto_point_closest_to_ideal() -> None:
    # scaled objectives over a, b, c: a = (0, 1, 0) → 1.0 ; b = (1, 0, 1) → √2 ; c = (0.5, 0.5, 0.5) → √0.75
    rows = [row("a", 0.2, 40, 10), row("b", 0.6, 80, 30), row("c", 0.4, 60, 20)]
    rec = recommend(rows)
    assert rec.cell == "c"
    assert rec.reason.startswith("No limits given; of the 3 Pareto-optimal cell(s)")
    assert rec.feasible == ("a", "b", "c")


def test_recommend__limits_filter_before_the_choice() -> None:
    rows = [row("a", 0.2, 40, 10), row("b", 0.6, 80, 30), row("c", 0.4, 60, 20)]
    rec = recommend(rows, Constraints(min_knn=70))
    assert rec.cell == "b" and rec.feasible == ("b",)
    assert "kNN ≥ 70%" in rec.reason


def test_recommend__feasible_front_is_computed_among_feasible_cells() -> None:
    # x dominates y but breaks the SSIM limit; y is then the best feasible cell
    rows = [row("x", 0.5, 80, 10), row("y", 0.3, 70, 12), row("z", 0.29, 20, 50)]
    assert pareto_cells(rows) == ["x", "y", "z"]
    assert recommend(rows, Constraints(max_ssim=0.3)).cell == "y"


def test_recommend__ties_go_to_the_shallower_depth() -> None:
    rows = [row("deep", 0.5, 50, 10, depth=7), row("shallow", 0.5, 50, 10, depth=3)]
    assert recommend(rows).cell == "shallow"


def test_recommend__none_meets_all_limits_says_best_reached_per_limit() -> None:
    rows = [row("a", 0.2, 40, 10, depth=9), row("b", 0.6, 80, 30, depth=1, method="monacosfl")]
    rec = recommend(rows, Constraints(max_ssim=0.3, min_knn=70))
    assert rec.cell is None and rec.feasible == ()
    assert rec.reason.startswith("Each limit is met by some cell, but no cell meets all of them at once")
    assert "attack SSIM ≤ 0.3 (best reached: 0.200 at depth 9 with MocoSFL; 1 cell(s) meet it)" in rec.reason
    assert "kNN ≥ 70% (best reached: 80.0% at depth 1 with MonAcoSFL; 1 cell(s) meet it)" in rec.reason


def test_recommend__unreachable_limit_is_named() -> None:
    rows = [row("a", 0.2, 40, 10), row("b", 0.6, 80, 30)]
    rec = recommend(rows, Constraints(max_mb_per_client=5))
    assert rec.cell is None
    assert rec.reason.startswith("No cell meets all limits: ≤ 5 MiB per client (best reached: 10.00 MiB")


def test_recommend__no_finished_cell() -> None:
    rec = recommend([row("a", 0.2, 40, 10, status="failed")])
    assert rec.cell is None and "no cell has finished" in rec.reason


def test_annotate__flags_rows() -> None:
    rows = [row("a", 0.2, 40, 10), row("b", 0.3, 30, 20)]   # b is dominated by a
    out, front, rec = annotate(rows, Constraints(max_ssim=0.25))
    assert front == ["a"] and rec.cell == "a"
    assert [(r["pareto"], r["feasible"], r["recommended"]) for r in out] == [(True, True, True),
                                                                             (False, False, False)]


