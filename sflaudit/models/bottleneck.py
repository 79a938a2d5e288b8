"""The ``defence.bottleneck`` compression at the cut (protocol §1.10): its ``CxSy`` spec and its layers."""

from __future__ import annotations

import re

from torch import nn

from sflaudit.errors import SflauditError


def parse_bottleneck(spec: str) -> tuple[int, int] | None:
    """``defence.bottleneck``: ``"none"`` → None; ``"C8S1"`` → (8, 1): C ≥ 1 channels, stride S = 1, 2, 4, …"""
    if spec == "none":
        return None
    match = re.fullmatch(r"C([1-9][0-9]*)S([1-9][0-9]*)", spec)
    if match is None or int(match[2]) & (int(match[2]) - 1):
        raise SflauditError(f"defence.bottleneck = {spec!r} is not 'none' or CxSy (x channels ≥ 1, stride y a "
                            "power of two, e.g. C8S1, C4S2)")
    return int(match[1]), int(match[2])


def bottleneck_layers(in_channels: int, channels: int, stride: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(client compression, server expansion) of a CxSy bottleneck (protocol §1.10): stride 1 → one 3×3 conv
    in→C (and C→in back); stride S ≥ 2 → log2 S stride-2 3×3 convs (ConvTranspose2d back, each doubling the side);
    ReLU after every layer, as the reference. B×in×h×w → B×C×(h/S)×(w/S) → B×in×h×w."""
    steps = max(1, stride.bit_length() - 1)
    down: list[nn.Module] = []
    up: list[nn.Module] = []
    for i in range(steps):
        src, dst = (in_channels if i == 0 else channels), channels
        if stride == 1:
            down += [nn.Conv2d(src, dst, 3, 1, 1), nn.ReLU()]
        else:
            down += [nn.Conv2d(src, dst, 3, 2, 1), nn.ReLU()]
        out = in_channels if i == steps - 1 else channels
        up += ([nn.Conv2d(channels, out, 3, 1, 1)] if stride == 1
               else [nn.ConvTranspose2d(channels, out, 3, 2, 1, output_padding=1)]) + [nn.ReLU()]
    return nn.Sequential(*down), nn.Sequential(*up)
