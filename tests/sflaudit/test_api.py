"""The Python API (sflaudit.api): the README's notebook session on the smoke preset, typed results that match the
run directory the commands write."""

from __future__ import annotations

from pathlib import Path

import pytest

from sflaudit import api
from sflaudit.artifacts import RunDir
from sflaudit.errors import SflauditError


def test_api__config_train_evaluate_invert_as_in_the_readme(tmp_path: Path) -> None:
    cfg = api.config(preset="smoke", sets=["optim.epochs=1", "eval.linear_epochs=1"], depth=2)
    assert (cfg.model.depth, cfg.optim.epochs) == (2, 1)
    run = api.train(cfg, out=tmp_path / "d2")
    assert run.run_dir == tmp_path / "d2" and run.summary == RunDir(run.run_dir).read_summary()
    assert run.evaluation is not None and run.evaluation.eval_id == "probe-ep1-b128-shuffled"
    rec = api.invert(run.run_dir / "best.pt", "decoder", epochs=1, targets=4)
    assert rec == RunDir(run.run_dir).read_attack(rec.attack_id)
    assert rec.attack_id.startswith("decoder-res_normN4C64-aux0.05-ep1-") and rec.threat_model["client_weights"]
    assert 0.0 <= rec.mean["ssim"] <= 1.0
    again = api.evaluate(run.run_dir / "best.pt", linear_epochs=1)
    assert again.linear_probe_best == run.evaluation.linear_probe_best       # seeded: the same probe
    with pytest.raises(SflauditError, match="attack.kind = 'telepathy' is not one of"):
        api.invert(run.run_dir / "best.pt", "telepathy")


def test_report_base_config__takes_a_valid_depth_when_another_network_replaces_the_presets() -> None:
    from sflaudit.api import _base_config

    # cifar10-cpu cuts ResNet-18 at depth 11; the user's 4-layer network has no depth 11, and every cell sets its own
    cfg, preset = _base_config(None, "cifar10-cpu", ["model.arch=netzoo:tiny", "model.width=1"], Path("runs"), False)
    assert (cfg.model.arch, cfg.model.depth, preset) == ("netzoo:tiny", 1, "cifar10-cpu")
    with pytest.raises(SflauditError, match="depth 9 is out of range"):
        _base_config(None, "cifar10-cpu", ["model.arch=netzoo:tiny", "model.width=1", "model.depth=9"], Path("runs"),
                     False)
