"""Analytic bytes on the wire for MocoSFL / MonAcoSFL (protocol §1.2, §1.5, §6; DESIGN §5).

Everything here is plain arithmetic on sizes: no models are built except in :func:`state_dict_bytes`, which the
caller runs on the real client module to get the exact byte count of one weight copy.

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


class ScheduleLike(Protocol):
    """The numbers of a ``sflaudit.sfl.schedule.Schedule`` that traffic depends on."""

    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def epochs(self) -> int: ...
    @property
    def pool_size(self) -> int: ...
    @property
    def clients(self) -> int: ...
    @property
    def sync_batches(self) -> tuple[int, ...]: ...
    @property
    def rows_per_client(self) -> int: ...


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


@dataclass(frozen=True)
class RunTraffic:
    """Bytes of a whole run, in the shape of the measured ``traffic.json`` (docs/interfaces.md)."""

    steps: int
    syncs: int
    by_kind: dict[str, dict[str, int]]        # kind → {"up": bytes, "down": bytes}, all clients
    per_step: dict[str, int]                  # one step, all pool clients
    per_sync: dict[str, int]                  # one sync, all clients
    client_full: dict[str, int]               # a client that is in the pool every epoch (all clients when ratio 1)
    client_mean: dict[str, float]             # total / N

    @property
    def total(self) -> dict[str, int]:
        return {d: sum(v[d] for v in self.by_kind.values()) for d in ("up", "down")}

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form; keys match ``traffic.json`` where both have them."""
        return {
            "total": self.total,
            "by_kind": {k: dict(v) for k, v in self.by_kind.items()},
            "steps": self.steps,
            "syncs": self.syncs,
            "per_step": dict(self.per_step),
            "per_sync": dict(self.per_sync),
            "client_full": dict(self.client_full),
            "client_mean": dict(self.client_mean),
        }


def run_traffic(
    step: StepTraffic,
    weight_bytes: int,
    *,
    method: str,
    steps_per_epoch: int,
    epochs: int,
    pool_size: int,
    clients: int,
    syncs_per_epoch: int,
    sfl: SflConfig | None = None,
) -> RunTraffic:
    """Bytes of a whole run, exactly what a metered run records.

    Args:
        step: per participating client and step (:func:`step_traffic`).
        weight_bytes: one copy of the client weights (:func:`state_dict_bytes`).
        method: a registered sync strategy (``mocosfl``, ``monacosfl``, …); every sync 1..S of the run is
            counted as the strategy plans it.
        steps_per_epoch, epochs: the schedule (effective epochs, i.e. already multiplied by 1/sampling ratio).
        pool_size, clients: clients per epoch, and N.
        syncs_per_epoch: ``len(sync_batches(num_batch, avg_freq))`` (protocol §1.5).
        sfl: the run's ``sfl`` settings the strategy reads (e.g. ``momentum_sync_every``; None = defaults).
    Returns:
        RunTraffic; ``per_sync`` is the run's last sync (what the metered link reports as ``per_sync``).
    """
    strategy, settings = get_strategy(method), sfl if sfl is not None else SflConfig()
    steps = steps_per_epoch * epochs
    syncs = syncs_per_epoch * epochs
    sent = {kind: {"up": 0, "down": 0} for kind in ("weights", "momentum")}   # copies, summed over the syncs
    for number in range(1, syncs + 1):
        plan = strategy.plan(number, settings)
        for p in plan.up:
            sent[PAYLOAD_KINDS[p]]["up"] += 1
        for p in plan.down:
            sent[PAYLOAD_KINDS[p]]["down"] += 1
    by_kind = {
        "query": {"up": steps * pool_size * step.query_up, "down": 0},
        "key": {"up": steps * pool_size * step.key_up, "down": 0},
        "grad": {"up": 0, "down": steps * pool_size * step.grad_down},
        **{kind: {"up": n["up"] * pool_size * weight_bytes, "down": n["down"] * clients * weight_bytes}
           for kind, n in sent.items()},
    }
    copies = {d: sum(n[d] for n in sent.values()) for d in ("up", "down")}
    client_full = {
        "up": steps * step.up + copies["up"] * weight_bytes,
        "down": steps * step.down + copies["down"] * weight_bytes,
    }
    last = (sync_traffic(weight_bytes, method=method, pool_size=pool_size, clients=clients, sync=syncs,
                         sfl=settings) if syncs else SyncTraffic(0, 0, 0, 0))
    total_up = sum(v["up"] for v in by_kind.values())
    total_down = sum(v["down"] for v in by_kind.values())
    return RunTraffic(
        steps=steps,
        syncs=syncs,
        by_kind=by_kind,
        per_step={"up": pool_size * step.up, "down": pool_size * step.down},
        per_sync={"up": last.up, "down": last.down},
        client_full=client_full,
        client_mean={"up": total_up / clients, "down": total_down / clients},
    )


def run_traffic_for_schedule(
    act: Activation, weight_bytes: int, *, method: str, schedule: ScheduleLike, dtype_bytes: int = 4,
    sfl: SflConfig | None = None, defence: DefenceConfig | None = None,
) -> RunTraffic:
    """:func:`run_traffic` for a ``sflaudit.sfl.schedule.Schedule`` (rows, steps, epochs, pool, N, syncs).

    Args:
        act: what the client sends per image (``CutInfo``), or its element count.
        weight_bytes: one copy of the client weights (:func:`state_dict_bytes`).
        method: a registered sync strategy.
        schedule: has ``rows_per_client``, ``steps_per_epoch``, ``epochs``, ``pool_size``, ``clients``,
            ``sync_batches``.
        dtype_bytes: bytes per element on the wire (:func:`wire_dtype_bytes`).
        sfl: the run's ``sfl`` settings the strategy reads (None = defaults).
        defence: the run's ``[defence]`` (None = none; see :func:`activation_traffic`).
    """
    step = activation_traffic(act, schedule.rows_per_client, dtype_bytes=dtype_bytes, defence=defence)
    return run_traffic(
        step,
        weight_bytes,
        method=method,
        steps_per_epoch=schedule.steps_per_epoch,
        epochs=schedule.epochs,
        pool_size=schedule.pool_size,
        clients=schedule.clients,
        syncs_per_epoch=len(schedule.sync_batches),
        sfl=sfl,
    )
