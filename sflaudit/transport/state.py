"""A client's resumable state as named tensors + string metadata (a safetensors body; no pickle).

Names: ``online.<key>`` and ``momentum.<key>`` (the two state_dicts), ``optim.<param index>.<name>`` (SGD state
tensors; their non-tensor values and the param groups go to the metadata as JSON), ``stream.rng`` (the data
generator's state) and ``stream.perm.<client>`` (the sampler's permutations, empty when unset).
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import Tensor, nn

from sflaudit.sfl.sampling import ClientBatches
from sflaudit.transport.frames import TransportError

Tensors = dict[str, Tensor]
Meta = dict[str, str]


def client_state(online: nn.Module, momentum: nn.Module, optimizer: torch.optim.Optimizer,
                 steps: int) -> tuple[Tensors, Meta]:
    """One client's models, optimizer state and step count."""
    tensors: Tensors = {f"online.{k}": v for k, v in online.state_dict().items()}
    tensors.update({f"momentum.{k}": v for k, v in momentum.state_dict().items()})
    opt = optimizer.state_dict()
    values: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{index}.{name}"] = value
            else:
                values.setdefault(str(index), {})[name] = value
    meta = {"steps": str(int(steps)), "optim_values": json.dumps(values),
            "param_groups": json.dumps(opt["param_groups"])}
    return tensors, meta


def _section(tensors: Tensors, prefix: str) -> Tensors:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_client_state(tensors: Tensors, meta: Meta, online: nn.Module, momentum: nn.Module,
                      optimizer: torch.optim.Optimizer, *, source: str) -> int:
    """Load :func:`client_state` into the given modules and optimizer; returns the step count."""
    try:
        online.load_state_dict(_section(tensors, "online."))
        momentum.load_state_dict(_section(tensors, "momentum."))
        state: dict[int, dict[str, Any]] = {}
        for key, value in _section(tensors, "optim.").items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        for index, entry in json.loads(meta["optim_values"]).items():
            state.setdefault(int(index), {}).update(entry)
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
        return int(meta["steps"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise TransportError(f"{source} sent a client state that does not fit this run: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def stream_state(gen: torch.Generator, batches: ClientBatches) -> tuple[Tensors, Meta]:
    """The data stream every process replays: the generator's state and the sampler's position."""
    state = batches.state_dict()
    tensors: Tensors = {"stream.rng": gen.get_state()}
    tensors.update({f"stream.perm.{c}": p for c, p in enumerate(state["perms"])})
    return tensors, {"stream_pos": json.dumps(state["pos"])}


def load_stream(tensors: Tensors, meta: Meta, gen: torch.Generator, batches: ClientBatches, *, source: str) -> None:
    """Set the data stream to :func:`stream_state`."""
    try:
        gen.set_state(tensors["stream.rng"])
        perms = [tensors[f"stream.perm.{c}"] for c in range(len(batches.parts))]
        batches.load_state_dict({"perms": perms, "pos": json.loads(meta["stream_pos"])})
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise TransportError(f"{source} sent a data-stream state that does not fit this run: {exc}") from None


def same_stream(a: tuple[Tensors, Meta], b: tuple[Tensors, Meta]) -> bool:
    """Whether two stream states are equal (every client process must hold the same one)."""
    ta, ma = a
    tb, mb = b
    keys = sorted(k for k in ta if k.startswith("stream."))
    return (ma.get("stream_pos") == mb.get("stream_pos") and keys == sorted(k for k in tb if k.startswith("stream."))
            and all(torch.equal(ta[k], tb[k]) for k in keys))
