"""One row per depth: what the client holds and sends, its cost in FLOPs, bytes and memory (``sflaudit profile``).

Rows are flat dicts of plain JSON values, so the CLI can print them and ``profile.json`` can store them as they are.
Byte columns (all exact integers):

* ``step_{up,down}_client`` / ``step_{up,down}_original``: one step, one participating client, for client-side
  symmetric (2B rows) and ``original`` (B rows) mode, in the wire dtype;
* ``sync_{up,down}_{method}``: the run's last sync, all clients (uploads from the pool, downloads to all N);
* ``run_{up,down}_{method}``: the whole run, all clients, in the configured ``symmetric`` mode;
* ``run_client_{up,down}_{method}``: the whole run for a client that is in the pool every epoch;

one set per registered sync strategy (``sflaudit.sfl.strategies.strategy_names()``: mocosfl, monacosfl, …), each
counted as that strategy plans every sync of the run under ``sfl``.

``server_flops`` include the projector of ``moco_version`` (the ``ref_*`` server column uses them as they are).

``ref_*`` columns are the reference calculator's (MiB, "G" = 1024³ MACs; protocol §6.1), with its own defaults
unless ``reference`` overrides them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from sflaudit.config import SflConfig
from sflaudit.errors import SflauditError
from sflaudit.models import split_model
from sflaudit.models.usernets import is_graph_arch
from sflaudit.sfl.schedule import rows_per_client
from sflaudit.sfl.strategies import strategy_names

from sflaudit.profiles.flops import split_flops
from sflaudit.profiles.graphflops import graph_split_flops
from sflaudit.profiles.memory import client_step_memory
from sflaudit.profiles.reference import reference_overhead
from sflaudit.profiles.runtraffic import run_traffic
from sflaudit.profiles.traffic import state_dict_bytes, step_traffic, wire_dtype_bytes

SYMMETRIC_MODES: tuple[str, ...] = ("client", "original")


def profile_row(
    arch: str,
    depth: int,
    *,
    width: float = 1.0,
    input_size: int = 32,
    batch: int,
    symmetric: str = "client",
    wire_dtype: str = "float32",
    steps_per_epoch: int,
    epochs: int,
    pool_size: int,
    clients: int,
    syncs_per_epoch: int,
    moco_version: str = "V2",
    sfl: SflConfig | None = None,
    memory: bool = True,
    memory_execute: bool = False,
    reference: Mapping[str, int] | None = None,
    defence: Any = None,
    norm: str = "groupnorm",
) -> dict[str, Any]:
    """The profile of one depth (see :func:`profile_rows` for the arguments and the module doc for the columns);
    ``defence`` (a ``DefenceConfig``) changes the client (bottleneck) and the bytes on the wire."""
    if symmetric not in SYMMETRIC_MODES:
        raise SflauditError(f"symmetric {symmetric!r} is not one of {', '.join(SYMMETRIC_MODES)}")
    dtype_bytes = wire_dtype_bytes(wire_dtype)
    traced = is_graph_arch(arch)
    with torch.random.fork_rng(devices=[]):
        split = split_model(arch, depth, width=width, input_size=input_size,
                            bottleneck=defence.bottleneck if defence is not None else "none", norm=norm, meta=traced)
    info = split.info
    weight_bytes = state_dict_bytes(split.client)
    if traced:
        flops = graph_split_flops(arch, depth, norm=norm, input_size=input_size, moco_version=moco_version)
    else:
        flops = split_flops(split.client, split.server, feature_dim=info.feature_dim, input_size=input_size,
                            moco_version=moco_version)
    row: dict[str, Any] = {
        "arch": arch,
        "depth": depth,
        "after": info.after or (info.client_layers[-1] if info.client_layers else ""),
        "width": width,
        "client_layers": list(info.client_layers),
        "sent": [list(shape) for shape in info.sent],
        "sent_elements": info.sent_elements,
        "client_params": info.client_params,
        "weight_bytes": weight_bytes,
        "moco_version": moco_version,
        "client_flops": flops.client.total,
        "server_flops": flops.server.total,
        "uncounted_ops": list(flops.uncounted),
    }
    steps = {}
    for mode in SYMMETRIC_MODES:
        steps[mode] = step_traffic(info, batch, symmetric=mode == "client", dtype_bytes=dtype_bytes, defence=defence)
        row[f"step_up_{mode}"] = steps[mode].up
        row[f"step_down_{mode}"] = steps[mode].down
    for method in strategy_names():
        run = run_traffic(
            steps[symmetric],
            weight_bytes,
            method=method,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            pool_size=pool_size,
            clients=clients,
            syncs_per_epoch=syncs_per_epoch,
            sfl=sfl,
        )
        row[f"sync_up_{method}"] = run.per_sync["up"]
        row[f"sync_down_{method}"] = run.per_sync["down"]
        row[f"run_up_{method}"] = run.total["up"]
        row[f"run_down_{method}"] = run.total["down"]
        row[f"run_client_up_{method}"] = run.client_full["up"]
        row[f"run_client_down_{method}"] = run.client_full["down"]
    ref = reference_overhead(
        info.client_params,
        info.sent_elements,
        client_fwd_flops=flops.client.total,
        server_fwd_flops=flops.server.total,
        **dict(reference or {}),
    )
    row.update(
        ref_model_mb=ref.model_mb,
        ref_activation_mb=ref.activation_mb,
        ref_total_mb=ref.total_mb,
        ref_client_mflops_per_image=ref.client_mflops_per_image,
        ref_total_client_gflops=ref.total_client_gflops,
        ref_total_server_gflops=ref.total_server_gflops,
    )
    if memory:
        mem = client_step_memory(split.client, rows_per_client(batch, symmetric),
                                 input_size=input_size, execute=memory_execute)
        row.update(memory_bytes=mem.peak_bytes, memory_batch=mem.batch, memory_method=mem.method)
    else:
        row.update(memory_bytes=None, memory_batch=None, memory_method=None)
    return row


def profile_rows(arch: str, depths: Iterable[int], **options: Any) -> list[dict[str, Any]]:
    """One profile row per depth, shallowest first as given.

    Args:
        arch, depths, width, input_size: the cuts (depths already parsed, e.g. by :func:`parse_depths`).
        batch: B, images per client per step (``sfl.batch``).
        symmetric: ``client`` (2B rows per step) or ``original`` (B rows) — ``ssl.symmetric``; used for the run
            totals and the memory batch; step columns are given for both modes.
        wire_dtype: ``sfl.wire_dtype`` (activations and gradients); weights travel as stored.
        steps_per_epoch, epochs, pool_size, clients, syncs_per_epoch: the run's ``Schedule`` numbers
            (effective epochs; ``syncs_per_epoch = len(schedule.sync_batches)``).
        moco_version: ``ssl.moco_version``, the projector counted in the server FLOPs.
        sfl: the run's ``sfl`` settings the sync strategies read (e.g. ``momentum_sync_every``; None = defaults).
        memory: measure the client's peak step memory (one training step per depth, 2B or B rows).
        memory_execute: run that step for real (method ``dispatch``/``cuda``) instead of tracing it on the meta
            device (``dispatch-meta``, same numbers on CPU, faster).
        reference: overrides of :func:`reference_overhead`'s keyword defaults (``epochs``, ``images_per_client``,
            ``sync_frequency``, ``num_clients``).
    """
    return [profile_row(arch, depth, **options) for depth in depths]
