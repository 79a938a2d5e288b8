"""Batched MoCo augmentations with independent random parameters for every sample (protocol §3.2).

torchvision's v2 transforms draw one parameter set per call, so on a batch every image would get the same crop;
MoCo needs one draw per image. Here a whole batch is processed at once (float32, no per-sample Python loop, any
device); all randomness is one ``torch.rand`` call on the caller's generator. Inside, images are kept as
B×H×3×W so that both products of a separable resampling are plain ``bmm`` calls without copies.

``mocov2`` = reference order RRC → jitter (p 0.8) → grayscale (p 0.2) → blur (p 0.5) → flip (p 0.5) → normalise;
``mocov1`` = RRC → flip → jitter (p 0.8, hue 0.4) → grayscale (p 0.2). Implementation:

1. RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3)): torchvision's box sampling (10 attempts, then the
   centre-crop fallback); the integer box is resized with PIL's bilinear (triangle) filter restricted to the crop,
   i.e. PIL ``crop`` + ``resize`` (antialiased when downscaling). The flip is folded into the same resampling
   matrix — it commutes with every later step (per-pixel colour maps, symmetric blur).
2. ColorJitter(b, c, s, h): as torchvision, the four operations run in a random order drawn per sample, factors
   U[1-0.4, 1+0.4], hue shift U[-h, h] turns (a real HSV hue rotation), a clamp to [0, 1] after each; luma
   weights are PIL's (0.299, 0.587, 0.114).
3. GaussianBlur, σ ~ U[0.1, 2.0] px (mocov2). The reference uses PIL ``GaussianBlur(radius=σ)``: a full-width
   Gaussian with edge-replicating borders, so the kernel here spans the whole image (no kernel-size choice; a
   3-tap kernel would turn σ = 2 into almost a box filter). It runs before the grayscale step: both are linear,
   one on space and one on channels, so they commute exactly, and this order keeps grey channels bit-identical.
4. RandomGrayscale: all three channels set to the luma.  5. Normalize(mean, std).

Crop-resize and blur are separable linear maps, each applied as two batched matrix products (``rows @ x @ colsᵀ``
with per-sample B×S×H matrices); on CPU this beats ``grid_sample`` (and, for the blur, a grouped depthwise
convolution), and the uint8 → [0, 1] scaling rides along for free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sflaudit.data.colour import color_jitter, luma
from sflaudit.errors import SflauditError

KINDS: tuple[str, ...] = ("mocov1", "mocov2", "none")
CROP_SCALE: tuple[float, float] = (0.08, 1.0)
CROP_RATIO: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
_ATTEMPTS = 10  # torchvision RandomResizedCrop tries 10 boxes before falling back to a centre crop


@dataclass(frozen=True)
class AugmentSpec:
    """What one view looks like: the recipe ``kind``, output side ``size`` and normalisation ``mean``/``std``."""

    kind: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SflauditError(f"augmentation {self.kind!r} is unknown (valid: {', '.join(KINDS)})")
        if self.size < 1:
            raise SflauditError(f"augmentation size {self.size} is out of range (>= 1)")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise SflauditError(f"normalisation mean {self.mean} / std {self.std} must be 3 values, std > 0")


@dataclass(frozen=True)
class _Recipe:
    jitter: tuple[float, float, float, float]  # brightness, contrast, saturation, hue strengths
    jitter_p: float
    gray_p: float
    blur_p: float
    blur_sigma: tuple[float, float]


_RECIPES: dict[str, _Recipe] = {
    "mocov1": _Recipe((0.4, 0.4, 0.4, 0.4), jitter_p=0.8, gray_p=0.2, blur_p=0.0, blur_sigma=(0.1, 2.0)),
    "mocov2": _Recipe((0.4, 0.4, 0.4, 0.1), jitter_p=0.8, gray_p=0.2, blur_p=0.5, blur_sigma=(0.1, 2.0)),
}

# Column layout of the one uniform draw per sample: 10 areas, 10 log-ratios, then these.
_U_TOP, _U_LEFT, _U_FLIP = 2 * _ATTEMPTS, 2 * _ATTEMPTS + 1, 2 * _ATTEMPTS + 2
_U_JIT_P, _U_JIT, _U_ORDER = 2 * _ATTEMPTS + 3, 2 * _ATTEMPTS + 4, 2 * _ATTEMPTS + 8
_U_GRAY, _U_BLUR_P, _U_SIGMA = 2 * _ATTEMPTS + 12, 2 * _ATTEMPTS + 13, 2 * _ATTEMPTS + 14
_U_COLUMNS = 2 * _ATTEMPTS + 15


def crop_boxes(uniforms: Tensor, height: int, width: int) -> Tensor:
    """RandomResizedCrop boxes, torchvision's algorithm, vectorised over the batch.

    Args:
        uniforms: B×(2·10+2) values in [0, 1): 10 area draws, 10 log-ratio draws, then top and left.
        height, width: input image size.
    Returns:
        B×4 float tensor (top, left, h, w) of integer-valued boxes inside the image.
    """
    lo, hi = CROP_SCALE
    area = height * width * (lo + uniforms[:, :_ATTEMPTS] * (hi - lo))
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    aspect = torch.exp(log_lo + uniforms[:, _ATTEMPTS : 2 * _ATTEMPTS] * (log_hi - log_lo))
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    ok = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)  # first valid attempt (ties → first index)
    found = ok.any(dim=1)
    # Fallback: centre crop of the whole image, aspect ratio clamped into CROP_RATIO.
    in_ratio = width / height
    if in_ratio < CROP_RATIO[0]:
        fw, fh = width, round(width / CROP_RATIO[0])
    elif in_ratio > CROP_RATIO[1]:
        fw, fh = round(height * CROP_RATIO[1]), height
    else:
        fw, fh = width, height
    w = torch.where(found, w.gather(1, first).squeeze(1), float(fw))
    h = torch.where(found, h.gather(1, first).squeeze(1), float(fh))
    top = torch.floor(uniforms[:, 2 * _ATTEMPTS] * (height - h + 1))
    left = torch.floor(uniforms[:, 2 * _ATTEMPTS + 1] * (width - w + 1))
    top = torch.where(found, top, torch.div(height - h, 2, rounding_mode="floor"))
    left = torch.where(found, left, torch.div(width - w, 2, rounding_mode="floor"))
    return torch.stack([top, left, h, w], dim=1)


def resample_matrix(start: Tensor, length: Tensor, in_size: int, out_size: int, flip: Tensor | None = None) -> Tensor:
    """Per-sample 1-D resize of the window [start, start+length) to ``out_size`` samples (PIL bilinear).

    PIL's bilinear filter is a triangle of half-width max(length/out_size, 1) centred on each output pixel, with
    the weights renormalised over the pixels inside the crop. ``flip`` reverses the output order.
    Args:
        start, length: B (pixels, integer-valued floats). flip: B bool or None.
    Returns:
        B×out_size×in_size row-stochastic float32 matrix.
    """
    u = torch.arange(out_size, dtype=torch.float32, device=start.device)
    pos = u.expand(start.shape[0], out_size) if flip is None else torch.where(flip[:, None], out_size - 1 - u, u)
    step = (length / out_size)[:, None]
    centre = start[:, None] + (pos + 0.5) * step  # B×out, in pixel-edge coordinates
    p = torch.arange(in_size, dtype=torch.float32, device=start.device) + 0.5
    weight = (p - centre[:, :, None]).abs_()
    if bool((step > 1).any()):  # downscaling: PIL widens the triangle (antialiasing)
        weight.div_(step.clamp(min=1.0)[:, :, None])
    weight = torch.relu_(weight.neg_().add_(1.0))
    inside = (p >= start[:, None]) & (p < (start + length)[:, None])  # B×in
    weight.mul_(inside.to(weight.dtype)[:, None, :])
    return weight.div_(weight.sum(dim=2, keepdim=True))


def blur_matrix(sigma: Tensor, size: int) -> Tensor:
    """Per-sample 1-D Gaussian blur with edge replication (PIL ``GaussianBlur(radius=σ)`` semantics).

    Args:
        sigma: B standard deviations in pixels (> 0).
    Returns:
        B×size×size row-stochastic matrix G with (G v)[u] = Σ_k g_σ(k) v[clamp(u + k, 0, size - 1)], the kernel
        g_σ spanning every offset |k| < size.
    """
    idx = torch.arange(size, device=sigma.device)
    k = torch.arange(-(size - 1), size, dtype=torch.float32, device=sigma.device)  # every offset |k| < size
    g = torch.exp((k**2 * (-0.5 / sigma**2)[:, None]).clamp_(min=-80.0))  # B×(2·size-1)
    g = torch.nn.functional.threshold_(g, 1e-20, 0.0)  # no subnormal weights: they make the CPU matmul crawl
    g.div_(g.sum(dim=1, keepdim=True))
    out = g[:, (idx[None, :] - idx[:, None]) + (size - 1)]  # out[:, u, p] = g(p - u)
    head = torch.cumsum(g, dim=1)  # head[:, i] = Σ_{k <= i-(size-1)} g
    tail = torch.cumsum(g.flip(1), dim=1).flip(1)  # tail[:, i] = Σ_{k >= i-(size-1)} g
    out[:, :, 0] = head[:, size - 1 - idx]  # column 0 also takes every offset that falls off the left edge
    out[:, :, size - 1] = tail[:, 2 * size - 2 - idx]
    return out


def separable(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """rows @ image @ colsᵀ for every sample and channel, as two plain batched matrix products.

    Args:
        x: B×H×C×W (channels in dim 2, the layout used inside this module: no copies between the products).
        rows: B×S×H. cols: B×T×W.
    Returns:
        B×S×C×T float32.
    """
    b, h, c, w = x.shape
    z = torch.bmm(rows, x.reshape(b, h, c * w))  # B×S×(C·W)
    out = torch.bmm(z.view(b, -1, w), cols.transpose(1, 2))  # B×(S·C)×T
    return out.view(b, rows.shape[1], c, cols.shape[1])


def _as_batch(x: Tensor) -> Tensor:
    if x.dim() != 4 or x.shape[1] != 3:
        raise SflauditError(f"expected a B×3×H×W image batch, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise SflauditError(f"expected uint8 or float images, got {x.dtype}")
    return x


def _views(x: Tensor, spec: AugmentSpec, generator: torch.Generator) -> Tensor:
    """One random view per image in this module's B×size×3×size layout, values in [0, 1]."""
    recipe = _RECIPES[spec.kind]
    batch, _, height, width = x.shape
    dev = x.device
    u = torch.rand(batch, _U_COLUMNS, generator=generator, device=generator.device).to(dev)
    # 1. RandomResizedCrop + horizontal flip: one separable resampling; the uint8 scaling rides on the columns.
    top, left, h, w = crop_boxes(u[:, : _U_LEFT + 1], height, width).unbind(1)
    rows = resample_matrix(top, h, height, spec.size)
    cols = resample_matrix(left, w, width, spec.size, flip=u[:, _U_FLIP] < 0.5)
    if x.dtype == torch.uint8:
        cols.mul_(1.0 / 255.0)
    hcw = x.transpose(1, 2).to(torch.float32, memory_format=torch.contiguous_format)  # B×H×3×W
    out = separable(hcw, rows, cols)
    # 2. Colour jitter with probability jitter_p: skipped samples get identity factors (1, 1, 1, hue 0).
    identity = torch.tensor([1.0, 1.0, 1.0, 0.0], device=dev)
    factors = (u[:, _U_JIT : _U_JIT + 4] * 2.0 - 1.0) * torch.tensor(recipe.jitter, device=dev) + identity
    factors = torch.where((u[:, _U_JIT_P] < recipe.jitter_p)[:, None], factors, identity)
    out = color_jitter(out, factors, u[:, _U_ORDER : _U_ORDER + 4].argsort(dim=1))
    # 3. Gaussian blur on the samples drawn for it (before grayscale: they commute, and grey stays bit-exact).
    blurred = (u[:, _U_BLUR_P] < recipe.blur_p).nonzero().squeeze(1)
    if blurred.numel():
        lo, hi = recipe.blur_sigma
        g = blur_matrix(lo + u[blurred, _U_SIGMA] * (hi - lo), spec.size)
        out.index_copy_(0, blurred, separable(out.index_select(0, blurred), g, g))
    # 4. Random grayscale.
    grey = (u[:, _U_GRAY] < recipe.gray_p).nonzero().squeeze(1)
    if grey.numel():
        out.index_copy_(0, grey, luma(out.index_select(0, grey)).expand(-1, -1, 3, -1))
    return out.clamp_(0.0, 1.0)


def augment_unnormalised(x: Tensor, spec: AugmentSpec, generator: torch.Generator) -> Tensor:
    """One random view of every image, before normalisation.

    Args:
        x: B×3×H×W uint8, or float in [0, 1].
        spec: recipe and output size (mean/std unused here).
        generator: all random parameters (B×35 uniforms) come from one draw on it (on its own device).
    Returns:
        B×3×size×size float32 in [0, 1]. For ``none`` only the uint8→[0, 1] conversion (no resize).
    """
    x = _as_batch(x)
    if spec.kind == "none":
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float().clone()
    return _views(x, spec, generator).permute(0, 2, 1, 3).contiguous()


def normalize(x: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> Tensor:
    """(x - mean) / std per channel — the one image normalisation (training views, attacks' inputs).

    Args:
        x: B×3×H×W uint8 (scaled by 1/255) or float in [0, 1], on any device.
        mean, std: 3 values each (sequences or tensors, moved to ``x``'s device).
    Returns:
        A new B×3×H×W float32 tensor on ``x``'s device; differentiable w.r.t. a float ``x`` (white-box inversion
        optimises through it).
    """
    x = _as_batch(x)
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    scale = 1.0 / (255.0 * std_t) if x.dtype == torch.uint8 else 1.0 / std_t
    return (x.float() * scale).sub_(mean_t / std_t)


def augment(x: Tensor, spec: AugmentSpec, generator: torch.Generator) -> Tensor:
    """One random, normalised view per image: x B×3×H×W uint8 or float [0, 1] → B×3×size×size float32.

    Parameters are drawn independently per sample; ``none`` only normalises (no crop, no resize).
    """
    x = _as_batch(x)
    if spec.kind == "none":
        return normalize(x, spec.mean, spec.std)
    out = _views(x, spec, generator)
    std_t = torch.tensor(spec.std, device=x.device).view(1, 1, 3, 1)
    out.sub_(torch.tensor(spec.mean, device=x.device).view(1, 1, 3, 1)).div_(std_t)
    return out.permute(0, 2, 1, 3).contiguous()
