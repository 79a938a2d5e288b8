"""Calibrated membership attacks on per-image signals: offline LiRA and offline RMIA against reference models.

The attacker holds (:class:`AttackerView`, and nothing else): the target model's signal on every candidate image
and on population images, and the same signals under K reference models it trained itself on other images (none of
the candidates: the *offline* setting). It never holds which candidates are members — the view has no such field, and
the scores it returns do not change when the labels do (tested).

* **LiRA, offline** (Carlini et al., S&P 2022): the signal is mapped to a logit, φ = log p − log(1 − p); the
  out-models' φ of a candidate is fitted by a Gaussian (its mean, and with fewer than 64 reference models the
  variance pooled over all candidates — the paper's fixed-variance variant); score = (φ_target − μ_out) / σ.
* **RMIA, offline** (Zarifzadeh et al., ICML 2024): Pr(x|θ) = p; Pr(x) = ½[(1 + a)·mean_k Pr(x|θ_k) + (1 − a)],
  the offline approximation of the in- and out-models' average (a = 0.3); LR(x) = Pr(x|θ) / Pr(x); score(x) = the
  share of population images z with LR(x) / LR(z) > γ (γ = 1).

Signals as probabilities: view similarity (mean pairwise cosine) → p = (1 + cos) / 2; contrastive (minus the
InfoNCE loss, a log-probability) → p = exp(score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RMIA_A = 0.3
RMIA_GAMMA = 1.0
FIXED_VARIANCE_BELOW = 64
_EPS = 1e-6


@dataclass(frozen=True)
class AttackerView:
    """What a calibrated attacker holds for one signal.

    Attributes:
        target: N, the target model's signal on each candidate (members and non-members, in an order that says
            nothing about which is which).
        reference: K×N, each reference model's signal on the same candidates.
        population_target: M, the target's signal on population images (not candidates).
        population_reference: K×M.
        signal: ``view_similarity`` or ``contrastive`` (how the signal becomes a probability).
    """

    target: np.ndarray
    reference: np.ndarray
    population_target: np.ndarray
    population_reference: np.ndarray
    signal: str


def probability(signal: str, values: np.ndarray) -> np.ndarray:
    """The signal as a probability in (0, 1): (1 + cos) / 2 for view similarity, exp(score) for contrastive."""
    p = (1.0 + values) / 2.0 if signal == "view_similarity" else np.exp(values)
    return np.clip(p, _EPS, 1.0 - _EPS)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def lira_offline(view: AttackerView) -> np.ndarray:
    """N LiRA scores (higher = member) from the out-models' Gaussian of each candidate's logit signal."""
    target = _logit(probability(view.signal, view.target))
    refs = _logit(probability(view.signal, view.reference))
    mu = refs.mean(axis=0)
    k = refs.shape[0]
    if k >= FIXED_VARIANCE_BELOW:
        sigma = refs.std(axis=0, ddof=1)
    else:
        pooled = (refs - mu).ravel()
        sigma = np.full_like(mu, np.sqrt((pooled ** 2).sum() / max(1, pooled.size - mu.size)))
    return (target - mu) / np.maximum(sigma, _EPS)


def _likelihood_ratio(target: np.ndarray, reference: np.ndarray, signal: str, a: float) -> np.ndarray:
    p_target = probability(signal, target)
    p_refs = probability(signal, reference).mean(axis=0)
    marginal = 0.5 * ((1.0 + a) * p_refs + (1.0 - a))
    return p_target / marginal


def rmia_offline(view: AttackerView, *, a: float = RMIA_A, gamma: float = RMIA_GAMMA) -> np.ndarray:
    """N RMIA scores in [0, 1] (higher = member): each candidate's likelihood ratio against the population's."""
    lr_x = _likelihood_ratio(view.target, view.reference, view.signal, a)
    lr_z = _likelihood_ratio(view.population_target, view.population_reference, view.signal, a)
    if lr_z.size == 0:
        return lr_x
    return (lr_x[:, None] / lr_z[None, :] > gamma).mean(axis=1)


CALIBRATED = {"lira": lira_offline, "rmia": rmia_offline}
