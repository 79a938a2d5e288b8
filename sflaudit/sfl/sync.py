"""Synchronisation: FedAvg of client states over the pool, MonAcoSFL's momentum averaging, divergence measures."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def average_states(states: Sequence[Sequence[Tensor]], pool: Sequence[int], *,
                   seed_with_client0: bool) -> list[Tensor]:
    """Un-weighted mean of the pool's full states (params and buffers), protocol §1.5.

    Args:
        states: per client, the list of state tensors (same order and shapes for every client).
        pool: the clients of this epoch, in pool order.
        seed_with_client0: quirk Q2 — the running sum starts from client 0 (not pool[0]) and adds pool[1:].
    Returns:
        One averaged tensor per state entry (integer buffers are floor-averaged).
    """
    members = [0, *pool[1:]] if seed_with_client0 else list(pool)
    out: list[Tensor] = []
    for i, first in enumerate(states[members[0]]):
        acc = first.detach().clone()
        for c in members[1:]:
            acc.add_(states[c][i].detach())
        out.append(acc.div_(len(pool)) if acc.is_floating_point() else acc.div(len(pool), rounding_mode="floor"))
    return out


@torch.no_grad()
def load_states(targets: Sequence[Sequence[Tensor]], source: Sequence[Tensor]) -> None:
    """Copy one averaged state into every client's live state tensors (the broadcast)."""
    for state in targets:
        for dst, src in zip(state, source, strict=True):
            dst.copy_(src)


def _sq_dist(a: Sequence[Tensor], b: Sequence[Tensor], mask: Sequence[bool]) -> tuple[float, int]:
    total, count = 0.0, 0
    for x, y, keep in zip(a, b, mask, strict=True):
        if keep:
            total += float((x.detach().float() - y.detach().float()).pow(2).sum())
            count += x.numel()
    return total, count


def divergence(online: Sequence[Sequence[Tensor]], momentum: Sequence[Sequence[Tensor]],
               avg_online: Sequence[Tensor], avg_momentum: Sequence[Tensor], pool: Sequence[int],
               mask: Sequence[bool]) -> dict[str, float]:
    """Protocol §1.7 divergences of each pool client before the averaging is applied.

    ``ol-og`` = ‖θ_online,i − θ̄_online‖²/n, ``ol-ml`` = ‖θ_online,i − θ_momentum,i‖²/n,
    ``ml-mg`` = ‖θ_momentum,i − θ̄_momentum‖²/n, n = scalars summed (``mask`` drops running stats/counters).
    Returns per-client values ``"<measure>/<client>"`` and pool means ``"<measure>/mean"``.
    """
    out: dict[str, float] = {}
    sums = {"ol-og": 0.0, "ol-ml": 0.0, "ml-mg": 0.0}
    for c in pool:
        pairs = {"ol-og": (online[c], avg_online), "ol-ml": (online[c], momentum[c]),
                 "ml-mg": (momentum[c], avg_momentum)}
        for name, (a, b) in pairs.items():
            total, count = _sq_dist(a, b, mask)
            value = total / max(count, 1)
            out[f"{name}/{c}"] = value
            sums[name] += value
    for name, s in sums.items():
        out[f"{name}/mean"] = s / len(pool)
    return out


def divergence_mask(keys: Sequence[str]) -> list[bool]:
    """Which state entries count in the divergence (not running stats or batch counters)."""
    return ["running" not in k and "num_batches" not in k for k in keys]


def online_momentum_gap(online: Sequence[Sequence[Tensor]], momentum: Sequence[Sequence[Tensor]],
                        clients: Sequence[int], mask: Sequence[bool]) -> float:
    """Mean over ``clients`` of ‖θ_online,i − θ_momentum,i‖²/n — logged right after a sync as ``ol-ml/after``.

    Right after a sync every online model is the pool average ō; MonAcoSFL's momentum models are the average m̄, so
    its gap is ‖ō − m̄‖²/n, while MocoSFL keeps each m_i and its mean gap is ‖ō − m̄‖²/n + mean‖m_i − m̄‖²/n.
    """
    total = 0.0
    for c in clients:
        sq, count = _sq_dist(online[c], momentum[c], mask)
        total += sq / max(count, 1)
    return total / len(clients)
