"""Confidence intervals for the report's figures, all computed by scipy.stats (no hand-written interval formulas).

* accuracies (kNN, linear probe): Wilson score interval on the test-set size (``wilson``, ``wilson_percent``);
* per-image attack metrics, membership AUC inputs: bootstrap of the mean, BCa (``bootstrap_mean``,
  ``bootstrap_means`` for many samples in one vectorised call);
* one figure across seeds: Student-t interval of the mean (``t_interval``, ``t_intervals`` batched).

Every function returns :class:`Interval` (a ``(low, high)`` named tuple) or, batched, two arrays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.stats

from sflaudit.errors import SflauditError


class Interval(NamedTuple):
    """A closed interval ``[low, high]``; ``(nan, nan)`` when it cannot be estimated."""

    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        """Whether the two closed intervals share a point (touching ends count as overlapping)."""
        return self.low <= other.high and other.low <= self.high

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def finite_or_none(value: object) -> float | None:
    """``value`` as a float when it is a finite int or float (bools excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise SflauditError(f"confidence {confidence!r} is out of range (0 < confidence < 1)")


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion ``successes / n`` (scipy ``binomtest(...).proportion_ci``).

    Returns fractions in [0, 1]. Raises SflauditError for n < 1 or successes outside 0..n.
    """
    _check_confidence(confidence)
    if n < 1:
        raise SflauditError(f"a Wilson interval needs at least one trial (n = {n})")
    if not 0 <= successes <= n:
        raise SflauditError(f"successes {successes} is out of range for n = {n} (0..{n})")
    ci = scipy.stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def wilson_percent(accuracy: float, n: int, confidence: float = 0.95) -> Interval:
    """Wilson interval, in %, of an accuracy in % measured on ``n`` test items.

    The count of correct items is ``round(accuracy · n / 100)`` (exact for accuracies computed on those n items;
    the nearest count for a rounded accuracy). E.g. 50 % of 100 → (40.38 %, 59.62 %).
    """
    if not (isinstance(accuracy, (int, float)) and 0.0 <= accuracy <= 100.0):
        raise SflauditError(f"accuracy {accuracy!r} is out of range (0..100 %)")
    ci = wilson(round(accuracy * n / 100.0), n, confidence)
    return Interval(ci.low * 100.0, ci.high * 100.0)


def bootstrap_means(samples: np.ndarray | Sequence[Sequence[float]], confidence: float = 0.95, *,
                    resamples: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """BCa bootstrap intervals of the mean of each row, in one vectorised scipy call.

    Args:
        samples: S×n values (S independent samples of n values each, n ≥ 2; no NaN).
        resamples: bootstrap resamples (scipy draws one set of resample indices shared by all rows).
        seed: seeds numpy's generator, so the same input gives the same interval.
    Returns:
        (low, high): two arrays of S bounds. A row whose values are all equal gets (value, value): BCa is undefined
        there and the data show no spread.
    """
    _check_confidence(confidence)
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise SflauditError(f"bootstrap_means needs S×n values with n ≥ 2 (got shape {x.shape})")
    if not np.isfinite(x).all():
        raise SflauditError("bootstrap_means got a NaN or infinite value; drop missing values first")
    if resamples < 2:
        raise SflauditError(f"resamples {resamples} is out of range (≥ 2)")
    flat = x.min(axis=1) == x.max(axis=1)
    low, high = x[:, 0].copy(), x[:, 0].copy()
    if (~flat).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # BCa on tiny n may warn about its acceleration
            res = scipy.stats.bootstrap((x[~flat],), np.mean, n_resamples=resamples, confidence_level=confidence,
                                        method="BCa", vectorized=True, axis=-1, batch=min(resamples, 250),
                                        rng=np.random.default_rng(seed))
        low[~flat], high[~flat] = res.confidence_interval.low, res.confidence_interval.high
    return low, high


def bootstrap_mean(values: Sequence[float] | np.ndarray, confidence: float = 0.95, *, resamples: int = 2000,
                   seed: int = 0) -> Interval:
    """BCa bootstrap interval of the mean of ``values`` (n values, e.g. per-image SSIM over the attack targets).

    n = 1 → (nan, nan), as nothing is known about the spread; all values equal → (value, value). Same ``seed``
    and input → same interval (equal to that row of :func:`bootstrap_means`).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise SflauditError("bootstrap_mean needs at least one value")
    if x.size == 1:
        return Interval(math.nan, math.nan)
    low, high = bootstrap_means(x[None, :], confidence, resamples=resamples, seed=seed)
    return Interval(float(low[0]), float(high[0]))


def t_intervals(samples: np.ndarray | Sequence[Sequence[float]], confidence: float = 0.95
                ) -> tuple[np.ndarray, np.ndarray]:
    """Student-t intervals of the mean of each row (scipy ``t.interval``, vectorised over rows).

    Args:
        samples: S×n values (e.g. S cells × n seeds), n ≥ 1, no NaN.
    Returns:
        (low, high): two arrays of S bounds, from the sample standard error (ddof = 1) on n − 1 degrees of freedom.
        n = 1 → NaN bounds (one seed says nothing about seed variance); a row of equal values → (value, value).
    """
    _check_confidence(confidence)
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise SflauditError(f"t_intervals needs S×n values with n ≥ 1 (got shape {x.shape})")
    if not np.isfinite(x).all():
        raise SflauditError("t_intervals got a NaN or infinite value; drop missing values first")
    mean = x.mean(axis=1)
    if x.shape[1] == 1:
        return np.full_like(mean, math.nan), np.full_like(mean, math.nan)
    sem = scipy.stats.sem(x, axis=1)
    spread = sem > 0
    low, high = mean.copy(), mean.copy()
    if spread.any():
        low[spread], high[spread] = scipy.stats.t.interval(confidence, df=x.shape[1] - 1, loc=mean[spread],
                                                           scale=sem[spread])
    return low, high


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Student-t interval of the mean of ``values`` (e.g. one cell's kNN over its n seeds); see :func:`t_intervals`.

    n = 1 → (nan, nan); all values equal → (value, value).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise SflauditError("t_interval needs at least one value")
    low, high = t_intervals(x[None, :], confidence)
    return Interval(float(low[0]), float(high[0]))
