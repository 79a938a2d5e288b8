"""Offline LiRA and RMIA: exact small cases, what the attacker holds, and calibration against reference models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sflaudit.attacks.calibrated import AttackerView, lira_offline, probability, rmia_offline
from sflaudit.attacks.membership import score_summary


def test_lira_is_the_z_score_of_the_logit_against_the_pooled_out_distribution() -> None:
    target = np.array([0.5, 0.0])                          # view similarity → p = 0.75, 0.5 → logit ln 3, 0
    refs = np.array([[0.0, 0.0], [0.0, 0.0]]) + np.array([[0.2], [-0.2]])
    view = AttackerView(target, refs, np.zeros(0), np.zeros((2, 0)), "view_similarity")
    phi = np.log(probability("view_similarity", refs)) - np.log1p(-probability("view_similarity", refs))
    sigma = np.sqrt(((phi - phi.mean(0)) ** 2).sum() / (4 - 2))
    assert np.allclose(lira_offline(view), (np.array([np.log(3.0), 0.0]) - phi.mean(0)) / sigma)


def test_rmia_counts_the_population_dominated() -> None:
    """Equal references everywhere: LR is the target's probability over a constant, so the score is the share of
    population images with a lower target probability."""
    ref = np.full((3, 4), -1.0)
    view = AttackerView(np.log(np.array([0.9, 0.5, 0.3, 0.1])), ref[:, :4], np.log(np.array([0.2, 0.4, 0.6, 0.8])),
                        ref, "contrastive")
    assert rmia_offline(view).tolist() == [1.0, 0.5, 0.25, 0.0]


def test_the_attacker_view_has_no_labels_and_scores_do_not_depend_on_them() -> None:
    """The view's fields are scores only; shuffling which candidates are called members changes nothing the
    attack computes for a candidate."""
    assert {f.name for f in dataclasses.fields(AttackerView)} == {
        "target", "reference", "population_target", "population_reference", "signal"}
    rng = np.random.default_rng(0)
    view = AttackerView(rng.normal(size=20) * 0.1, rng.normal(size=(4, 20)) * 0.1, rng.normal(size=15) * 0.1,
                        rng.normal(size=(4, 15)) * 0.1, "view_similarity")
    perm = rng.permutation(20)
    shuffled = dataclasses.replace(view, target=view.target[perm], reference=view.reference[:, perm])
    for attack in (lira_offline, rmia_offline):
        assert np.allclose(attack(shuffled), attack(view)[perm])


def test_calibration_removes_per_image_difficulty() -> None:
    """Each image has its own baseline (some are 'easy', high under every model); members gain a small shift.
    The raw signal is dominated by the baseline; LiRA and RMIA subtract it and find the members at low FPR."""
    rng = np.random.default_rng(1)
    n, k = 400, 4
    base = rng.normal(0.0, 1.0, size=2 * n)                         # per-image difficulty (logit scale)
    member = np.r_[np.ones(n), np.zeros(n)].astype(bool)
    to_cos = lambda logit: 2 / (1 + np.exp(-logit)) - 1             # noqa: E731 (logit of (1+cos)/2 → cos)
    target = to_cos(base + 0.8 * member + rng.normal(0, 0.1, 2 * n))
    refs = to_cos(base[None] + rng.normal(0, 0.1, (k, 2 * n)))
    pop_base = rng.normal(0.0, 1.0, size=n)
    view = AttackerView(target, refs, to_cos(pop_base + rng.normal(0, 0.1, n)),
                        to_cos(pop_base[None] + rng.normal(0, 0.1, (k, n))), "view_similarity")
    raw = score_summary(target[member], target[~member], resamples=200, seed=0)
    for attack in (lira_offline, rmia_offline):
        s = attack(view)
        cal = score_summary(s[member], s[~member], resamples=200, seed=0)
        assert cal["tpr_at_1fpr"] > 0.5 > raw["tpr_at_1fpr"] + 0.3, (attack.__name__, cal, raw)


@pytest.mark.parametrize("signal", ["view_similarity", "contrastive"])
def test_probability_is_inside_the_unit_interval(signal: str) -> None:
    p = probability(signal, np.array([-1.0, 0.0, 1.0] if signal == "view_similarity" else [-50.0, -1.0, 0.0]))
    assert ((p > 0) & (p < 1)).all()
