"""The user's own network end to end: torchvision's MobileNetV3-Small and EfficientNet-B0 and a module defined in
tests/netzoo.py, three cuts each, in one smoke sweep (``--vary model.arch``): training, the attacks, membership, the
profile and the page all work, and the bytes metered on the wire equal the profile's analytic count at every cut."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from sflaudit.artifacts import RunDir
from sflaudit.models import cut_info

from report_cli import TINY, run_report  # tests/reports/report_cli.py

ARCHS = ("torchvision:mobilenet_v3_small", "torchvision:efficientnet_b0", "netzoo:tiny")
DEPTHS = (1, 2, 3)


@dataclass(frozen=True)
class TracedSweep:
    runs: Path
    html: Path


@pytest.fixture(scope="module")
def traced_sweep(tmp_path_factory: pytest.TempPathFactory) -> TracedSweep:
    root = tmp_path_factory.mktemp("traced")
    runs, html = root / "runs", root / "report.html"
    result = run_report("--depths", "1,2,3", "--methods", "mocosfl", *TINY, "--set", "model.width=1",
                        "--set", 'model.arch="netzoo:tiny"', "--vary", f"model.arch={','.join(ARCHS)}",
                        "--set", "membership.images=16", "--attacks", "prior,decoder,whitebox",
                        "--runs", str(runs), "--out", str(html), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    return TracedSweep(runs, html)


def _cell(sweep: TracedSweep, arch: str, depth: int) -> RunDir:
    return RunDir(sweep.runs / f"mocosfl-d{depth}-model.arch={arch}")


@pytest.mark.parametrize("arch", ARCHS)
def test_every_cut_trains_and_meters_what_the_profile_counts(traced_sweep: TracedSweep, arch: str) -> None:
    for depth in DEPTHS:
        run = _cell(traced_sweep, arch, depth)
        measured = json.loads(run.traffic_path.read_text())
        profile = json.loads(run.profile_path.read_text())
        assert measured["by_kind"] == profile["analytic_traffic"]["by_kind"], (arch, depth)
        info = cut_info(arch, depth, input_size=32)
        assert profile["sent"] == [list(s) for s in info.sent] and profile["row"]["after"] == info.after
        assert measured["by_kind"]["query"]["up"] > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_every_cut_is_attacked_on_the_attackers_view(traced_sweep: TracedSweep, arch: str) -> None:
    """A cut that sends several grids (a squeeze-excitation's pooled vector beside the map) is regridded for the
    decoder: its activation shape is ΣC on the finest grid."""
    for depth in DEPTHS:
        run = _cell(traced_sweep, arch, depth)
        records = {run.read_attack(a).settings["kind"]: run.read_attack(a) for a in run.attack_ids()}
        assert sorted(records) == ["decoder", "prior", "whitebox"]
        info = cut_info(arch, depth, input_size=32)
        expected = info.frontier.regridded if info.frontier else None
        assert tuple(records["decoder"].run["activation_shape"]) == expected
        assert 0 < records["decoder"].metrics["ssim_mean"] <= 1 and records["decoder"].metrics["n"] == 8


def test_a_multi_grid_cut_is_in_the_sweep() -> None:
    assert not cut_info("torchvision:efficientnet_b0", 3).frontier.aligned     # the fixture covers one


def test_page_names_each_cut_by_its_layer(traced_sweep: TracedSweep) -> None:
    rows = json.loads(traced_sweep.html.with_suffix(".json").read_text())["rows"]
    assert len(rows) == len(ARCHS) * len(DEPTHS) and all(r["status"] == "ok" for r in rows)
    html = traced_sweep.html.read_text()
    assert "features.1.0.block.1.fc1" in html        # EfficientNet-B0's depth 3: after the SE's first conv
    assert all(r["mia_auc"] is not None for r in rows)                # membership ran on every cut
