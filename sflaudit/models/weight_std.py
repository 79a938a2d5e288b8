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
    # forward without ctx + setup_context: the form torch.func (vmap/grad) accepts, which Opacus's per-sample
    # gradients of a DP-SGD client (sflaudit.sfl.dp) go through; the vmap rule is generated from these ops
    generate_vmap_rule = True

    @staticmethod
    def forward(weight: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:   # type: ignore[override]
        w = weight.reshape(weight.shape[0], -1)
        n = w.shape[1]
        centred = w - w.mean(dim=1, keepdim=True)
        sigma = torch.linalg.vector_norm(centred, dim=1, keepdim=True).div_(max(n - 1, 1) ** 0.5)
        inv = (sigma + eps).reciprocal_()
        out = centred.mul_(inv)
        return out.view(weight.shape), inv, sigma

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, float], output: tuple[Tensor, Tensor, Tensor]) -> None:
        out, inv, sigma = output
        ctx.mark_non_differentiable(inv, sigma)
        ctx.save_for_backward(out, inv, sigma)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor, _inv: Tensor, _sigma: Tensor) -> tuple[Tensor, None]:   # type: ignore[override]
        out, inv, sigma = ctx.saved_tensors
        n = inv.shape[0]
        g = grad.reshape(n, -1)
        out = out.reshape(n, -1)
        k = out.shape[1]
        through_sigma = torch.linalg.vecdot(g, out, dim=1).unsqueeze(1)
        through_sigma = torch.where(sigma > 0, through_sigma / (sigma * max(k - 1, 1)), 0.0)
        gw = torch.addcmul(g.mean(dim=1, keepdim=True).mul_(inv).neg_(), g, inv)   # (g − mean(g)) / s
        gw = torch.addcmul(gw, out, through_sigma, value=-1.0)     # out of place: vmap has no in-place rule
        return gw.view(grad.shape), None


def standardize_weight(weight: Tensor, eps: float) -> Tensor:
    """C_out×C_in/groups×kh×kw weight → the same shape, zero mean and std ≈ 1 (unbiased, ``/(σ + eps)``) per
    output filter. Differentiable once (no double backward)."""
    return _WeightStandardize.apply(weight, eps)[0]
