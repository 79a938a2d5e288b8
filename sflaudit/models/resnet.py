"""CIFAR ResNet-18 / ResNet-34 with GroupNorm (4 channels per group) and weight-standardised convs (protocol §2.1).

Units (the granularity of a split, in order): ``stem``, then one BasicBlock per unit named ``layer{s}.{i}``
(s = 1..4, i = block index in the stage). A block can also be split in two halves (:func:`split_block`) for
mid-block cuts: :class:`BlockFront` (client side) and :class:`BlockBack` (server side), which share the
block's submodules and its key names.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sflaudit.models.layers import ConvNorm, WSConv2d, group_norm, init_weights, scale_channels

RESNET_BLOCKS: dict[str, tuple[int, int, int, int]] = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
"""BasicBlocks per stage."""

STAGE_CHANNELS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_CHANNELS = 64


def resnet_stem(width: float = 1.0) -> ConvNorm:
    """CIFAR stem: WSConv3×3 3→64·width, stride 1, padding 1, no max-pool, + GN + ReLU. B×3×H×W → B×C×H×W."""
    c = scale_channels(STEM_CHANNELS, width)
    return ConvNorm(WSConv2d(3, c, 3, padding=1), group_norm(c), relu=True)


class BasicBlock(nn.Module):
    """WSConv3×3(stride)–GN–ReLU–WSConv3×3–GN, plus shortcut, then ReLU after the add.

    The shortcut is the identity, or WSConv1×1(stride)+GN when stride ≠ 1 or the channel count changes.
    Keys: ``conv1.weight``, ``gn1.*``, ``conv2.weight``, ``gn2.*``, ``shortcut.conv.weight``, ``shortcut.norm.*``.
    Shapes: B×C_in×H×W → B×C_out×(H/stride)×(W/stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = WSConv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.gn1 = group_norm(out_channels)
        self.conv2 = WSConv2d(out_channels, out_channels, 3, padding=1)
        self.gn2 = group_norm(out_channels)
        self.shortcut: nn.Module
        if stride != 1 or in_channels != out_channels:
            conv = WSConv2d(in_channels, out_channels, 1, stride=stride)
            self.shortcut = ConvNorm(conv, group_norm(out_channels), relu=False)
        else:
            self.shortcut = nn.Identity()

    def front(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """First half: (mid, shortcut), each B×C_out×H'×W'; mid = ReLU(GN(conv1(x)))."""
        return self.gn1(self.conv1(x)).relu(), self.shortcut(x)

    def back(self, mid: Tensor, shortcut: Tensor) -> Tensor:
        """Second half: ReLU(GN(conv2(mid)) + shortcut), B×C_out×H'×W'."""
        return (self.gn2(self.conv2(mid)) + shortcut).relu()

    def forward(self, x: Tensor) -> Tensor:
        return self.back(*self.front(x))


class BlockFront(nn.Module):
    """Client half of a BasicBlock: B×C_in×H×W → ``cat([mid, shortcut], 1)``, B×2C_out×H'×W'.

    Holds only the block's ``conv1``, ``gn1`` and ``shortcut`` (same objects, same key names).
    """

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv1 = block.conv1
        self.gn1 = block.gn1
        self.shortcut = block.shortcut

    def forward(self, x: Tensor) -> Tensor:
        mid = self.gn1(self.conv1(x)).relu()
        return torch.cat([mid, self.shortcut(x)], dim=1)


class BlockBack(nn.Module):
    """Server half of a BasicBlock: B×2C×H×W (``[mid, shortcut]`` on channels) → ReLU(GN(conv2(mid)) + shortcut).

    Holds only the block's ``conv2`` and ``gn2``. Output B×C×H×W.
    """

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv2 = block.conv2
        self.gn2 = block.gn2

    def forward(self, x: Tensor) -> Tensor:
        mid, shortcut = x.chunk(2, dim=1)
        return (self.gn2(self.conv2(mid)) + shortcut).relu()


def split_block(block: BasicBlock) -> tuple[BlockFront, BlockBack]:
    """The two halves of `block` for a mid-block cut; they share (not copy) the block's parameters."""
    return BlockFront(block), BlockBack(block)


def resnet_units(arch: str, width: float = 1.0) -> list[tuple[str, nn.Module]]:
    """Named units ``[("stem", …), ("layer1.0", BasicBlock), …]`` of ResNet-18/34, initialised (protocol Q6).

    `width` scales every channel count (rounded to a multiple of 4, at least 4).
    Input B×3×H×W; the last unit outputs B×(512·width)×H/8×W/8.
    """
    blocks = RESNET_BLOCKS[arch]
    units: list[tuple[str, nn.Module]] = [("stem", resnet_stem(width))]
    in_c = scale_channels(STEM_CHANNELS, width)
    for s, (n, c, stride) in enumerate(zip(blocks, STAGE_CHANNELS, STAGE_STRIDES), start=1):
        out_c = scale_channels(c, width)
        for i in range(n):
            units.append((f"layer{s}.{i}", BasicBlock(in_c, out_c, stride if i == 0 else 1)))
            in_c = out_c
    for _, unit in units:
        init_weights(unit)  # no-op for the all-WS ResNet, kept for parity with the reference
    return units


def resnet_feature_dim(width: float = 1.0) -> int:
    """Pooled backbone feature size F = 512·width (rounded to a multiple of 4)."""
    return scale_channels(STAGE_CHANNELS[-1], width)
