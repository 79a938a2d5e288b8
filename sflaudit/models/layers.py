"""Building blocks shared by the backbones: weight-standardised convs, GroupNorm, width scaling, init, `Chain`.

Every backbone is a :class:`Chain` of named units (``stem``, ``layer1.0``, …, ``pool``). A unit's name is the prefix
of its state-dict keys, so a client or server built from a subset of the units has exactly the keys the unsplit
backbone has for those units (``stem.conv.weight``, ``layer1.0.conv1.weight``, …).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.models.weight_std import standardize_weight

CHANNELS_PER_GROUP = 4
"""GroupNorm group size used everywhere (protocol §2: ``NUM_CHANNEL_GROUP = 4``)."""

WS_EPS = 1e-5


class WSConv2d(nn.Conv2d):
    """Conv2d with weight standardisation (protocol §2), bias-free by default.

    Each output filter ``w[o]`` (shape in/groups × kh × kw) is replaced by ``(w[o] − mean) / (std + 1e-5)`` with the
    mean and the *unbiased* std taken over (in, kh, kw). The stored parameter keeps PyTorch's default
    Kaiming-uniform(a=√5) init (protocol Q6: the reference's init skips WS convs).

    Shapes: x B×C_in×H×W → B×C_out×H'×W' as for :class:`torch.nn.Conv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias
        )

    def standardized_weight(self) -> Tensor:
        """The weight actually convolved: C_out×(C_in/groups)×kh×kw, zero mean and unit std per output filter."""
        return standardize_weight(self.weight, WS_EPS)   # unbiased std (N − 1), as in the reference

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.standardized_weight(), self.bias)


def group_norm(channels: int) -> nn.GroupNorm:
    """``GroupNorm(channels // 4, channels)``: 4 channels per group; `channels` must be a multiple of 4."""
    if channels % CHANNELS_PER_GROUP != 0:
        raise ValueError(f"group_norm needs a multiple of {CHANNELS_PER_GROUP} channels, got {channels}")
    return nn.GroupNorm(channels // CHANNELS_PER_GROUP, channels)


def scale_channels(channels: int, width: float) -> int:
    """Channel count ``channels × width`` rounded half-up to a multiple of 4, at least 4.

    >>> scale_channels(64, 1.0), scale_channels(24, 0.25), scale_channels(16, 0.25)
    (64, 8, 4)
    """
    return max(CHANNELS_PER_GROUP, int(channels * width / CHANNELS_PER_GROUP + 0.5) * CHANNELS_PER_GROUP)


def init_weights(module: nn.Module) -> None:
    """Reference init (protocol §2, Q6): Xavier-uniform weight and zero bias for modules whose type is *exactly*
    ``nn.Conv2d``, ``nn.ConvTranspose2d`` or ``nn.Linear``; subclasses such as :class:`WSConv2d` keep their default."""
    for m in module.modules():
        if type(m) in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear):
            assert isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ConvNorm(nn.Sequential):
    """``conv`` then ``norm`` (then ReLU if `relu`); state-dict keys ``conv.weight``, ``norm.weight``, ``norm.bias``.

    Shapes: B×C_in×H×W → B×C_out×H'×W'.
    """

    def __init__(self, conv: nn.Conv2d, norm: nn.Module, *, relu: bool) -> None:
        super().__init__()
        self.conv = conv
        self.norm = norm
        if relu:
            self.relu = nn.ReLU(inplace=True)


class GlobalPool(nn.Module):
    """Global average pool + flatten: B×C×H×W → B×C (works for any memory format)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class Chain(nn.Module):
    """Applies named units in order; ``Chain([("stem", a), ("layer1.0", b)])`` has keys ``stem.*``, ``layer1.0.*``.

    Dotted names create nested :class:`torch.nn.ModuleDict` containers, so ``layer1.1`` may appear without
    ``layer1.0`` (the server of a split keeps the unsplit backbone's key names).
    """

    def __init__(self, units: Sequence[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.unit_names: tuple[str, ...] = tuple(name for name, _ in units)
        if len(set(self.unit_names)) != len(self.unit_names):
            raise ValueError(f"duplicate unit names in {self.unit_names}")
        self._units: list[nn.Module] = []  # plain list (not registered twice); deepcopy keeps it consistent
        for name, unit in units:
            parent: nn.Module = self
            *path, leaf = name.split(".")
            for part in path:
                child = parent._modules.get(part)
                if child is None:
                    child = nn.ModuleDict()
                    parent.add_module(part, child)
                parent = child
            parent.add_module(leaf, unit)
            self._units.append(unit)

    def named_units(self) -> list[tuple[str, nn.Module]]:
        """The units in forward order with their dotted names."""
        return list(zip(self.unit_names, self._units))

    def forward(self, x: Tensor) -> Tensor:
        for unit in self._units:
            x = unit(x)
        return x
