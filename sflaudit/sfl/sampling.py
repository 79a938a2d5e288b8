"""Which images each client trains on at each step (protocol §1.6 and quirk Q3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor


def sample_pool(clients: int, pool_size: int, rng: np.random.Generator) -> list[int]:
    """The clients of one epoch: all of them in order, or a random subset (unsorted, no replacement)."""
    if pool_size >= clients:
        return list(range(clients))
    return [int(c) for c in rng.choice(clients, pool_size, replace=False)]


class ClientBatches:
    """Per-client batch indices into the training split.

    ``random`` (quirk Q3, the reference's effective behaviour): every step draws a fresh batch of B distinct images
    uniformly from the client's data. ``epoch``: a shuffled pass over the client's data, the last batch smaller.
    """

    def __init__(self, parts: Sequence[np.ndarray], batch: int, mode: str, generator: torch.Generator) -> None:
        self.parts = [torch.as_tensor(p, dtype=torch.long) for p in parts]
        self.batch = batch
        self.mode = mode
        self.generator = generator
        self.perms: list[Tensor | None] = [None] * len(parts)
        self.pos = [0] * len(parts)

    def next(self, client: int) -> Tensor:
        """Indices (into the training split) of the client's next batch."""
        part = self.parts[client]
        if self.mode == "random":
            return part[torch.randperm(len(part), generator=self.generator)[: self.batch]]
        perm = self.perms[client]
        if perm is None or self.pos[client] >= len(part):
            perm = self.perms[client] = torch.randperm(len(part), generator=self.generator)
            self.pos[client] = 0
        start = self.pos[client]
        self.pos[client] = min(start + self.batch, len(part))
        return part[perm[start:self.pos[client]]]

    def state_dict(self) -> dict[str, Any]:
        return {"perms": [p if p is not None else torch.empty(0, dtype=torch.long) for p in self.perms],
                "pos": list(self.pos)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.perms = [p if p.numel() else None for p in state["perms"]]
        self.pos = [int(x) for x in state["pos"]]
