"""Multi-kernel MMD and the GAN losses of the substitute attack: exact tiny cases."""

from __future__ import annotations

import math

import pytest
import torch

from sflaudit.attacks.mmd import (
    ActivationCritic,
    adaptive_bandwidths,
    critic_loss,
    generator_loss,
    mk_mmd2,
    pairwise_sq_dists,
    sample_bandwidths,
)
from sflaudit.errors import SflauditError


def test_pairwise_sq_dists__hand_computed() -> None:
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    y = torch.tensor([[3.0, 4.0]])
    assert pairwise_sq_dists(x, y).flatten().tolist() == [25.0, 8.0]   # 9+16, 4+4


def test_mk_mmd2__zero_for_identical_samples() -> None:
    x = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    assert float(mk_mmd2(x, x.clone(), bandwidths=[0.5, 2.0])) == 0.0
    assert float(mk_mmd2(x, x.clone())) == 0.0   # adaptive bandwidths


def test_mk_mmd2__two_points_exact() -> None:
    # x = {0}, y = {1}: k(x,x) = k(y,y) = 1, k(x,y) = mean_k exp(−1 / (2σ_k²)) → MMD² = 2 − 2·k(x,y)
    x, y = torch.zeros(1, 1), torch.ones(1, 1)
    assert float(mk_mmd2(x, y, bandwidths=[1.0])) == pytest.approx(2 - 2 * math.exp(-0.5), rel=1e-6)
    both = 2 - (math.exp(-0.5) + math.exp(-1 / 8))   # σ = 1 and σ = 2, averaged
    assert float(mk_mmd2(x, y, bandwidths=[1.0, 2.0])) == pytest.approx(both, rel=1e-6)


def test_mk_mmd2__two_point_sample_against_its_shift_exact() -> None:
    # x = {0, 2}, y = x + 1 = {1, 3}, σ = 1: mean k(x,x') = (1 + e^{-2}) / 2 (same for y);
    # cross distances² 1, 9, 1, 1 → mean k(x,y) = (3 e^{-1/2} + e^{-9/2}) / 4
    x = torch.tensor([[0.0], [2.0]])
    expected = (1 + math.exp(-2)) - 2 * (3 * math.exp(-0.5) + math.exp(-4.5)) / 4
    assert float(mk_mmd2(x, x + 1, bandwidths=[1.0])) == pytest.approx(expected, rel=1e-6)


def test_mk_mmd2__grows_with_the_mean_shift() -> None:
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    values = [float(mk_mmd2(x, x + s, bandwidths=[1.0, 4.0])) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert values[0] == 0.0
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_sample_bandwidths__from_the_mean_pairwise_distance() -> None:
    # {0, 2}: the only distinct pair has d² = 4 → σ_k = sqrt(m_k · 4 / 2)
    sig = sample_bandwidths(torch.tensor([[0.0], [2.0]]), multipliers=(0.5, 2.0))
    assert sig.tolist() == pytest.approx([1.0, 2.0])
    pooled = adaptive_bandwidths(torch.tensor([[0.0]]), torch.tensor([[2.0]]), multipliers=(0.5,))
    assert pooled.tolist() == pytest.approx([1.0])


def test_mk_mmd2__rejects_mismatched_dimensions_and_bad_bandwidths() -> None:
    with pytest.raises(SflauditError, match="one dimension"):
        mk_mmd2(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(SflauditError, match="positive"):
        mk_mmd2(torch.zeros(2, 3), torch.ones(2, 3), bandwidths=[0.0])


def test_gan_losses__at_zero_logits() -> None:
    z = torch.zeros(5)
    assert float(critic_loss(z, z)) == pytest.approx(2 * math.log(2))
    assert float(generator_loss(z)) == pytest.approx(math.log(2))
    # a confident, correct critic: real logit +10, fake −10 → loss ≈ 2·softplus(−10)
    assert float(critic_loss(torch.full((3,), 10.0), torch.full((3,), -10.0))) == pytest.approx(
        2 * math.log1p(math.exp(-10)), rel=1e-5)


@pytest.mark.parametrize("side", [1, 2, 4, 16])
def test_activation_critic__one_logit_per_activation(side: int) -> None:
    critic = ActivationCritic(6, width=4)
    assert critic(torch.randn(3, 6, side, side)).shape == (3,)

