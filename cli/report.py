"""``sflaudit report``: plan the depth × method grid, run what is missing, render the HTML trade-off report.

Registered by ``sflaudit/cli.py`` with ``app.command("report")(report)``. Heavy modules are imported inside the
command so that ``sflaudit --help`` stays fast; every failure is a one-line :class:`SflauditError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.errors import SflauditError
from sflaudit.options import ConfigOpt, PresetOpt, SetOpt

SWEEP_LOCK = ".sweep.lock"   # held while the sweep manifest is rewritten (one writer per runs folder)


def report(
    depths: Annotated[Optional[str], typer.Option(help="Cut depths: 1..17, 1..17:2, 3,5,7 … (default: every depth "
                                                      "of the arch, 1..17 for resnet18; --only-render: the sweep's)")]
    = None,
    methods: Annotated[Optional[str], typer.Option(help="Comma list of mocosfl, monacosfl (default: both; "
                                                       "--only-render: the sweep's).")] = None,
    attacks: Annotated[Optional[str], typer.Option(
        help="Comma list of prior, decoder, hybrid, substitute, whitebox (default: prior,decoder,hybrid; "
             "--only-render: the sweep's). The privacy axis is the worst case over them.")] = None,
    vary: Annotated[Optional[list[str]], typer.Option(
        "--vary", help="Another grid axis: KEY=V1,V2,… for any config key (e.g. defence.noise=0,0.3 or "
                       "sfl.avg_freq=2,10); repeatable.")] = None,
    seeds: Annotated[Optional[int], typer.Option(
        help="Repeat every cell with this many seeds (run.seed, +1, …) and report mean and t-interval "
             "(default 1; --only-render: the sweep's).")] = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    runs: Annotated[Path, typer.Option(help="Folder of the sweep's run directories (<method>-d<depth>).")]
    = Path("runs/report"),
    out: Annotated[Path, typer.Option(help="HTML report; .csv and .json of the table are written beside it.")]
    = Path("report.html"),
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Join this Ray cluster (default: start a local Ray).")]
    = None,
    jobs: Annotated[int, typer.Option(help="Local executor: cells at once (1 = one after another in this process, "
                                           "0 = one per CPU core; each cell then gets cores/jobs torch threads).")]
    = 1,
    cpus_per_cell: Annotated[float, typer.Option(help="Ray executor: CPUs declared per cell task.")] = 1.0,
    gpus_per_cell: Annotated[Optional[float], typer.Option(help="Ray executor: GPUs per cell task (default 1 when "
                                                                "the cluster has GPUs, else 0).")] = None,
    only_render: Annotated[bool, typer.Option("--only-render", help="Render from existing runs; train nothing.")]
    = False,
    max_ssim: Annotated[Optional[float], typer.Option("--max-ssim", help="Limit: attack SSIM at most this.")] = None,
    max_mb_per_client: Annotated[Optional[float], typer.Option(
        "--max-mb-per-client", help="Limit: MiB one client sends + receives over the run.")] = None,
    min_knn: Annotated[Optional[float], typer.Option("--min-knn", help="Limit: kNN accuracy (%) at least this.")]
    = None,
    max_hours: Annotated[Optional[float], typer.Option(
        "--max-hours", help="Limit: modelled hours to train at most this (on --link and the devices).")] = None,
    link: Annotated[Optional[str], typer.Option(
        help="Link of every client for the time-to-train column: a profile (lte, 3g, home-broadband, dsl, cable, "
             "datacenter) or up=10Mbit,down=50Mbit,rtt=40ms (default lte).")] = None,
    client_device: Annotated[Optional[str], typer.Option(
        help="Client device: a profile (raspberry-pi-4, jetson-nano, …), local (calibrate here) or FLOP/s "
             "(default raspberry-pi-4).")] = None,
    server_device: Annotated[Optional[str], typer.Option(help="Server device (default a100).")] = None,
    lpips_weights: Annotated[Optional[str], typer.Option(help="LPIPS AlexNet weights file for the attack metrics.")]
    = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Sweep depths × methods (train → profile → invert per cell, skipping finished cells) and write the report."""
    from reports.collect import collect_rows
    from reports.tradeoffs import Constraints
    from reports.grid import plan_cells
    from reports.sweep import check_configs, write_manifest

    if executor not in ("local", "ray"):
        raise SflauditError(f"unknown executor {executor!r} (valid: local, ray)")
    if jobs < 0:
        raise SflauditError(f"--jobs must be 0 (one per CPU core) or more, got {jobs}")
    base, preset_name = _base_config(config, preset, list(set_ or []), runs, only_render)
    depth_list, method_list = _grid(base, depths, methods, runs, only_render)
    attack_list, vary_list, seed_count = _axes(attacks, vary, seeds, runs, only_render)
    constraints = Constraints(max_ssim=max_ssim, max_mb_per_client=max_mb_per_client, min_knn=min_knn,
                              max_hours=max_hours)
    from reports.timecols import add_time_columns, time_setting

    timing = time_setting(link, client_device, server_device, threads=base.run.threads)
    cells = plan_cells(base, depth_list, method_list, runs, attacks=attack_list, vary=vary_list, seeds=seed_count)
    check_configs(cells)
    failed = []
    if only_render:
        if not any(c.run_dir.is_dir() for c in cells):
            raise SflauditError(f"--only-render found no runs of this grid in {runs}; run without --only-render")
    else:
        from reports.executors import run_sweep
        from rich.console import Console

        from sflaudit.locks import RunLock

        runs.mkdir(parents=True, exist_ok=True)
        with RunLock(runs / SWEEP_LOCK).held(wait=60):
            write_manifest(runs, base, depth_list, method_list, preset_name, attacks=attack_list, vary=vary_list,
                           seeds=seed_count)
        results = run_sweep(cells, executor=executor, jobs=jobs, ray_address=ray_address,
                            cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell,
                            console=Console(stderr=True), progress=not quiet, lpips_weights=lpips_weights)
        failed = [r for r in results if r.status == "failed"]
    from reports.html import ReportInputs, write_report

    rows = collect_rows(cells)
    add_time_columns(rows, cells, timing)
    inputs = ReportInputs(rows=rows, config=base, depths=depth_list, methods=method_list,
                          attacks=attack_list, vary=vary_list, seeds=seed_count, time_text=timing.text,
                          runs=runs, constraints=constraints, preset=preset_name,
                          config_path=str(config) if config else None, overrides=list(set_ or []),
                          executor=executor)
    files = write_report(inputs, out)
    typer.echo(f"report: {files.html} (table: {files.csv}, {files.json})")
    _echo_answer(files.json)
    if failed:
        names = ", ".join(f"{r.name} ({r.stage}: {r.error})" for r in failed)
        raise SflauditError(f"{len(failed)} of {len(cells)} cells failed: {names}; the report lists them, and the "
                            f"next run retries them")


def _base_config(config: Path | None, preset: str | None, sets: list[str], runs: Path, only_render: bool):
    """The sweep's base config and preset name. ``--only-render`` without config options reuses the sweep's own."""
    from sflaudit.config import DEFAULT_PRESET, config_from_toml, load_config

    if only_render and config is None and preset is None and not sets:
        from reports.sweep import read_manifest

        manifest = read_manifest(runs)
        if manifest is not None:
            return config_from_toml(manifest.config, source=f"{runs}/sweep.json"), manifest.preset
    cfg = load_config(config, preset, sets)
    return cfg, preset if preset is not None else (DEFAULT_PRESET if config is None else None)


def _grid(base, depths: str | None, methods: str | None, runs: Path, only_render: bool
          ) -> tuple[list[int], list[str]]:
    """Depths and methods: as given, else the sweep's own (``--only-render``), else every depth and both methods."""
    from profiles.depths import parse_depths
    from reports.grid import METHODS, parse_methods
    from reports.sweep import read_manifest
    from sflaudit.models import depth_range

    manifest = read_manifest(runs) if only_render else None
    if depths is not None:
        depth_list = parse_depths(depths, base.model.arch)
    elif manifest is not None:
        depth_list = [int(d) for d in manifest.depths]
    else:
        depth_list = list(depth_range(base.model.arch))
    if methods is not None:
        return depth_list, parse_methods(methods)
    return depth_list, parse_methods(",".join(manifest.methods if manifest is not None else METHODS))


def _axes(attacks: str | None, vary: list[str] | None, seeds: int | None, runs: Path, only_render: bool):
    """Attacks, varied axes and seed count: as given, else the sweep's own (``--only-render``), else the defaults."""
    from reports.grid import DEFAULT_ATTACKS, parse_attacks, parse_vary
    from reports.sweep import read_manifest

    manifest = read_manifest(runs) if only_render else None
    if attacks is not None:
        attack_list = parse_attacks(attacks)
    else:
        attack_list = list(manifest.attacks) if manifest is not None and manifest.attacks else list(DEFAULT_ATTACKS)
    if vary:
        vary_list = parse_vary(vary)
    else:
        vary_list = [(k, list(v)) for k, v in manifest.vary] if manifest is not None else []
    seed_count = seeds if seeds is not None else (manifest.seeds if manifest is not None else 1)
    return attack_list, vary_list, seed_count


def _echo_answer(json_path: Path) -> None:
    """One line with the recommendation (or why there is none) after the file names."""
    import json

    doc = json.loads(Path(json_path).read_text())
    rec = doc["recommendation"]
    typer.echo(f"pareto: {', '.join(doc['pareto']) or 'none'}")
    if rec["cell"]:
        row = next(r for r in doc["rows"] if r["cell"] == rec["cell"])
        typer.echo(f"recommended: depth {row['depth']} with {row['method']} ({rec['cell']}). {rec['reason']}.")
    else:
        typer.echo(f"no recommendation: {rec['reason']}.")
