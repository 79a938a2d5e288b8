"""Decoders that map cut-layer activations back to images (protocol §5.2), sized to the activation shape.

Names: ``res_normN{N}C{C}`` (the runs use ``res_normN4C64``) and ``conv_normN{N}C{C}``. Both are BatchNorm
variants with PyTorch default init, as the reference attacker builds them. The number of ×2 transposed-conv
up-samplings is ``up = log2(out_hw / in_hw)`` (32→0, 16→1, 8→2, 4→3 for 32×32 images).

Layout (C = width, N = extra middle blocks), ``unit`` = pre-activation ResBlock for ``res_norm``,
conv3×3 + BN for ``conv_norm``:
    unit(in→C), ReLU; N × [unit(C→C), ReLU];
    2 × [ConvT(C, C, 3, s2, p1, op1) + BN while up-samplings remain, else unit(C→C)], each + ReLU;
    (up − 2) × [ConvT + BN + ReLU];
    res_norm: ResBlock(C→3), Sigmoid.   conv_norm: conv3×3(C→3) + BN(3), Sigmoid.
"""

from __future__ import annotations

import math
import re

import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.errors import SflauditError

DECODER_FAMILIES = ("res_norm", "conv_norm")
_NAME = re.compile(r"^(res_norm|conv_norm)N(\d+)C(\d+)$")


class PreActResBlock(nn.Module):
    """``relu(bn0(x)) → conv3×3 → bn1 → relu → conv3×3`` + shortcut; no ReLU after the add.

    The shortcut is the identity, or conv1×1 (no bias) + BN when the channel count changes. Convs have bias.
    x: B×in_ch×H×W → B×out_ch×H×W.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut: nn.Module = nn.Identity()
        if in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.bn0(x)))
        out = self.conv2(F.relu(self.bn1(out)))
        return out + self.shortcut(x)


def _conv_bn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch))


def _up_bn(ch: int) -> nn.Sequential:
    """×2 spatial up-sampling: ConvTranspose(3, stride 2, pad 1, output pad 1) + BN. B×ch×H×W → B×ch×2H×2W."""
    return nn.Sequential(nn.ConvTranspose2d(ch, ch, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(ch))


def parse_decoder_name(name: str) -> tuple[str, int, int]:
    """``"res_normN4C64"`` → ``("res_norm", 4, 64)``.

    Raises:
        SflauditError: the name is not ``res_normN{N}C{C}`` / ``conv_normN{N}C{C}`` with N ≥ 0, C ≥ 1.
    """
    match = _NAME.match(name.strip())
    if match is None or int(match.group(3)) < 1:
        raise SflauditError(f"unknown decoder {name!r} (expected res_normN{{N}}C{{C}} or conv_normN{{N}}C{{C}} "
                            f"with N ≥ 0 and C ≥ 1, e.g. res_normN4C64)")
    return match.group(1), int(match.group(2)), int(match.group(3))


def upsampling_steps(in_hw: int, out_hw: int) -> int:
    """``log2(out_hw / in_hw)``; SflauditError unless out_hw = in_hw · 2^k with k ≥ 0."""
    if in_hw < 1 or out_hw < in_hw or out_hw % in_hw or (out_hw // in_hw) & (out_hw // in_hw - 1):
        raise SflauditError(f"decoder cannot map a {in_hw}×{in_hw} activation to {out_hw}×{out_hw} images "
                            f"(the image size must be the activation size times a power of two)")
    return int(math.log2(out_hw // in_hw))


def build_decoder(name: str, in_channels: int, in_hw: int, out_hw: int = 32) -> nn.Module:
    """Decoder ``name`` for activations B×in_channels×in_hw×in_hw → images B×3×out_hw×out_hw in [0, 1].

    At a mid-block cut the activation is already the channel concatenation of both sent tensors, so
    ``in_channels`` is 2·C there.
    """
    family, n_mid, width = parse_decoder_name(name)
    if in_channels < 1:
        raise SflauditError(f"decoder input channels must be ≥ 1, got {in_channels}")
    up = upsampling_steps(in_hw, out_hw)

    def unit(i: int, o: int) -> nn.Module:
        return PreActResBlock(i, o) if family == "res_norm" else _conv_bn(i, o)

    layers: list[nn.Module] = [unit(in_channels, width), nn.ReLU()]
    for _ in range(n_mid):
        layers += [unit(width, width), nn.ReLU()]
    for k in range(2):
        layers += [_up_bn(width) if up > k else unit(width, width), nn.ReLU()]
    for _ in range(up - 2):
        layers += [_up_bn(width), nn.ReLU()]
    if family == "res_norm":
        layers += [PreActResBlock(width, 3), nn.Sigmoid()]
    else:
        layers += [_conv_bn(width, 3), nn.Sigmoid()]
    return nn.Sequential(*layers)
