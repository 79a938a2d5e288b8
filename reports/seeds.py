"""Seed groups: the cells of a sweep that differ only in ``run.seed`` become one report row (``--seeds N``).

A group's row carries the mean over its finished seeds of every numeric column and, for the figures the answer
rests on, a 95 % t-interval across seeds (``<key>_low``/``<key>_high``) in place of the single-run intervals. The
per-seed rows stay in report.json. A group of one seed keeps its row as it is and says that seed variance is not
in its intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sflaudit.reports.intervals import t_interval

SEED_KEYS: tuple[str, ...] = ("knn_best", "probe_best", "attack_ssim", "attack_psnr", "attack_mse", "attack_lpips",
                              "attack_ssim_ref", "mia_auc", "prior_ssim")
"""Columns whose across-seed t-interval replaces the single-run interval in a multi-seed group."""


def group_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per group (cells equal but for the seed), in the order groups first appear.

    Rows with status ok are averaged; a group with none ok shows its first row (why it is not ok). Adds
    ``seeds`` (seeds averaged), ``seed_cells`` (the cells of the group) and ``seed_variance`` (True when the
    intervals are across seeds).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get("group") or row["cell"], []).append(row)
    return [_merge(name, members) for name, members in groups.items()]


def _merge(name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in members if r.get("status") == "ok"]
    cells = [r["cell"] for r in members]
    if len(members) == 1 or len(ok) < 2:
        base = dict(ok[0] if ok else members[0])
        if len(members) > 1 and ok:                # some seeds not finished: the row is the one seed that is
            base.update(status="missing", error=f"only {len(ok)} of {len(members)} seeds finished",
                        error_stage=None)
        base.update(cell=name, seeds=len(ok), seed_cells=cells, seed_variance=False)
        return base
    out = dict(ok[0])
    for key, value in ok[0].items():
        values = [r.get(key) for r in ok]
        if _numeric(value) and all(_numeric(v) for v in values) and any(v != value for v in values):
            out[key] = sum(float(v) for v in values) / len(values)
    for key in SEED_KEYS:
        values = [float(r[key]) for r in ok if _numeric(r.get(key))]
        if len(values) == len(ok):
            out[f"{key}_low"], out[f"{key}_high"] = t_interval(values)
    out.update(cell=name, seed=None, seeds=len(ok), seed_cells=cells, seed_variance=True,
               run_dir=ok[0]["run_dir"])
    return out


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
