"""``sflaudit profile``: bytes, FLOPs, parameters, client memory and (with ``--link``) hours per depth.

Registered by ``sflaudit.cli.commands`` with ``app.command("profile")(profile)``; heavy modules are imported inside the
command so that ``sflaudit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.errors import SflauditError
from sflaudit.cli.options import ConfigOpt, PresetOpt, SetOpt, resolve_config
from sflaudit.flags import traced_width


def profile(
    arch: Annotated[Optional[str], typer.Option(help="resnet18 | resnet34 | mobilenetv2 | a plug-in | "
                                                     "torchvision:NAME | module:callable (default: config's)")] = None,
    depths: Annotated[Optional[str], typer.Option(help="e.g. 1..17, 1..17:2, 3,5,7 (default: every depth)")] = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
    out: Annotated[Optional[Path], typer.Option(help="Write to this file instead of stdout.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Only the depth table of the arch.")] = False,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Measure client peak memory.")] = True,
    link: Annotated[Optional[str], typer.Option(help="Hours on a link: up=10Mbit,down=50Mbit,rtt=40ms | lte")] = None,
    client_device: Annotated[Optional[str], typer.Option(help="raspberry-pi-4 (default) | jetson-nano | FLOPS")] = None,
    server_device: Annotated[Optional[str], typer.Option(help="a100 (default) | h100 | h200 | local | FLOP/s")] = None,
    input_size: Annotated[Optional[int], typer.Option(help="Image side S (sets data.image_size; needs no dataset "
                                                           "on disk).")] = None,
) -> None:
    """Bytes, FLOPs, parameters and client memory per depth (analytic; the reference calculator alongside), at the
    images' side: 32, or ``--input-size`` / ``data.image_size`` (planned without the dataset on disk)."""
    if fmt not in ("table", "json", "csv"):
        raise SflauditError(f"--format {fmt!r} is not one of table, json, csv")
    from sflaudit.profiles.depths import parse_depths
    from sflaudit.models import depth_range

    # --arch replaces the config's arch; its first depth keeps the config valid (the table covers --depths)
    arch_sets = [f'model.arch="{arch}"', f"model.depth={depth_range(arch).start}",
                 *traced_width(arch, set_ or [])] if arch else []
    size_sets = [f"data.image_size={input_size}"] if input_size is not None else []
    cfg = resolve_config(config, preset, [*(set_ or []), *arch_sets, *size_sets])
    arch = cfg.model.arch
    chosen = parse_depths(depths, arch) if depths else list(depth_range(arch))
    from sflaudit.profiles.render import emit_profile, print_depth_list
    from sflaudit.profiles.run import config_rows, planning_schedule
    from sflaudit.profiles.run import input_size as input_size_of

    if list_:
        print_depth_list(arch, chosen, cfg.model.width, fmt, out, input_size=input_size_of(cfg), norm=cfg.model.norm)
        return
    schedule, note = planning_schedule(cfg)      # --input-size: no dataset on disk needed
    if note:
        typer.echo(note, err=True)
    if link or client_device or server_device:
        from sflaudit.profiles.render import emit_time_profile
        from sflaudit.profiles.timemodel import link_profile_rows

        rows, setting = link_profile_rows(cfg, chosen, schedule, link, client_device, server_device, memory=memory)
        return emit_time_profile(rows, cfg, schedule.to_json(), setting, fmt, out)
    rows = config_rows(cfg, chosen, schedule, memory=memory)
    emit_profile(rows, cfg, schedule.to_json(), fmt, out)
