"""standardize_weight: values and closed-form gradient against autograd through mean/std."""

from __future__ import annotations

import torch

from sflaudit.models.weight_std import standardize_weight


def _reference(w: torch.Tensor, eps: float) -> torch.Tensor:
    mean = w.mean(dim=(1, 2, 3), keepdim=True)
    return (w - mean) / (w.std(dim=(1, 2, 3), keepdim=True) + eps)


def test_standardize_weight__hand_case() -> None:
    w = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)   # mean 2, unbiased std √2
    out = standardize_weight(w, 0.0)
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 1.0]) / 2 ** 0.5)


def test_standardize_weight__values_and_gradient_match_autograd_reference() -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(6, 3, 3, 3, dtype=torch.float64)
    ours = standardize_weight(w, 1e-5)
    (got,) = torch.autograd.grad(ours, w, g)
    ref = _reference(w, 1e-5)
    (want,) = torch.autograd.grad(ref, w, g)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.allclose(got, want, atol=1e-10)


def test_standardize_weight__passes_gradcheck_for_depthwise_shape() -> None:
    w = torch.randn(4, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: standardize_weight(t, 1e-5), (w,))


def test_standardize_weight__constant_filter_gives_zero_output_and_finite_gradient() -> None:
    w = torch.full((2, 2, 1, 1), 0.5, requires_grad=True)
    out = standardize_weight(w, 1e-5)
    out.sum().backward()
    assert torch.equal(out.detach(), torch.zeros(2, 2, 1, 1))
    assert w.grad is not None and torch.isfinite(w.grad).all()
