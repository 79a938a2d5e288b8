"""CIFAR MobileNetV2 with GroupNorm and weight-standardised convs, exactly as protocol §2.2.

Units (the granularity of a split, in order): ``stem``; 17 inverted-residual blocks named ``stage{k}.{i}``
(k = 1..7 as in the reference ``cfg``, i = block index in the stage); ``final`` (1×1 conv 320→1280 + GN).
Deviations from the usual network, kept for faithfulness: stem stride 1 and stage-2 stride 1 (CIFAR); no ReLU after
the stem GN nor after the final GN; ReLU (not ReLU6) in the blocks; the conv shortcut is a plain ``Conv2d`` 1×1 +
``BatchNorm2d`` (the only BatchNorm); a residual add only at stride 1.
"""

from __future__ import annotations

from torch import Tensor, nn

from sflaudit.models.layers import ConvNorm, WSConv2d, group_norm, init_weights, scale_channels

MOBILENETV2_CFG: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),  # stride 1 for CIFAR (ImageNet: 2)
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""Per stage (expansion t, output channels c, blocks n, stride of the first block s)."""

STEM_CHANNELS = 32
FINAL_CHANNELS = 1280


class InvertedResidual(nn.Module):
    """1×1 expand (C_in→t·C_in)–GN–ReLU, 3×3 depthwise (stride)–GN–ReLU, 1×1 project–GN; WS convs, bias-free.

    At stride 1 the shortcut output is added: identity if C_in = C_out, else ``shortcut.conv`` (plain Conv2d 1×1) +
    ``shortcut.norm`` (BatchNorm2d). At stride 2 there is no shortcut (and no ``shortcut.*`` keys).
    The expand conv exists even for t = 1 (as in the reference). Shapes: B×C_in×H×W → B×C_out×(H/s)×(W/s).
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int) -> None:
        super().__init__()
        planes = expansion * in_channels
        self.stride = stride
        self.conv1 = WSConv2d(in_channels, planes, 1)
        self.gn1 = group_norm(planes)
        self.conv2 = WSConv2d(planes, planes, 3, stride=stride, padding=1, groups=planes)
        self.gn2 = group_norm(planes)
        self.conv3 = WSConv2d(planes, out_channels, 1)
        self.gn3 = group_norm(out_channels)
        self.shortcut: nn.Module | None = None
        if stride == 1:
            if in_channels == out_channels:
                self.shortcut = nn.Identity()
            else:
                conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
                self.shortcut = ConvNorm(conv, nn.BatchNorm2d(out_channels), relu=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.gn1(self.conv1(x)).relu()
        out = self.gn2(self.conv2(out)).relu()
        out = self.gn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return out


def mobilenetv2_units(width: float = 1.0) -> list[tuple[str, nn.Module]]:
    """Named units ``[("stem", …), ("stage1.0", …), …, ("stage7.0", …), ("final", …)]``, initialised (Q6).

    `width` scales every channel count including the final 1280 (rounded to a multiple of 4, at least 4).
    Input B×3×H×W; ``stem`` outputs B×32·w×H×W (WSConv3×3 stride 1 + GN, no ReLU); ``final`` outputs
    B×1280·w×H/8×W/8 (WSConv1×1 + GN, no ReLU).
    """
    stem_c = scale_channels(STEM_CHANNELS, width)
    units: list[tuple[str, nn.Module]] = [
        ("stem", ConvNorm(WSConv2d(3, stem_c, 3, padding=1), group_norm(stem_c), relu=False))
    ]
    in_c = stem_c
    for k, (t, c, n, s) in enumerate(MOBILENETV2_CFG, start=1):
        out_c = scale_channels(c, width)
        for i in range(n):
            units.append((f"stage{k}.{i}", InvertedResidual(in_c, out_c, t, s if i == 0 else 1)))
            in_c = out_c
    final_c = scale_channels(FINAL_CHANNELS, width)
    units.append(("final", ConvNorm(WSConv2d(in_c, final_c, 1), group_norm(final_c), relu=False)))
    for _, unit in units:
        init_weights(unit)  # Xavier for the plain Conv2d shortcuts only
    return units


def mobilenetv2_feature_dim(width: float = 1.0) -> int:
    """Pooled backbone feature size F = 1280·width (rounded to a multiple of 4)."""
    return scale_channels(FINAL_CHANNELS, width)
