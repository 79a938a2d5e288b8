"""The membership audit's log–log ROC per depth and method, drawn from the per-image scores beside each record
(``membership/<id>.npz``) through the same ROC points its TPR table reads (:func:`sflaudit.attacks.membership.
roc_points`). One panel per method; one line per depth, of the cell's worst-case score (``mia_worst``: a calibrated
score when reference models were trained)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sflaudit.artifacts import RunDir
from sflaudit.attacks.membership import roc_points
from sflaudit.errors import SflauditError

from sflaudit.reports.plotkit import png, style

Row = dict[str, Any]


def roc_series(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per cell with scores on disk: method, depth, setting, score name and its ROC points (FPR, TPR)."""
    out = []
    for r in rows:
        if not r.get("membership_id") or not r.get("mia_worst") or not r.get("run_dir"):
            continue
        try:
            arrays = RunDir(Path(r["run_dir"])).read_membership_scores(r["membership_id"])
        except (OSError, ValueError, SflauditError):
            continue
        name = r["mia_worst"]
        if arrays is None or f"{name}_member" not in arrays:
            continue
        fpr, tpr = roc_points(arrays[f"{name}_member"], arrays[f"{name}_nonmember"])
        out.append({"method": r["method"], "depth": r["depth"], "setting": r.get("setting_text") or "",
                    "score": name, "fpr": fpr, "tpr": tpr})
    return out


def membership_roc_plot(rows: Sequence[Row]) -> bytes:
    """Log–log ROC (TPR against FPR, both from 10⁻³) per method; the diagonal is chance."""
    series = roc_series(rows)
    methods = sorted({s["method"] for s in series}) or ["–"]
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        axes = np.atleast_1d(fig.subplots(1, len(methods)))
        depths = sorted({s["depth"] for s in series})
        for ax, method in zip(axes, methods):
            for s in (s for s in series if s["method"] == method):
                shade = 0.15 + 0.75 * depths.index(s["depth"]) / max(1, len(depths) - 1)
                label = f"d{s['depth']}" + (f" {s['setting']}" if s["setting"] else "")
                ax.plot(np.maximum(s["fpr"], 1e-3), np.maximum(s["tpr"], 1e-3), color=(0.1, 0.3, shade),
                        linewidth=1.2, drawstyle="steps-post", label=label)
            ax.plot([1e-3, 1], [1e-3, 1], color="#888888", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1e-3, 1)
            ax.set_ylim(1e-3, 1)
            ax.set_xlabel("false-positive rate (log)")
            ax.set_ylabel("true-positive rate (log)")
            ax.set_title(f"{method}: membership ROC — closer to the diagonal is more private")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        return png(fig)
