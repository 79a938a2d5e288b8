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


class PrivacyAxis(NamedTuple):
    """The leakage objective of the front: a row key (with ``_low``/``_high`` intervals), its long and short name."""

    key: str
    label: str
    short: str


PRIVACY_AXES: dict[str, PrivacyAxis] = {
    "ssim": PrivacyAxis("attack_ssim", "attack SSIM", "SSIM"),
    "membership": PrivacyAxis("mia_worst_1fpr", "membership TPR@1% FPR", "membership TPR"),
}
SSIM_AXIS = PRIVACY_AXES["ssim"]


def privacy_axis(name: str) -> PrivacyAxis:
    """``--privacy-axis``: ssim (the worst-case reconstruction) or membership (the strongest membership score's
    TPR at 1 % FPR)."""
    if name not in PRIVACY_AXES:
        raise SflauditError(f"--privacy-axis {name!r} is not one of {', '.join(PRIVACY_AXES)}")
    return PRIVACY_AXES[name]


def _objectives(row: dict[str, Any], key: str = "attack_ssim") -> tuple[float, float, float] | None:
    """(leakage, −kNN, MiB per client): all three minimised; None when the row lacks one of them."""
    leak, knn, mb = row.get(key), row.get("knn_best"), row.get("mb_per_client")
    if row.get("status") != "ok" or leak is None or knn is None or mb is None:
        return None
    return (float(leak), -float(knn), float(mb))


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


def _axes(row: dict[str, Any], key: str = "attack_ssim") -> tuple[Axis, Axis, Axis] | None:
    """(leakage, −kNN, MiB per client) with their intervals, all minimised; None when the row is incomplete."""
    obj = _objectives(row, key)
    if obj is None:
        return None
    ssim_lo, ssim_hi = _bounds(row, key)
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


def pareto_cells(rows: Sequence[dict[str, Any]], key: str = "attack_ssim") -> list[str]:
    """Cells on the privacy–accuracy–bandwidth front (least leakage — attack SSIM by default —, most kNN, fewest
    MiB per client) under noise-aware dominance: a cell leaves the front only when another beats it beyond the
    intervals."""
    scored = [(r["cell"], axes) for r in rows if (axes := _axes(r, key)) is not None]
    return [scored[i][0] for i in front_indices([axes for _, axes in scored])]


def within_noise(a: dict[str, Any], b: dict[str, Any], key: str = "attack_ssim") -> bool:
    """Whether two complete rows cannot be told apart on kNN and leakage (their intervals overlap on both)."""
    ax, bx = _axes(a, key), _axes(b, key)
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

    def failures(self, row: dict[str, Any], key: str = "attack_ssim") -> list[str]:
        """Names of the limits ``row`` breaks (empty when it meets all); incomplete without the `key` leakage."""
        obj = _objectives(row, key)
        if obj is None:
            return ["incomplete"]
        _, neg_knn, mb = obj
        ssim = row.get("attack_ssim")
        out = []
        if self.max_ssim is not None and (ssim is None or ssim > self.max_ssim):
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
