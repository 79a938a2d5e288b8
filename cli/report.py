"""``sflaudit report``: plan the depth × method grid, run what is missing, render the HTML trade-off report.

Registered by ``sflaudit.cli.commands`` with ``app.command("report")(report)``. Heavy modules are imported inside the
command so that ``sflaudit --help`` stays fast; every failure is a one-line :class:`SflauditError`. The work is
:func:`sflaudit.api.report`, the same function a notebook calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.errors import SflauditError
from sflaudit.cli.options import ConfigOpt, PresetOpt, SetOpt

def report(
    depths: Annotated[Optional[str], typer.Option(help="Cut depths: 1..17, 1..17:2, 3,5,7 … (default: every depth "
                                                      "of the arch, 1..17 for resnet18; --only-render: the sweep's)")]
    = None,
    methods: Annotated[Optional[str], typer.Option(help="Comma list of mocosfl, monacosfl (default: both; "
                                                       "--only-render: the sweep's).")] = None,
    attacks: Annotated[Optional[str], typer.Option(
        help="Comma list of registered attacks (`sflaudit plugins`; built in: prior, decoder, hybrid, substitute, "
             "whitebox; default: the plug-ins marked default, prior,decoder,hybrid; --only-render: the sweep's). "
             "The privacy axis is the worst case over them.")] = None,
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
    privacy_axis: Annotated[str, typer.Option(
        help="Leakage objective of the Pareto front and the pick: ssim (worst-case reconstruction) | membership "
             "(the strongest membership score's TPR at 1 % FPR).")] = "ssim",
    membership_refs: Annotated[Optional[int], typer.Option(
        help="Reference models per cell for the calibrated membership attacks (LiRA, RMIA; sets membership.refs); "
             "0 = uncalibrated.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Sweep depths × methods (train → profile → invert per cell, skipping finished cells) and write the report."""
    from rich.console import Console

    from sflaudit.api import report as run_report

    refs = [f"membership.refs={membership_refs}"] if membership_refs is not None else []
    result = run_report(runs, out, file=config, preset=preset, sets=[*(set_ or []), *refs], depths=depths,
                        methods=methods,
                        attacks=attacks, vary=list(vary or []), seeds=seeds, only_render=only_render,
                        executor=executor, jobs=jobs, ray_address=ray_address, cpus_per_cell=cpus_per_cell,
                        gpus_per_cell=gpus_per_cell, link=link, client_device=client_device,
                        server_device=server_device, lpips_weights=lpips_weights, privacy_axis=privacy_axis,
                        console=Console(stderr=True),
                        progress=not quiet,
                        constraints=dict(max_ssim=max_ssim, max_mb_per_client=max_mb_per_client, min_knn=min_knn,
                                         max_hours=max_hours))
    typer.echo(f"report: {result.html} (table: {result.csv}, {result.json})")
    rec = result.recommendation
    typer.echo(f"pareto: {', '.join(result.pareto) or 'none'}")
    if rec["cell"]:
        row = next(r for r in result.rows if r["cell"] == rec["cell"])
        typer.echo(f"recommended: depth {row['depth']} with {row['method']} ({rec['cell']}). {rec['reason']}.")
    else:
        typer.echo(f"no recommendation: {rec['reason']}.")
    if result.failed:
        raise SflauditError(f"{len(result.failed)} of {result.cells} cells failed: {', '.join(result.failed)}; the "
                            "report lists them, and the next run retries them")
