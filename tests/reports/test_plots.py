"""The report's figures: valid PNGs from complete, partial and empty rows, no global matplotlib state changed."""

from __future__ import annotations

import io

import matplotlib
import pytest
from PIL import Image

from sflaudit.reports.collect import MIB
from sflaudit.reports.plots import accuracy_plot, all_plots, attack_plot, bandwidth_plot, tradeoff_plot


def row(method: str, depth: int, **values: object) -> dict:
    base = {"cell": f"{method}-d{depth}", "method": method, "depth": depth, "status": "ok", "knn_best": 40.0 + depth,
            "probe_best": 30.0 + depth, "attack_ssim": 0.8 - 0.05 * depth, "attack_psnr": 20.0 - depth,
            "attack_lpips": 0.1 * depth, "step_up": depth * MIB, "step_down": depth * MIB // 2,
            "client_run_up": 10 * depth * MIB, "client_run_down": 5 * depth * MIB, "mb_per_client": 15.0 * depth}
    base.update(values)
    return base


ROWS = [row(m, d) for d in (1, 3, 5) for m in ("mocosfl", "monacosfl")]


def image(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


@pytest.mark.parametrize("draw", [accuracy_plot, attack_plot, bandwidth_plot])
def test_depth_plots__are_wide_pngs(draw) -> None:
    width, height = image(draw(ROWS)).size
    assert width > 900 and 300 < height < width


def test_tradeoff_plot__marks_pareto_and_pick() -> None:
    img = image(tradeoff_plot(ROWS, ["mocosfl-d1", "mocosfl-d5"], "mocosfl-d1"))
    assert img.size[0] > 900


def test_plots__tolerate_failed_and_missing_values() -> None:
    rows = [*ROWS[:3], row("monacosfl", 3, status="failed", knn_best=None, attack_ssim=None, attack_psnr=None,
                           attack_lpips=None, mb_per_client=None, client_run_up=None, client_run_down=None)]
    for key, png in all_plots(rows, [], None).items():
        assert image(png).size[0] > 500, key


def test_plots__no_rows_still_draws_labelled_empty_figures() -> None:
    figures = all_plots([], [], None)
    assert sorted(figures) == ["accuracy", "attack", "attacks", "bandwidth", "membership", "membership_roc", "time",
                              "tradeoff"]
    for png in figures.values():
        image(png)


def test_plots__leave_global_rcparams_alone() -> None:
    before = dict(matplotlib.rcParams)
    all_plots(ROWS, [], None)
    assert dict(matplotlib.rcParams) == before
    assert matplotlib.get_backend().lower() == "agg"
