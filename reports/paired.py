"""Method differences paired by seed: with ``--seeds N`` both methods of a depth train from the same seed's data
partition and initial weights, so their per-seed difference cancels what the seed does to both.

The per-cell t-intervals the answer uses are unpaired, so two cells can look tied there while every seed puts one
ahead of the other. This module gives that paired reading beside it; it does not change the recommendation.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, product
from typing import Any

from sflaudit.reports.intervals import finite_or_none, t_interval

PAIRED_KEYS: tuple[tuple[str, str], ...] = (("knn_best", "kNN"), ("attack_ssim", "worst-case SSIM"))
"""(row column, label) of the figures compared."""


def paired_differences(cells: Sequence[dict[str, Any]], methods: Sequence[str], base_seed: int | None = None
                       ) -> list[dict[str, Any]]:
    """Per depth and varied setting, per pair of methods (later − earlier in ``methods``), per figure of
    :data:`PAIRED_KEYS`: the mean per-seed difference with its 95 % t-interval over the seeds both finished.

    Args:
        cells: per-seed report rows (``method``, ``depth``, ``setting_text``, ``seed``, ``status`` and the figures).
        methods: the sweep's methods, in order.
        base_seed: the seed of the rows whose ``seed`` is None (a sweep's first seed keeps the config's own).
    Returns:
        One dict per comparison with at least two common seeds: depth, setting_text, a, b (methods), key, label,
        seeds (common seeds, sorted), diffs (b − a per seed), mean, low, high, separated (the interval excludes 0).
    """
    by: dict[tuple[int, str, str], dict[int, dict[str, Any]]] = {}
    for row in cells:
        seed = row.get("seed") if row.get("seed") is not None else base_seed
        if row.get("status") == "ok" and seed is not None:
            by.setdefault((row["depth"], row.get("setting_text") or "", row["method"]), {})[int(seed)] = row
    places = sorted({(d, s) for d, s, _ in by})
    out = []
    for (depth, setting), (a, b), (key, label) in product(places, combinations(methods, 2), PAIRED_KEYS):
        ra, rb = by.get((depth, setting, a), {}), by.get((depth, setting, b), {})
        seeds = sorted(s for s in ra.keys() & rb.keys()
                       if finite_or_none(ra[s].get(key)) is not None and finite_or_none(rb[s].get(key)) is not None)
        if len(seeds) < 2:
            continue
        diffs = [float(rb[s][key]) - float(ra[s][key]) for s in seeds]
        ci = t_interval(diffs)
        out.append({"depth": depth, "setting_text": setting, "a": a, "b": b, "key": key, "label": label,
                    "seeds": seeds, "diffs": diffs, "mean": sum(diffs) / len(diffs), "low": ci.low, "high": ci.high,
                    "separated": ci.low > 0 or ci.high < 0})
    return out
