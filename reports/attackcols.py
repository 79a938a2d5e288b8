"""Attack results → report columns: every attack's metrics, the per-cell worst case, and leakage above the prior.

A cell runs several attacks (``--attacks``). Each metric's **worst case** is the attack that leaked most on it —
highest SSIM, PSNR and reference SSIM, lowest MSE and LPIPS — and names that attack; the worst-case SSIM is the
privacy axis of the Pareto front and of the answer. The ``prior`` attack never looks at the activation (the
attacker's best guess without it), so ``attack_ssim_above_prior`` = worst-case SSIM − prior SSIM is the leakage the
activation adds. Intervals are 95 % bootstraps over the target images (the per-image metrics of each record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sflaudit.reports.intervals import finite_or_none
from sflaudit.artifacts import AttackRecord
from sflaudit.auditors import ATTACKS, get_attack

METRICS: tuple[str, ...] = ("ssim", "ssim_ref", "psnr", "mse", "lpips")
HIGHER_LEAKS: dict[str, bool] = {"ssim": True, "ssim_ref": True, "psnr": True, "mse": False, "lpips": False}
IntervalFn = Callable[[list[float]], tuple[float | None, float | None]]


def is_floor(kind: str) -> bool:
    """Whether ``kind`` is a registered knows-nothing baseline (its plug-in's ``floor``; the built-in prior)."""
    return kind in ATTACKS and get_attack(kind).floor


def attack_columns(records: Mapping[str, AttackRecord | None], interval: IntervalFn | None = None) -> dict[str, Any]:
    """Columns for one cell from its attack records (kind → record or None when not run yet).

    Per attack ``attack_<kind>_<metric>`` (mean over the targets) and ``attack_<kind>_ssim_low/_high``; the worst
    case ``attack_<metric>`` with ``attack_<metric>_by`` (the attack's kind) and, for SSIM, its interval; the prior's
    SSIM (the floor plug-in's: :func:`is_floor`) and ``attack_ssim_above_prior``; the kinds run and their wall times. ``attack_<kind>_negatives`` is the
    record's ``ssim_of_negatives`` (the evaluator's SSIM of the reconstructions reflected through the normalisation
    mean) where it beats the SSIM — reconstructions that came out as negatives, whose SSIM under-reports what a
    person looking at them learns — else None; it never enters the worst case.
    """
    out: dict[str, Any] = {}
    means: dict[str, dict[str, float | None]] = {}
    for kind, rec in records.items():
        mean = {m: finite_or_none(rec.mean.get(m)) for m in METRICS} if rec is not None else dict.fromkeys(METRICS)
        means[kind] = mean
        for m in METRICS:
            out[f"attack_{kind}_{m}"] = mean[m]
        low, high = _interval(rec, "ssim", interval)
        out[f"attack_{kind}_ssim_low"], out[f"attack_{kind}_ssim_high"] = low, high
        out[f"attack_{kind}_wall_s"] = finite_or_none(rec.wall_s) if rec is not None else None
        negatives = finite_or_none(rec.training.get("ssim_of_negatives")) if rec is not None else None
        out[f"attack_{kind}_negatives"] = (negatives if negatives is not None and mean["ssim"] is not None
                                           and negatives > mean["ssim"] else None)
    for m in METRICS:
        kind, value = worst_case(means, m)
        out[f"attack_{m}"], out[f"attack_{m}_by"] = value, kind
    by = out["attack_ssim_by"]
    out["attack_ssim_low"], out["attack_ssim_high"] = (
        (out[f"attack_{by}_ssim_low"], out[f"attack_{by}_ssim_high"]) if by is not None else (None, None))
    floors = [k for k in means if is_floor(k)]
    prior = means[floors[0]].get("ssim") if floors else None
    out["prior_ssim"] = prior
    worst_non_prior = worst_case({k: v for k, v in means.items() if k not in floors}, "ssim")[1]
    out["attack_ssim_above_prior"] = (worst_non_prior - prior if worst_non_prior is not None and prior is not None
                                      else None)
    out["attacks_run"] = ",".join(k for k, r in records.items() if r is not None)
    return out


def worst_case(means: Mapping[str, Mapping[str, float | None]], metric: str) -> tuple[str | None, float | None]:
    """(kind, value) of the attack that leaked most on ``metric`` (highest SSIM/PSNR, lowest MSE/LPIPS); ties go to
    the attack listed first; (None, None) when no attack has the metric."""
    best: tuple[str | None, float | None] = (None, None)
    sign = 1.0 if HIGHER_LEAKS[metric] else -1.0
    for kind, mean in means.items():
        value = mean.get(metric)
        if value is None:
            continue
        if best[1] is None or sign * value > sign * best[1]:
            best = (kind, value)
    return best


def _interval(rec: AttackRecord | None, metric: str, interval: IntervalFn | None) -> tuple[float | None, float | None]:
    if rec is None or interval is None:
        return None, None
    values = rec.metrics.get(metric)
    if not isinstance(values, list) or len(values) < 2:
        return None, None
    return interval([float(v) for v in values])
