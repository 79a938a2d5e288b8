"""Split a training set across clients (protocol §3.3): IID, the reference non-IID shards, or Dirichlet."""

from __future__ import annotations

import numpy as np

from sflaudit.errors import SflauditError

SCHEMES: tuple[str, ...] = ("iid", "shards", "dirichlet")
_DIRICHLET_TRIES = 100  # redraws until no client is empty


def partition(
    labels: np.ndarray,
    clients: int,
    *,
    scheme: str,
    noniid_ratio: float = 0.2,
    alpha: float = 0.5,
    num_classes: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Indices of the training images each client holds.

    Args:
        labels: N integer labels in [0, num_classes).
        clients: number of clients C ≥ 1.
        scheme: ``iid`` — a random permutation cut into C near-equal parts (every index exactly once);
            ``shards`` — the reference non-IID scheme, m = int(noniid_ratio·num_classes) label-sorted shards per
            client (see :func:`shard_partition`); ``dirichlet`` — per-class shares ~ Dir(alpha) over the clients
            (every index exactly once).
        noniid_ratio: fraction of classes per client for ``shards``, in (0, 1].
        alpha: Dirichlet concentration (> 0) for ``dirichlet``.
        rng: the only source of randomness.
    Returns:
        C int64 index arrays.
    """
    labels = _check_labels(labels, num_classes)
    if clients < 1:
        raise SflauditError(f"clients {clients} is out of range (>= 1)")
    if scheme == "iid":
        if clients > labels.size:
            raise SflauditError(f"clients {clients} is out of range for {labels.size} images (1..{labels.size})")
        return [part.astype(np.int64) for part in np.array_split(rng.permutation(labels.size), clients)]
    if scheme == "shards":
        return shard_partition(labels, clients, noniid_ratio=noniid_ratio, num_classes=num_classes, rng=rng)
    if scheme == "dirichlet":
        return dirichlet_partition(labels, clients, alpha=alpha, num_classes=num_classes, rng=rng)
    raise SflauditError(f"partition scheme {scheme!r} is unknown (valid: {', '.join(SCHEMES)})")


def shard_partition(
    labels: np.ndarray, clients: int, *, noniid_ratio: float, num_classes: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The reference non-IID split: label-sorted shards, m per client, drawn without replacement.

    m = int(noniid_ratio·num_classes), num_shards = m·C, shard size int(N/C/m); indices are sorted by label
    (``argsort`` quicksort, as the reference) and each client gets m distinct shards. With CIFAR-10 and
    C ∈ {5, 20, 200} shards align with classes and every image is used; otherwise the last N − num_shards·size
    sorted indices are left out, exactly as the reference does.
    Returns:
        C int64 arrays of m·shard_size indices each.
    """
    if not 0.0 < noniid_ratio <= 1.0:
        raise SflauditError(f"noniid_ratio {noniid_ratio} is out of range (0, 1]")
    shards_per_client = int(noniid_ratio * num_classes)
    if shards_per_client == 0:
        raise SflauditError(
            f"noniid_ratio {noniid_ratio} gives 0 shards per client with {num_classes} classes "
            f"(need noniid_ratio >= {1 / num_classes:g})"
        )
    num_shards = shards_per_client * clients
    shard_size = int(labels.size / clients / shards_per_client)
    if shard_size == 0:
        raise SflauditError(
            f"clients {clients} × {shards_per_client} shards is out of range for {labels.size} images "
            f"(at most {labels.size // shards_per_client} clients)"
        )
    order = np.argsort(labels, kind="quicksort")
    drawn = rng.choice(num_shards, size=num_shards, replace=False).reshape(clients, shards_per_client)
    starts = np.sort(drawn, axis=1) * shard_size  # C×m shard starts in the sorted order
    picks = starts[:, :, None] + np.arange(shard_size)  # C×m×size positions
    return [order[p.ravel()].astype(np.int64) for p in picks]


def dirichlet_partition(
    labels: np.ndarray, clients: int, *, alpha: float, num_classes: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Per-class shares p_k ~ Dir(alpha·1_C): client i gets ≈ p_k[i] of class k's images, each image exactly once.

    A draw that leaves a client empty is redrawn (up to 100 times), as in the usual Dirichlet benchmarks.
    Returns:
        C int64 arrays (sizes vary), together a permutation of 0..N-1.
    """
    if not alpha > 0.0:
        raise SflauditError(f"dirichlet alpha {alpha} is out of range (> 0)")
    if clients > labels.size:
        raise SflauditError(f"clients {clients} is out of range for {labels.size} images (1..{labels.size})")
    by_class = [rng.permutation(np.flatnonzero(labels == k)) for k in range(num_classes)]
    for _ in range(_DIRICHLET_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for members in by_class:
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = np.round(np.cumsum(shares)[:-1] * members.size).astype(np.int64)
            for client, piece in enumerate(np.split(members, cuts)):
                parts[client].append(piece)
        sizes = [sum(p.size for p in pieces) for pieces in parts]
        if min(sizes) > 0:
            return [np.sort(np.concatenate(pieces)).astype(np.int64) for pieces in parts]
    raise SflauditError(
        f"dirichlet alpha {alpha} leaves a client empty in {_DIRICHLET_TRIES} draws "
        f"({clients} clients, {labels.size} images); raise alpha or lower clients"
    )


def _check_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise SflauditError(f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}")
    if num_classes < 1:
        raise SflauditError(f"num_classes {num_classes} is out of range (>= 1)")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise SflauditError(f"labels span {low}..{high}, out of range for {num_classes} classes (0..{num_classes - 1})")
    return labels
