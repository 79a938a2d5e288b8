"""The grid of ``sflaudit report``: planning, per-cell stages, failures, executors and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sflaudit.reports.cellstages as cellstages
import sflaudit.reports.sweep as sweep
from sflaudit.reports.executors import run_sweep
from sflaudit.reports.grid import Cell, parse_methods, plan_cells
from sflaudit.reports.sweep import cell_complete, check_configs, run_cell
from sflaudit.config import apply_dict
from sflaudit.artifacts import RunDir
from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.stages import attack_id, eval_id, membership_id


class FakeStages:
    """Stand-ins for train/profile/eval/invert that only create each stage's result file, and count the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail or {}      # cell name → stage that raises
        monkeypatch.setattr(cellstages, "train_stage", self.train)
        monkeypatch.setattr(cellstages, "profile_stage", self.profile)
        monkeypatch.setattr(cellstages, "eval_stage", self.eval)
        monkeypatch.setattr(cellstages, "invert_stage", self.invert)
        monkeypatch.setattr(cellstages, "membership_stage", self.membership)

    def _do(self, stage: str, path: Path) -> None:
        cell = path.relative_to(self.root(path)).parts[0]
        self.calls.append((cell, stage))
        if self.fail.get(cell) == stage:
            raise RuntimeError(f"{stage} blew up\nsecond line")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")

    @staticmethod
    def root(path: Path) -> Path:
        return next(p.parent for p in path.parents if p.name.startswith(("mocosfl-", "monacosfl-")))

    def train(self, cfg: Config, run_dir: Path, *, quiet: bool) -> None:
        self._do("train", RunDir(run_dir).summary_path)

    def profile(self, cfg: Config, run_dir: Path) -> None:
        self._do("profile", RunDir(run_dir).profile_path)

    def eval(self, cfg: Config, run_dir: Path) -> None:
        self._do("eval", RunDir(run_dir).eval_path(eval_id(cfg.eval)))

    def invert(self, cfg: Config, run_dir: Path, *, kind: str | None = None, lpips_weights: str | None = None) -> None:
        from dataclasses import replace

        settings = cfg.attack if kind is None else replace(cfg.attack, kind=kind)
        self._do("invert", RunDir(run_dir).attack_json(attack_id(settings)))

    def membership(self, cfg: Config, run_dir: Path) -> None:
        self._do("membership", RunDir(run_dir).membership_path(membership_id(cfg.membership)))


def test_parse_methods__keeps_order_and_drops_repeats() -> None:
    assert parse_methods("monacosfl, mocosfl,monacosfl") == ["monacosfl", "mocosfl"]


@pytest.mark.parametrize("spec, message", [("fedavg", "unknown method 'fedavg'"), (" , ", "--methods is empty")])
def test_parse_methods__errors_name_the_valid_methods(spec: str, message: str) -> None:
    with pytest.raises(SflauditError, match=message) as err:
        parse_methods(spec)
    assert "mocosfl, monacosfl" in str(err.value)


def test_plan_cells__one_run_dir_per_depth_and_method(tiny_config: Config, tmp_path: Path) -> None:
    cells = plan_cells(tiny_config, [3, 1], ["monacosfl", "mocosfl"], tmp_path / "runs")
    assert [c.name for c in cells] == ["monacosfl-d3", "mocosfl-d3", "monacosfl-d1", "mocosfl-d1"]
    assert cells[0].run_dir == (tmp_path / "runs" / "monacosfl-d3").resolve()
    assert 'method = "monacosfl"' in cells[0].config_text and "depth = 3" in cells[0].config_text


def test_plan_cells__depth_out_of_range_is_an_error(tiny_config: Config, tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match=r"depth 18 is out of range for resnet18 \(1..17\)"):
        plan_cells(tiny_config, [18], ["mocosfl"], tmp_path)


def test_run_cell__runs_train_profile_invert_in_order(monkeypatch, tiny_config: Config, tmp_path: Path) -> None:
    fake = FakeStages(monkeypatch)
    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)[0]
    seen: list[str] = []
    result = run_cell(cell, on_stage=seen.append)
    assert (result.status, result.stages_run) == ("ok", ("train", "profile", "eval", "invert", "membership"))
    assert seen == ["train", "profile", "eval", "invert:decoder", "membership"] and cell_complete(cell)
    assert run_cell(cell).status == "skipped" and len(fake.calls) == 5


def test_run_cell__only_missing_stages_run(monkeypatch, tiny_config: Config, tmp_path: Path) -> None:
    fake = FakeStages(monkeypatch)
    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)[0]
    cell.run_dir.mkdir(parents=True)
    (cell.run_dir / "summary.json").write_text("{}")   # training had finished
    assert run_cell(cell).stages_run == ("profile", "eval", "invert", "membership")
    assert [s for _, s in fake.calls] == ["profile", "eval", "invert", "membership"]


def test_run_cell__new_attack_settings_add_a_result_and_train_nothing(monkeypatch, tiny_config: Config,
                                                                      tmp_path: Path) -> None:
    fake = FakeStages(monkeypatch)
    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)[0]
    run_cell(cell)
    stronger = apply_dict(tiny_config, {"attack": {"epochs": tiny_config.attack.epochs + 2}}, source="test")
    again = plan_cells(stronger, [1], ["mocosfl"], tmp_path)[0]
    assert again.attack_id != cell.attack_id and not cell_complete(again)
    assert run_cell(again).stages_run == ("invert",)
    assert RunDir(cell.run_dir).attack_ids() == sorted([cell.attack_id, again.attack_id])
    assert [s for _, s in fake.calls] == ["train", "profile", "eval", "invert", "membership", "invert"]


def test_run_sweep__failed_cell_is_recorded_and_the_others_continue(monkeypatch, tiny_config: Config,
                                                                    tmp_path: Path) -> None:
    FakeStages(monkeypatch, fail={"mocosfl-d2": "invert"})
    cells = plan_cells(tiny_config, [1, 2, 3], ["mocosfl"], tmp_path)
    results = run_sweep(cells, progress=False)
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    error = json.loads((cells[1].run_dir / "error.json").read_text())
    assert error["error"] == "RuntimeError: invert blew up" and error["stage"] == "invert"
    assert (results[1].stage, results[1].stages_run) == ("invert", ("train", "profile", "eval"))


def test_run_sweep__retries_a_failed_cell_and_clears_its_error(monkeypatch, tiny_config: Config,
                                                               tmp_path: Path) -> None:
    FakeStages(monkeypatch, fail={"mocosfl-d1": "profile"})
    cells = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)
    assert run_sweep(cells, progress=False)[0].status == "failed"
    fake = FakeStages(monkeypatch)
    result = run_sweep(cells, progress=False)[0]
    assert result.status == "ok" and result.stages_run == ("profile", "eval", "invert", "membership")
    assert not (cells[0].run_dir / "error.json").exists()                    # training was kept
    assert [s for _, s in fake.calls] == ["profile", "eval", "invert", "membership"]


def test_check_configs__refuses_a_run_made_with_another_config(tiny_config: Config, tmp_path: Path) -> None:
    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)[0]
    cell.run_dir.mkdir(parents=True)
    (cell.run_dir / "config.toml").write_text(cell.config_text.replace("epochs = 1", "epochs = 7", 1))
    with pytest.raises(SflauditError, match=r"holds a run trained with other settings \(optim.epochs\)"):
        check_configs([cell])


def test_check_configs__runtime_eval_and_attack_settings_never_block(tiny_config: Config, tmp_path: Path) -> None:
    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)[0]
    cell.run_dir.mkdir(parents=True)
    (cell.run_dir / "config.toml").write_text(cell.config_text)
    other = apply_dict(tiny_config, {"run": {"threads": 1, "device": "cpu", "ckpt_every": 3},
                                     "attack": {"epochs": 9}, "eval": {"linear_epochs": 2}}, source="test")
    check_configs(plan_cells(other, [1], ["mocosfl"], tmp_path))


def test_run_sweep__unknown_executor_and_bad_jobs(tiny_config: Config, tmp_path: Path) -> None:
    cells = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path)
    with pytest.raises(SflauditError, match=r"unknown executor 'dask' \(valid: local, ray\)"):
        run_sweep(cells, executor="dask", progress=False)
    with pytest.raises(SflauditError, match=r"--jobs must be 0 \(one per CPU core\) or more, got -1"):
        run_sweep(cells, jobs=-1, progress=False)


def test_run_sweep__process_pool_records_failures_from_its_workers(tmp_path: Path) -> None:
    cells = [Cell("mocosfl", d, tmp_path / f"mocosfl-d{d}", "model = [not toml") for d in (1, 2)]
    results = run_sweep(cells, jobs=2, progress=False)
    assert [(r.status, r.stage) for r in results] == [("failed", "config"), ("failed", "config")]
    assert "not valid TOML" in json.loads((cells[0].run_dir / "error.json").read_text())["error"]


# ----------------------------------------------------------------------------------- resume with real training


def test_sweep_killed_midway__restart_redoes_no_finished_cell(monkeypatch, tiny_config: Config,
                                                              tmp_path: Path) -> None:
    from sflaudit.jobs import prepare_run_dir
    from sflaudit.sfl.trainer import train

    real_train = cellstages.train_stage
    trained: list[str] = []

    def killed_on_second_cell(cfg: Config, run_dir: Path, *, quiet: bool) -> dict:
        trained.append(run_dir.name)
        if run_dir.name == "mocosfl-d2":                  # train a few steps, then the user hits Ctrl-C
            prepare_run_dir(cfg, run_dir, force=False)
            assert train(cfg, run_dir, stop_after_steps=4) is None
            raise KeyboardInterrupt
        return real_train(cfg, run_dir, quiet=quiet)

    monkeypatch.setattr(cellstages, "train_stage", killed_on_second_cell)
    cells = plan_cells(tiny_config, [1, 2], ["mocosfl"], tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cells, progress=False)
    first, second = cells
    assert cell_complete(first) and not cell_complete(second)
    assert (second.run_dir / "ckpt.pt").is_file() and not (second.run_dir / "error.json").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in first.run_dir.iterdir()}

    def counted(cfg: Config, run_dir: Path, *, quiet: bool) -> dict:
        trained.append(run_dir.name)
        return real_train(cfg, run_dir, quiet=quiet)

    monkeypatch.setattr(cellstages, "train_stage", counted)
    results = run_sweep(cells, progress=False)
    assert [r.status for r in results] == ["skipped", "ok"]
    assert trained == ["mocosfl-d1", "mocosfl-d2", "mocosfl-d2"]    # d1 once, d2 killed once and resumed once
    assert {p.name: p.stat().st_mtime_ns for p in first.run_dir.iterdir()} == stamps
    steps = [json.loads((c.run_dir / "summary.json").read_text())["steps"] for c in cells]
    assert steps[1] == steps[0] > 4                                     # resumed at step 4, finished the run


def test_smoke_sweep__a_second_sweep_redoes_nothing(monkeypatch, smoke_sweep, tmp_path: Path) -> None:
    fake = FakeStages(monkeypatch)
    cells = plan_cells(smoke_sweep.config, smoke_sweep.depths, smoke_sweep.methods, smoke_sweep.runs)
    stamps = {p: p.stat().st_mtime_ns for c in cells for p in c.run_dir.iterdir()}
    results = run_sweep(cells, progress=False)
    assert [r.status for r in results] == ["skipped"] * 4 and fake.calls == []
    assert {p: p.stat().st_mtime_ns for c in cells for p in c.run_dir.iterdir()} == stamps


def test_run_sweep__a_vary_axis_widened_by_one_value_trains_only_the_new_cells(monkeypatch, tiny_config: Config,
                                                                              tmp_path: Path) -> None:
    from sflaudit.reports.grid import parse_vary

    fake = FakeStages(monkeypatch)
    first = plan_cells(tiny_config, [1], ["mocosfl", "monacosfl"], tmp_path, vary=parse_vary(["sfl.avg_freq=1"]),
                       attacks=("prior", "decoder"))
    assert [r.status for r in run_sweep(first, progress=False)] == ["ok", "ok"]
    fake.calls.clear()
    wider = plan_cells(tiny_config, [1], ["mocosfl", "monacosfl"], tmp_path,
                       vary=parse_vary(["sfl.avg_freq=1,2"]), attacks=("prior", "decoder"))
    results = run_sweep(wider, progress=False)
    assert [(r.name, r.status) for r in results] == [
        ("mocosfl-d1-sfl.avg_freq=1", "skipped"), ("monacosfl-d1-sfl.avg_freq=1", "skipped"),
        ("mocosfl-d1-sfl.avg_freq=2", "ok"), ("monacosfl-d1-sfl.avg_freq=2", "ok")]
    trained = sorted(cell for cell, stage in fake.calls if stage == "train")
    assert trained == ["mocosfl-d1-sfl.avg_freq=2", "monacosfl-d1-sfl.avg_freq=2"]
    assert sum(1 for _, stage in fake.calls if stage == "invert") == 4          # two attacks on each new cell


def test_run_cell__its_stages_load_config_dataset_checkpoint_and_client0_once(tiny_config: Config,
                                                                            tmp_path: Path) -> None:
    """Train, profile, eval, two attacks and the membership audit of one real cell: one parse of its config, one
    read of its dataset and of best.pt, one client 0 (sflaudit.memo counts the real loads)."""
    from sflaudit.memo import stage_memo

    cfg = apply_dict(tiny_config, {"membership": {"images": 16}}, source="test")
    cell = plan_cells(cfg, [1], ["mocosfl"], tmp_path, attacks=["prior", "decoder"])[0]
    with stage_memo() as memo:
        result = run_cell(cell)
    assert result.status == "ok", result.error
    assert result.stages_run == ("train", "profile", "eval", "invert", "membership")
    assert dict(memo.loads) == {"config": 1, "dataset": 1, "checkpoint": 1, "client0": 1}


def test_cell_stages__each_declares_its_identity_and_outputs(tiny_config: Config, tmp_path: Path) -> None:
    from sflaudit.reports.cellstages import cell_stages

    stages = cell_stages()
    from sflaudit.stages import training_id

    cell = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path, attacks=["prior", "decoder"])[0]
    ident = {s.name: s.identity(cell) for s in stages}
    cfg = cell.config()
    assert ident == {"train": training_id(cfg), "profile": training_id(cfg), "eval": eval_id(cfg.eval),
                     "invert": ",".join(cell.attack_ids.values()), "membership": membership_id(cfg.membership)}
    outputs = {s.name: [p.relative_to(cell.run_dir).as_posix() for p in s.outputs(cell)] for s in stages}
    assert outputs["train"] == ["config.toml", "ckpt.pt", "best.pt", "summary.json"]
    assert outputs["invert"] == [f"attacks/{aid}/invert.json" for aid in cell.attack_ids.values()]
    assert not any(s.done(cell) for s in stages)
