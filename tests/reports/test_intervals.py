"""Intervals: exact small cases, and coverage over 1,000 simulated draws (93–97 % for a 95 % interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sflaudit.reports.intervals import (Interval, bootstrap_mean, bootstrap_means, t_interval, t_intervals, wilson,
                                        wilson_percent)
from sflaudit.errors import SflauditError

DRAWS = 1000


# ------------------------------------------------------------------------------------------------------ Wilson


def test_wilson__half_of_100_is_the_textbook_interval() -> None:
    # Wilson, z = 1.959964: centre 0.5, half-width z·√(0.25/100 + z²/40000) / (1 + z²/100) = 0.096168
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.403832, abs=1e-6) and high == pytest.approx(0.596168, abs=1e-6)


def test_wilson__no_success_still_has_a_positive_upper_bound() -> None:
    # k = 0: upper = z² / (n + z²) = 3.841459 / 13.841459 with n = 10
    assert wilson(0, 10) == pytest.approx((0.0, 3.841459 / 13.841459), abs=1e-6)


def test_wilson_percent__is_wilson_on_the_count_in_percent() -> None:
    assert wilson_percent(47.13, 10_000) == pytest.approx(tuple(100 * v for v in wilson(4713, 10_000)))
    assert wilson_percent(50.0, 100) == pytest.approx((40.3832, 59.6168), abs=1e-4)


@pytest.mark.parametrize("args", [(5, 4), (-1, 4), (0, 0)])
def test_wilson__bad_counts_are_errors(args: tuple[int, int]) -> None:
    with pytest.raises(SflauditError):
        wilson(*args)


def test_wilson_percent__accuracy_outside_0_100_is_an_error() -> None:
    with pytest.raises(SflauditError, match="out of range"):
        wilson_percent(101.0, 100)


def test_wilson__covers_the_true_rate_about_95_percent_of_the_time() -> None:
    n, p = 500, 0.47
    counts = np.random.default_rng(0).binomial(n, p, DRAWS)
    covers = {int(k): wilson(int(k), n).contains(p) for k in np.unique(counts)}   # the interval depends on k only
    coverage = np.mean([covers[int(k)] for k in counts])
    assert 0.93 <= coverage <= 0.97


# --------------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_mean__brackets_the_sample_mean_and_is_reproducible() -> None:
    values = np.random.default_rng(1).beta(2, 5, 64)
    ci = bootstrap_mean(values, resamples=500, seed=3)
    assert ci.low < values.mean() < ci.high
    assert bootstrap_mean(values, resamples=500, seed=3) == ci


def test_bootstrap_mean__equals_its_row_of_the_batched_call() -> None:
    samples = np.random.default_rng(2).beta(2, 5, (4, 30))
    low, high = bootstrap_means(samples, resamples=300, seed=5)
    assert bootstrap_mean(samples[2], resamples=300, seed=5) == pytest.approx((low[2], high[2]), abs=1e-12)


def test_bootstrap_mean__one_value_is_not_estimable_and_equal_values_have_no_spread() -> None:
    assert all(math.isnan(v) for v in bootstrap_mean([0.4]))
    assert bootstrap_mean([0.25, 0.25, 0.25]) == (0.25, 0.25)


def test_bootstrap_means__nan_is_an_error() -> None:
    with pytest.raises(SflauditError, match="NaN"):
        bootstrap_means([[0.1, math.nan]])


def test_bootstrap_mean__covers_the_true_mean_about_95_percent_of_the_time() -> None:
    # per-image-metric-like data: Beta(2, 5) on [0, 1], true mean 2/7; 1,000 samples of 100 in one vectorised call
    samples = np.random.default_rng(0).beta(2, 5, (DRAWS, 100))
    low, high = bootstrap_means(samples, resamples=1000, seed=0)
    coverage = np.mean((low <= 2 / 7) & (2 / 7 <= high))
    assert 0.93 <= coverage <= 0.97


# ---------------------------------------------------------------------------------------------------- t interval


def test_t_interval__three_values_by_hand() -> None:
    # mean 2, s = 1, sem = 1/√3, t(0.975, df 2) = 4.302653 → 2 ± 2.484138
    assert t_interval([1.0, 2.0, 3.0]) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)


def test_t_interval__one_seed_is_not_estimable_and_equal_seeds_have_no_spread() -> None:
    assert all(math.isnan(v) for v in t_interval([47.0]))
    assert t_interval([47.0, 47.0]) == (47.0, 47.0)


def test_t_interval__equals_its_row_of_the_batched_call() -> None:
    samples = np.random.default_rng(3).normal(size=(3, 4))
    low, high = t_intervals(samples)
    assert t_interval(samples[1]) == pytest.approx((low[1], high[1]), abs=1e-12)


def test_t_interval__covers_the_true_mean_about_95_percent_of_the_time() -> None:
    samples = np.random.default_rng(0).normal(3.0, 2.0, (DRAWS, 5))   # e.g. 5 seeds per cell
    low, high = t_intervals(samples)
    coverage = np.mean((low <= 3.0) & (3.0 <= high))
    assert 0.93 <= coverage <= 0.97


# ------------------------------------------------------------------------------------------------------ Interval


def test_interval__touching_ends_overlap_separated_ones_do_not() -> None:
    assert Interval(0.0, 1.0).overlaps(Interval(1.0, 2.0))
    assert not Interval(0.0, 1.0).overlaps(Interval(1.5, 2.0))
    assert Interval(1.0, 1.0).contains(1.0) and not Interval(1.0, 1.0).contains(1.1)
