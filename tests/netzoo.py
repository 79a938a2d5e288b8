"""User networks for the traced-network tests: ``model.arch = "netzoo:<factory>"`` (tests/ is on sys.path)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sflaudit.models import build_backbone, split_model


class TinyNet(nn.Module):
    """A user's own CNN: conv–BN–ReLU, a residual pair, conv, global pool → B×16. 4 main-path convs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = x + self.b(torch.relu(self.a(x)))
        return torch.flatten(self.pool(torch.relu(self.head(x))), 1)


class Branchy(nn.Module):
    """Control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:
            return self.conv(x)
        return self.conv(-x)


def tiny() -> nn.Module:
    return TinyNet()


def branchy() -> nn.Module:
    return Branchy()


def not_a_module() -> int:
    return 3


def resnet18_hand() -> nn.Module:
    """The paper's hand-built ResNet-18 (GroupNorm, WS convs) at width 0.25, as a user module."""
    return build_backbone("resnet18", 0.25)


def mobilenetv2_hand() -> nn.Module:
    return build_backbone("mobilenetv2", 0.25)


def hand_convs(arch: str, depth: int) -> int:
    """Main-path convs on a hand table's client at `depth` (MobileNetV2's depth counts blocks, not convs): the depth
    of the same cut in the traced network."""
    with torch.device("meta"):
        client = split_model(arch, depth).client
    return sum(1 for name, m in client.named_modules() if isinstance(m, nn.Conv2d) and "shortcut" not in name)
