"""Cut depths: which units go to the client, what crosses the cut, and the split into client and server modules.

Depth d = number of main-path conv layers on the client:

* ResNet-18/34: depth 1 = stem; depth 2k+1 = stem + k whole BasicBlocks; depth 2k+2 = stem + k whole blocks + the
  first half of block k+1 (conv1+GN+ReLU and its shortcut branch). At such a mid-block cut the client sends
  ``cat([mid, shortcut], dim=1)`` and the server's first unit splits it in half, finishes conv2+GN, adds, ReLU.
  Reference cut N = depth 2N−1.
* MobileNetV2: depth 1 = stem, 2..18 = stem + the first d−1 inverted-residual blocks, 19 = + final 1×1 conv + GN.
* A traced network (``torchvision:…``, ``package.module:callable``): a cut after every main-path conv or linear
  layer, found by :mod:`sflaudit.models.graphcut` and built by :mod:`sflaudit.models.graphnets`.

The server is the remaining units + global average pool + flatten (B×F), without projector. Client and server are
:class:`~sflaudit.models.layers.Chain` modules whose state-dict keys are those of :func:`build_backbone` for the
same units (``stem.conv.weight``, ``layer1.0.conv1.weight``, ``stage2.1.gn3.bias``, ``final.norm.weight``, …), so
checkpointed client state dicts load into ``split_model(arch, depth, width=…).client``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sflaudit.architectures import ARCHS as PLUGIN_ARCHS
from sflaudit.architectures import BUILTIN_ARCHS, ArchPlugin, arch_names
from sflaudit.errors import SflauditError
from sflaudit.models.bottleneck import bottleneck_layers, parse_bottleneck  # noqa: F401
from sflaudit.models.cutinfo import CutInfo, SplitModel
from sflaudit.models.graphnets import graph_depths, graph_feature_dim, graph_info, graph_split_model
from sflaudit.models.layers import Chain, GlobalPool
from sflaudit.models.mobilenetv2 import mobilenetv2_feature_dim, mobilenetv2_units
from sflaudit.models.resnet import RESNET_BLOCKS, BasicBlock, resnet_feature_dim, resnet_units, split_block
from sflaudit.models.usernets import is_graph_arch

ARCHS: tuple[str, ...] = BUILTIN_ARCHS        # hand tables; registered plug-ins: sflaudit.architectures

_MAX_DEPTH = {"resnet18": 17, "resnet34": 33, "mobilenetv2": 19}

_MOBILENETV2_STAGE_DEPTHS = (1, 2, 4, 7, 11, 14, 17, 18, 19)
"""Depth of the reference's MobileNetV2 ``cutlayer`` 1..9: stem, ends of stages 1..7 (after blocks
1, 3, 6, 10, 13, 16, 17), final conv."""


def _plugin(arch: str) -> ArchPlugin | None:
    """The registered plug-in of ``arch`` (None for a built-in or a traced network); one line for an unknown name."""
    if arch in ARCHS or is_graph_arch(arch):
        return None
    if arch not in PLUGIN_ARCHS:
        raise SflauditError(f"unknown arch {arch!r} (valid: {', '.join(arch_names())})")
    return PLUGIN_ARCHS.get(arch)


def _check_arch(arch: str) -> None:
    _plugin(arch)


def _check_width(width: float) -> None:
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise SflauditError(f"width {width!r} must be a positive number")


def _check_input_size(input_size: int) -> None:
    if not (isinstance(input_size, int) and input_size >= 1):
        raise SflauditError(f"input_size {input_size!r} must be a positive integer")


def depth_range(arch: str) -> range:
    """Valid depths: resnet18 1..17, resnet34 1..33, mobilenetv2 1..19; a plug-in 1..its number of units; a traced
    network 1..its main-path conv/linear layers (:mod:`sflaudit.models.graphcut`)."""
    if is_graph_arch(arch):
        depths = graph_depths(arch)
        return range(depths[0], depths[-1] + 1)
    plugin = _plugin(arch)
    if plugin is not None:
        with torch.device("meta"):
            return range(1, len(plugin.units(1.0)) + 1)
    return range(1, _MAX_DEPTH[arch] + 1)


def check_depth(arch: str, depth: int) -> None:
    """Raise :class:`SflauditError` for an unknown arch or a depth outside :func:`depth_range`."""
    valid = depth_range(arch)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in valid:
        raise SflauditError(f"depth {depth!r} is out of range for {arch} ({valid.start}..{valid.stop - 1})")


def reference_cut_to_depth(arch: str, cut: int) -> int:
    """sflaudit depth of the reference code's ``cutlayer``.

    ResNet: 2·cut − 1 (cut 1..1+blocks). MobileNetV2: stage map of protocol §2.2, cuts 1..9 → depths
    1, 2, 4, 7, 11, 14, 17, 18, 19.
    """
    if _plugin(arch) is not None or is_graph_arch(arch):
        raise SflauditError(f"the reference code has no cut table for {arch}")
    top = 9 if arch == "mobilenetv2" else 1 + sum(RESNET_BLOCKS[arch])
    if isinstance(cut, bool) or not isinstance(cut, int) or not 1 <= cut <= top:
        raise SflauditError(f"reference cut {cut!r} is out of range for {arch} (1..{top})")
    return _MOBILENETV2_STAGE_DEPTHS[cut - 1] if arch == "mobilenetv2" else 2 * cut - 1


def feature_dim(arch: str, width: float = 1.0) -> int:
    """Backbone feature size F after global pooling (512·width for ResNet, 1280·width for MobileNetV2)."""
    plugin = _plugin(arch)
    _check_width(width)
    if is_graph_arch(arch):
        return graph_feature_dim(arch, width)
    if plugin is not None:
        return plugin.feature_dim(width)
    return mobilenetv2_feature_dim(width) if arch == "mobilenetv2" else resnet_feature_dim(width)


def _units(arch: str, width: float) -> list[tuple[str, nn.Module]]:
    plugin = _plugin(arch)
    if plugin is not None:
        return list(plugin.units(width))
    return mobilenetv2_units(width) if arch == "mobilenetv2" else resnet_units(arch, width)


def _sends_two(arch: str, depth: int) -> bool:
    """A ResNet mid-block cut sends the block's mid activation and its shortcut output."""
    return arch in RESNET_BLOCKS and depth % 2 == 0


def build_backbone(arch: str, width: float = 1.0) -> Chain:
    """The unsplit backbone: x B×3×H×W → B×F (all units + global average pool + flatten), whole BasicBlocks."""
    if is_graph_arch(arch):
        raise SflauditError(f"{arch} is a traced network: build it with sflaudit.models.usernets.build_network")
    _check_arch(arch)
    _check_width(width)
    return Chain([*_units(arch, width), ("pool", GlobalPool())])


def _split_units(
    arch: str, depth: int, width: float
) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]], tuple[str, ...]]:
    """(client units, server units incl. pool, human-readable client layer names)."""
    units = _units(arch, width)
    if not _sends_two(arch, depth):
        n = depth if arch not in RESNET_BLOCKS else 1 + (depth - 1) // 2
        client, server = units[:n], units[n:]
        names = tuple(name for name, _ in client)
    else:
        n = depth // 2  # stem + (depth/2 − 1) whole blocks
        name, block = units[n]
        assert isinstance(block, BasicBlock)
        front, back = split_block(block)
        client = [*units[:n], (name, front)]
        server = [(name, back), *units[n + 1 :]]
        names = (*(u for u, _ in units[:n]), f"{name}.conv1")
    return client, [*server, ("pool", GlobalPool())], names


def _conv_out(size: int, conv: nn.Conv2d) -> int:
    """Spatial output size of `conv` for a square input of side `size`."""
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    assert isinstance(p, int)
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _sent_shape(client: Chain, input_size: int) -> tuple[int, int]:
    """(C, side) of the client's last main-path conv output, following the main-path convs of every unit."""
    channels, side = 3, input_size
    for _, unit in client.named_units():
        for name, m in unit.named_modules():
            if isinstance(m, nn.Conv2d) and not name.startswith("shortcut"):
                channels, side = m.out_channels, _conv_out(side, m)
    return channels, side


def _with_bottleneck(arch: str, depth: int, input_size: int, client: list[tuple[str, nn.Module]],
                     server: list[tuple[str, nn.Module]], spec: str
                     ) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
    """Client units + ``bottleneck`` (compression) and ``expand`` (expansion) + server units; unchanged for none."""
    parsed = parse_bottleneck(spec)
    if parsed is None:
        return client, server
    channels, stride = parsed
    c, side = _sent_shape(Chain(client), input_size)
    if side % stride:
        raise SflauditError(f"defence.bottleneck = {spec!r}: stride {stride} does not divide the {side}×{side} "
                            f"activation at {arch} depth {depth}")
    k = 2 if _sends_two(arch, depth) else 1
    down, up = bottleneck_layers(c * k, channels, stride)
    return [*client, ("bottleneck", down)], [("expand", up), *server]


def _describe(
    arch: str, depth: int, width: float, input_size: int, client: Chain, names: tuple[str, ...],
    bottleneck: str = "none",
) -> CutInfo:
    """CutInfo of a client module (real or on the meta device); a bottleneck sends its one compressed tensor."""
    c, side = _sent_shape(client, input_size)
    k = 2 if _sends_two(arch, depth) and bottleneck == "none" else 1
    return CutInfo(
        arch=arch,
        depth=depth,
        width=float(width),
        client_layers=names,
        sent=((c, side, side),) * k,
        client_params=sum(t.numel() for t in client.state_dict().values()),
        feature_dim=feature_dim(arch, width),
    )


def cut_info(arch: str, depth: int, *, width: float = 1.0, input_size: int = 32,
             bottleneck: str = "none", norm: str = "groupnorm") -> CutInfo:
    """Describe the cut without allocating weights (the client is built on the meta device).

    `input_size` only changes the spatial sizes in ``sent``: the stem is the CIFAR one for every input size.
    `bottleneck` (``defence.bottleneck``, e.g. ``"C8S1"``) appends the compression: ``sent`` is then C×(h/S)×(w/S).
    `norm` (``model.norm``) applies to traced networks only (:mod:`sflaudit.models.usernets`).
    """
    check_depth(arch, depth)
    _check_width(width)
    _check_input_size(input_size)
    if is_graph_arch(arch):
        _no_bottleneck(arch, bottleneck)
        return graph_info(arch, depth, width=width, norm=norm, input_size=input_size)
    with torch.device("meta"):
        client_units, server_units, names = _split_units(arch, depth, width)
        client_units, _ = _with_bottleneck(arch, depth, input_size, client_units, server_units, bottleneck)
        client = Chain(client_units)
    return _describe(arch, depth, width, input_size, client, names, bottleneck)


def _no_bottleneck(arch: str, bottleneck: str) -> None:
    if parse_bottleneck(bottleneck) is not None:
        raise SflauditError(f"defence.bottleneck applies to the built-in networks and arch plug-ins, not to {arch}")


def split_model(arch: str, depth: int, *, width: float = 1.0, input_size: int = 32,
                bottleneck: str = "none", norm: str = "groupnorm", weights: str = "", meta: bool = False
                ) -> SplitModel:
    """Build a freshly initialised backbone split at `depth` into client and server (disjoint parameters).

    With the same torch seed, ``client`` and ``server`` hold exactly the weights of :func:`build_backbone`; a
    `bottleneck` (``"CxSy"``) adds the client's ``bottleneck`` and the server's ``expand`` unit, initialised after.
    A traced network (``torchvision:…``, ``module:callable``) takes `norm` and `weights` (``model.norm``,
    ``model.weights``); ``meta`` gives its cached meta-device modules (profiling only).
    """
    check_depth(arch, depth)
    _check_width(width)
    _check_input_size(input_size)
    if is_graph_arch(arch):
        _no_bottleneck(arch, bottleneck)
        return graph_split_model(arch, depth, width=width, norm=norm, input_size=input_size, weights=weights,
                                 meta=meta)
    client_units, server_units, names = _split_units(arch, depth, width)
    client_units, server_units = _with_bottleneck(arch, depth, input_size, client_units, server_units, bottleneck)
    client, server = Chain(client_units), Chain(server_units)
    return SplitModel(client, server, _describe(arch, depth, width, input_size, client, names, bottleneck))


def depth_table(arch: str, *, width: float = 1.0, input_size: int = 32) -> tuple[CutInfo, ...]:
    """:func:`cut_info` for every depth of `arch`, shallowest first."""
    return tuple(cut_info(arch, d, width=width, input_size=input_size) for d in depth_range(arch))
