"""The recommended cut and the sentences that explain it, on the front of :mod:`sflaudit.reports.tradeoffs`.

The leakage objective is a :class:`~sflaudit.reports.tradeoffs.PrivacyAxis`: the worst-case attack SSIM by default,
or (``--privacy-axis membership``) the strongest membership score's TPR at 1 % FPR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sflaudit.reports.active import is_active
from sflaudit.reports.tradeoffs import (METHOD_LABELS, SSIM_AXIS, Constraints, PrivacyAxis, Recommendation, _bounds,
                                        _objectives, pareto_cells, within_noise)


def _label(row: dict[str, Any]) -> str:
    """``depth 5 with MonAcoSFL`` (and the --vary setting, e.g. ``, defence.noise=0.3``)."""
    setting = f", {row['setting_text']}" if row.get("setting_text") else ""
    return f"depth {row['depth']} with {METHOD_LABELS.get(row['method'], row['method'])}{setting}"


def _ideal_distance(row: dict[str, Any], rows: Sequence[dict[str, Any]], key: str = "attack_ssim") -> float:
    """Euclidean distance to the ideal point after min–max scaling each objective over ``rows`` (0 = ideal)."""
    objs = [o for r in rows if (o := _objectives(r, key)) is not None]
    mine = _objectives(row, key)
    assert mine is not None
    total = 0.0
    for k in range(3):
        lo, hi = min(o[k] for o in objs), max(o[k] for o in objs)
        total += ((mine[k] - lo) / (hi - lo)) ** 2 if hi > lo else 0.0
    return math.sqrt(total)


def _best_of(rows: Sequence[dict[str, Any]], key: str, *, highest: bool) -> dict[str, Any]:
    return (max if highest else min)(rows, key=lambda r: r[key])


def _why_none(rows: Sequence[dict[str, Any]], c: Constraints, axis_key: str = "attack_ssim") -> str:
    """Why no cell meets ``c``: per limit, the best value any cell reaches and how many cells meet it alone."""
    checks = (("max_ssim", "attack_ssim", False, f"attack SSIM ≤ {c.max_ssim:g}" if c.max_ssim is not None else "",
               "{:.3f}"),
              ("max_mb_per_client", "mb_per_client", False,
               f"≤ {c.max_mb_per_client:g} MiB per client" if c.max_mb_per_client is not None else "", "{:.2f} MiB"),
              ("min_knn", "knn_best", True, f"kNN ≥ {c.min_knn:g}%" if c.min_knn is not None else "", "{:.1f}%"),
              ("max_hours", "hours", False, f"≤ {c.max_hours:g} h to train" if c.max_hours is not None else "",
               "{:.3g} h"))
    parts, alone = [], []
    for name, key, highest, text, fmt in checks:
        if getattr(c, name) is None:
            continue
        have = [r for r in rows if r.get(key) is not None]
        if not have:
            alone.append(False)
            parts.append(f"{text} (no cell has this value)")
            continue
        best = _best_of(have, key, highest=highest)
        met = sum(1 for r in rows if name not in c.failures(r, axis_key))
        alone.append(met > 0)
        parts.append(f"{text} (best reached: {fmt.format(best[key])} at {_label(best)}; {met} cell(s) meet it)")
    lead = ("each limit is met by some cell, but no cell meets all of them at once"
            if all(alone) else "no cell meets all limits")
    return f"{lead.capitalize()}: " + "; ".join(parts) + ". Relax a limit, or train longer (a larger budget raises kNN)"


def depth_ranges(depths: Sequence[int]) -> str:
    """Sorted depths with runs of three or more consecutive ones compressed: [1, 2, 5, 6, 7, 9] → "1, 2, 5–7, 9"."""
    runs: list[list[int]] = []
    for d in sorted(set(depths)):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) >= 3 else ", ".join(map(str, r)) for r in runs)


def _cells_phrase(rows: Sequence[dict[str, Any]]) -> str:
    """"depths 11–15"; per method (and --vary setting) when they span several ("depths 11–15 with MocoSFL and
    depth 13 with MonAcoSFL")."""
    series = sorted({(r["method"], r.get("setting_text") or "") for r in rows})
    parts = []
    for m, setting in series:
        depths = [int(r["depth"]) for r in rows if r["method"] == m and (r.get("setting_text") or "") == setting]
        text = f"{'depths' if len(depths) > 1 else 'depth'} {depth_ranges(depths)}"
        name = METHOD_LABELS.get(m, m) + (f", {setting}" if setting else "")
        parts.append(f"{text} with {name}" if len(series) > 1 else text)
    return " and ".join(parts)


def tie_note(tied: Sequence[dict[str, Any]], closest: dict[str, Any], axis: PrivacyAxis = SSIM_AXIS) -> str:
    """The sentence naming the cells that cannot be told apart from ``closest`` (the pick is the cheapest of them).

    "each other" when every pair of them is within noise, else "<closest>" (they are all within noise of it).
    """
    mutual = all(within_noise(a, b, axis.key) for i, a in enumerate(tied) for b in tied[i + 1:])
    of = "each other" if mutual else _label(closest)
    return (f"{_cells_phrase(tied)} are within noise of {of} on kNN and {axis.short}; the pick is the cheapest of "
            f"them")


def _clear_note(closest: dict[str, Any], n: int, axis: PrivacyAxis = SSIM_AXIS) -> str:
    """"; no other Pareto-optimal cell is within noise of it …" when the pick has intervals and rivals; else ""
    (without intervals nothing can be said about noise)."""
    has_intervals = any(len(set(_bounds(closest, key))) > 1 for key in ("knn_best", axis.key))
    return (f"; no other Pareto-optimal cell is within noise of it on kNN and {axis.short}"
            if has_intervals and n > 1 else "")


def _figures(row: dict[str, Any], axis: PrivacyAxis = SSIM_AXIS) -> str:
    """"kNN 47.1% [45.9–48.3%], attack SSIM 0.412 [0.398–0.427], 1.20 MiB per client per run" (intervals if any)."""
    knn_lo, knn_hi = _bounds(row, "knn_best")
    ssim_lo, ssim_hi = _bounds(row, axis.key)
    knn_ci = f" [{knn_lo:.1f}–{knn_hi:.1f}%]" if knn_lo != knn_hi else ""
    ssim_ci = f" [{ssim_lo:.3f}–{ssim_hi:.3f}]" if ssim_lo != ssim_hi else ""
    return (f"kNN {row['knn_best']:.1f}%{knn_ci}, {axis.label} {row[axis.key]:.3f}{ssim_ci}, "
            f"{row['mb_per_client']:.2f} MiB per client per run")


def recommend(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints(),
              axis: PrivacyAxis = SSIM_AXIS) -> Recommendation:
    """The recommended cell under ``constraints``.

    Rule: among the cells that meet every limit, take their noise-aware Pareto front (attack SSIM ↓, kNN ↑, MiB per
    client ↓) and find the point closest to the ideal (lowest SSIM, highest kNN, fewest MiB, each min–max scaled
    over all finished cells on the values); ties go to the shallower depth, then to the method name. The front
    cells whose kNN and SSIM intervals both overlap that point's are statistically tied with it, and the pick is
    the cheapest of them (fewest MiB per client; then closest to the ideal, shallower, method name). With no
    finished cell, or none that meets the limits, ``cell`` is None and ``reason`` says why.
    """
    key = axis.key
    usable = [r for r in rows if _objectives(r, key) is not None]
    if not usable:
        return Recommendation(None, f"no cell has finished (kNN, {axis.label} and bandwidth are all needed)", ())
    feasible = [r for r in usable if not constraints.failures(r, key)]
    if not feasible:
        return Recommendation(None, _why_none(usable, constraints, key), ())
    front = set(pareto_cells(feasible, key))
    candidates = [r for r in feasible if r["cell"] in front]
    ideal = {r["cell"]: _ideal_distance(r, usable, key) for r in candidates}
    closest = min(candidates, key=lambda r: (ideal[r["cell"]], r["depth"], r["method"]))
    tied = sorted((r for r in candidates if within_noise(r, closest, key)), key=lambda r: (r["depth"], r["method"]))
    best = min(tied, key=lambda r: (r["mb_per_client"], ideal[r["cell"]], r["depth"], r["method"]))
    note = tie_note(tied, closest, axis) if len(tied) > 1 else ""
    limits = constraints.describe()
    n = len(candidates)
    basis = (f"It meets {', '.join(limits)} and, of the {n} Pareto-optimal cell(s) that do, it"
             if limits else f"No limits given; of the {n} Pareto-optimal cell(s) it")
    ideal_text = "the ideal of no leakage, the best kNN and the least traffic"
    core = (f"is closest to {ideal_text} ({_figures(best, axis)})" if best is closest else
            f"cannot be told apart from {_label(closest)}, the cell closest to {ideal_text} "
            f"(the pick: {_figures(best, axis)})")
    reason = f"{basis} {core}" + (f"; {note}" if note else _clear_note(closest, n, axis))
    return Recommendation(best["cell"], reason, tuple(r["cell"] for r in feasible), closest=closest["cell"],
                          tied=tuple(r["cell"] for r in tied) if note else (), tie_note=note)


def annotate(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints(),
             axis: PrivacyAxis = SSIM_AXIS) -> tuple[list[dict[str, Any]], list[str], Recommendation]:
    """Rows with ``pareto`` / ``feasible`` / ``recommended`` / ``tied`` (within noise of the pick's reference cell,
    see :attr:`Recommendation.tied`) flags added, the front, and the recommendation; the front and the pick are
    drawn from the honest-server cells only (:mod:`sflaudit.reports.active`)."""
    honest = [r for r in rows if not is_active(r)]      # the deployer picks a cut, not the server's behaviour
    front = pareto_cells(honest, axis.key)
    rec = recommend(honest, constraints, axis)
    out = [dict(r, pareto=r["cell"] in front, feasible=r["cell"] in rec.feasible, recommended=r["cell"] == rec.cell,
                tied=r["cell"] in rec.tied) for r in rows]
    return out, front, rec
