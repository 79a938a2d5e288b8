"""Rows from run directories, the Pareto front and the recommendation (hand-made rows, exact answers)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from reports.collect import MIB, Constraints, annotate, cell_row, collect_rows, pareto_cells, pareto_indices, \
    recommend
from reports.sweep import plan_cells
from sflaudit.artifacts import AttackRecord, ErrorRecord, Evaluation, RunDir, RunProfile, Summary, Traffic
from sflaudit.sfl.schedule import Schedule


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


@dataclass(frozen=True)
class _Cell:
    method: str
    depth: int
    run_dir: Path
    eval_id: str = "probe-ep1-b128"
    attack_id: str = "decoder-x"

    @property
    def name(self) -> str:
        return f"{self.method}-d{self.depth}"


SCHEDULE = Schedule(steps_per_epoch=4, epochs=1, pool_size=2, clients=2, sync_batches=(3,), rows_per_client=8)
TRAFFIC = {"total": {"up": 100, "down": 50}, "by_kind": {"query": {"up": 100, "down": 0}}, "steps": 4, "syncs": 2}


def _summary() -> Summary:
    return Summary(train_id="train-x", method="monacosfl", arch="resnet18", depth=3, epochs=1, steps=4,
                   schedule=SCHEDULE, knn_final=40.0, knn_best=41.5, final_loss=1.0, wall_time_s=2.5,
                   knn_monitor_s=0.1, knn_monitor_share=0.04, steps_per_s=1.6, images_per_s=20.0,
                   traffic_total=TRAFFIC["total"])


def _profile(analytic: dict) -> RunProfile:
    return RunProfile(arch="resnet18", depth=3, method="monacosfl", schedule=SCHEDULE, sent=[[16, 8, 8], [16, 8, 8]],
                      client_params=1234, client_flops=5_000_000, server_flops=9_000_000, step_up=64, step_down=32,
                      sync_up=20, sync_down=40, run_up=300, run_down=150, client_run_up=3 * MIB,
                      client_run_down=MIB, analytic_traffic=analytic, row={}, config={})


def _traffic(total: dict) -> Traffic:
    return Traffic(wire_dtype="float32", total=total, by_kind=TRAFFIC["by_kind"],
                   per_client={"0": {"up": 100, "down": 50}}, steps=4, syncs=2, per_step={"up": 1, "down": 1},
                   per_sync={"up": 1, "down": 1})


def _attack(attack_id: str) -> AttackRecord:
    return AttackRecord(attack_id=attack_id, settings={"kind": "decoder"}, threat_model={}, run={},
                        mean={"mse": 0.01, "psnr": 20.0, "ssim": 0.5, "ssim_ref": 0.55, "lpips": 0.3}, metrics={},
                        lpips={"status": "ok"}, training={}, attack_wall_s=2.0, wall_s=3.0)


def test_cell_row__reads_the_results_matching_the_cells_settings(tmp_path: Path) -> None:
    cell = _Cell("monacosfl", 3, tmp_path / "monacosfl-d3")
    run = RunDir(cell.run_dir)
    run.write_summary(_summary())
    run.write_profile(_profile(TRAFFIC))
    run.write_traffic(_traffic(TRAFFIC["total"]))
    run.write_eval(Evaluation(eval_id=cell.eval_id, settings={}, checkpoint="best.pt", step=4, knn=41.5,
                              linear_probe_best=30.0, linear_probe_last=29.0, wall_s=1.0))
    run.write_eval(Evaluation(eval_id="probe-ep9-b128", settings={}, checkpoint="best.pt", step=4, knn=41.5,
                              linear_probe_best=99.0, linear_probe_last=99.0, wall_s=1.0))    # another setting
    run.write_attack(_attack(cell.attack_id), b"png")
    run.write_attack(dataclasses.replace(_attack("decoder-other"), mean={"ssim": 0.9}), b"png")
    r = cell_row(cell)
    assert r["status"] == "ok" and r["error"] is None
    assert (r["knn_best"], r["probe_best"], r["attack_ssim"], r["attack_lpips"]) == (41.5, 30.0, 0.5, 0.3)
    assert (r["step_up"], r["step_down"]) == (64, 32)
    assert (r["sync_up"], r["sync_down"], r["run_up"], r["run_down"]) == (20, 40, 300, 150)
    assert r["mb_per_client"] == 4.0                                       # (3 + 1) MiB
    assert r["sent"] == "16×8×8 + 16×8×8"
    assert r["traffic_match"] is True and (r["measured_up"], r["analytic_down"]) == (100, 50)
    assert r["grid"] == str(run.attack_png(cell.attack_id))


def test_cell_row__results_of_other_settings_only_are_missing(tmp_path: Path) -> None:
    cell = _Cell("mocosfl", 1, tmp_path / "mocosfl-d1")
    RunDir(cell.run_dir).write_attack(_attack("decoder-other"), b"png")
    r = cell_row(cell)
    assert r["status"] == "missing" and "attack decoder-x" in r["error"] and r["attack_ssim"] is None


def test_cell_row__measured_traffic_that_differs_is_flagged(tmp_path: Path) -> None:
    cell = _Cell("mocosfl", 1, tmp_path)
    RunDir(tmp_path).write_profile(_profile(TRAFFIC))
    RunDir(tmp_path).write_traffic(_traffic({"up": 101, "down": 50}))
    assert cell_row(cell)["traffic_match"] is False


def test_cell_row__error_json_makes_a_failed_row(tmp_path: Path) -> None:
    RunDir(tmp_path).write_error(ErrorRecord(stage="invert", error="RuntimeError: boom", type="RuntimeError",
                                             cell="mocosfl-d1"))
    r = cell_row(_Cell("mocosfl", 1, tmp_path))
    assert (r["status"], r["error"], r["error_stage"]) == ("failed", "RuntimeError: boom", "invert")
    assert r["knn_best"] is None and r["mb_per_client"] is None


def test_cell_row__a_file_of_another_format_version_fails_the_row_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"knn_best": 41.5}))           # sflaudit 0.1 layout
    r = cell_row(_Cell("mocosfl", 1, tmp_path))
    assert r["status"] == "failed" and "format none (sflaudit 0.1)" in r["error"] and "--force" in r["error"]


def test_cell_row__missing_directory_is_missing(tmp_path: Path) -> None:
    r = cell_row(_Cell("mocosfl", 1, tmp_path / "nowhere"))
    assert r["status"] == "missing" and "training" in r["error"]


# ------------------------------------------------------------------------------------------- from a real sweep


def test_collect_rows__smoke_sweep_rows_are_complete_and_consistent(smoke_sweep) -> None:
    cells = plan_cells(smoke_sweep.config, smoke_sweep.depths, smoke_sweep.methods, smoke_sweep.runs)
    rows = collect_rows(cells)
    assert [(r["depth"], r["method"]) for r in rows] == [(1, "mocosfl"), (1, "monacosfl"),
                                                         (2, "mocosfl"), (2, "monacosfl")]
    for r in rows:
        summary = RunDir(Path(r["run_dir"])).read_summary()
        assert r["status"] == "ok" and summary is not None and r["knn_best"] == summary.knn_best
        assert r["traffic_match"] is True
        assert 0.0 <= r["attack_ssim"] <= 1.0 and r["attack_psnr"] > 0
        assert r["mb_per_client"] == (r["client_run_up"] + r["client_run_down"]) / MIB
        assert Path(r["grid"]).is_file()
    # depth 2 cuts inside a block: two tensors of the same shape, so twice the activation bytes of depth 1
    by = {(r["depth"], r["method"]): r for r in rows}
    assert " + " in by[2, "mocosfl"]["sent"] and " + " not in by[1, "mocosfl"]["sent"]
    assert by[2, "mocosfl"]["step_up"] == 2 * by[1, "mocosfl"]["step_up"]
    # MonAcoSFL also syncs momentum weights: twice MocoSFL's sync bytes
    assert by[1, "monacosfl"]["sync_up"] == 2 * by[1, "mocosfl"]["sync_up"]
