"""Run one cell of the ``sflaudit report`` grid (:mod:`sflaudit.reports.grid`): its missing stages, under its lock.

Each cell is its own run directory ``<runs>/<cell name>``. Its stages are ``train`` (summary.json), ``profile``
(profile.json), ``eval`` (evals/<eval id>.json), ``invert`` (attacks/<attack id>/invert.json for every attack of
the sweep) and ``membership``; a cell is complete for a sweep when every stage *with the sweep's settings* is there.
:func:`run_cell` runs only the missing ones, so a sweep re-run with new attack or evaluation settings (or another
attack) trains nothing and adds the new results next to the old ones. Training is compared on its identity only
(sflaudit.stages): a cell trained with other training settings is refused, one trained with other threads or device
is reused. One process at a time writes a cell (its ``.lock``); a failed stage is recorded in the cell's
``error.json`` and retried by the next sweep. Executors live in :mod:`sflaudit.reports.executors`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sflaudit.artifact_json import Artifact, read_artifact, write_artifact
from sflaudit.artifacts import ErrorRecord, RunDir
from sflaudit.config import Config, config_from_toml, config_to_toml
from sflaudit.errors import SflauditError, first_line
from sflaudit.sfl.strategies import strategy_names
from sflaudit.stages import identity_differences
from sflaudit.memo import stage_memo
from sflaudit.reports.cellstages import CellContext, StageFn, cell_stages
from sflaudit.reports.grid import Cell, default_attacks



@dataclass(frozen=True)
class CellResult:
    """What running a cell did: ``status`` is ok | failed | skipped (already complete) | busy (another process
    holds the cell's lock)."""

    name: str
    status: str
    stages_run: tuple[str, ...] = ()
    error: str | None = None
    stage: str | None = None
    wall_s: float = 0.0


@dataclass(frozen=True)
class SweepManifest(Artifact):
    """``<runs>/sweep.json``: the base config and grid of a sweep, so ``--only-render`` rebuilds the same report."""

    FORMAT: ClassVar[str] = "sflaudit-sweep/2"
    REMEDY: ClassVar[str] = "delete it, or pass the sweep's --preset/--config/--set again"
    config: str
    preset: str | None
    depths: list[int]
    methods: list[str]
    attacks: list[str] = field(default_factory=list)
    vary: list[list] = field(default_factory=list)     # [[dotted key, [values as written]], …] in --vary order
    seeds: int = 1


SWEEP_FILE = "sweep.json"


def read_manifest(runs: Path) -> SweepManifest | None:
    return read_artifact(SweepManifest, Path(runs) / SWEEP_FILE)


def write_manifest_file(runs: Path, manifest: SweepManifest) -> None:
    write_artifact(Path(runs) / SWEEP_FILE, manifest)


def missing_stages(cell: Cell) -> list[str]:
    """The stages of ``cell`` whose result for the cell's settings is not in its run directory, in run order."""
    try:
        return [s.name for s in cell_stages() if not s.done(cell)]
    except SflauditError:                       # an unreadable config: every stage is missing (and will fail)
        return [s.name for s in cell_stages()]


def cell_complete(cell: Cell) -> bool:
    """Every stage of ``cell`` is done with the cell's settings."""
    return not missing_stages(cell)


def check_configs(cells: Iterable[Cell]) -> None:
    """Refuse to reuse a run directory trained with other training settings (runtime, eval and attack settings
    may differ: they are separate stages)."""
    from sflaudit.jobs import stored_config

    for cell in cells:
        run = RunDir(cell.run_dir)
        if not run.config.is_file():
            continue
        differ = identity_differences(stored_config(run), cell.config())
        if differ:
            raise SflauditError(f"{cell.run_dir} holds a run trained with other settings ({', '.join(differ[:4])}"
                                f"{' …' if len(differ) > 4 else ''}); use another --runs folder, the same "
                                f"training settings as before, or delete that cell")


def write_manifest(runs: Path, base: Config, depths: Sequence[int], methods: Sequence[str],
                   preset: str | None, *, attacks: Sequence[str] | None = None,
                   vary: Sequence[tuple[str, Sequence[str]]] = (), seeds: int = 1) -> None:
    """``<runs>/sweep.json``: the latest base config and the grid, so ``--only-render`` rebuilds the same report.

    A later sweep with the same training settings widens the recorded grid (union of depths, methods, attacks and
    of the values of an axis varied before; more seeds).
    """
    old = read_manifest(runs)
    attacks = default_attacks() if attacks is None else attacks
    vary = [(k, list(v)) for k, v in vary]
    if old is not None and not identity_differences(config_from_toml(old.config, source="sweep.json"), base):
        depths = sorted(set(depths) | {int(d) for d in old.depths})
        methods = [m for m in strategy_names() if m in set(methods) | set(old.methods)]
        attacks = list(attacks) + [a for a in old.attacks if a not in attacks]
        old_vary = {k: list(v) for k, v in old.vary}
        if [k for k, _ in vary] == list(old_vary):
            vary = [(k, old_vary[k] + [x for x in v if x not in old_vary[k]]) for k, v in vary]
        seeds = max(seeds, old.seeds)
    write_manifest_file(runs, SweepManifest(config=config_to_toml(base), preset=preset, depths=list(depths),
                                            methods=list(methods), attacks=list(attacks),
                                            vary=[[k, v] for k, v in vary], seeds=seeds))


def record_failure(cell: Cell, exc: BaseException, stage: str) -> CellResult:
    """Write the cell's error.json and return its failed result."""
    message = first_line(exc, with_type=True)
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    RunDir(cell.run_dir).write_error(ErrorRecord(stage=stage, error=message, type=type(exc).__name__,
                                                 cell=cell.name))
    return CellResult(cell.name, "failed", error=message, stage=stage)


def run_cell(cell: Cell, *, quiet: bool = True, on_stage: StageFn | None = None, threads: int | None = None,
             lpips_weights: str | None = None, wait: float | None = 0) -> CellResult:
    """Run the missing stages of ``cell`` (train → profile → eval → invert) holding the cell's lock.

    Args:
        cell: the cell (its run directory and resolved config).
        quiet: no per-run progress bar (set when a parent progress bar is active).
        on_stage: called with the stage name before each stage that runs.
        threads: torch intra-op threads for this process (None = leave as is); set by pool and Ray workers.
        lpips_weights: LPIPS AlexNet weights file for the attack metrics (None = env / default cache).
        wait: seconds to wait for another process's lock on the cell (0 = do not wait: ``busy``; None = forever).
    Returns:
        ``skipped`` when the cell was already complete, ``busy`` when another process holds it, ``ok`` when it is
        complete now, ``failed`` with the error's first line and stage otherwise. KeyboardInterrupt is not caught:
        the sweep stops, the cell keeps its checkpoint, and the next sweep resumes it.
    """
    from sflaudit.locks import RunLock

    start = time.perf_counter()
    if cell_complete(cell):
        return CellResult(cell.name, "skipped")
    run = RunDir(cell.run_dir)
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run.lock)
    if not lock.acquire(wait=wait):
        return CellResult(cell.name, "busy")
    try:
        return _run_stages(cell, run, start, quiet=quiet, on_stage=on_stage, threads=threads,
                           lpips_weights=lpips_weights)
    finally:
        lock.release()


def _run_stages(cell: Cell, run: RunDir, start: float, *, quiet: bool, on_stage: StageFn | None,
                threads: int | None, lpips_weights: str | None) -> CellResult:
    missing = missing_stages(cell)
    if not missing:                                   # finished by another process while we waited
        return CellResult(cell.name, "skipped")
    if threads:
        import torch

        torch.set_num_threads(threads)
    run.clear_error()
    done: list[str] = []
    stage = "config"
    ctx = CellContext(cell, quiet=quiet, lpips_weights=lpips_weights, on_stage=on_stage)
    try:
        with stage_memo():                            # the cell's config, dataset, best.pt and client 0 read once
            _ = ctx.cfg                               # parsed first: an unreadable config fails as "config"
            for step in cell_stages():
                if (stage := step.name) not in missing:
                    continue
                if stage != "invert":                 # each attack is announced as invert:<kind>
                    ctx.announce(stage)
                step.run(ctx)
                done.append(stage)
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the others
        failed = record_failure(cell, exc, stage)
        return CellResult(cell.name, "failed", tuple(done), failed.error, stage, time.perf_counter() - start)
    return CellResult(cell.name, "ok", tuple(done), wall_s=time.perf_counter() - start)
