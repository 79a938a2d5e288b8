"""Rows from run directories, the Pareto front and the recommendation (hand-made rows, exact answers)."""

from __future__ import annotations

import json
from pathlib import Path

from reports.collect import MIB, Constraints, annotate, cell_row, collect_rows, pareto_cells, pareto_indices, \
    recommend
from reports.sweep import plan_cells


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


# ------------------------------------------------------------------------------------------------ run dirs → rows


def _write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_cell_row__reads_the_cells_method_columns(tmp_path: Path) -> None:
    run = tmp_path / "monacosfl-d3"
    traffic = {"total": {"up": 100, "down": 50}, "by_kind": {"query": {"up": 100, "down": 0}}, "steps": 4,
               "syncs": 2}
    _write(run / "summary.json", {"knn_best": 41.5, "knn_final": 40.0, "linear_probe_best": 30.0,
                                  "linear_probe_last": 29.0, "epochs": 1, "steps": 4, "wall_time_s": 2.5})
    _write(run / "profile.json", {
        "config": {"ssl": {"symmetric": "original"}},
        "row": {"sent": [[16, 8, 8], [16, 8, 8]], "client_params": 1234, "client_flops": 5e6, "server_flops": 9e6,
                "step_up_client": 999, "step_up_original": 64, "step_down_original": 32,
                "sync_up_monacosfl": 20, "sync_down_monacosfl": 40, "run_up_monacosfl": 300, "run_down_monacosfl": 150,
                "run_client_up_monacosfl": 3 * MIB, "run_client_down_monacosfl": MIB, "run_client_up_mocosfl": 1},
        "analytic_traffic": traffic})
    _write(run / "traffic.json", dict(traffic, per_client={"0": {"up": 100, "down": 50}}, wire_dtype="float32"))
    _write(run / "invert.json", {"attack": {"kind": "decoder"}, "lpips": {"status": "ok"}, "wall_s": 3.0,
                                 "mean": {"mse": 0.01, "psnr": 20.0, "ssim": 0.5, "ssim_ref": 0.55, "lpips": 0.3}})
    r = cell_row("monacosfl", 3, run)
    assert r["status"] == "ok" and r["error"] is None
    assert (r["knn_best"], r["probe_best"], r["attack_ssim"], r["attack_lpips"]) == (41.5, 30.0, 0.5, 0.3)
    assert (r["step_up"], r["step_down"]) == (64, 32)                      # the run's own symmetric mode
    assert (r["sync_up"], r["sync_down"], r["run_up"], r["run_down"]) == (20, 40, 300, 150)
    assert r["mb_per_client"] == 4.0                                       # (3 + 1) MiB
    assert r["sent"] == "16×8×8 + 16×8×8"
    assert r["traffic_match"] is True and (r["measured_up"], r["analytic_down"]) == (100, 50)


def test_cell_row__measured_traffic_that_differs_is_flagged(tmp_path: Path) -> None:
    _write(tmp_path / "profile.json", {"row": {}, "analytic_traffic": {"total": {"up": 1, "down": 1}}})
    _write(tmp_path / "traffic.json", {"total": {"up": 2, "down": 1}})
    assert cell_row("mocosfl", 1, tmp_path)["traffic_match"] is False


def test_cell_row__error_json_makes_a_failed_row(tmp_path: Path) -> None:
    _write(tmp_path / "error.json", {"error": "RuntimeError: boom", "stage": "invert"})
    r = cell_row("mocosfl", 1, tmp_path)
    assert (r["status"], r["error"], r["error_stage"]) == ("failed", "RuntimeError: boom", "invert")
    assert r["knn_best"] is None and r["mb_per_client"] is None


def test_cell_row__missing_directory_is_missing(tmp_path: Path) -> None:
    r = cell_row("mocosfl", 1, tmp_path / "nowhere")
    assert r["status"] == "missing" and "summary.json" in r["error"]


# ------------------------------------------------------------------------------------------- from a real sweep


def test_collect_rows__smoke_sweep_rows_are_complete_and_consistent(smoke_sweep) -> None:
    cells = plan_cells(smoke_sweep.config, smoke_sweep.depths, smoke_sweep.methods, smoke_sweep.runs)
    rows = collect_rows(cells)
    assert [(r["depth"], r["method"]) for r in rows] == [(1, "mocosfl"), (1, "monacosfl"),
                                                         (2, "mocosfl"), (2, "monacosfl")]
    for r in rows:
        summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        assert r["status"] == "ok" and r["knn_best"] == summary["knn_best"]
        assert r["traffic_match"] is True
        assert 0.0 <= r["attack_ssim"] <= 1.0 and r["attack_psnr"] > 0
        assert r["mb_per_client"] == (r["client_run_up"] + r["client_run_down"]) / MIB
        assert r["has_grid"]
    # depth 2 cuts inside a block: two tensors of the same shape, so twice the activation bytes of depth 1
    by = {(r["depth"], r["method"]): r for r in rows}
    assert " + " in by[2, "mocosfl"]["sent"] and " + " not in by[1, "mocosfl"]["sent"]
    assert by[2, "mocosfl"]["step_up"] == 2 * by[1, "mocosfl"]["step_up"]
    # MonAcoSFL also syncs momentum weights: twice MocoSFL's sync bytes
    assert by[1, "monacosfl"]["sync_up"] == 2 * by[1, "mocosfl"]["sync_up"]
