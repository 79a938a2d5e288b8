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
    n_test: int = 0      # test items each accuracy is measured on (for a Wilson interval)


def probe_batches(n: int, batch: int, *, reference_order: bool = False,
                  generator: torch.Generator | None = None) -> list[Tensor]:
    """Row indices of one probe epoch's batches: a fresh seeded permutation split into ``batch``-sized chunks.

    ``reference_order`` keeps rows in dataset order (the reference's ``shuffle=False``, protocol §4.2): on a
    class-sorted dataset every batch then holds one class. ``generator`` None = torch's global generator.
    Returns:
        ⌈n / batch⌉ index tensors (the last may be shorter), together a permutation of 0..n−1.
    """
    order = torch.arange(n) if reference_order else torch.randperm(n, generator=generator)
    return list(order.split(batch))


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int, *,
                 epochs: int = 100, batch: int = 128, generator: torch.Generator | None = None,
                 reference_order: bool = False) -> ProbeResult:
    """Linear classifier on frozen features (protocol §4.2).

    Adam (lr 1e-3, no weight decay), CosineAnnealingLR(T_max = 25) stepped every batch, no augmentation. Each
    epoch draws seeded shuffled batches (``generator`` drives the head's init, then every epoch's permutation), so
    no figure depends on the row order; ``reference_order=True`` keeps the reference's un-shuffled batches
    (``shuffle=False``, a §4.2 quirk), for reproducing the reference only. Features are extracted once, which is
    exact because the backbone is frozen and in eval mode.

    Args:
        train_x: N×F features; train_y: N labels; test_x / test_y likewise (M rows).
    Returns:
        ProbeResult with accuracies in % on the M test rows (``n_test`` = M).
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
    n_test = int(test_y.shape[0])
    for _ in range(epochs):
        for idx in probe_batches(train_x.shape[0], batch, reference_order=reference_order, generator=generator):
            loss = F.cross_entropy(head(train_x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            curve.append(float((head(test_x).argmax(1) == test_y).float().mean() * 100.0))
    if not curve:
        return ProbeResult(best=float("nan"), last=float("nan"), curve=[], n_test=n_test)
    return ProbeResult(best=max(curve), last=curve[-1], curve=curve, n_test=n_test)
