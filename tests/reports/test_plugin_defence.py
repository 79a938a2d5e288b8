"""A new defence is one object and one registration: a toy wire defence defined only in this file trains, is metered
exactly as the profile counts it, reaches what the attacks see, and is listed on the report's threat model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from sflaudit.artifacts import RunDir
from sflaudit.config import DefenceConfig, load_config
from sflaudit.defenders import DEFENCES, DefencePlugin, register_defence
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.wire import Link
from sflaudit.validation import check_range

from report_cli import TINY, run_report  # tests/reports/report_cli.py


@dataclass(frozen=True)
class ClampSettings:
    clamp: float = 0.0               # clip every sent value to ± clamp × its sample's RMS (0 = off)

    def validate(self) -> None:
        check_range("defence.clamp", self.clamp, 0.0, None)


def clamp_values(h: torch.Tensor, settings: ClampSettings, generator: torch.Generator | None) -> torch.Tensor:
    """N×C×H×W → the same, each value clipped to ± clamp·rms_i of its sample i (no randomness)."""
    x = h.detach().float()
    bound = settings.clamp * x.flatten(1).pow(2).mean(1).sqrt().view(-1, *([1] * (x.dim() - 1)))
    return torch.maximum(torch.minimum(x, bound), -bound)


CLAMP = DefencePlugin(name="clamp", settings=ClampSettings, acts="wire", transform=clamp_values,
                      describe="every sent activation value clipped to ± clamp × its sample's RMS; the attacks see "
                           "the clipped values.")


@pytest.fixture
def clamp_registered() -> Iterator[DefencePlugin]:
    register_defence(CLAMP)
    yield CLAMP
    DEFENCES.unregister(CLAMP.name)


def _bounded(sent: torch.Tensor, clean: torch.Tensor, factor: float) -> bool:
    """Every value of ``sent`` within ± factor × the RMS of its sample of ``clean`` (what the client computed)."""
    rms = clean.flatten(1).pow(2).mean(1).sqrt().view(-1, 1)
    return bool((sent.flatten(1).abs() <= factor * rms + 1e-5).all())


def test_link__the_toy_transform_runs_on_activations_only_and_keeps_the_bytes(clamp_registered) -> None:
    h = torch.randn(4, 8, 6, 6, generator=torch.Generator().manual_seed(0)) ** 3
    plain, clamped = Link("float32", DefenceConfig()), Link("float32", DefenceConfig(clamp=0.5))
    sent = clamped.send_activation(h, direction="up", kind="query", client=0)
    assert _bounded(sent, h, 0.5) and not _bounded(h, h, 0.5)
    assert torch.equal(clamped.send_activation(h, direction="down", kind="grad", client=0), h)   # gradients: as is
    plain.send_activation(h, direction="up", kind="query", client=0)
    assert clamped.by_kind["query"] == plain.by_kind["query"] == {"up": h.numel() * 4, "down": 0}


def test_toy_defence__trains_is_metered_as_counted_reaches_the_attacks_and_the_threat_model(
        clamp_registered, tmp_path: Path) -> None:
    from sflaudit.attacks.job import served_client

    runs, html = tmp_path / "runs", tmp_path / "report.html"
    result = run_report("--depths", "1", "--methods", "mocosfl", *TINY, "--set", "defence.clamp=0.5",
                        "--set", "membership.images=0", "--attacks", "prior,decoder", "--runs", str(runs),
                        "--out", str(html), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    run = RunDir(runs / "mocosfl-d1")
    measured = json.loads(run.traffic_path.read_text())
    analytic = json.loads(run.profile_path.read_text())["analytic_traffic"]
    assert measured["by_kind"] == analytic["by_kind"] and measured["total"] == analytic["total"]
    state = read_checkpoint(run.best)
    cfg = load_config(preset="smoke", overrides=["defence.clamp=0.5", "model.depth=1", "sfl.method=mocosfl"])
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    client = served_client(state, cfg, run.best, 32)             # what every attack computes its activations with
    seen, clean = client(x), client.clean(x)
    assert _bounded(seen, clean, 0.5) and not _bounded(clean, clean, 0.5)
    records = [run.read_attack(aid) for aid in run.attack_ids()]
    assert sorted(r.settings["kind"] for r in records) == ["decoder", "prior"]
    page = html.read_text()
    assert "clamp" in page and "every sent activation value clipped to ± clamp × its sample" in page
