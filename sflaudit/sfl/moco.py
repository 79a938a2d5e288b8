"""MoCo pieces that live on the server: the projector, the shared key queue and the InfoNCE loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# version → (hidden width, output width K_dim); V1 has a single linear layer (protocol §1.3)
PROJECTOR_DIMS: dict[str, tuple[int, int]] = {"V1": (0, 128), "smallV2": (512, 512), "V2": (1024, 1024),
                                              "largeV2": (4096, 2048)}


def build_projector(version: str, in_features: int) -> nn.Module:
    """Projection head for a MoCo version; Xavier-uniform weights, zero biases.

    Args:
        version: V1 | smallV2 | V2 | largeV2.
        in_features: backbone feature size F (512 for ResNet-18, 1280 for MobileNetV2, scaled by width).
    Returns:
        Module mapping B×F to B×K_dim.
    """
    hidden, out = PROJECTOR_DIMS[version]
    if version == "V1":
        head: nn.Module = nn.Linear(in_features, out)
    elif version == "largeV2":
        head = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, out))
    else:
        head = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))
    for m in head.modules():
        if type(m) is nn.Linear:
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return head


class KeyQueue:
    """Ring buffer of the last K L2-normalised keys, shared by all clients (the "feature memory")."""

    def __init__(self, dim: int, size: int, generator: torch.Generator | None = None) -> None:
        self.keys = F.normalize(torch.randn(size, dim, generator=generator), dim=1)  # K×D
        self.ptr = 0

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (n×D) at the pointer, wrapping around the end of the buffer."""
        n = keys.shape[0]
        if n >= self.size:
            self.keys.copy_(keys[-self.size:].float())
            self.ptr = 0
            return
        end = self.ptr + n
        if end <= self.size:
            self.keys[self.ptr:end] = keys.float()
        else:
            first = self.size - self.ptr
            self.keys[self.ptr:] = keys[:first].float()
            self.keys[: n - first] = keys[first:].float()
        self.ptr = end % self.size


def info_nce(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """InfoNCE with the positive in column 0.

    Args:
        q: n×D normalised queries (with grad).
        k: n×D normalised positive keys (no grad).
        queue: K×D normalised negatives.
        temperature: T.
    Returns:
        (mean cross-entropy over rows, top-1 accuracy of the positive in %).
    """
    pos = (q * k).sum(dim=1, keepdim=True)
    neg = q @ queue.to(q.dtype).t()
    logits = torch.cat([pos, neg], dim=1).float() / temperature
    target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(dim=1) == 0).float().mean() * 100.0
    return loss, acc.detach()
