"""A user's own CIFAR network for ``model.arch = "cifar_vgg:vgg11_quarter"`` (not a script: a module to import).

VGG-11's eight 3×3 convolutions at a quarter of its widths (16, 32, 64, 64, 128, 128, 128, 128), each followed by
BatchNorm and ReLU, with max-pooling after convs 1, 2, 4 and 6 (32 → 2 pixels), then global average pooling → B×128.
About 10 MMAC per 32×32 image, a third of the ``cifar10-cpu`` preset's quarter-width ResNet-18. sflaudit replaces its
BatchNorm with GroupNorm (``model.norm``) and finds its 8 cuts by tracing it. ``benchmarks/usernet_sweep.sh`` puts
``benchmarks/`` on ``PYTHONPATH`` so that the name imports.
"""

from __future__ import annotations

from torch import nn

_PLAN: tuple[int | str, ...] = (16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128)


def vgg11_quarter() -> nn.Module:
    """The network: B×3×32×32 → B×128."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _PLAN:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        assert isinstance(item, int)
        layers += [nn.Conv2d(channels, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
        channels = item
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)
