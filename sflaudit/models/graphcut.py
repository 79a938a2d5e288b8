"""Cut points found automatically: a backbone traced with torch.fx, cut after each main-path conv or linear layer.

Depth (the paper's definition, generalised): the number of main-path conv/linear layers on the client. A layer is
on the main path when it lies on a longest input→output path counted in such layers, so a ResNet's 1×1 shortcut
conv is not (it runs beside conv1), while a squeeze-excitation branch is (it is the longer way round).

For every node v of the graph, ``dist_in(v)`` is the largest number of layers on a path from the input to v (v
included). The client at depth d holds every node with ``dist_in ≤ d``: the d-th layer, its norm and activation,
and whatever else runs before the (d+1)-th — at a cut inside a residual block that includes the shortcut branch,
as in the hand tables. At the deepest cut, global pooling (the first node after the last layer that changes the
shape) and what follows stay on the server. A depth whose server would compute nothing is not offered.

The client sends every node it holds that a server node reads (:class:`~sflaudit.models.frontier.Frontier`).
Client and server are :class:`torch.fx.GraphModule` s cut from one trace; their state-dict keys are the unsplit
network's (``layer1.0.conv1.weight``, ``features.3.block.1.0.weight``, …).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re
import traceback
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from sflaudit.errors import SflauditError

LAYER_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
LAYER_FUNCTIONS = (F.conv1d, F.conv2d, F.conv3d, F.linear, torch.conv2d)
LEAF_MODULES = (*LAYER_MODULES, nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


class _Tracer(fx.Tracer):
    """torch.fx tracer that keeps every conv, linear and norm module (subclasses included) as one node."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, module_qualified_name)


def _where(exc: BaseException) -> str:
    """``file:line: code`` of the deepest frame outside torch where tracing failed ('' if none)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/torch/" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno}: {(f.line or '').strip()})"


def trace(net: nn.Module, name: str) -> fx.GraphModule:
    """The traced network; SflauditError naming the operation that torch.fx cannot trace."""
    try:
        graph = _Tracer().trace(net)
    except Exception as exc:  # noqa: BLE001 — any tracing failure becomes one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SflauditError(f"cannot cut {name}: torch.fx cannot trace it: {first}{_where(exc)}") from None
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise SflauditError(f"cannot cut {name}: its forward must take one image tensor, it takes "
                            f"{len(placeholders)} inputs")
    return fx.GraphModule(net, graph)


def is_layer(gm: fx.GraphModule, node: fx.Node) -> bool:
    """A conv or linear layer: a module call of Conv*/Linear, or F.conv*/F.linear."""
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), LAYER_MODULES)
    return node.op == "call_function" and node.target in LAYER_FUNCTIONS


def _inputs(node: fx.Node) -> list[fx.Node]:
    return [a for a in node.all_input_nodes if a.op != "get_attr"]


@dataclass(frozen=True)
class GraphPlan:
    """What a traced network's cuts are, computed once per network and image size (node names are stable).

    Attributes:
        dist_in: node name → most layers on a path from the input to it (itself included).
        shapes: node name → per-image output shape (None for non-tensors), from a meta-device run.
        depths: the offered depths, ascending.
        cut_layers: depth → name of the main-path layer the cut follows (module path, e.g. ``features.5.block.2.0``).
        tail: names of the nodes that stay on the server at every depth (global pooling and after).
        output_shape: per-image shape of the network's output (F or C×h×w).
    """

    dist_in: dict[str, int]
    shapes: dict[str, tuple[int, ...] | None]
    depths: tuple[int, ...]
    cut_layers: dict[int, str]
    tail: frozenset[str]
    output_shape: tuple[int, ...]


def _layer_name(node: fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else node.name


def _shapes(gm: fx.GraphModule, input_size: int) -> dict[str, tuple[int, ...] | None]:
    """Per-image output shape of every node, by running the graph on the meta device (no arithmetic)."""
    from torch.fx.passes.shape_prop import ShapeProp

    if any(t.device.type != "meta" for t in [*gm.parameters(), *gm.buffers()]):
        gm = copy.deepcopy(gm).to("meta")
    try:   # ShapeProp prints the failing node's traceback before it re-raises: keep it off the user's terminal
        with contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(torch.empty(1, 3, input_size, input_size, device="meta"))
    except Exception as exc:  # noqa: BLE001
        cause = exc.__cause__ or exc                     # ShapeProp wraps the operator's own error
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        node = re.search(r"node=%(\S+)", str(exc))
        where = f" (at {node.group(1)})" if node else ""
        raise SflauditError(f"the network does not run on {input_size}×{input_size} images{where}: {first}; set a "
                            "larger image size (profile --input-size, data.image_size)") from None
    out: dict[str, tuple[int, ...] | None] = {}
    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        out[node.name] = tuple(meta.shape[1:]) if hasattr(meta, "shape") else None
    return out


def plan(gm: fx.GraphModule, input_size: int, name: str) -> GraphPlan:
    """Analyse a traced network (built on the meta device) for images of side `input_size`."""
    nodes = list(gm.graph.nodes)
    output = nodes[-1]
    dist_in: dict[str, int] = {}
    for node in nodes:
        dist_in[node.name] = max((dist_in[a.name] for a in _inputs(node)), default=0) + is_layer(gm, node)
    dist_out: dict[str, int] = {}
    for node in reversed(nodes):
        dist_out[node.name] = max((dist_out[u.name] for u in node.users), default=0) + is_layer(gm, node)
    total = dist_in[output.name]
    if total == 0:
        raise SflauditError(f"cannot cut {name}: it has no conv or linear layer")
    shapes = _shapes(gm, input_size)
    out_shape = shapes[output.name]
    if out_shape is None or len(out_shape) not in (1, 3):
        raise SflauditError(f"cannot cut {name}: its forward must return one B×F or B×C×H×W tensor")
    tail: set[str] = {output.name}
    for node in nodes:
        ins = _inputs(node)
        if dist_out[node.name] == 0 and node.op not in ("placeholder", "output") and (
                any(a.name in tail for a in ins) or (ins and shapes[node.name] != shapes[ins[0].name])):
            tail.add(node.name)
    cut_layers: dict[int, str] = {}
    for node in nodes:
        if is_layer(gm, node) and dist_in[node.name] + dist_out[node.name] - 1 == total:
            cut_layers.setdefault(dist_in[node.name], _layer_name(node))
    depths = tuple(d for d in range(1, total + 1)
                   if any(dist_in[n.name] > d or n.name in tail for n in nodes if n.op != "output"))
    return GraphPlan(dist_in, shapes, depths, {d: cut_layers[d] for d in depths}, frozenset(tail), out_shape)


def _numel(p: GraphPlan, node: fx.Node) -> int | None:
    shape = p.shapes.get(node.name)
    return None if shape is None else math.prod(shape)


def _free(gm: fx.GraphModule, node: fx.Node) -> bool:
    """A parameter-free operation (no layer, no module state): it may run on either side of the cut."""
    if node.op in ("call_function", "call_method"):
        return not is_layer(gm, node)
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        return next(iter(m.parameters()), None) is None and next(iter(m.buffers()), None) is None
    return False


def _push_down(gm: fx.GraphModule, p: GraphPlan, nodes: list[fx.Node], on_client: set[str]) -> None:
    """Move parameter-free client nodes to the server while that strictly shrinks what is sent (an identity
    shortcut would send its input twice; a squeeze-excitation's pooling, a pooled copy). A ReLU after a norm stays:
    moving it would send as many elements, before the activation."""
    moved = True
    while moved:
        moved = False
        for node in reversed(nodes):
            if node.name not in on_client or not _free(gm, node) or _numel(p, node) is None:
                continue
            users = list(node.users)
            if not users or any(u.name in on_client for u in users):
                continue
            cost = 0
            for a in _inputs(node):
                if a.name in on_client and all(u is node or u.name in on_client for u in a.users):
                    cost += _numel(p, a) if _numel(p, a) is not None else 1 << 62
            if cost < _numel(p, node):  # type: ignore[operator]
                on_client.discard(node.name)
                moved = True


@dataclass
class GraphSplit:
    """Client and server graph modules of one cut and the frontier's node names (client output order)."""

    client: fx.GraphModule
    server: fx.GraphModule
    frontier: tuple[str, ...]
    client_layers: tuple[str, ...]


def _module(gm: fx.GraphModule, nodes: list[fx.Node], inputs: list[fx.Node], outputs: list[fx.Node],
            as_tuple: bool) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in inputs:
        env[node] = graph.placeholder(node.name)
    for node in nodes:
        env[node] = graph.node_copy(node, lambda a: env[a])
    result = tuple(env[o] for o in outputs)
    graph.output(result if as_tuple else result[0])
    return fx.GraphModule(gm, graph)


def split_graph(gm: fx.GraphModule, p: GraphPlan, depth: int, name: str) -> GraphSplit:
    """Cut the traced network at `depth` (one of ``p.depths``)."""
    if depth not in p.depths:
        raise SflauditError(f"depth {depth!r} is out of range for {name} ({p.depths[0]}..{p.depths[-1]})")
    nodes = [n for n in gm.graph.nodes if n.op != "output"]
    on_client = {n.name for n in nodes if n.op != "get_attr" and p.dist_in[n.name] <= depth
                 and n.name not in p.tail}
    _push_down(gm, p, nodes, on_client)
    client_nodes, server_nodes = [], []
    for node in nodes:
        if node.op == "get_attr":
            sides = {u.name in on_client for u in node.users}
            if len(sides) > 1:
                raise SflauditError(f"cannot cut {name} at depth {depth}: {node.target} is used on both sides")
            (client_nodes if True in sides else server_nodes).append(node)
        else:
            (client_nodes if node.name in on_client else server_nodes).append(node)
    output = list(gm.graph.nodes)[-1]
    frontier = [n for n in client_nodes if n.op != "get_attr"
                and any(u.name not in on_client for u in n.users)]
    for node in frontier:
        if p.shapes.get(node.name) is None:
            raise SflauditError(f"cannot cut {name} at depth {depth}: the cut would send {node.name}, "
                                f"which is not a tensor")
    client = _module(gm, [n for n in client_nodes if n.op != "placeholder"],
                     [n for n in client_nodes if n.op == "placeholder"], frontier, as_tuple=True)
    server = _module(gm, server_nodes, frontier, [output.args[0]], as_tuple=False)  # type: ignore[list-item]
    layers = tuple(_layer_name(n) for n in client_nodes if n.op != "get_attr" and is_layer(gm, n)
                   and n.name in on_client)
    return GraphSplit(client, server, tuple(n.name for n in frontier), layers)
