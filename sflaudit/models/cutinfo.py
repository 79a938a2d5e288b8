"""What a cut is: :class:`CutInfo` (what a client holds and sends at one depth) and :class:`SplitModel` (the client and
server modules). Owned here so that the hand tables (:mod:`sflaudit.models.cuts`) and the traced networks
(:mod:`sflaudit.models.graphnets`) build the same records.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from sflaudit.models.frontier import Frontier


@dataclass(frozen=True)
class CutInfo:
    """What a client holds and sends at one depth.

    Attributes:
        arch, depth, width: the cut.
        client_layers: units on the client, e.g. ``("stem", "layer1.0", "layer1.1.conv1")``; a name ending in
            ``.conv1`` is the first half of a BasicBlock (conv1+GN+ReLU and the block's shortcut branch).
        sent: C×H×W of each tensor sent per image: one, or two equal shapes (mid activation, shortcut output) at a
            mid-block cut.
        client_params: number of elements of the client's ``state_dict()``: parameters and buffers, where each
            BatchNorm contributes weight + bias + running_mean + running_var (C each) + num_batches_tracked (1).
            This reproduces protocol §2.1/§2.2 exactly (e.g. MobileNetV2 reference cut 2 → 3,489 = 3,456 params +
            2·16 running stats + 1 counter).
        feature_dim: backbone feature size F after global pooling (512 or 1280 at width 1).
        after: the layer the cut follows (``layer2.0.conv1``, ``features.5.block.2.0``); '' for the hand tables.
        frontier: the per-image shapes of the tensors sent, as the network makes them (a traced network's cut
            may send vectors or several grids; :mod:`sflaudit.models.frontier`); None for the hand tables.
    """

    arch: str
    depth: int
    width: float
    client_layers: tuple[str, ...]
    sent: tuple[tuple[int, int, int], ...]
    client_params: int
    feature_dim: int
    after: str = ""
    frontier: Frontier | None = None

    @property
    def label(self) -> str:
        """``d12 · features.5.block.2.0`` (traced networks) or ``d12``."""
        return f"d{self.depth} · {self.after}" if self.after else f"d{self.depth}"

    @property
    def sent_elements(self) -> int:
        """Σ C·H·W over `sent` (elements per image)."""
        return sum(c * h * w for c, h, w in self.sent)


@dataclass
class SplitModel:
    """Client and server halves of a backbone.

    client: x B×3×H×W → h B×(C·k)×h×w, k = ``len(info.sent)``; at a mid-block cut ``[mid, shortcut]`` are
        concatenated on channels.
    server: h → B×F pooled backbone features (no projector).
    """

    client: nn.Module
    server: nn.Module
    info: CutInfo
