"""Distribution matching for the substitute-client attack: multi-kernel MMD and an activation discriminator.

FORA (Xu et al., CVPR 2024) trains a substitute client so that its cut-layer activations of public images are
distributed like the real activations the server received, with a multi-kernel maximum mean discrepancy (MK-MMD,
Gaussian kernels at several bandwidths) plus an adversarial discriminator. Everything here works on batches of
activations B×C×h×w (MMD on their flattening B×D).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.errors import SflauditError

MMD_MULTIPLIERS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Adaptive kernels: 2σ² = m · (mean pairwise squared distance of the pooled sample) for each multiplier m."""


def pairwise_sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances ‖x_i − y_j‖². x: N×D, y: M×D → N×M (clamped at 0 against rounding)."""
    xx = x.pow(2).sum(dim=1, keepdim=True)
    yy = y.pow(2).sum(dim=1, keepdim=True)
    return (xx + yy.T - 2.0 * x @ y.T).clamp_min(0.0)


def sample_bandwidths(x: Tensor, multipliers: Sequence[float] = MMD_MULTIPLIERS) -> Tensor:
    """Kernel widths σ from one sample (no gradient): σ_k = sqrt(m_k · d̄ / 2).

    d̄ is the mean squared distance over all distinct pairs of x (N×…, N ≥ 2, flattened), so a kernel
    exp(−d²/(2σ_k²)) = exp(−d² / (m_k · d̄)). Returns K σ values (float32, on x's device).
    """
    x = x.detach().flatten(1).float()
    n = x.shape[0]
    if n < 2:
        raise SflauditError(f"adaptive MMD bandwidths need at least 2 samples, got {n}")
    mean_d2 = (pairwise_sq_dists(x, x).sum() / (n * (n - 1))).clamp_min(1e-12)
    m = torch.as_tensor(list(multipliers), dtype=torch.float32, device=x.device)
    return (m * mean_d2 / 2.0).sqrt()


def adaptive_bandwidths(x: Tensor, y: Tensor, multipliers: Sequence[float] = MMD_MULTIPLIERS) -> Tensor:
    """:func:`sample_bandwidths` of the pooled sample ``cat([x, y])`` (N×D and M×D)."""
    return sample_bandwidths(torch.cat([x.flatten(1), y.flatten(1)]), multipliers)


def mk_mmd2(x: Tensor, y: Tensor, bandwidths: Sequence[float] | Tensor | None = None) -> Tensor:
    """Biased (V-statistic) squared MMD between samples x and y under the mean of Gaussian kernels.

    k(a, b) = (1/K) Σ_k exp(−‖a − b‖² / (2σ_k²)); MMD² = mean k(x, x') + mean k(y, y') − 2 mean k(x, y) ≥ 0,
    exactly 0 when x and y are the same sample, at most 2.

    Args:
        x: N×… and y: M×… samples (flattened to N×D, M×D; same D).
        bandwidths: K kernel widths σ > 0; None = :func:`adaptive_bandwidths` of the pooled sample.
    Returns:
        A scalar tensor, differentiable w.r.t. x and y.
    """
    x, y = x.flatten(1).float(), y.flatten(1).float()
    if x.shape[1] != y.shape[1] or x.shape[0] < 1 or y.shape[0] < 1:
        raise SflauditError(f"MMD needs two non-empty samples of one dimension, got {tuple(x.shape)} "
                            f"and {tuple(y.shape)}")
    sigma = (adaptive_bandwidths(x, y) if bandwidths is None
             else torch.as_tensor(bandwidths, dtype=torch.float32, device=x.device).flatten())
    if sigma.numel() < 1 or not bool((sigma > 0).all()):
        raise SflauditError(f"MMD bandwidths must be positive, got {sigma.tolist()}")
    inv = (1.0 / (2.0 * sigma.pow(2))).view(-1, 1, 1)

    def kernel_mean(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-pairwise_sq_dists(a, b).unsqueeze(0) * inv).mean()

    return kernel_mean(x, x) + kernel_mean(y, y) - 2.0 * kernel_mean(x, y)


class ActivationCritic(nn.Module):
    """Discriminator on cut-layer activations: real (received) vs substitute. B×C×h×w → B logits.

    conv3×3 stride 2 (C→w) + LeakyReLU(0.2), conv3×3 stride 2 (w→2w) + LeakyReLU, conv3×3 stride 2 (2w→2w) +
    LeakyReLU, global average pool, linear(2w→1); ≈ 3 MMACs per 16×32×32 activation. No normalisation layers:
    one image's logit does not depend on its batch.
    """

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        if channels < 1 or width < 1:
            raise SflauditError(f"critic needs channels ≥ 1 and width ≥ 1, got {channels}, {width}")
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(2 * width, 1)

    def forward(self, h: Tensor) -> Tensor:
        return self.head(self.features(h).mean(dim=(2, 3))).squeeze(1)


def critic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss: −log σ(real) − log(1 − σ(fake)), each averaged over its batch (2·ln 2 at logits 0)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating adversarial loss of the substitute: −log σ(fake), averaged (ln 2 at logits 0)."""
    return F.softplus(-fake_logits).mean()
