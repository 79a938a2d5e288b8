"""End-to-end CLI: `sflaudit train`/`eval`/`profile` on the smoke preset, asserting on the run directory's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from sflaudit.artifacts import RunDir
from sflaudit.sfl.checkpoint import read_checkpoint

SMOKE = ["--preset", "smoke", "--set", "optim.epochs=1", "--set", "eval.linear_epochs=2"]


def sflaudit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "sflaudit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    res = sflaudit("train", *SMOKE, "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    return out


def test_train__writes_the_run_directory(smoke_run: Path) -> None:
    for name in ("config.toml", "metrics.jsonl", "traffic.json", "ckpt.pt", "best.pt", "summary.json",
                 "profile.json"):
        assert (smoke_run / name).is_file(), name
    cfg = tomllib.loads((smoke_run / "config.toml").read_text())
    assert cfg["model"]["width"] == 0.125 and cfg["optim"]["epochs"] == 1
    summary = RunDir(smoke_run).read_summary()
    assert summary is not None and 0.0 <= summary.knn_best <= 100.0
    assert summary.steps == summary.schedule.steps_per_epoch * summary.schedule.epochs
    state = read_checkpoint(smoke_run / "ckpt.pt")
    assert len(state.clients_online) == 2 and len(state.clients_momentum) == 2
    evaluation = RunDir(smoke_run).read_eval("probe-ep2-b128-shuffled")                 # the eval stage ran after training
    assert evaluation is not None and 0.0 <= evaluation.linear_probe_best <= 100.0


def test_train__analytic_traffic_equals_measured(smoke_run: Path) -> None:
    measured = json.loads((smoke_run / "traffic.json").read_text())
    analytic = json.loads((smoke_run / "profile.json").read_text())["analytic_traffic"]
    assert measured["by_kind"] == analytic["by_kind"]
    assert measured["total"] == analytic["total"]


def test_train__refuses_to_overwrite_a_finished_run_with_other_training_settings(smoke_run: Path) -> None:
    before = (smoke_run / "summary.json").read_text()
    res = sflaudit("train", *SMOKE, "--set", "optim.lr=0.5", "--out", str(smoke_run), "--quiet")
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error:") and "--force" in res.stderr and "optim.lr" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert (smoke_run / "summary.json").read_text() == before


def test_train__finished_run_with_new_runtime_and_eval_settings_trains_nothing(smoke_run: Path) -> None:
    files = ("summary.json", "ckpt.pt", "best.pt", "metrics.jsonl")
    before = {n: (smoke_run / n).read_bytes() for n in files}
    res = sflaudit("train", *SMOKE, "--set", "run.threads=1", "--set", "eval.linear_epochs=1", "--out",
                   str(smoke_run), "--quiet")
    assert res.returncode == 0, res.stderr
    assert {n: (smoke_run / n).read_bytes() for n in files} == before
    assert (smoke_run / "evals" / "probe-ep1-b128-shuffled.json").is_file()            # only the new evaluation ran


def test_eval__checkpoint_on_demand(smoke_run: Path, tmp_path: Path) -> None:
    res = sflaudit("eval", "--checkpoint", str(smoke_run / "best.pt"), "--linear-epochs", "1",
                   "--out", str(tmp_path / "eval.json"))
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "eval.json").read_text())
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert doc["format"] == "sflaudit-eval/1" and doc["eval_id"] == "probe-ep1-b128-shuffled"
    assert doc["knn"] == pytest.approx(summary["knn_best"], abs=1e-9)   # best.pt holds the best-kNN weights
    assert 0.0 <= doc["linear_probe_best"] <= 100.0


def test_invert__substitute_options_reach_the_attack(smoke_run: Path, tmp_path: Path) -> None:
    res = sflaudit("invert", "--checkpoint", str(smoke_run / "best.pt"), "--attack", "substitute", "--epochs", "1",
                   "--targets", "4", "--substitute-steps", "3", "--substitute-budget", "0", "--quiet",
                   "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (doc,) = [json.loads(p.read_text()) for p in tmp_path.glob("attacks/substitute-*/invert.json")]
    assert doc["settings"]["substitute_steps"] == 3 and doc["settings"]["substitute_budget"] == 0.0
    assert doc["training"]["substitute_steps"] == 3 and doc["training"]["substitute_step_cap"] is None
    res = sflaudit("invert", "--checkpoint", str(smoke_run / "best.pt"), "--attack", "substitute",
                   "--substitute-budget", "-1", "--out", str(tmp_path))
    assert res.returncode == 2 and res.stderr.startswith("error:") and "substitute_budget" in res.stderr, res.stderr


def test_invert__an_attack_from_an_installed_packages_entry_point_is_discovered_and_runs(smoke_run: Path,
                                                                                          tmp_path: Path) -> None:
    from fakedist import MEAN_IMAGE, fake_distribution   # tests/fakedist.py

    site = fake_distribution(tmp_path / "site", "sflaudit-meanimg", "sfl_meanimg", MEAN_IMAGE,
                             "[sflaudit.attacks]\nmeanimg = sfl_meanimg:PLUGIN\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(site))
    listed = subprocess.run([sys.executable, "-m", "sflaudit", "plugins", "--json"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [a["name"] for a in json.loads(listed.stdout)["attacks"]][-1] == "meanimg"
    res = subprocess.run([sys.executable, "-m", "sflaudit", "invert", "--checkpoint", str(smoke_run / "best.pt"),
                          "--attack", "meanimg", "--set", "attack.mean_gain=0.5", "--targets", "4", "--quiet",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    (doc,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("attacks/meanimg-*/invert.json")]
    assert doc["attack_id"] == "meanimg-mean_gain0.5" and doc["settings"]["mean_gain"] == 0.5
    assert doc["threat_model"]["client_weights"] is False and doc["metrics"]["ssim_mean"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--preset", "smoke", "--depth", "18"], "depth 18 is out of range for resnet18 (1..17)"),
        (["train", "--preset", "smoke", "--set", "sfl.avg_freq=1000", "--out", "{tmp}/r"], "sfl.avg_freq = 1000"),
        (["train", "--config", "{tmp}/missing.toml"], "does not exist"),
        (["train", "--preset", "smoke", "--method", "fedavg"], "sfl.method = 'fedavg'"),
        (["eval", "--checkpoint", "{tmp}/nothing.pt"], "does not exist"),
        (["profile", "--arch", "vgg"], "unknown arch 'vgg'"),
        (["profile", "--arch", "resnet18", "--depths", "0..3"], "(1..17)"),
    ],
)
def test_bad_input__one_line_error_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = sflaudit(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_profile__json_lists_every_depth(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    res = sflaudit("profile", "--preset", "smoke", "--arch", "resnet18", "--depths", "1..17:8", "--format", "json",
                   "--no-memory", "--out", str(out))
    assert res.returncode == 0, res.stderr
    rows = json.loads(out.read_text())
    assert [r["depth"] for r in rows] == [1, 9, 17]
    assert rows[1]["sent"] == [[16, 16, 16]]               # width 0.125: 128×16×16 → 16×16×16
