"""The Pareto front and the recommendation on hand-made rows, with exact answers."""

from __future__ import annotations

import pytest

from sflaudit.reports.recommend import annotate, depth_ranges, recommend
from sflaudit.reports.tradeoffs import Axis, Constraints, dominates, pareto_cells, pareto_indices, within_noise
from sflaudit.errors import SflauditError


def row(cell: str, ssim: float, knn: float, mb: float, *, depth: int = 1, method: str = "mocosfl",
        status: str = "ok") -> dict:
    return {"cell": cell, "depth": depth, "method": method, "status": status, "attack_ssim": ssim, "knn_best": knn,
            "mb_per_client": mb}


def noisy(cell: str, ssim: tuple[float, float, float], knn: tuple[float, float, float], mb: float, *,
          depth: int = 1, method: str = "mocosfl") -> dict:
    """A row with intervals: ``ssim`` and ``knn`` are (value, low, high)."""
    return {**row(cell, ssim[0], knn[0], mb, depth=depth, method=method),
            "attack_ssim_low": ssim[1], "attack_ssim_high": ssim[2], "knn_best_low": knn[1], "knn_best_high": knn[2]}


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




# ------------------------------------------------------------------------------------------ noise-aware dominance


def test_dominates__overlapping_intervals_never_dominate() -> None:
    a = [Axis(0.40, 0.35, 0.45), Axis(-50.0, -52.0, -48.0), Axis(10.0, 10.0, 10.0)]
    b = [Axis(0.42, 0.37, 0.47), Axis(-49.0, -51.0, -47.0), Axis(10.0, 10.0, 10.0)]   # a better on values only
    assert not dominates(a, b) and not dominates(b, a)


def test_dominates__separated_interval_and_no_worse_elsewhere_dominates() -> None:
    a = [Axis(0.32, 0.30, 0.34), Axis(-50.0, -52.0, -48.0), Axis(10.0, 10.0, 10.0)]
    b = [Axis(0.42, 0.40, 0.44), Axis(-49.0, -51.0, -47.0), Axis(10.0, 10.0, 10.0)]
    assert dominates(a, b) and not dominates(b, a)


def test_dominates__separated_but_worse_on_another_value_does_not_dominate() -> None:
    a = [Axis(0.32, 0.30, 0.34), Axis(-49.0, -51.0, -47.0)]      # clearly less leaky, kNN 49 vs 50 within noise
    b = [Axis(0.42, 0.40, 0.44), Axis(-50.0, -52.0, -48.0)]
    assert not dominates(a, b) and not dominates(b, a)


def test_dominates__touching_intervals_are_a_tie() -> None:
    assert not dominates([Axis(0.3, 0.2, 0.4)], [Axis(0.5, 0.4, 0.6)])
    assert dominates([Axis(0.3, 0.2, 0.4)], [Axis(0.5, 0.41, 0.6)])


def test_pareto_cells__a_tie_within_the_intervals_keeps_both_cells() -> None:
    a = noisy("a", (0.40, 0.35, 0.45), (50.0, 48.0, 52.0), 10)
    b = noisy("b", (0.42, 0.37, 0.47), (49.0, 47.0, 51.0), 10)
    assert pareto_cells([a, b]) == ["a", "b"]
    assert pareto_cells([row("a", 0.40, 50.0, 10), row("b", 0.42, 49.0, 10)]) == ["a"]   # exact values: a wins


def test_pareto_cells__exact_bandwidth_separates_cells_tied_on_the_rest() -> None:
    a = noisy("cheap", (0.40, 0.35, 0.45), (50.0, 48.0, 52.0), 5)
    b = noisy("dear", (0.42, 0.37, 0.47), (49.0, 47.0, 51.0), 10)
    assert pareto_cells([a, b]) == ["cheap"]


def test_pareto_cells__missing_or_nan_bounds_mean_an_exact_value() -> None:
    a = {**row("a", 0.40, 50.0, 10), "attack_ssim_low": None, "attack_ssim_high": 0.45,
         "knn_best_low": float("nan"), "knn_best_high": float("nan")}
    assert pareto_cells([a, row("b", 0.42, 49.0, 10)]) == ["a"]


def test_pareto_cells__inverted_interval_is_an_error() -> None:
    with pytest.raises(SflauditError, match="knn_best_low 52 is above knn_best_high 48"):
        pareto_cells([noisy("a", (0.4, 0.3, 0.5), (50, 52, 48), 1)])


def test_within_noise__needs_overlap_on_both_knn_and_ssim() -> None:
    a = noisy("a", (0.40, 0.38, 0.42), (50.0, 48.0, 52.0), 1)
    assert within_noise(a, noisy("b", (0.41, 0.39, 0.43), (51.0, 49.0, 53.0), 9))
    assert not within_noise(a, noisy("c", (0.41, 0.43, 0.45), (51.0, 49.0, 53.0), 1))


def test_depth_ranges__compresses_runs_of_three_or_more() -> None:
    assert depth_ranges([9, 1, 2, 5, 6, 7]) == "1, 2, 5–7, 9"
    assert depth_ranges([11, 12, 13, 14, 15]) == "11–15"


# ---------------------------------------------------------------------------------------- recommendation and ties


def _tied_sweep() -> list[dict]:
    """MocoSFL depths 11–15 within noise of each other (kNN ± 2, SSIM ± 0.03), dearer and more accurate with depth;
    depth 3 cheap but leaky, depth 17 private but dear (both clear of the noise)."""
    cells = [noisy("d3", (0.70, 0.68, 0.72), (40.0, 38.0, 42.0), 0.5, depth=3)]
    for i, depth in enumerate(range(11, 16)):
        ssim, knn = 0.41 - 0.005 * i, 49.0 + 0.5 * i
        cells.append(noisy(f"d{depth}", (ssim, ssim - 0.03, ssim + 0.03), (knn, knn - 2, knn + 2), 1.0 + 0.5 * i,
                           depth=depth))
    cells.append(noisy("d17", (0.30, 0.28, 0.32), (55.0, 53.0, 57.0), 20.0, depth=17))
    return cells


def test_recommend__picks_the_cheapest_of_the_cells_tied_with_the_closest_and_says_so() -> None:
    # scaled distances to the ideal: d15 0.372 is closest (d13 0.424, d11 0.486); d11–d15 all overlap it
    rec = recommend(_tied_sweep())
    assert (rec.cell, rec.closest) == ("d11", "d15")
    assert rec.tied == ("d11", "d12", "d13", "d14", "d15")
    assert rec.tie_note == ("depths 11–15 are within noise of each other on kNN and SSIM; "
                            "the pick is the cheapest of them")
    assert rec.reason == ("No limits given; of the 7 Pareto-optimal cell(s) it cannot be told apart from depth 15 "
                          "with MocoSFL, the cell closest to the ideal of no leakage, the best kNN and the least "
                          "traffic (the pick: kNN 49.0% [47.0–51.0%], attack SSIM 0.410 [0.380–0.440], 1.00 MiB "
                          "per client per run); depths 11–15 are within noise of each other on kNN and SSIM; "
                          "the pick is the cheapest of them")


def test_recommend__without_intervals_the_closest_cell_wins_and_no_tie_is_claimed() -> None:
    exact = [{k: v for k, v in r.items() if not k.endswith(("_low", "_high"))} for r in _tied_sweep()]
    rec = recommend(exact)
    assert (rec.cell, rec.closest, rec.tied, rec.tie_note) == ("d15", "d15", (), "")
    assert rec.reason.endswith("least traffic (kNN 51.0%, attack SSIM 0.390, 3.00 MiB per client per run)")


def test_recommend__a_tie_across_methods_names_them_and_the_closest_cell() -> None:
    # closest: MocoSFL d12 (distance 0.97 vs 1.0 and 1.0); MocoSFL d11 and MonAcoSFL d12 overlap it, not each other
    rows = [noisy("m11", (0.40, 0.38, 0.42), (48.0, 46.0, 50.0), 1.0, depth=11),
            noisy("m12", (0.40, 0.38, 0.42), (50.0, 48.0, 52.0), 1.5, depth=12),
            noisy("n12", (0.40, 0.38, 0.42), (52.0, 50.5, 53.5), 1.6, depth=12, method="monacosfl")]
    rec = recommend(rows)
    assert (rec.cell, rec.closest, rec.tied) == ("m11", "m12", ("m11", "m12", "n12"))
    assert rec.tie_note == ("depths 11, 12 with MocoSFL and depth 12 with MonAcoSFL are within noise of depth 12 "
                            "with MocoSFL on kNN and SSIM; the pick is the cheapest of them")


def test_recommend__tied_cells_must_also_meet_the_limits() -> None:
    rec = recommend(_tied_sweep(), Constraints(min_knn=50.0))          # d11, d12 break the kNN limit
    assert (rec.cell, rec.tied) == ("d13", ("d13", "d14", "d15"))
    assert rec.tie_note.startswith("depths 13–15 are within noise of each other")


def test_annotate__flags_the_tied_rows() -> None:
    out, _, rec = annotate(_tied_sweep())
    assert [r["cell"] for r in out if r["tied"]] == list(rec.tied)
    assert [r["cell"] for r in out if r["recommended"]] == ["d11"]


def test_recommend__a_pick_clear_of_every_rival_says_that_no_cell_is_within_noise() -> None:
    cells = [noisy("d3", (0.70, 0.68, 0.72), (40.0, 38.0, 42.0), 0.5, depth=3),
             noisy("d15", (0.39, 0.38, 0.40), (51.0, 50.0, 52.0), 3.0, depth=15)]
    rec = recommend(cells)
    assert (rec.cell, rec.tied, rec.tie_note) == ("d15", (), "")
    assert rec.reason.endswith("per client per run); no other Pareto-optimal cell is within noise of it on kNN "
                               "and SSIM")


def test_membership_privacy_axis__front_and_pick_follow_the_membership_tpr() -> None:
    """On the SSIM axis b (SSIM 0.2) dominates a; on the membership axis a (TPR 0.01) is the private one."""
    from sflaudit.reports.tradeoffs import privacy_axis

    a = dict(row("a", 0.40, 50.0, 10), mia_worst_1fpr=0.01)
    b = dict(row("b", 0.20, 50.0, 10), mia_worst_1fpr=0.30)
    assert pareto_cells([a, b]) == ["b"]
    axis = privacy_axis("membership")
    assert pareto_cells([a, b], axis.key) == ["a"]
    rec = recommend([a, b], axis=axis)
    assert rec.cell == "a" and "membership TPR@1% FPR 0.010" in rec.reason
    with pytest.raises(SflauditError, match="--privacy-axis 'tpr'"):
        privacy_axis("tpr")
