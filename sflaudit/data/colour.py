"""Per-sample colour operations of the batched augmentations (:mod:`sflaudit.data.augment`), on images in that
module's B×H×3×W layout with values in [0, 1]: the grey level (PIL's luma weights), an HSV hue rotation and
torchvision's ColorJitter with a per-sample order of its four operations."""

from __future__ import annotations

import torch
from torch import Tensor

LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)


def luma(x: Tensor) -> Tensor:
    """B×H×3×W → B×H×1×W grey level with PIL's weights."""
    return (x[:, :, 0:1] * LUMA[0]).add_(x[:, :, 1:2], alpha=LUMA[1]).add_(x[:, :, 2:3], alpha=LUMA[2])


def hue_shift(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the HSV hue of each sample: x B×H×3×W in [0, 1], shift B in turns → new B×H×3×W.

    Equivalent to RGB→HSV, h ← (h + shift) mod 1, HSV→RGB. With d = max − min (= V·S) and the hue in sextants
    h₆, channel n of the result is min + d·clamp(|k| − 1, 0, 1) with k = n − 2 + h₆ + 6·shift wrapped into
    [−3, 3] and n = 5, 3, 1 for R, G, B. Ties between maximal channels give the same hue either way.
    """
    r, g, b = x[:, :, 0], x[:, :, 1], x[:, :, 2]
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    is_g, is_r = torch.eq(g, maxc, out=torch.empty_like(g)), torch.eq(r, maxc, out=torch.empty_like(r))
    h = torch.lerp(torch.add(r - g, delta, alpha=4.0), torch.add(b - r, delta, alpha=2.0), is_g)
    h = torch.lerp(h, g - b, is_r)  # h₆·d: max R → g − b, max G → 2d + b − r, max B → 4d + r − g
    h.div_(delta.clamp(min=1e-12)).add_((6.0 * shift).view(-1, 1, 1))
    k = h.unsqueeze(2) + _HUE_PHASE.to(x.device)
    k.sub_(torch.round(k * (1.0 / 6.0)).mul_(6.0))
    t = torch.clamp_(k.abs_().sub_(1.0), 0.0, 1.0)
    return t.mul_(delta.unsqueeze(2)).add_(minc.unsqueeze(2))


_HUE_PHASE = torch.tensor([3.0, 1.0, -1.0]).view(1, 1, 3, 1)  # n − 2 for R, G, B


def color_jitter(x: Tensor, factors: Tensor, order: Tensor) -> Tensor:
    """Brightness, contrast, saturation and hue in a per-sample order, as torchvision's ColorJitter.

    Brightness, contrast and saturation are blends x ← clamp(f·x + (1 − f)·ref, 0, 1) with ref = 0, the image's
    mean grey, the pixel's grey; hue is :func:`hue_shift`.
    Args:
        x: B×H×3×W float in [0, 1]; modified in place.
        factors: B×4 — brightness, contrast, saturation factors (1 = unchanged) and the hue shift in turns (0).
        order: B×4 long, a permutation of 0..3 per sample (0 b, 1 c, 2 s, 3 h): the operation run at each stage.
    Returns:
        x (B×H×3×W), each operation followed by a clamp to [0, 1].
    """
    rows = torch.arange(x.shape[0], device=x.device)
    view = (-1, 1, 1, 1)
    for stage in range(4):
        op = order[:, stage]
        f = torch.where(op < 3, factors[rows, op.clamp(max=2)], 1.0)
        if bool((f != 1.0).any()):
            grey = luma(x)
            mean_grey = grey.mean(dim=(1, 2, 3)) * (op == 1).to(x.dtype)
            ref = grey.mul_((op == 2).to(x.dtype).view(view)).add_(mean_grey.view(view))
            x.mul_(f.view(view)).add_(ref.mul_((1.0 - f).view(view))).clamp_(0.0, 1.0)
        picked = ((op == 3) & (factors[:, 3] != 0)).nonzero().squeeze(1)
        if picked.numel():
            x.index_copy_(0, picked, hue_shift(x.index_select(0, picked), factors[picked, 3]))
    return x
