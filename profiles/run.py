"""Profiles for a resolved config: the depth table of ``sflaudit profile`` and a run directory's profile.json."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sflaudit.artifacts import RunDir, RunProfile
from sflaudit.config import Config, config_to_dict
from sflaudit.data.images import IMAGE_SIZE
from sflaudit.errors import SflauditError, first_line
from sflaudit.sfl.schedule import Schedule, plan_schedule

from sflaudit.profiles.table import profile_rows
from sflaudit.profiles.runtraffic import run_traffic_for_schedule
from sflaudit.profiles.traffic import wire_dtype_bytes

_NO_FILES = Path("/nonexistent/sflaudit-profile")   # a data_dir holding no CIFAR copy: the official counts


def schedule_for(cfg: Config) -> Schedule:
    """The run schedule of ``cfg``: client 0's share sized exactly as the trainer draws it, from the labels alone
    (no image is decoded; CIFAR needs no files)."""
    from sflaudit.sfl.setup import client0_size

    return plan_schedule(cfg, client0_size(cfg))


def planning_schedule(cfg: Config) -> tuple[Schedule, str | None]:
    """:func:`schedule_for` ``cfg``, and None; but a deployment planned at its own ``data.image_size`` needs no
    dataset on disk: where the dataset's labels cannot be read, the run is laid out on CIFAR-10's official train
    split (50,000 images, 10 classes: no files needed), and the second item is a one-line note saying so."""
    try:
        return schedule_for(cfg), None
    except SflauditError as exc:
        if cfg.data.image_size <= 0:
            raise
        reason = first_line(exc)
        stand_in = replace(cfg, data=replace(cfg.data, dataset="cifar10", data_dir=str(_NO_FILES)))
        try:
            schedule = schedule_for(stand_in)
        except SflauditError:
            raise exc from None
    return schedule, (f"note: {reason}; steps and run totals assume CIFAR-10's 50,000 training images "
                      f"(per-step columns are exact)")


def input_size(cfg: Config) -> int:
    """The image side the profile assumes: ``data.image_size``, else 32 (every built-in source's native size)."""
    return cfg.data.image_size if cfg.data.image_size > 0 else IMAGE_SIZE


def config_rows(cfg: Config, depths: Iterable[int], schedule: Schedule, *, memory: bool = True
                ) -> list[dict[str, Any]]:
    """One profile row per depth for ``cfg``'s arch, width, input size (:func:`input_size`), batch, symmetric mode,
    wire dtype, MoCo version, sync settings and schedule."""
    return profile_rows(
        cfg.model.arch, list(depths), width=cfg.model.width, input_size=input_size(cfg), batch=cfg.sfl.batch,
        symmetric=cfg.ssl.symmetric, wire_dtype=cfg.sfl.wire_dtype, steps_per_epoch=schedule.steps_per_epoch,
        epochs=schedule.epochs,
        pool_size=schedule.pool_size, clients=schedule.clients, syncs_per_epoch=schedule.syncs_per_epoch,
        moco_version=cfg.ssl.moco_version, sfl=cfg.sfl, memory=memory, defence=cfg.defence, norm=cfg.model.norm,
    )


def run_profile(cfg: Config, schedule: Schedule) -> RunProfile:
    """profile.json of one run: the depth's profile row and the analytic traffic of the run's own method."""
    row = config_rows(cfg, [cfg.model.depth], schedule)[0]
    analytic = run_traffic_for_schedule(row["sent_elements"], row["weight_bytes"], method=cfg.sfl.method,
                                        schedule=schedule, dtype_bytes=wire_dtype_bytes(cfg.sfl.wire_dtype),
                                        sfl=cfg.sfl, defence=cfg.defence)
    return RunProfile(
        arch=cfg.model.arch, depth=cfg.model.depth, method=cfg.sfl.method, schedule=schedule, sent=row["sent"],
        client_params=row["client_params"], client_flops=row["client_flops"], server_flops=row["server_flops"],
        step_up=analytic.per_step["up"], step_down=analytic.per_step["down"],
        sync_up=analytic.per_sync["up"], sync_down=analytic.per_sync["down"],
        run_up=analytic.total["up"], run_down=analytic.total["down"],
        client_run_up=analytic.client_full["up"], client_run_down=analytic.client_full["down"],
        analytic_traffic=analytic.as_dict(), row=row, config=config_to_dict(cfg),
    )


def write_run_profile(cfg: Config, run_dir: Path, schedule: Schedule) -> Path:
    """Write ``run_dir``/profile.json (:func:`run_profile`); returns its path."""
    run = RunDir(Path(run_dir))
    run.write_profile(run_profile(cfg, schedule))
    return run.profile_path
