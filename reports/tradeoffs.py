"""Trade-offs on report rows, as pure functions: the Pareto front (attack SSIM ↓, kNN ↑, MiB per client ↓), the
user's constraints and the recommended cut, all aware of the rows' confidence intervals.

A row may carry ``attack_ssim_low/_high`` and ``knn_best_low/_high``; without them (or with None / NaN bounds) a
value counts as exact. ``mb_per_client`` is always exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sflaudit.errors import SflauditError

METHOD_LABELS: dict[str, str] = {"mocosfl": "MocoSFL", "monacosfl": "MonAcoSFL"}


def _objectives(row: dict[str, Any]) -> tuple[float, float, float] | None:
    """(attack SSIM, −kNN, MiB per client): all three minimised; None when the row lacks one of them."""
    ssim, knn, mb = row.get("attack_ssim"), row.get("knn_best"), row.get("mb_per_client")
    if row.get("status") != "ok" or ssim is None or knn is None or mb is None:
        return None
    return (float(ssim), -float(knn), float(mb))


class Axis(NamedTuple):
    """One minimised objective of a cell: its value and interval ``[low, high]`` (low = high = value when exact)."""

    value: float
    low: float
    high: float


def _bounds(row: dict[str, Any], key: str) -> tuple[float, float]:
    """``row[key]``'s interval from ``<key>_low`` / ``<key>_high``; the value itself when either is missing."""
    value, low, high = float(row[key]), row.get(f"{key}_low"), row.get(f"{key}_high")
    if low is None or high is None or math.isnan(float(low)) or math.isnan(float(high)):
        return value, value
    if float(low) > float(high):
        raise SflauditError(f"cell {row.get('cell')}: {key}_low {low} is above {key}_high {high}")
    return float(low), float(high)


def _axes(row: dict[str, Any]) -> tuple[Axis, Axis, Axis] | None:
    """(attack SSIM, −kNN, MiB per client) with their intervals, all minimised; None when the row is incomplete."""
    obj = _objectives(row)
    if obj is None:
        return None
    ssim_lo, ssim_hi = _bounds(row, "attack_ssim")
    knn_lo, knn_hi = _bounds(row, "knn_best")
    return Axis(obj[0], ssim_lo, ssim_hi), Axis(obj[1], -knn_hi, -knn_lo), Axis(obj[2], obj[2], obj[2])


def dominates(a: Sequence[Axis], b: Sequence[Axis]) -> bool:
    """Noise-aware dominance of ``a`` over ``b`` (every axis minimised).

    ``a`` dominates when it is no worse on every axis (value ≤) and better beyond the intervals on at least one
    (``a.high < b.low``: the intervals do not overlap). Overlapping intervals never make a difference, so a tie
    within the noise never dominates. With exact values (low = high = value) this is ordinary Pareto dominance.
    The relation implies ordinary dominance, so it has no cycle and the front is never empty.
    """
    return (all(p.value <= q.value for p, q in zip(a, b, strict=True))
            and any(p.high < q.low for p, q in zip(a, b, strict=True)))


def front_indices(points: Sequence[Sequence[Axis]]) -> list[int]:
    """Indices of the points no other point :func:`dominates`."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]


def pareto_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points when every coordinate is minimised.

    A point is dominated when another is at least as good (≤) in every coordinate and strictly better (<) in one;
    equal points dominate neither, so both stay on the front.
    """
    return front_indices([[Axis(v, v, v) for v in map(float, p)] for p in points])


def pareto_cells(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Cells on the privacy–accuracy–bandwidth front (least attack SSIM, most kNN, fewest MiB per client) under
    noise-aware dominance: a cell leaves the front only when another beats it beyond the intervals."""
    scored = [(r["cell"], axes) for r in rows if (axes := _axes(r)) is not None]
    return [scored[i][0] for i in front_indices([axes for _, axes in scored])]


def within_noise(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two complete rows cannot be told apart on kNN and attack SSIM (their intervals overlap on both)."""
    ax, bx = _axes(a), _axes(b)
    if ax is None or bx is None:
        raise SflauditError(f"cell {(b if ax else a).get('cell')} has no kNN, attack SSIM and bandwidth to compare")
    return all(p.low <= q.high and q.low <= p.high for p, q in zip(ax[:2], bx[:2], strict=True))


@dataclass(frozen=True)
class Constraints:
    """The user's limits (None = no limit): attack SSIM at most, MiB per client per run at most, kNN % at least."""

    max_ssim: float | None = None
    max_mb_per_client: float | None = None
    min_knn: float | None = None
    max_hours: float | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.max_ssim, self.max_mb_per_client, self.min_knn, self.max_hours))

    def describe(self) -> list[str]:
        """Human-readable limits, e.g. ``["attack SSIM ≤ 0.3", "kNN ≥ 50%"]``."""
        out = []
        if self.max_ssim is not None:
            out.append(f"attack SSIM ≤ {self.max_ssim:g}")
        if self.max_mb_per_client is not None:
            out.append(f"≤ {self.max_mb_per_client:g} MiB per client per run")
        if self.min_knn is not None:
            out.append(f"kNN ≥ {self.min_knn:g}%")
        if self.max_hours is not None:
            out.append(f"≤ {self.max_hours:g} h to train (modelled)")
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
        if self.max_hours is not None and (row.get("hours") is None or row["hours"] > self.max_hours):
            out.append("max_hours")
        return out


@dataclass(frozen=True)
class Recommendation:
    """The recommended cell (None when no cell qualifies) and why."""

    cell: str | None
    reason: str                    # one sentence without the final full stop; includes ``tie_note`` when there is one
    feasible: tuple[str, ...]      # cells meeting every constraint
    closest: str | None = None     # the feasible front cell closest to the ideal (the pick before the tie rule)
    tied: tuple[str, ...] = ()     # feasible front cells within noise of ``closest`` on kNN and SSIM, itself and the
    #                                pick included, by depth then method; () when no other cell is
    tie_note: str = ""             # e.g. "depths 11–15 are within noise of each other on kNN and SSIM; the pick is
    #                                the cheapest of them"; "" when ``tied`` is empty


def _label(row: dict[str, Any]) -> str:
    """``depth 5 with MonAcoSFL`` (and the --vary setting, e.g. ``, defence.noise=0.3``)."""
    setting = f", {row['setting_text']}" if row.get("setting_text") else ""
    return f"depth {row['depth']} with {METHOD_LABELS.get(row['method'], row['method'])}{setting}"


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
        met = sum(1 for r in rows if name not in c.failures(r))
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


def tie_note(tied: Sequence[dict[str, Any]], closest: dict[str, Any]) -> str:
    """The sentence naming the cells that cannot be told apart from ``closest`` (the pick is the cheapest of them).

    "each other" when every pair of them is within noise, else "<closest>" (they are all within noise of it).
    """
    mutual = all(within_noise(a, b) for i, a in enumerate(tied) for b in tied[i + 1:])
    of = "each other" if mutual else _label(closest)
    return f"{_cells_phrase(tied)} are within noise of {of} on kNN and SSIM; the pick is the cheapest of them"


def _clear_note(closest: dict[str, Any], n: int) -> str:
    """"; no other Pareto-optimal cell is within noise of it …" when the pick has intervals and rivals; else ""
    (without intervals nothing can be said about noise)."""
    has_intervals = any(len(set(_bounds(closest, key))) > 1 for key in ("knn_best", "attack_ssim"))
    return "; no other Pareto-optimal cell is within noise of it on kNN and SSIM" if has_intervals and n > 1 else ""


def _figures(row: dict[str, Any]) -> str:
    """"kNN 47.1% [45.9–48.3%], attack SSIM 0.412 [0.398–0.427], 1.20 MiB per client per run" (intervals if any)."""
    knn_lo, knn_hi = _bounds(row, "knn_best")
    ssim_lo, ssim_hi = _bounds(row, "attack_ssim")
    knn_ci = f" [{knn_lo:.1f}–{knn_hi:.1f}%]" if knn_lo != knn_hi else ""
    ssim_ci = f" [{ssim_lo:.3f}–{ssim_hi:.3f}]" if ssim_lo != ssim_hi else ""
    return (f"kNN {row['knn_best']:.1f}%{knn_ci}, attack SSIM {row['attack_ssim']:.3f}{ssim_ci}, "
            f"{row['mb_per_client']:.2f} MiB per client per run")


def recommend(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()) -> Recommendation:
    """The recommended cell under ``constraints``.

    Rule: among the cells that meet every limit, take their noise-aware Pareto front (attack SSIM ↓, kNN ↑, MiB per
    client ↓) and find the point closest to the ideal (lowest SSIM, highest kNN, fewest MiB, each min–max scaled
    over all finished cells on the values); ties go to the shallower depth, then to the method name. The front
    cells whose kNN and SSIM intervals both overlap that point's are statistically tied with it, and the pick is
    the cheapest of them (fewest MiB per client; then closest to the ideal, shallower, method name). With no
    finished cell, or none that meets the limits, ``cell`` is None and ``reason`` says why.
    """
    usable = [r for r in rows if _objectives(r) is not None]
    if not usable:
        return Recommendation(None, "no cell has finished (kNN, attack SSIM and bandwidth are all needed)", ())
    feasible = [r for r in usable if not constraints.failures(r)]
    if not feasible:
        return Recommendation(None, _why_none(usable, constraints), ())
    front = set(pareto_cells(feasible))
    candidates = [r for r in feasible if r["cell"] in front]
    ideal = {r["cell"]: _ideal_distance(r, usable) for r in candidates}
    closest = min(candidates, key=lambda r: (ideal[r["cell"]], r["depth"], r["method"]))
    tied = sorted((r for r in candidates if within_noise(r, closest)), key=lambda r: (r["depth"], r["method"]))
    best = min(tied, key=lambda r: (r["mb_per_client"], ideal[r["cell"]], r["depth"], r["method"]))
    note = tie_note(tied, closest) if len(tied) > 1 else ""
    limits = constraints.describe()
    n = len(candidates)
    basis = (f"It meets {', '.join(limits)} and, of the {n} Pareto-optimal cell(s) that do, it"
             if limits else f"No limits given; of the {n} Pareto-optimal cell(s) it")
    ideal_text = "the ideal of no leakage, the best kNN and the least traffic"
    core = (f"is closest to {ideal_text} ({_figures(best)})" if best is closest else
            f"cannot be told apart from {_label(closest)}, the cell closest to {ideal_text} "
            f"(the pick: {_figures(best)})")
    reason = f"{basis} {core}" + (f"; {note}" if note else _clear_note(closest, n))
    return Recommendation(best["cell"], reason, tuple(r["cell"] for r in feasible), closest=closest["cell"],
                          tied=tuple(r["cell"] for r in tied) if note else (), tie_note=note)


def annotate(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()
             ) -> tuple[list[dict[str, Any]], list[str], Recommendation]:
    """Rows with ``pareto`` / ``feasible`` / ``recommended`` / ``tied`` (within noise of the pick's reference cell,
    see :attr:`Recommendation.tied`) flags added, the front, and the recommendation."""
    front = pareto_cells(rows)
    rec = recommend(rows, constraints)
    out = [dict(r, pareto=r["cell"] in front, feasible=r["cell"] in rec.feasible, recommended=r["cell"] == rec.cell,
                tied=r["cell"] in rec.tied) for r in rows]
    return out, front, rec
