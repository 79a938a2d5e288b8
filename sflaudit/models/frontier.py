"""What crosses a cut found in a traced graph: one or several tensors, packed into the one tensor the wire carries.

A frontier is the list of live tensors a client hands to the server (at a cut inside a residual block: the block's
input or shortcut as well as the current activation). Packing is lossless and adds no element:

* **aligned** (every tensor C×H×W with the same H×W, or a vector F read as F×1×1): concatenated on channels,
  B×ΣC×H×W — the hand tables' mid-block layout;
* otherwise (several grids, e.g. a squeeze-excitation branch B×c×1×1 beside B×C×H×W): each flattened and
  concatenated, B×Σ(C·H·W).

:func:`regrid` is the attacker's view of a packed frontier: every tensor brought to the finest grid (nearest
neighbour) and stacked on channels, B×ΣC×H_max×W_max, so a decoder's up-sampling follows the frontier's grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Frontier:
    """Per-image shapes of the tensors that cross a cut, in the order the client sends them.

    ``shapes``: e.g. ``((64, 16, 16), (64, 16, 16))`` or ``((576,),)``; a tensor of rank 1 is read as F×1×1, of
    rank 3 as C×H×W; other ranks are sent flattened (N×1×1).
    """

    shapes: tuple[tuple[int, ...], ...]

    @property
    def sent(self) -> tuple[tuple[int, int, int], ...]:
        """C×H×W of each tensor (the CutInfo convention)."""
        return tuple(s if len(s) == 3 else (math.prod(s), 1, 1) for s in self.shapes)

    @property
    def aligned(self) -> bool:
        """All tensors share one H×W grid: packed on channels as a 4-D tensor."""
        return len({(h, w) for _, h, w in self.sent}) == 1

    @property
    def grid(self) -> tuple[int, int]:
        """The finest H×W of the frontier (where :func:`regrid` brings every tensor)."""
        return max(h for _, h, _ in self.sent), max(w for _, _, w in self.sent)

    @property
    def regridded(self) -> tuple[int, int, int]:
        """C×H×W of :func:`regrid`'s output per image: ΣC channels on the finest grid."""
        return (sum(c for c, _, _ in self.sent), *self.grid)


def pack(tensors: tuple[Tensor, ...] | list[Tensor], frontier: Frontier) -> Tensor:
    """B×… tensors → B×ΣC×H×W (aligned) or B×Σ(C·H·W)."""
    b = tensors[0].shape[0]
    if frontier.aligned:
        parts = [t.reshape(b, c, h, w) for t, (c, h, w) in zip(tensors, frontier.sent)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    return torch.cat([t.reshape(b, -1) for t in tensors], dim=1)


def unpack(h: Tensor, frontier: Frontier) -> list[Tensor]:
    """Inverse of :func:`pack`: the tensors with their original per-image shapes."""
    b = h.shape[0]
    if frontier.aligned:
        sizes = [c for c, _, _ in frontier.sent]
        parts = torch.split(h, sizes, dim=1) if len(sizes) > 1 else (h,)
    else:
        parts = torch.split(h, [math.prod(s) for s in frontier.sent], dim=1)
    return [p.reshape(b, *s) for p, s in zip(parts, frontier.shapes)]


def regrid(h: Tensor, frontier: Frontier) -> Tensor:
    """Packed frontier → B×ΣC×H_max×W_max, each tensor repeated (nearest) onto the finest grid; aligned
    frontiers come back as they are (reshaped to 4-D)."""
    b = h.shape[0]
    if frontier.aligned:
        return h.reshape(b, *frontier.regridded)
    grid = frontier.grid
    parts = [p.reshape(b, c, hh, ww) for p, (c, hh, ww) in
             zip(torch.split(h, [math.prod(s) for s in frontier.sent], dim=1), frontier.sent)]
    return torch.cat([p if p.shape[-2:] == grid else F.interpolate(p, size=grid, mode="nearest") for p in parts], 1)


class Regridded(nn.Module):
    """``module`` followed by :func:`regrid`: the attacker's 4-D view of a client whose frontier is not aligned.

    x B×3×S×S → B×ΣC×H_max×W_max. The wrapped client is reachable as ``.client`` (same parameters).
    """

    def __init__(self, client: nn.Module, frontier: Frontier) -> None:
        super().__init__()
        self.client = client
        self.frontier = frontier

    def forward(self, x: Tensor) -> Tensor:
        return regrid(self.client(x), self.frontier)


def attacker_view(client: nn.Module, frontier: Frontier | None) -> nn.Module:
    """What a reconstruction attack runs on: `client` itself when its output is one 4-D grid (every hand-table
    cut, most traced cuts), else :class:`Regridded` (several grids or vectors)."""
    return client if frontier is None or frontier.aligned else Regridded(client, frontier)
