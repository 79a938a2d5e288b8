"""Distance correlation matches the ``dcor`` package; NoPeek's penalty is α·dCor of the flattened tensors."""

from __future__ import annotations

import dcor
import numpy as np
import pytest
import torch

from sflaudit.errors import SflauditError
from sflaudit.sfl.dcor import distance_correlation, nopeek_loss, pairwise_distances


def _pair(seed: int, n: int = 24, d: int = 7, e: int = 3, dependent: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (np.tanh(x[:, :e]) ** 2 + 0.3 * rng.normal(size=(n, e))) if dependent else rng.normal(size=(n, e))
    return x, y


@pytest.mark.parametrize(("seed", "dependent"), [(0, True), (1, False), (2, True)])
def test_distance_correlation__matches_the_dcor_package(seed: int, dependent: bool) -> None:
    x, y = _pair(seed, dependent=dependent)
    got = distance_correlation(torch.from_numpy(x), torch.from_numpy(y))
    got_sq = distance_correlation(torch.from_numpy(x), torch.from_numpy(y), squared=True)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(float(got), dcor.distance_correlation(x, y), rtol=1e-5)
    np.testing.assert_allclose(float(got_sq), dcor.distance_correlation_sqr(x, y), rtol=1e-5)


def test_distance_correlation__is_one_for_a_similarity_transform_and_zero_for_a_constant() -> None:
    x = torch.randn(16, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(distance_correlation(x, 3.0 * x + 1.0)) == pytest.approx(1.0, abs=1e-6)
    assert float(distance_correlation(x, torch.ones(16, 2, dtype=torch.float64))) == 0.0


def test_pairwise_distances__tiny_exact_case() -> None:
    d = pairwise_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], dtype=torch.float64))
    assert d.tolist() == [[0.0, 5.0, 1.0], [5.0, 0.0, pytest.approx(18 ** 0.5)], [1.0, pytest.approx(18 ** 0.5), 0.0]]


def test_distance_correlation__gradients_are_finite_even_with_duplicate_rows() -> None:
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = torch.cat([x, x[:2]]).requires_grad_(True)         # two duplicated rows: zero off-diagonal distances
    y = (x.detach() ** 2).sum(1, keepdim=True)
    distance_correlation(x, y).backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_distance_correlation__float32_agrees_with_float64() -> None:
    x, y = _pair(3)
    got = distance_correlation(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(dcor.distance_correlation(x, y), rel=1e-4)


def test_nopeek_loss__is_alpha_times_dcor_of_the_flattened_images_and_activations() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 3, 4, 4, generator=g, dtype=torch.float64)
    h = torch.relu(torch.nn.functional.conv2d(x, torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64)))
    want = 0.25 * dcor.distance_correlation(x.reshape(6, -1).numpy(), h.reshape(6, -1).numpy())
    assert float(nopeek_loss(x, h, 0.25)) == pytest.approx(want, rel=1e-5)


def test_distance_correlation__refuses_mismatched_rows() -> None:
    with pytest.raises(SflauditError, match="same N"):
        distance_correlation(torch.zeros(4, 2), torch.zeros(5, 2))
