"""Method differences paired by seed: hand-made per-seed rows, the t-interval of the differences, the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from sflaudit.reports.paired import paired_differences

# cifar10-cpu, two seeds (docs/results.md): kNN % of MocoSFL and MonAcoSFL at depths 1 and 17
KNN = {(1, "mocosfl"): (29.2, 31.3), (1, "monacosfl"): (29.2, 31.7),
       (17, "mocosfl"): (21.0, 22.6), (17, "monacosfl"): (25.1, 26.3)}


def _cells(**extra: dict) -> list[dict]:
    return [{"cell": f"{m}-d{d}-seed{s}", "group": f"{m}-d{d}", "method": m, "depth": d, "seed": s, "status": "ok",
             "setting_text": "", "knn_best": knn[i], "attack_ssim": None, **extra.get(f"{m}-d{d}-seed{s}", {})}
            for (d, m), knn in KNN.items() for i, s in enumerate((1138, 1139))]


def test_paired_differences__t_interval_of_the_per_seed_differences() -> None:
    out = paired_differences(_cells(), ["mocosfl", "monacosfl"])
    assert [(p["depth"], p["key"]) for p in out] == [(1, "knn_best"), (17, "knn_best")]   # no SSIM: no pairs
    d1, d17 = out
    assert d17["a"] == "mocosfl" and d17["b"] == "monacosfl" and d17["seeds"] == [1138, 1139]
    assert d17["diffs"] == pytest.approx([4.1, 3.7]) and d17["mean"] == pytest.approx(3.9)
    # sd of (4.1, 3.7) = 0.2√2, standard error 0.2, t(0.975, 1 df) = 12.7062
    assert (d17["low"], d17["high"]) == pytest.approx((3.9 - 2.54124, 3.9 + 2.54124), abs=1e-4)
    assert d17["separated"] is True
    assert d1["mean"] == pytest.approx(0.2) and d1["low"] < 0 < d1["high"] and d1["separated"] is False


def test_paired_differences__only_seeds_both_methods_finished_count() -> None:
    cells = _cells(**{"monacosfl-d17-seed1139": {"status": "failed"}})
    out = paired_differences(cells, ["mocosfl", "monacosfl"])
    assert [p["depth"] for p in out] == [1]                  # depth 17 has one common seed left: no interval
    assert paired_differences(_cells(), ["mocosfl"]) == []   # one method: nothing to pair


def test_paired_differences__the_first_seed_cell_without_a_seed_is_the_base_seed() -> None:
    cells = [dict(c, seed=None) if c["seed"] == 1138 else c for c in _cells()]    # as a sweep names seed 1
    assert paired_differences(cells, ["mocosfl", "monacosfl"]) == []             # base seed unknown: one seed
    out = paired_differences(cells, ["mocosfl", "monacosfl"], base_seed=1138)
    assert out == paired_differences(_cells(), ["mocosfl", "monacosfl"])


def test_report__shows_the_paired_table_with_seeds(tmp_path: Path, tiny_config) -> None:
    from sflaudit.reports.html import ReportInputs, write_report

    rows = [dict(c, run_dir=str(tmp_path / "none"), seed=None if c["seed"] == tiny_config.run.seed else c["seed"])
            for c in _cells()]
    inputs = ReportInputs(rows=rows, config=tiny_config, depths=[1, 17], methods=["mocosfl", "monacosfl"],
                          runs=tmp_path, seeds=2)
    files = write_report(inputs, tmp_path / "r.html")
    text = files.html.read_text()
    assert "Methods paired by seed" in text and "+3.9 [+1.4, +6.4]" in text and "outside the noise" in text
