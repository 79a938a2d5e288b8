"""Analytic bytes on the wire for MocoSFL / MonAcoSFL (protocol §1.2, §1.5, §6).

Everything here is plain arithmetic on sizes: no models are built except in :func:`state_dict_bytes`, which the
caller runs on the real client module to get the exact byte count of one weight copy. This module counts one step
and one sync; :mod:`sflaudit.profiles.runtraffic` sums them over a whole run.

What crosses the network (exactly what ``sflaudit/sfl/wire.py`` meters):

* every step, each pool client sends ``rows`` query activations and ``rows`` key activations up and receives
  ``rows`` activation gradients down, with ``rows = 2B`` (client-side symmetric) or ``B`` (``original``: the
  server's second loss term gives no gradient to the client);
* at a sync each pool client uploads the payloads the method's sync strategy plans for that sync
  (``sflaudit.sfl.strategies``: online weights; MonAcoSFL also the momentum weights, every
  ``sfl.momentum_sync_every``-th sync), and all ``N`` clients download the merged payloads it plans.

Activations travel in the wire dtype; weights as stored (Σ numel·element_size over the client state_dict, so an
int64 BatchNorm counter counts 8 bytes). The ``[defence]`` encodings (``sflaudit.sfl.defences``) change the bytes of
each sent tensor — one client's rows of one kind, one tensor per step even at a mid-block cut, where the two
tensors travel channel-concatenated — as :func:`payload_bytes` counts: ``quantize = "int8"`` → 1 byte per element +
one 4-byte float32 scale (activations and gradients); ``topk`` p % → k = ⌈p·n/100⌉ values per sample (n elements
per sample) in the wire dtype (int8 with quantize, + the scale) and k int32 indices (activations only); ``noise``
changes no byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union

import torch
from torch import nn

from sflaudit.config import DefenceConfig, SflConfig
from sflaudit.errors import SflauditError
from sflaudit.sfl.defences import topk_count
from sflaudit.sfl.schedule import rows_per_client
from sflaudit.sfl.strategies import PAYLOAD_KINDS, get_strategy, strategy_names

# The built-in methods (registered when sflaudit.sfl.strategies is imported); code that must also see methods
# registered later iterates sflaudit.sfl.strategies.strategy_names().
METHODS: tuple[str, ...] = strategy_names()
WIRE_DTYPE_BYTES: dict[str, int] = {"float32": 4, "bfloat16": 2, "float16": 2}
KINDS: tuple[str, ...] = ("query", "key", "grad", "weights", "momentum")


class CutTensors(Protocol):
    """Anything that knows how many elements one image sends across the cut (e.g. ``CutInfo``)."""

    @property
    def sent_elements(self) -> int: ...


Activation = Union[CutTensors, int]


def wire_dtype_bytes(name: str) -> int:
    """Bytes per element of a wire dtype name (``float32`` 4, ``bfloat16``/``float16`` 2)."""
    if name not in WIRE_DTYPE_BYTES:
        raise SflauditError(f"wire dtype {name!r} is not one of {', '.join(WIRE_DTYPE_BYTES)}")
    return WIRE_DTYPE_BYTES[name]


def state_dict_bytes(module: nn.Module) -> int:
    """Bytes of one copy of ``module``'s weights as sent at a sync: Σ numel·element_size over its state_dict."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values() if isinstance(t, torch.Tensor))


def _elements(act: Activation) -> int:
    return act if isinstance(act, int) else int(act.sent_elements)


@dataclass(frozen=True)
class StepTraffic:
    """Bytes one participating client exchanges with the server in one training step."""

    query_up: int
    key_up: int
    grad_down: int

    @property
    def up(self) -> int:
        return self.query_up + self.key_up

    @property
    def down(self) -> int:
        return self.grad_down


SCALE_BYTES = 4                                   # one float32 scale per int8 tensor
INDEX_BYTES = 4                                   # one int32 index per kept top-k value


def payload_bytes(rows: int, per_sample: int, *, dtype_bytes: int = 4, quantize: str = "none",
                  topk: float = 0.0) -> int:
    """Bytes of one sent tensor of ``rows`` samples × ``per_sample`` elements, as its encoding puts it on the wire.

    Dense: rows·n·e; int8: rows·n + 4; top-k: rows·k·(e + 4) (+ 4 with int8), k = ⌈topk·n/100⌉ (e = dtype_bytes,
    1 with int8).
    """
    value_bytes = 1 if quantize == "int8" else dtype_bytes
    scale = SCALE_BYTES if quantize == "int8" else 0
    if topk > 0:
        return rows * topk_count(per_sample, topk) * (value_bytes + INDEX_BYTES) + scale
    return rows * per_sample * value_bytes + scale


def activation_traffic(act: Activation, rows: int, *, dtype_bytes: int = 4,
                       defence: DefenceConfig | None = None) -> StepTraffic:
    """Bytes of one step for one pool client sending ``rows`` query rows, ``rows`` key rows, getting ``rows`` grads.

    Args:
        act: what the client sends per image (a ``CutInfo``, or its element count).
        rows: rows per tensor kind (``Schedule.rows_per_client``: 2B or B).
        dtype_bytes: bytes per element on the wire.
        defence: the run's ``[defence]`` (None = none): int8 on all three kinds, top-k on query and key.
    """
    d = defence if defence is not None else DefenceConfig()
    n = _elements(act)
    up = payload_bytes(rows, n, dtype_bytes=dtype_bytes, quantize=d.quantize, topk=d.topk)
    down = payload_bytes(rows, n, dtype_bytes=dtype_bytes, quantize=d.quantize)
    return StepTraffic(query_up=up, key_up=up, grad_down=down)


def step_traffic(act: Activation, batch: int, *, symmetric: bool, dtype_bytes: int = 4,
                 defence: DefenceConfig | None = None) -> StepTraffic:
    """Bytes one participating client exchanges with the server in one training step.

    Args:
        act: what the client sends per image at this depth (a ``CutInfo``: Σ over its one or two tensors
            C·H·W; or the element count itself).
        batch: images per client per step (B). Client-side symmetric mode sends 2B query and 2B key rows and gets
            2B gradient rows back; ``original`` mode B of each.
        dtype_bytes: bytes per element on the wire (4 for float32, 2 for bfloat16/float16).
        defence: the run's ``[defence]`` (None = none; see :func:`activation_traffic`).
    Returns:
        StepTraffic(query_up, key_up, grad_down) in bytes.
    """
    return activation_traffic(act, rows_per_client(batch, "client" if symmetric else "original"),
                              dtype_bytes=dtype_bytes, defence=defence)


@dataclass(frozen=True)
class SyncTraffic:
    """Bytes of one sync over all clients: uploads from the pool, downloads to all N clients."""

    weights_up: int
    weights_down: int
    momentum_up: int
    momentum_down: int

    @property
    def up(self) -> int:
        return self.weights_up + self.momentum_up

    @property
    def down(self) -> int:
        return self.weights_down + self.momentum_down


def sync_traffic(weight_bytes: int, *, method: str, pool_size: int, clients: int, sync: int = 1,
                 sfl: SflConfig | None = None) -> SyncTraffic:
    """Bytes of sync number ``sync`` (1-based over the run) as the method's strategy plans it (protocol §1.5).

    Args:
        weight_bytes: one copy of the client weights (:func:`state_dict_bytes` of the client module).
        method: a registered sync strategy (``mocosfl``: online weights; ``monacosfl``: also momentum weights).
        pool_size: clients participating this epoch; each uploads the planned payloads.
        clients: N; every client downloads the planned merged payloads (broadcast).
        sync: which sync of the run (a plan may depend on it, e.g. ``sfl.momentum_sync_every``).
        sfl: the run's ``sfl`` settings the strategy reads (None = defaults).
    """
    plan = get_strategy(method).plan(sync, sfl if sfl is not None else SflConfig())
    up = {PAYLOAD_KINDS[p]: pool_size * weight_bytes for p in plan.up}
    down = {PAYLOAD_KINDS[p]: clients * weight_bytes for p in plan.down}
    return SyncTraffic(weights_up=up.get("weights", 0), weights_down=down.get("weights", 0),
                       momentum_up=up.get("momentum", 0), momentum_down=down.get("momentum", 0))
