"""Distance correlation and the NoPeek penalty (Vepakomma et al., "NoPeek: Information leakage reduction to share
activations in distributed deep learning", 2020).

Sample distance correlation (Székely, Rizzo & Bakirov 2007), the biased V-statistic form: with pairwise Euclidean
distances a_jk = ‖x_j − x_k‖ and b_jk = ‖y_j − y_k‖, double-centred A = a − row mean − column mean + grand mean
(B likewise),

    dCov²(x, y) = mean(A·B),   dCor²(x, y) = dCov²(x, y) / √(dCov²(x, x)·dCov²(y, y))   (0 if a variance is 0),

and ``distance_correlation`` returns the **non-squared** dCor = √dCor² ∈ [0, 1] — the quantity NoPeek minimises and
what the ``dcor`` package's ``dcor.distance_correlation`` computes (``squared=True`` gives
``dcor.distance_correlation_sqr``). Both are differentiable everywhere: the square roots at zero (the diagonal of
the distance matrices, an exactly uncorrelated pair) have zero gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sflaudit.errors import SflauditError


def _safe_sqrt(x: Tensor) -> Tensor:
    """√x for x ≥ 0 with a finite (zero) gradient where x = 0."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances N×N between the rows of x N×D (exact zeros on the diagonal)."""
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0)
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return _safe_sqrt(d2.masked_fill(eye, 0.0))


def double_centre(d: Tensor) -> Tensor:
    """A = d − row means − column means + grand mean, for a distance matrix d N×N."""
    return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()


def distance_correlation(x: Tensor, y: Tensor, *, squared: bool = False) -> Tensor:
    """Sample distance correlation of x N×D and y N×E (rows are paired observations); a differentiable scalar.

    Non-squared dCor by default (``dcor.distance_correlation``); ``squared`` returns dCor²
    (``dcor.distance_correlation_sqr``). Computed in x's floating dtype (float32 at least).
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise SflauditError(f"distance_correlation needs x N×D and y N×E with the same N, got "
                            f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 2:
        raise SflauditError(f"distance_correlation needs at least 2 rows, got {x.shape[0]}")
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    a = double_centre(pairwise_distances(x.to(dtype)))
    b = double_centre(pairwise_distances(y.to(dtype)))
    dcov2_xy = (a * b).mean()
    denom = _safe_sqrt((a * a).mean() * (b * b).mean())
    dcor2 = torch.where(denom > 0, dcov2_xy / torch.where(denom > 0, denom, torch.ones_like(denom)),
                        torch.zeros_like(denom))
    dcor2 = dcor2.clamp_min(0)
    return dcor2 if squared else _safe_sqrt(dcor2)


def nopeek_loss(x_images: Tensor, h: Tensor, alpha: float) -> Tensor:
    """NoPeek's client penalty α·dCor(x, h) between the client's input images x N×3×H×W and its activations
    h N×C×h×w (both flattened per sample); a scalar to add to the client's loss."""
    return alpha * distance_correlation(x_images.flatten(1), h.flatten(1))
