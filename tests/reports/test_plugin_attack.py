"""A new attack is one object and one registration: a toy attack defined only in this file runs in a smoke
``sflaudit report --attacks`` sweep and reaches the per-attack table, the plots, the threat model and the worst
case — nothing else edited."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes

from sflaudit.artifacts import RunDir
from sflaudit.attacks.inversion import AttackResult, client_activations, prepare_pairs
from sflaudit.attacks.metrics import summarize
from sflaudit.auditors import ATTACKS, AttackPlugin, ThreatModel, register_attack
from sflaudit.validation import check_range

from report_cli import DEPTHS, TINY, run_report  # tests/reports/report_cli.py


@dataclass(frozen=True)
class PixelLinearSettings:
    ridge: float = 1e-3              # a field no built-in attack has

    def validate(self) -> None:
        check_range("attack.ridge", self.ridge, 0.0, None)


def _features(h: torch.Tensor, size: int) -> torch.Tensor:
    """N×C×h×w activations → (N·size²)×(C+1) per-pixel features (nearest-upsampled to the image grid, + a bias)."""
    h = F.interpolate(h, size=(size, size), mode="nearest") if h.shape[-1] != size else h
    flat = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
    return torch.cat([flat, torch.ones(flat.shape[0], 1)], dim=1)


def pixel_linear(client, cfg, train, test, aux_idx, tgt_idx, *, mean, std, lpips, progress) -> AttackResult:
    """Ridge regression from a pixel's activation channels to its RGB, fitted on the auxiliary set's pairs and
    applied to the targets' activations: client weights + aux set + target activations, nothing else."""
    start = time.perf_counter()
    size = int(train.shape[-1])
    aux_in, aux_gt = prepare_pairs(train[aux_idx], mean, std, faithful=False)
    tgt_in, tgt_gt = prepare_pairs(test[tgt_idx], mean, std, faithful=False)
    x = _features(client_activations(client, aux_in).float().cpu(), size)
    y = aux_gt.permute(0, 2, 3, 1).reshape(-1, 3)
    w = torch.linalg.solve(x.T @ x + cfg.attack.ridge * torch.eye(x.shape[1]), x.T @ y)
    h = client_activations(client, tgt_in).float().cpu()
    recon = (_features(h, size) @ w).clamp(0, 1).reshape(len(tgt_idx), size, size, 3).permute(0, 3, 1, 2)
    return AttackResult(reconstructions=recon, targets=tgt_gt, metrics=summarize(recon, tgt_gt, lpips=lpips),
                        wall_s=time.perf_counter() - start, activation_shape=tuple(h.shape[1:]))


TOY = AttackPlugin(
    name="pixlin", settings=PixelLinearSettings, run=pixel_linear, label="pixel-linear", style=(0, (3, 1, 1, 1)),
    threat=ThreatModel(holds=("client weights", "auxiliary set", "target activations"), client_weights=True,
                       uses_aux=True, target_activations=True),
    describe=lambda s: f"per-pixel ridge regression (λ = {s.get('ridge')}) from activation channels to RGB")


@pytest.fixture
def toy_registered() -> Iterator[AttackPlugin]:
    register_attack(TOY)
    yield TOY
    ATTACKS.unregister(TOY.name)


def test_toy_attack__one_registration_runs_in_a_sweep_and_reaches_every_part_of_the_page(
        smoke_sweep, toy_registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(smoke_sweep.runs, runs)                  # trained cells: the sweep only attacks
    labels: list[str] = []
    real_plot = Axes.plot

    def recording_plot(self, *args, **kwargs):
        labels.append(str(kwargs.get("label")))
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", recording_plot)
    html = tmp_path / "report.html"
    result = run_report("--depths", DEPTHS, *TINY, "--runs", str(runs), "--out", str(html), "--quiet",
                        "--attacks", "prior,pixlin", "--set", "attack.ridge=0.01")
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(html.with_suffix(".json").read_text())
    rows = [r for r in doc["rows"] if r.get("depth") is not None]
    assert rows and all(r.get("attack_pixlin_ssim") is not None for r in rows)
    for r in rows:                                           # the worst case is over both attacks
        ssims = {"prior": r["attack_prior_ssim"], "pixlin": r["attack_pixlin_ssim"]}
        assert r["attack_ssim"] == max(ssims.values()) and r["attack_ssim_by"] == max(ssims, key=ssims.get)
        assert r["attack_ssim_above_prior"] == pytest.approx(r["attack_pixlin_ssim"] - r["attack_prior_ssim"])
    shallow = [r for r in rows if r["depth"] == 1]
    assert all(r["attack_ssim_by"] == "pixlin" for r in shallow)   # a linear read-out of one conv beats the prior
    page = html.read_text()
    assert "<h3>pixlin</h3>" in page and "per-pixel ridge regression (λ = 0.01)" in page   # threat model section
    assert '<th colspan="3" class="sep">pixlin</th>' in page                                 # per-attack table
    assert "pixel-linear" in labels                                                          # the attacks plot
    ids = {aid for cell in runs.iterdir() if cell.is_dir() for aid in RunDir(cell).attack_ids()}
    assert any(i.startswith("pixlin-ridge0.01") for i in ids)


def test_toy_attack__unknown_setting_and_bad_value_are_one_line_each(toy_registered) -> None:
    from sflaudit.config import load_config
    from sflaudit.errors import SflauditError

    assert load_config(preset="smoke", overrides=["attack.kind=pixlin", "attack.ridge=0.5"]).attack.ridge == 0.5
    with pytest.raises(SflauditError, match=r"attack.ridge = -1.0 is out of range"):
        load_config(preset="smoke", overrides=["attack.ridge=-1.0"])
    ATTACKS.unregister(TOY.name)
    with pytest.raises(SflauditError, match="unknown config key attack.ridge"):
        load_config(preset="smoke", overrides=["attack.ridge=0.5"])
    register_attack(TOY)
