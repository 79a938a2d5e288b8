"""Forward FLOPs per image of a traced network's client and server, counted node by node from the cut plan's shapes.

The convention is fvcore's (:mod:`sflaudit.profiles.flops`, 1 FLOP = 1 multiply-add): conv = output elements ·
C_in/groups · kernel area; linear = input elements · out features; GroupNorm and LayerNorm = 5·numel with an affine
transform (4 without); BatchNorm (eval) = 2·numel (1 without); adaptive average pooling = input elements. Every
other operation counts 0 and is named in ``uncounted`` (element-wise activations, additions). One pass over the
graph instead of fvcore's trace of every client and server: a 224×224 ResNet-50's 49 cuts take well under a second,
and the tests hold the two counts equal on the paper's networks at every depth.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import fx, nn

from sflaudit.models.graphcut import GraphPlan, is_layer

from sflaudit.profiles.flops import FlopCount, SplitFlops, count_flops, moco_projector

_POOLS = (F.adaptive_avg_pool2d, F.adaptive_avg_pool1d)


def _shape(p: GraphPlan, node: object) -> tuple[int, ...] | None:
    return p.shapes.get(node.name) if isinstance(node, fx.Node) else None


def _norm(m: nn.Module, numel: int) -> int:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return numel * (2 if m.affine else 1)
    affine = getattr(m, "affine", getattr(m, "elementwise_affine", True))
    return numel * (5 if affine else 4)


def node_flops(gm: fx.GraphModule, p: GraphPlan, node: fx.Node) -> int | None:
    """Per-image FLOPs of one node; None for an operation the convention does not count."""
    out = _shape(p, node)
    first = _shape(p, node.args[0]) if node.args else None
    if out is None or first is None:
        return None
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.modules.conv._ConvNd):
            return math.prod(out) * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        if isinstance(m, nn.Linear):
            return math.prod(first) * m.out_features
        if isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            return _norm(m, math.prod(first))
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return math.prod(first)
        return None
    if node.op == "call_function" and node.target in _POOLS:
        return math.prod(first)
    if node.op == "call_function" and is_layer(gm, node):
        weight = _shape(p, node.args[1])
        if node.target is F.linear:
            return math.prod(first) * (_weight_rows(gm, node) or 0)
        return math.prod(out) * math.prod((weight or ())[1:]) if weight else None
    return None


def _weight_rows(gm: fx.GraphModule, node: fx.Node) -> int | None:
    weight = node.args[1]
    if isinstance(weight, fx.Node) and weight.op == "get_attr":
        return int(gm.get_parameter(str(weight.target)).shape[0])
    return None


def _op_name(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    return getattr(node.target, "__name__", str(node.target))


def graph_flops(gm: fx.GraphModule, p: GraphPlan) -> FlopCount:
    """The FLOPs of every computing node of `gm` (a client or server graph cut from the plan's network)."""
    total, by_op, uncounted = 0, {}, {}
    for node in gm.graph.nodes:
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        count = node_flops(gm, p, node)
        name = _op_name(gm, node)
        if count is None:
            uncounted[name] = uncounted.get(name, 0) + 1
        else:
            total += count
            by_op[name] = by_op.get(name, 0) + count
    return FlopCount(total=total, by_operator=by_op, uncounted=uncounted)


@lru_cache(maxsize=16)
def _projector_flops(feature_dim: int, moco_version: str) -> FlopCount:
    """fvcore's count of the MoCo projector on one B×F row (one trace per feature size and version)."""
    return count_flops(moco_projector(feature_dim, moco_version), torch.zeros(1, feature_dim))


def graph_split_flops(arch: str, depth: int, *, norm: str = "groupnorm", input_size: int = 32,
                      projector: bool = True, moco_version: str = "V2") -> SplitFlops:
    """:class:`~sflaudit.profiles.flops.SplitFlops` of a traced network's cut, from one pass over its graph; the
    projector (when counted) by fvcore on its own."""
    from sflaudit.models.graphnets import graph_cut, graph_plan

    _, p = graph_plan(arch, norm, input_size)
    cut, client, server = graph_cut(arch, depth, norm=norm, input_size=input_size)
    server_count = graph_flops(server.net, p)
    if projector:
        head = _projector_flops(cut.feature_dim, moco_version)
        by_op = dict(server_count.by_operator)
        for name, n in head.by_operator.items():
            by_op[name] = by_op.get(name, 0) + n
        server_count = FlopCount(server_count.total + head.total, by_op, server_count.uncounted)
    sent = cut.frontier.sent
    server_input = (sum(c for c, _, _ in sent), *sent[0][1:]) if cut.frontier.aligned else \
        (sum(c * h * w for c, h, w in sent),)
    return SplitFlops(client=graph_flops(client.net, p), server=server_count, server_input=server_input)
