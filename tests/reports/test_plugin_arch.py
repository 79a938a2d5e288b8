"""A new network is one object and one registration: a small CNN defined only in this file trains, is profiled and
is attacked at each of its cuts in a smoke sweep, its measured bytes equal to the profile's analytic count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from torch import nn

from sflaudit.architectures import ARCHS, ArchPlugin, arch_names, register_arch
from sflaudit.artifacts import RunDir
from sflaudit.models import cut_info, depth_range, split_model
from sflaudit.config import load_config
from sflaudit.profiles.run import config_rows, schedule_for

from report_cli import TINY, run_report  # tests/reports/report_cli.py


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(2, cout), nn.ReLU())


def toy_units(width: float) -> list[tuple[str, nn.Module]]:
    """Three conv units: 3 → 8w (stride 1) → 16w (stride 2) → 32w (stride 2) channels."""
    c = [max(2, round(n * width)) for n in (8, 16, 32)]
    return [("conv1", _block(3, c[0], 1)), ("conv2", _block(c[0], c[1], 2)), ("conv3", _block(c[1], c[2], 2))]


TOY = ArchPlugin(name="toycnn", units=toy_units, feature_dim=lambda width: max(2, round(32 * width)),
                 describe="three conv + GroupNorm + ReLU units")


@pytest.fixture
def toy_registered() -> Iterator[ArchPlugin]:
    register_arch(TOY)
    yield TOY
    ARCHS.unregister(TOY.name)


def test_toy_arch__cuts_after_each_conv_unit(toy_registered) -> None:
    assert "toycnn" in arch_names() and depth_range("toycnn") == range(1, 4)
    assert [cut_info("toycnn", d, width=1.0, input_size=32).sent for d in (1, 2, 3)] == [
        ((8, 32, 32),), ((16, 16, 16),), ((32, 8, 8),)]
    split = split_model("toycnn", 2, width=1.0)
    assert split.info.client_layers == ("conv1", "conv2")
    assert split.info.client_params == sum(p.numel() for p in split.client.state_dict().values())
    cfg = load_config(preset="smoke", overrides=["model.arch=toycnn", "model.width=1.0"])
    rows = config_rows(cfg, [1, 2, 3], schedule_for(cfg))           # what `sflaudit profile` prints
    assert [r["depth"] for r in rows] == [1, 2, 3]
    assert all(r["client_flops"] > 0 and r["server_flops"] > 0 for r in rows), rows[0].keys()
    assert rows[0]["client_flops"] < rows[1]["client_flops"] < rows[2]["client_flops"]


def test_toy_arch__trains_profiles_and_is_attacked_at_each_cut(toy_registered, tmp_path: Path) -> None:
    runs, html = tmp_path / "runs", tmp_path / "report.html"
    result = run_report("--depths", "1..3", "--methods", "mocosfl", *TINY, "--set", "model.arch=toycnn",
                        "--set", "model.width=1.0", "--set", "membership.images=0", "--attacks", "prior,decoder",
                        "--runs", str(runs), "--out", str(html), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    for depth in (1, 2, 3):
        run = RunDir(runs / f"mocosfl-d{depth}")
        measured = json.loads(run.traffic_path.read_text())
        profile = json.loads(run.profile_path.read_text())
        assert measured["by_kind"] == profile["analytic_traffic"]["by_kind"]
        kinds = sorted(run.read_attack(a).settings["kind"] for a in run.attack_ids())
        assert kinds == ["decoder", "prior"]
        shape = run.read_attack(next(a for a in run.attack_ids() if a.startswith("decoder"))).run["activation_shape"]
        assert tuple(shape) == cut_info("toycnn", depth, width=1.0, input_size=32).sent[0]
    rows = json.loads(html.with_suffix(".json").read_text())["rows"]
    assert sorted(r["depth"] for r in rows) == [1, 2, 3] and all(r["status"] == "ok" for r in rows)
