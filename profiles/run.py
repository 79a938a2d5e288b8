"""Profiles for a resolved config: the depth table of ``sflaudit profile`` and a run directory's profile.json."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sflaudit.config import Config, config_to_dict
from sflaudit.sfl.schedule import Schedule, plan_schedule

from profiles.table import profile_rows
from profiles.traffic import run_traffic_for_schedule, wire_dtype_bytes


def schedule_for(cfg: Config) -> Schedule:
    """The run schedule of ``cfg`` (loads the dataset to size client 0's share exactly as the trainer does)."""
    from sflaudit.sfl.setup import client0_size

    return plan_schedule(cfg, client0_size(cfg))


def schedule_dict(schedule: Schedule) -> dict[str, Any]:
    return {"steps_per_epoch": schedule.steps_per_epoch, "epochs": schedule.epochs,
            "pool_size": schedule.pool_size, "clients": schedule.clients,
            "syncs_per_epoch": schedule.syncs_per_epoch, "rows_per_client": schedule.rows_per_client}


def config_rows(cfg: Config, depths: Iterable[int], schedule: Schedule, *, memory: bool = True
                ) -> list[dict[str, Any]]:
    """One profile row per depth for ``cfg``'s arch, width, batch, symmetric mode, wire dtype and schedule."""
    return profile_rows(
        cfg.model.arch, list(depths), width=cfg.model.width, batch=cfg.sfl.batch, symmetric=cfg.ssl.symmetric,
        wire_dtype=cfg.sfl.wire_dtype, steps_per_epoch=schedule.steps_per_epoch, epochs=schedule.epochs,
        pool_size=schedule.pool_size, clients=schedule.clients, syncs_per_epoch=schedule.syncs_per_epoch,
        memory=memory,
    )


def run_profile(cfg: Config, schedule: Schedule) -> dict[str, Any]:
    """profile.json of one run: the depth's profile row and the analytic traffic of the run's own method."""
    row = config_rows(cfg, [cfg.model.depth], schedule)[0]
    analytic = run_traffic_for_schedule(row["sent_elements"], row["weight_bytes"], method=cfg.sfl.method,
                                        schedule=schedule, dtype_bytes=wire_dtype_bytes(cfg.sfl.wire_dtype))
    return {"arch": cfg.model.arch, "depth": cfg.model.depth, "method": cfg.sfl.method,
            "schedule": schedule_dict(schedule), "row": row, "analytic_traffic": analytic.as_dict(),
            "config": config_to_dict(cfg)}


def write_run_profile(cfg: Config, run_dir: Path, schedule: Schedule) -> Path:
    from sflaudit.runs import RunDir, atomic_write_json

    path = RunDir(run_dir).profile
    atomic_write_json(path, run_profile(cfg, schedule))
    return path
