"""Split a traced network (``torchvision:…`` or ``package.module:callable``) into the client and server modules the
trainer, the attacks and the profiler use.

:class:`GraphClient` x B×3×S×S → the packed frontier (:mod:`sflaudit.models.frontier`); :class:`GraphServer` packed
frontier → B×F (global average pooling when the network ends in a feature map). Their state-dict keys are the
network's under ``net.`` (``net.features.0.0.weight``). The cut plan (depths, shapes, layer names) is computed once
per (arch, norm, image size) on the meta device and cached; a real split re-traces a freshly built network, whose
node names are the plan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from sflaudit.errors import SflauditError
from sflaudit.models.cutinfo import CutInfo, SplitModel
from sflaudit.models.frontier import Frontier, pack, unpack
from sflaudit.models.graphcut import GraphPlan, plan, split_graph, trace
from sflaudit.models.usernets import build_network


class GraphClient(nn.Module):
    """Client half: x B×3×S×S → :func:`~sflaudit.models.frontier.pack` of the frontier tensors."""

    def __init__(self, net: fx.GraphModule, frontier: Frontier) -> None:
        super().__init__()
        self.net = net
        self.frontier = frontier

    def forward(self, x: Tensor) -> Tensor:
        return pack(self.net(x), self.frontier)


class GraphServer(nn.Module):
    """Server half: packed frontier → B×F (a B×C×h×w output is averaged over h×w)."""

    def __init__(self, net: fx.GraphModule, frontier: Frontier) -> None:
        super().__init__()
        self.net = net
        self.frontier = frontier

    def forward(self, h: Tensor) -> Tensor:
        y = self.net(*unpack(h, self.frontier))
        return torch.flatten(F.adaptive_avg_pool2d(y, 1), 1) if y.dim() == 4 else y


@dataclass(frozen=True)
class GraphCut:
    """One cut of a traced network: the frontier, the client's layers and the layer the cut follows."""

    frontier: Frontier
    client_layers: tuple[str, ...]
    after: str
    feature_dim: int


def _check_width(arch: str, width: float) -> None:
    if float(width) != 1.0:
        raise SflauditError(f"model.width = {width} applies to the built-in networks only; {arch} is cut as "
                            f"built (set model.width = 1)")


_PLANNED: dict[tuple[str, str], GraphPlan] = {}    # (arch, norm) → the first plan made, any size


@lru_cache(maxsize=8)
def graph_plan(arch: str, norm: str = "groupnorm", input_size: int = 32) -> tuple[fx.GraphModule, GraphPlan]:
    """The meta-device trace of `arch` and its :class:`~sflaudit.models.graphcut.GraphPlan` (cached)."""
    gm = trace(_meta_network(arch, norm).train(), arch)
    p = plan(gm, input_size, arch)
    _PLANNED.setdefault((arch, norm), p)
    return gm, p


def _meta_network(arch: str, norm: str) -> nn.Module:
    """`arch` built on the meta device; a builder that computes with tensors while it builds (torchvision's RegNets
    derive their widths with torch ops) is built on the CPU and then moved."""
    try:
        with torch.device("meta"):
            return build_network(arch, norm=norm)
    except (NotImplementedError, RuntimeError, SflauditError) as exc:
        if "meta" not in str(exc):
            raise
    return build_network(arch, norm=norm).to("meta")


def _any_plan(arch: str, norm: str) -> GraphPlan:
    """A plan of `arch` at any image size (depths and feature size do not depend on it): one made already, else
    planned at 32×32, or at 224×224 for a network that needs larger images."""
    if (arch, norm) in _PLANNED:
        return _PLANNED[(arch, norm)]
    try:
        return graph_plan(arch, norm, 32)[1]
    except SflauditError as exc:
        if "does not run on" not in str(exc):
            raise
        return graph_plan(arch, norm, 224)[1]


def graph_depths(arch: str, norm: str = "groupnorm") -> tuple[int, ...]:
    """The depths offered for `arch` (ascending)."""
    return _any_plan(arch, norm).depths


def graph_feature_dim(arch: str, width: float = 1.0, norm: str = "groupnorm") -> int:
    """F: the channels of the network's output (its pooled features)."""
    _check_width(arch, width)
    return _any_plan(arch, norm).output_shape[0]


def _cut(arch: str, gm: fx.GraphModule, p: GraphPlan, depth: int) -> tuple[GraphCut, fx.GraphModule, fx.GraphModule]:
    parts = split_graph(gm, p, depth, arch)
    frontier = Frontier(tuple(p.shapes[n] for n in parts.frontier))  # type: ignore[misc]
    feature_dim = p.output_shape[0]
    return GraphCut(frontier, parts.client_layers, p.cut_layers[depth], feature_dim), parts.client, parts.server


def graph_cut(arch: str, depth: int, *, width: float = 1.0, norm: str = "groupnorm", input_size: int = 32
              ) -> tuple[GraphCut, GraphClient, GraphServer]:
    """The cut at `depth` on meta-device modules (shapes, parameter counts, FLOPs; no weights), cached: shared,
    never to be trained or changed (copy them first)."""
    _check_width(arch, width)
    return _meta_cut(arch, depth, norm, input_size)


@lru_cache(maxsize=256)
def _meta_cut(arch: str, depth: int, norm: str, input_size: int) -> tuple[GraphCut, GraphClient, GraphServer]:
    gm, p = graph_plan(arch, norm, input_size)
    cut, client, server = _cut(arch, gm, p, depth)
    return cut, GraphClient(client, cut.frontier), GraphServer(server, cut.frontier)


def graph_split(arch: str, depth: int, *, width: float = 1.0, norm: str = "groupnorm", input_size: int = 32,
                weights: str = "") -> tuple[GraphCut, GraphClient, GraphServer]:
    """A freshly built network (torch's RNG, or `weights`) split at `depth` into disjoint client and server."""
    _check_width(arch, width)
    _, p = graph_plan(arch, norm, input_size)
    gm = trace(build_network(arch, norm=norm, weights=weights).train(), arch)
    if {n.name for n in gm.graph.nodes} != set(p.dist_in):
        raise SflauditError(f"cannot cut {arch}: two traces of it differ (its forward is not deterministic)")
    cut, client, server = _cut(arch, gm, p, depth)
    return cut, GraphClient(client, cut.frontier), GraphServer(server, cut.frontier)


def _info(arch: str, depth: int, cut: GraphCut, client: nn.Module) -> CutInfo:
    return CutInfo(arch=arch, depth=depth, width=1.0, client_layers=cut.client_layers, sent=cut.frontier.sent,
                   client_params=sum(t.numel() for t in client.state_dict().values()), feature_dim=cut.feature_dim,
                   after=cut.after, frontier=cut.frontier)


def graph_info(arch: str, depth: int, *, width: float = 1.0, norm: str = "groupnorm", input_size: int = 32
               ) -> CutInfo:
    """:class:`~sflaudit.models.cutinfo.CutInfo` of a traced network's cut (no weights allocated)."""
    cut, client, _ = graph_cut(arch, depth, width=width, norm=norm, input_size=input_size)
    return _info(arch, depth, cut, client)


def graph_split_model(arch: str, depth: int, *, width: float = 1.0, norm: str = "groupnorm", input_size: int = 32,
                      weights: str = "", meta: bool = False) -> SplitModel:
    """The split of a traced network: freshly built (or `weights`), or with ``meta`` the cached meta-device modules
    (shapes, parameter counts and FLOPs only; never train them)."""
    if meta:
        cut, client, server = graph_cut(arch, depth, width=width, norm=norm, input_size=input_size)
    else:
        cut, client, server = graph_split(arch, depth, width=width, norm=norm, input_size=input_size,
                                          weights=weights)
    return SplitModel(client, server, _info(arch, depth, cut, client))
