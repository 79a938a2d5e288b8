"""Trade-offs on report rows, as pure functions: the Pareto front (attack SSIM ↓, kNN ↑, MiB per client ↓), the
user's constraints and the recommended cut."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

METHOD_LABELS: dict[str, str] = {"mocosfl": "MocoSFL", "monacosfl": "MonAcoSFL"}


def _objectives(row: dict[str, Any]) -> tuple[float, float, float] | None:
    """(attack SSIM, −kNN, MiB per client): all three minimised; None when the row lacks one of them."""
    ssim, knn, mb = row.get("attack_ssim"), row.get("knn_best"), row.get("mb_per_client")
    if row.get("status") != "ok" or ssim is None or knn is None or mb is None:
        return None
    return (float(ssim), -float(knn), float(mb))


def pareto_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points when every coordinate is minimised.

    A point is dominated when another is at least as good (≤) in every coordinate and strictly better (<) in one;
    equal points dominate neither, so both stay on the front.
    """
    front = []
    for i, p in enumerate(points):
        dominated = any(all(q[k] <= p[k] for k in range(len(p))) and any(q[k] < p[k] for k in range(len(p)))
                        for j, q in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def pareto_cells(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Cells on the privacy–accuracy–bandwidth front: least attack SSIM, most kNN, fewest MiB per client."""
    scored = [(r["cell"], obj) for r in rows if (obj := _objectives(r)) is not None]
    return [scored[i][0] for i in pareto_indices([obj for _, obj in scored])]


@dataclass(frozen=True)
class Constraints:
    """The user's limits (None = no limit): attack SSIM at most, MiB per client per run at most, kNN % at least."""

    max_ssim: float | None = None
    max_mb_per_client: float | None = None
    min_knn: float | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.max_ssim, self.max_mb_per_client, self.min_knn))

    def describe(self) -> list[str]:
        """Human-readable limits, e.g. ``["attack SSIM ≤ 0.3", "kNN ≥ 50%"]``."""
        out = []
        if self.max_ssim is not None:
            out.append(f"attack SSIM ≤ {self.max_ssim:g}")
        if self.max_mb_per_client is not None:
            out.append(f"≤ {self.max_mb_per_client:g} MiB per client per run")
        if self.min_knn is not None:
            out.append(f"kNN ≥ {self.min_knn:g}%")
        return out

    def failures(self, row: dict[str, Any]) -> list[str]:
        """Names of the limits ``row`` breaks (empty when it meets all)."""
        obj = _objectives(row)
        if obj is None:
            return ["incomplete"]
        ssim, neg_knn, mb = obj
        out = []
        if self.max_ssim is not None and ssim > self.max_ssim:
            out.append("max_ssim")
        if self.max_mb_per_client is not None and mb > self.max_mb_per_client:
            out.append("max_mb_per_client")
        if self.min_knn is not None and -neg_knn < self.min_knn:
            out.append("min_knn")
        return out


@dataclass(frozen=True)
class Recommendation:
    """The recommended cell (None when no cell qualifies) and why."""

    cell: str | None
    reason: str
    feasible: tuple[str, ...]      # cells meeting every constraint


def _label(row: dict[str, Any]) -> str:
    return f"depth {row['depth']} with {METHOD_LABELS.get(row['method'], row['method'])}"


def _ideal_distance(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float:
    """Euclidean distance to the ideal point after min–max scaling each objective over ``rows`` (0 = ideal)."""
    objs = [o for r in rows if (o := _objectives(r)) is not None]
    mine = _objectives(row)
    assert mine is not None
    total = 0.0
    for k in range(3):
        lo, hi = min(o[k] for o in objs), max(o[k] for o in objs)
        total += ((mine[k] - lo) / (hi - lo)) ** 2 if hi > lo else 0.0
    return math.sqrt(total)


def _best_of(rows: Sequence[dict[str, Any]], key: str, *, highest: bool) -> dict[str, Any]:
    usable = [r for r in rows if _objectives(r) is not None]
    return (max if highest else min)(usable, key=lambda r: r[key])


def _why_none(rows: Sequence[dict[str, Any]], c: Constraints) -> str:
    """Why no cell meets ``c``: per limit, the best value any cell reaches and how many cells meet it alone."""
    checks = (("max_ssim", "attack_ssim", False, f"attack SSIM ≤ {c.max_ssim:g}" if c.max_ssim is not None else "",
               "{:.3f}"),
              ("max_mb_per_client", "mb_per_client", False,
               f"≤ {c.max_mb_per_client:g} MiB per client" if c.max_mb_per_client is not None else "", "{:.2f} MiB"),
              ("min_knn", "knn_best", True, f"kNN ≥ {c.min_knn:g}%" if c.min_knn is not None else "", "{:.1f}%"))
    parts, alone = [], []
    for name, key, highest, text, fmt in checks:
        if getattr(c, name) is None:
            continue
        best = _best_of(rows, key, highest=highest)
        met = sum(1 for r in rows if name not in c.failures(r))
        alone.append(met > 0)
        parts.append(f"{text} (best reached: {fmt.format(best[key])} at {_label(best)}; {met} cell(s) meet it)")
    lead = ("each limit is met by some cell, but no cell meets all of them at once"
            if all(alone) else "no cell meets all limits")
    return f"{lead.capitalize()}: " + "; ".join(parts) + ". Relax a limit, or train longer (a larger budget raises kNN)"


def recommend(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()) -> Recommendation:
    """The recommended cell under ``constraints``.

    Rule: among the cells that meet every limit, take their Pareto front (attack SSIM ↓, kNN ↑, MiB per client ↓)
    and pick the point closest to the ideal (lowest SSIM, highest kNN, fewest MiB, each min–max scaled over all
    finished cells); ties go to the shallower depth, then to the method name. With no finished cell, or none that
    meets the limits, ``cell`` is None and ``reason`` says why.
    """
    usable = [r for r in rows if _objectives(r) is not None]
    if not usable:
        return Recommendation(None, "no cell has finished (kNN, attack SSIM and bandwidth are all needed)", ())
    feasible = [r for r in usable if not constraints.failures(r)]
    if not feasible:
        return Recommendation(None, _why_none(usable, constraints), ())
    front = set(pareto_cells(feasible))
    candidates = [r for r in feasible if r["cell"] in front]
    best = min(candidates, key=lambda r: (_ideal_distance(r, usable), r["depth"], r["method"]))
    limits = constraints.describe()
    n = len(candidates)
    basis = (f"It meets {', '.join(limits)} and, of the {n} Pareto-optimal cell(s) that do, it"
             if limits else f"No limits given; of the {n} Pareto-optimal cell(s) it")
    reason = (f"{basis} is closest to the ideal of no leakage, the best kNN and the least traffic "
              f"(kNN {best['knn_best']:.1f}%, attack SSIM {best['attack_ssim']:.3f}, "
              f"{best['mb_per_client']:.2f} MiB per client per run)")
    return Recommendation(best["cell"], reason, tuple(r["cell"] for r in feasible))


def annotate(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()
             ) -> tuple[list[dict[str, Any]], list[str], Recommendation]:
    """Rows with ``pareto`` / ``feasible`` / ``recommended`` flags added, the front, and the recommendation."""
    front = pareto_cells(rows)
    rec = recommend(rows, constraints)
    out = [dict(r, pareto=r["cell"] in front, feasible=r["cell"] in rec.feasible, recommended=r["cell"] == rec.cell)
           for r in rows]
    return out, front, rec
