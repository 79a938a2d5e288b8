"""The Python API: the functions the ``sflaudit`` commands call, for notebooks and scripts.

Part of the face (like :mod:`sflaudit.cli`): it composes the core with the attacks, profiles and reports, and
returns the typed records the run directory holds (``sflaudit.artifacts``). Every error is a
:class:`~sflaudit.errors.SflauditError` with a one-line message. A typical session::

    from sflaudit import api

    cfg = api.config(preset="smoke", sets=["model.depth=2"])
    run = api.train(cfg, out="runs/d2")                      # TrainResult: run_dir, summary, evaluation
    rec = api.invert(run.run_dir / "best.pt", "decoder", epochs=5)
    print(rec.mean["ssim"], rec.threat_model["holds"])
    rep = api.report("runs/sweep", "report.html", preset="smoke", depths="1,3", attacks="prior,decoder")
    print(rep.recommendation)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sflaudit.artifacts import AttackRecord, Evaluation, RunDir, Summary
from sflaudit.config import Config, DEFAULT_PRESET, config_from_toml, load_config
from sflaudit.errors import SflauditError
from sflaudit.flags import resolve_config

SWEEP_LOCK = ".sweep.lock"   # held while the sweep manifest is rewritten (one writer per runs folder)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    summary: Summary
    evaluation: Evaluation | None    # the linear probe of best.pt (None with eval.linear_epochs = 0)


@dataclass(frozen=True)
class ReportResult:
    html: Path
    csv: Path
    json: Path
    rows: list[dict[str, Any]]      # one per report row (cell or seed group), as in report.json
    pareto: list[str]
    recommendation: dict[str, Any]   # cell (or None) and the reason in words
    failed: list[str]                # "<cell> (<stage>: <error>)" of cells that failed; retried by the next run
    cells: int                       # cells in the grid


def config(file: str | Path | None = None, *, preset: str | None = None, sets: Sequence[str] = (),
           **flags: object) -> Config:
    """A validated config: a TOML file and/or a preset (default demo), ``--set`` items, and the commands' shortcut
    flags (method, depth, arch, dataset, data_dir, precision, epochs, device, seed)."""
    return resolve_config(Path(file) if file else None, preset, list(sets), **flags)


def train(cfg: Config | None = None, *, out: str | Path | None = None, force: bool = False, transport: str = "sim",
          console: Any = None, quiet: bool = True) -> TrainResult:
    """``sflaudit train``: train (or resume) a run directory, write its profile and, when ``eval.linear_epochs``,
    the linear probe of best.pt. ``transport``: ``sim`` (in-process) or ``tcp[,…]`` (client processes)."""
    from sflaudit.jobs import run_evaluation, run_training
    from sflaudit.profiles.run import write_run_profile
    from sflaudit.transport.driver import train_over_tcp

    cfg = cfg if cfg is not None else config()
    run_dir = Path(out) if out is not None else Path("runs") / f"{cfg.sfl.method}-{cfg.model.arch}-d{cfg.model.depth}"
    summary = (train_over_tcp(cfg, run_dir, transport, force=force) if transport != "sim" else
               run_training(cfg, run_dir, force=force, quiet=quiet, console=console))
    write_run_profile(cfg, run_dir, summary.schedule)
    evaluation = run_evaluation(RunDir(run_dir).best, cfg.eval, runtime=cfg.run) if cfg.eval.linear_epochs else None
    return TrainResult(run_dir, summary, evaluation)


def evaluate(checkpoint: str | Path, *, linear_epochs: int | None = None, linear_batch: int | None = None,
             out: str | Path | None = None) -> Evaluation:
    """``sflaudit eval``: kNN monitor and linear probe of a checkpoint (evals/<eval id>.json)."""
    from sflaudit.jobs import eval_settings_for, run_evaluation

    settings = eval_settings_for(Path(checkpoint), linear_epochs=linear_epochs, linear_batch=linear_batch)
    return run_evaluation(Path(checkpoint), settings, out=Path(out) if out else None, reuse=False)


def attack_settings(checkpoint: str | Path, attack: str | None = None, **settings: Any) -> Any:
    """The validated ``[attack]`` section :func:`invert` would use: the checkpoint's own, with ``attack`` as the kind
    and the given fields (None = keep)."""
    from sflaudit.attacks.job import invert_settings

    return invert_settings(Path(checkpoint), kind=attack, **settings)


def invert(checkpoint: str | Path, attack: str | None = None, *, out: str | Path | None = None,
           lpips_weights: str | Path | None = None, progress: Callable[[dict], None] | None = None,
           settings: Any = None, **fields: Any) -> AttackRecord:
    """``sflaudit invert``: run attack plug-in ``attack`` (None = the checkpoint's ``attack.kind``) on client 0 of
    ``checkpoint`` with the given ``attack.*`` fields (any registered plug-in's, e.g. ``epochs=5``) — or with
    ``settings`` from :func:`attack_settings` — and return the record written to attacks/<attack id>/invert.json."""
    from sflaudit.attacks.job import run_invert

    chosen = settings if settings is not None else attack_settings(checkpoint, attack, **fields)
    return run_invert(Path(checkpoint), chosen, lpips_weights=lpips_weights, out=Path(out) if out else None,
                      progress=progress)


def membership(checkpoint: str | Path, *, images: int | None = None, views: int | None = None,
               refs: int | None = None, out: str | Path | None = None) -> Any:
    """``sflaudit invert --attack membership``: the label-free membership audit (membership/<id>.json and .npz);
    ``refs`` = K trains (or reuses) K reference models beside the run and adds the calibrated LiRA and RMIA."""
    from sflaudit.attacks.membership import run_membership
    from sflaudit.jobs import stage_settings

    settings = stage_settings(Path(checkpoint), "membership", images=images, views=views, refs=refs)
    return run_membership(Path(checkpoint), settings, out=Path(out) if out else None)


def report(runs: str | Path = "runs/report", out: str | Path = "report.html", *, file: str | Path | None = None,
           preset: str | None = None, sets: Sequence[str] = (), depths: str | None = None,
           methods: str | None = None, attacks: str | None = None, vary: Sequence[str] = (),
           seeds: int | None = None, only_render: bool = False, executor: str = "local", jobs: int = 1,
           ray_address: str | None = None, cpus_per_cell: float = 1.0, gpus_per_cell: float | None = None,
           constraints: dict[str, float | None] | None = None, link: str | None = None,
           client_device: str | None = None, server_device: str | None = None, lpips_weights: str | None = None,
           privacy_axis: str = "ssim", console: Any = None, progress: bool = False) -> ReportResult:
    """``sflaudit report``: plan the depth × method (× ``vary`` × seeds) grid, run the missing stages of every
    cell, and write the HTML report with its CSV and JSON. Axes are the command's strings (``depths="1..17:4"``,
    ``attacks="prior,decoder"``); ``constraints``: max_ssim, max_mb_per_client, min_knn, max_hours;
    ``privacy_axis``: the front's leakage objective, ``ssim`` (worst-case attack) or ``membership`` (TPR at 1 % FPR)."""
    from sflaudit.reports.collect import collect_rows
    from sflaudit.reports.grid import plan_cells
    from sflaudit.reports.html import ReportInputs, write_report
    from sflaudit.reports.sweep import check_configs, write_manifest
    from sflaudit.reports.timecols import add_time_columns, time_setting
    from sflaudit.reports.tradeoffs import Constraints, privacy_axis as axis_of

    axis = axis_of(privacy_axis)                    # a bad name is one line before any work
    runs, out = Path(runs), Path(out)
    if executor not in ("local", "ray"):
        raise SflauditError(f"unknown executor {executor!r} (valid: local, ray)")
    if jobs < 0:
        raise SflauditError(f"--jobs must be 0 (one per CPU core) or more, got {jobs}")
    base, preset_name = _base_config(Path(file) if file else None, preset, list(sets), runs, only_render)
    depth_list, method_list = _grid(base, depths, methods, runs, only_render)
    attack_list, vary_list, seed_count = _axes(attacks, list(vary), seeds, runs, only_render)
    timing = time_setting(link, client_device, server_device, threads=base.run.threads)
    cells = plan_cells(base, depth_list, method_list, runs, attacks=attack_list, vary=vary_list, seeds=seed_count)
    check_configs(cells)
    failed = []
    if only_render:
        if not any(c.run_dir.is_dir() for c in cells):
            raise SflauditError(f"--only-render found no runs of this grid in {runs}; run without --only-render")
    else:
        from sflaudit.locks import RunLock
        from sflaudit.reports.executors import run_sweep

        runs.mkdir(parents=True, exist_ok=True)
        with RunLock(runs / SWEEP_LOCK).held(wait=60):
            write_manifest(runs, base, depth_list, method_list, preset_name, attacks=attack_list, vary=vary_list,
                           seeds=seed_count)
        results = run_sweep(cells, executor=executor, jobs=jobs, ray_address=ray_address,
                            cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell, console=console,
                            progress=progress, lpips_weights=lpips_weights)
        failed = [f"{r.name} ({r.stage}: {r.error})" for r in results if r.status == "failed"]
    rows = collect_rows(cells)
    add_time_columns(rows, cells, timing)
    inputs = ReportInputs(rows=rows, config=base, depths=depth_list, methods=method_list, attacks=attack_list,
                          vary=vary_list, seeds=seed_count, time_text=timing.text, runs=runs,
                          constraints=Constraints(**(constraints or {})), preset=preset_name,
                          config_path=str(file) if file else None, overrides=list(sets), executor=executor,
                          privacy=axis)
    files = write_report(inputs, out)
    return _result(files, failed, len(cells))


def _result(files: Any, failed: list[str], cells: int) -> ReportResult:
    import json

    doc = json.loads(files.json.read_text())
    return ReportResult(files.html, files.csv, files.json, doc["rows"], list(doc["pareto"]), doc["recommendation"],
                        failed, cells)


def _base_config(file: Path | None, preset: str | None, sets: list[str], runs: Path, only_render: bool):
    """The sweep's base config and preset name. ``--only-render`` without config options reuses the sweep's own."""
    if only_render and file is None and preset is None and not sets:
        from sflaudit.reports.sweep import read_manifest

        manifest = read_manifest(runs)
        if manifest is not None:
            return config_from_toml(manifest.config, source=f"{runs}/sweep.json"), manifest.preset
    try:
        cfg = load_config(file, preset, sets)
    except SflauditError as exc:
        # a preset's depth may not exist in the network that --set model.arch swaps in; every cell sets its own
        # depth, so the base takes the first one (only where it would otherwise be refused)
        if "out of range" not in str(exc) or any(s.split("=", 1)[0].strip() == "model.depth" for s in sets):
            raise
        cfg = load_config(file, preset, [*sets, "model.depth=1"])
    return cfg, preset if preset is not None else (DEFAULT_PRESET if file is None else None)


def _grid(base: Config, depths: str | None, methods: str | None, runs: Path, only_render: bool
          ) -> tuple[list[int], list[str]]:
    """Depths and methods: as given, else the sweep's own (``--only-render``), else every depth and both methods."""
    from sflaudit.models import depth_range
    from sflaudit.profiles.depths import parse_depths
    from sflaudit.reports.grid import METHODS, parse_methods
    from sflaudit.reports.sweep import read_manifest

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


def _axes(attacks: str | None, vary: list[str], seeds: int | None, runs: Path, only_render: bool):
    """Attacks, varied axes and seed count: as given, else the sweep's own (``--only-render``), else the defaults."""
    from sflaudit.reports.grid import default_attacks, parse_attacks, parse_vary
    from sflaudit.reports.sweep import read_manifest

    manifest = read_manifest(runs) if only_render else None
    if attacks is not None:
        attack_list = parse_attacks(attacks)
    else:
        attack_list = list(manifest.attacks) if manifest is not None and manifest.attacks else list(default_attacks())
    if vary:
        vary_list = parse_vary(vary)
    else:
        vary_list = [(k, list(v)) for k, v in manifest.vary] if manifest is not None else []
    seed_count = seeds if seeds is not None else (manifest.seeds if manifest is not None else 1)
    return attack_list, vary_list, seed_count


__all__ = ["ReportResult", "TrainResult", "attack_settings", "config", "evaluate", "invert", "membership", "report",
           "train"]
