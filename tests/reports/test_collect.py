"""Rows from run directories, the Pareto front and the recommendation (hand-made rows, exact answers)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sflaudit.reports.collect import MIB, cell_row, collect_rows
from sflaudit.reports.grid import plan_cells
from sflaudit.artifacts import AttackRecord, ErrorRecord, Evaluation, RunDir, RunProfile, Summary, Traffic
from sflaudit.sfl.schedule import Schedule


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
