"""Analytic bytes of a whole run (protocol §1.5, §6): every step and every sync of a schedule summed by
kind, direction and client, in the shape of the measured ``traffic.json``. The bytes of one step and of one sync
are :mod:`sflaudit.profiles.traffic`'s."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from sflaudit.config import DefenceConfig, SflConfig
from sflaudit.profiles.traffic import Activation, StepTraffic, SyncTraffic, activation_traffic, sync_traffic
from sflaudit.sfl.strategies import PAYLOAD_KINDS, get_strategy


class ScheduleLike(Protocol):
    """The numbers of a ``sflaudit.sfl.schedule.Schedule`` that traffic depends on."""

    steps_per_epoch: int
    epochs: int
    pool_size: int
    clients: int
    sync_batches: tuple[int, ...]
    rows_per_client: int


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
    run = run_traffic(
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
    if defence is None or not defence.canary:
        return run
    bigger = activation_traffic(act, schedule.rows_per_client + defence.canary_rows, dtype_bytes=dtype_bytes,
                                defence=defence)
    extra = StepTraffic(bigger.query_up - step.query_up, bigger.key_up - step.key_up, bigger.grad_down - step.grad_down)
    return with_canaries(run, extra, checks=run.steps // defence.canary, pool_size=schedule.pool_size,
                         clients=schedule.clients)


def with_canaries(run: RunTraffic, extra: StepTraffic, *, checks: int, pool_size: int, clients: int) -> RunTraffic:
    """``run`` plus the detector's canary rows (sflaudit/sfl/canary.py): at each of ``checks`` steps every pool
    client's query, key and gradient tensors are ``extra`` bytes longer."""
    by_kind = {k: dict(v) for k, v in run.by_kind.items()}
    by_kind["query"]["up"] += checks * pool_size * extra.query_up
    by_kind["key"]["up"] += checks * pool_size * extra.key_up
    by_kind["grad"]["down"] += checks * pool_size * extra.grad_down
    full = {"up": run.client_full["up"] + checks * extra.up, "down": run.client_full["down"] + checks * extra.down}
    mean = {d: sum(v[d] for v in by_kind.values()) / clients for d in ("up", "down")}
    return replace(run, by_kind=by_kind, client_full=full, client_mean=mean)
