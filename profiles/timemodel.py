"""Wall-clock time of a run on real links and devices: per step, per sync, per run (issue #16; protocol §1.2, §1.5).

One **step** follows the protocol's order. Every pool client i, in parallel on its own device, runs its online
forward and its momentum forward on its ``r`` rows (2B or B) and sends query and key activations up; the server
waits for the whole pool, runs its step on the concatenated batch, and sends each client its gradient rows; each
client runs its backward. So::

    step = max_i(fwd_i + up_bytes/up_i + rtt_i/2) + server + max_i(rtt_i/2 + down_bytes/down_i + bwd_i)

one round trip per step. A **sync** (at ``Schedule.sync_batches``) moves the payloads the method's sync strategy
plans (``sflaudit.sfl.strategies``): each pool client uploads its copies, the server merges (negligible), and all N
clients download the merged copies::

    sync = max_{i in pool}(copies_up·W/up_i + rtt_i/2) + max_{i in all N}(rtt_i/2 + copies_down·W/down_i)

A **run** is ``total_steps`` steps plus every sync 1..S as its plan says. Each time is split into ``compute``,
``transfer`` and ``latency`` seconds along the critical path (the slowest client of each phase), so the split sums
to the total and shows which one bounds the run.

Work, from the profile row's analytic numbers (fvcore MACs per image, ``sflaudit.profiles.flops``; bytes per step,
``sflaudit.profiles.traffic``), with ``FLOPS_PER_MAC = 2`` and the backward ≈ 2 forwards (input and weight gradients):

* client per step: forward ``2·r·c`` MACs (online + momentum), backward ``2·r·c``, c = client MACs per image;
* server per step, on R = pool·2B rows (``original`` mode runs both loss terms over B + B rows, so R is the same):
  online forward + backward ``3·R·s``, momentum forward ``R·s`` (s = server MACs per image, projector included),
  InfoNCE logits against the queue ``2·R·(K+1)·D`` (forward, and the gradient w.r.t. q; D = projector output).

Not modelled: EMA updates, augmentation, optimizer steps, kNN monitoring, serialisation headers (see the TCP
transport's documented overhead), TCP slow start, and the server's own link (assumed a datacenter link).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sflaudit.config import SflConfig
from sflaudit.errors import SflauditError
from sflaudit.sfl.moco import PROJECTOR_DIMS
from sflaudit.sfl.strategies import get_strategy, strategy_names

from sflaudit.profiles.links import Link

FLOPS_PER_MAC = 2
BACKWARD_PER_FORWARD = 2.0     # backward MACs ≈ 2× forward (gradient w.r.t. the input and w.r.t. the weights)


@dataclass(frozen=True)
class Node:
    """One client: its device speed (FLOP/s, 2 per MAC) and its link to the server."""

    flops: float
    link: Link


@dataclass(frozen=True)
class StepWork:
    """What one training step costs: per pool client (MACs, bytes) and for the server (MACs, whole pool)."""

    client_forward_macs: float     # online + momentum forward on the client's rows
    client_backward_macs: float    # backward of the online forward
    server_macs: float             # the server's step on the whole pool's batch
    up_bytes: int                  # query + key activations, one client
    down_bytes: int                # gradient rows, one client


@dataclass(frozen=True)
class TimeSplit:
    """Seconds along the critical path, split by what they are spent on."""

    compute: float = 0.0
    transfer: float = 0.0
    latency: float = 0.0

    @property
    def total(self) -> float:
        return self.compute + self.transfer + self.latency

    def __add__(self, other: TimeSplit) -> TimeSplit:
        return TimeSplit(self.compute + other.compute, self.transfer + other.transfer, self.latency + other.latency)

    def times(self, k: float) -> TimeSplit:
        """This split repeated ``k`` times."""
        return TimeSplit(self.compute * k, self.transfer * k, self.latency * k)

    @property
    def bottleneck(self) -> str:
        """``compute``, ``transfer`` or ``latency``: the largest part."""
        parts = {"compute": self.compute, "transfer": self.transfer, "latency": self.latency}
        return max(parts, key=parts.__getitem__)


@dataclass(frozen=True)
class RunTime:
    """Seconds of one step, one sync (the run's last, as ``RunTraffic.per_sync``) and the whole run."""

    step: TimeSplit
    sync: TimeSplit
    run: TimeSplit
    steps: int
    syncs: int

    @property
    def hours(self) -> float:
        return self.run.total / 3600.0


def _critical(paths: Sequence[TimeSplit]) -> TimeSplit:
    """The slowest of parallel paths (the one the server waits for); the first among equals."""
    return max(paths, key=lambda p: p.total)


def step_time(work: StepWork, pool: Sequence[Node], server_flops: float) -> TimeSplit:
    """One step: the slowest client's up path, then the server, then the slowest client's down path.

    Args:
        work: MACs and bytes of one step (:func:`step_work`); every pool client does the same work.
        pool: the clients of this epoch's pool (their devices and links).
        server_flops: the server's FLOP/s.
    """
    up = [TimeSplit(FLOPS_PER_MAC * work.client_forward_macs / n.flops, n.link.up_seconds(work.up_bytes),
                    n.link.rtt_s / 2) for n in pool]
    down = [TimeSplit(FLOPS_PER_MAC * work.client_backward_macs / n.flops, n.link.down_seconds(work.down_bytes),
                      n.link.rtt_s / 2) for n in pool]
    server = TimeSplit(compute=FLOPS_PER_MAC * work.server_macs / server_flops)
    return _critical(up) + server + _critical(down)


def sync_time(up_bytes: int, down_bytes: int, pool: Sequence[Node], idle: Sequence[Node] = ()) -> TimeSplit:
    """One sync: every pool client uploads ``up_bytes``, then every client (pool and ``idle``) downloads
    ``down_bytes``; one round trip. A sync that moves nothing costs nothing."""
    if up_bytes == 0 and down_bytes == 0:
        return TimeSplit()
    up = _critical([TimeSplit(0.0, n.link.up_seconds(up_bytes), n.link.rtt_s / 2) for n in pool])
    down = _critical([TimeSplit(0.0, n.link.down_seconds(down_bytes), n.link.rtt_s / 2)
                      for n in (*pool, *idle)])
    return up + down


def step_work(client_macs: float, server_macs: float, *, rows: int, batch: int, pool_size: int, up_bytes: int,
              down_bytes: int, queue: int, key_dim: int) -> StepWork:
    """MACs and bytes of one step (module doc).

    Args:
        client_macs, server_macs: forward MACs per image of each side (profile row ``client_flops``,
            ``server_flops``: fvcore, server with the projector).
        rows: rows per client and tensor kind (``Schedule.rows_per_client``: 2B or B).
        batch: B; the server runs 2B rows per client in either symmetric mode.
        pool_size: clients per step.
        up_bytes, down_bytes: one client's step traffic (profile row ``step_up_{mode}``, ``step_down_{mode}``).
        queue, key_dim: K and the projector output D (the InfoNCE logits against the queue).
    """
    server_rows = pool_size * 2 * batch
    server = server_rows * ((2.0 + BACKWARD_PER_FORWARD) * server_macs + 2.0 * (queue + 1) * key_dim)
    return StepWork(client_forward_macs=2.0 * rows * client_macs,
                    client_backward_macs=BACKWARD_PER_FORWARD * rows * client_macs,
                    server_macs=server, up_bytes=up_bytes, down_bytes=down_bytes)


def run_time(work: StepWork, weight_bytes: int, *, method: str, steps: int, syncs: int, pool: Sequence[Node],
             idle: Sequence[Node] = (), server_flops: float, sfl: Any = None) -> RunTime:
    """``steps`` steps plus syncs 1..``syncs`` as ``method``'s strategy plans each (copies × ``weight_bytes``).

    Args:
        work: one step (:func:`step_work`).
        weight_bytes: one copy of the client weights (profile row ``weight_bytes``).
        method: a registered sync strategy.
        steps, syncs: ``Schedule.total_steps``, ``Schedule.total_syncs``.
        pool, idle: the pool's clients and the other N − pool clients (they only download at syncs).
        server_flops: the server's FLOP/s.
        sfl: the run's ``sfl`` settings the strategy reads (None = defaults).
    """
    strategy, settings = get_strategy(method), sfl if sfl is not None else SflConfig()
    one_step = step_time(work, pool, server_flops)
    total, last, cache = one_step.times(steps), TimeSplit(), {}
    for number in range(1, syncs + 1):
        plan = strategy.plan(number, settings)
        key = (len(plan.up), len(plan.down))
        if key not in cache:
            cache[key] = sync_time(key[0] * weight_bytes, key[1] * weight_bytes, pool, idle)
        last = cache[key]
        total = total + last
    return RunTime(step=one_step, sync=last, run=total, steps=steps, syncs=syncs)


def row_run_time(row: Mapping[str, Any], cfg: Any, schedule: Any, link: Link, client_flops: float,
                 server_flops: float, method: str, *, steps: int | None = None, syncs: int | None = None) -> RunTime:
    """:func:`run_time` of one ``sflaudit profile`` row under ``cfg`` and its ``Schedule``, every one of the N
    clients on the same device (``client_flops``) and ``link``; ``steps``/``syncs`` count only the first ones
    (default: the whole run)."""
    node = Node(client_flops, link)
    work = step_work(row["client_flops"], row["server_flops"], rows=schedule.rows_per_client, batch=cfg.sfl.batch,
                     pool_size=schedule.pool_size, up_bytes=row[f"step_up_{cfg.ssl.symmetric}"],
                     down_bytes=row[f"step_down_{cfg.ssl.symmetric}"], queue=cfg.ssl.K,
                     key_dim=PROJECTOR_DIMS[cfg.ssl.moco_version][1])
    return run_time(work, row["weight_bytes"], method=method,
                    steps=schedule.total_steps if steps is None else steps,
                    syncs=schedule.total_syncs if syncs is None else syncs, pool=[node] * schedule.pool_size,
                    idle=[node] * (schedule.clients - schedule.pool_size), server_flops=server_flops, sfl=cfg.sfl)


def time_columns(row: Mapping[str, Any], cfg: Any, schedule: Any, link: Link, client_flops: float,
                 server_flops: float) -> dict[str, float | str]:
    """The time columns ``sflaudit profile --link`` adds to a row: ``time_step_s`` and its ``_compute`` /
    ``_transfer`` / ``_latency`` parts, and per registered method ``time_sync_s_{m}``, ``time_run_h_{m}``, its
    ``time_run_{compute,transfer,latency}_h_{m}`` parts and ``time_bottleneck_{m}``."""
    cols: dict[str, float | str] = {}
    for method in strategy_names():
        rt = row_run_time(row, cfg, schedule, link, client_flops, server_flops, method)
        cols.update(time_step_s=rt.step.total, time_step_compute_s=rt.step.compute,
                    time_step_transfer_s=rt.step.transfer, time_step_latency_s=rt.step.latency)
        cols[f"time_sync_s_{method}"] = rt.sync.total
        cols[f"time_run_h_{method}"] = rt.hours
        for part in ("compute", "transfer", "latency"):
            cols[f"time_run_{part}_h_{method}"] = getattr(rt.run, part) / 3600.0
        cols[f"time_bottleneck_{method}"] = rt.run.bottleneck
    return cols


def run_hours(row_or_depth: Mapping[str, Any] | int, cfg: Any, link: Link, client_flops: float,
              server_flops: float, method: str, schedule: Any = None) -> float:
    """Hours of a whole run of ``cfg`` at one depth (for ``sflaudit report``'s time-to-train column).

    Args:
        row_or_depth: a ``sflaudit profile`` row (``sflaudit.profiles.run.config_rows``), or a depth to profile now
            (no memory measurement).
        cfg: the resolved ``Config`` (batch, symmetric mode, K, MoCo version, ``sfl`` settings).
        link: every client's link (``sflaudit.profiles.links.resolve_link``).
        client_flops, server_flops: sustained FLOP/s (``sflaudit.profiles.devices.resolve_device(...).flops``).
        method: a registered sync strategy.
        schedule: ``cfg``'s ``Schedule`` (None = ``sflaudit.profiles.run.schedule_for(cfg)``).
    """
    from sflaudit.profiles.run import config_rows, schedule_for

    plan = schedule if schedule is not None else schedule_for(cfg)
    row = config_rows(cfg, [row_or_depth], plan, memory=False)[0] if isinstance(row_or_depth, int) else row_or_depth
    return row_run_time(row, cfg, plan, link, client_flops, server_flops, method).hours


def link_profile_rows(cfg: Any, depths: Sequence[int], schedule: Any, link: str | None, client_device: str | None,
                      server_device: str | None, *, memory: bool = True) -> tuple[list[dict[str, Any]], str]:
    """``sflaudit profile --link``: the profile rows of ``depths`` with :func:`time_columns`, and a line naming the
    link and devices (defaults raspberry-pi-4 and a100; ``local`` calibrates with ``run.threads``).

    Raises:
        SflauditError: a device without ``--link``, a bad link spec or an unknown device.
    """
    from sflaudit.profiles.devices import resolve_device
    from sflaudit.profiles.links import resolve_link
    from sflaudit.profiles.run import config_rows

    if link is None:
        raise SflauditError("--client-device/--server-device need --link (the time model)")
    the_link = resolve_link(link)
    client = resolve_device(client_device or "raspberry-pi-4", threads=cfg.run.threads)
    server = resolve_device(server_device or "a100", threads=cfg.run.threads)
    rows = [{**r, **time_columns(r, cfg, schedule, the_link, client.flops, server.flops)}
            for r in config_rows(cfg, list(depths), schedule, memory=memory)]
    setting = (f"{the_link.describe()}, client {client.name} ({client.flops / 1e9:.3g} GFLOP/s), server "
               f"{server.name} ({server.flops / 1e12:.3g} TFLOP/s)")
    return rows, setting
