"""Evaluation: the weighted kNN monitor on projector features and the linear probe on backbone features (§4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.data.augment import normalize


@torch.no_grad()
def extract_features(model: Callable[[Tensor], Tensor], images: Tensor, *, mean: Tensor, std: Tensor,
                     batch: int = 512, normalize_out: bool = False,
                     memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
    """Features of un-augmented images.

    Args:
        model: maps a normalised B×3×H×W batch to B×D features (modules already in eval mode).
        images: N×3×H×W uint8.
        mean, std: 3-element normalisation tensors.
        normalize_out: L2-normalise each feature row.
    Returns:
        N×D float32 features.
    """
    out = []
    for i in range(0, images.shape[0], batch):
        x = normalize(images[i:i + batch], mean, std).contiguous(memory_format=memory_format)
        f = model(x).float()
        out.append(F.normalize(f, dim=1) if normalize_out else f)
    return torch.cat(out) if out else torch.empty(0)


def knn_predict(query: Tensor, bank: Tensor, bank_labels: Tensor, num_classes: int, *, k: int,
                temperature: float, chunk: int = 1024) -> Tensor:
    """Weighted kNN (cosine similarity, weight exp(sim / T), class score = sum of weights).

    Args:
        query: Q×D L2-normalised features.
        bank: M×D L2-normalised memory-bank features; bank_labels: M labels.
    Returns:
        Q predicted labels.
    """
    k = min(k, bank.shape[0])
    preds = []
    for i in range(0, query.shape[0], chunk):
        sim = query[i:i + chunk] @ bank.t()
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        scores = torch.zeros(sim.shape[0], num_classes, dtype=weights.dtype)
        scores.scatter_add_(1, bank_labels[top_idx], weights)
        preds.append(scores.argmax(dim=1))
    return torch.cat(preds)


def knn_accuracy(query: Tensor, query_labels: Tensor, bank: Tensor, bank_labels: Tensor, num_classes: int, *,
                 k: int = 200, temperature: float = 0.1) -> float:
    """Top-1 kNN accuracy in %."""
    pred = knn_predict(query, bank, bank_labels, num_classes, k=k, temperature=temperature)
    return float((pred == query_labels).float().mean() * 100.0)


@dataclass(frozen=True)
class ProbeResult:
    best: float          # max test accuracy over epochs (the reference's reported value, quirk Q4)
    last: float          # test accuracy after the last epoch (the clean value)
    curve: list[float]   # test accuracy after every epoch


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int, *,
                 epochs: int = 100, batch: int = 128, generator: torch.Generator | None = None) -> ProbeResult:
    """Linear classifier on frozen features (protocol §4.2).

    Adam (lr 1e-3, no weight decay), CosineAnnealingLR(T_max = 25) stepped every batch, no augmentation,
    un-shuffled batches. Features are extracted once, which is exact because the backbone is frozen and in eval mode.

    Args:
        train_x: N×F features; train_y: N labels; test_x / test_y likewise.
    """
    head = nn.Linear(train_x.shape[1], num_classes)
    if generator is not None:
        with torch.no_grad():
            bound = (6.0 / (head.in_features + head.out_features)) ** 0.5
            head.weight.copy_(torch.rand(head.weight.shape, generator=generator) * 2 * bound - bound)
    else:
        nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=25)
    curve = []
    for _ in range(epochs):
        for i in range(0, train_x.shape[0], batch):
            loss = F.cross_entropy(head(train_x[i:i + batch]), train_y[i:i + batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            curve.append(float((head(test_x).argmax(1) == test_y).float().mean() * 100.0))
    if not curve:
        return ProbeResult(best=float("nan"), last=float("nan"), curve=[])
    return ProbeResult(best=max(curve), last=curve[-1], curve=curve)
