"""The depth × method grid of ``sflaudit report``: plan the cells and run one cell's missing stages.

Each cell is its own run directory ``<runs>/<method>-d<depth>``. Its stages are ``train`` (summary.json),
``profile`` (profile.json), ``eval`` (evals/<eval id>.json) and ``invert`` (attacks/<attack id>/invert.json); a cell
is complete for a sweep when every stage *with the sweep's settings* is there. :func:`run_cell` runs only the
missing ones, so a sweep re-run with new attack or evaluation settings trains nothing and adds the new results
next to the old ones. Training is compared on its identity only (sflaudit.stages): a cell trained with other
training settings is refused, one trained with other threads or device is reused. One process at a time writes a
cell (its ``.lock``); a failed stage is recorded in the cell's ``error.json`` and retried by the next sweep.
Executors live in :mod:`reports.executors`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from sflaudit.artifacts import Artifact, ErrorRecord, RunDir, Summary, read_artifact, write_artifact
from sflaudit.config import Config, apply_dict, config_from_toml, config_to_toml, validate
from sflaudit.errors import SflauditError, first_line
from sflaudit.sfl.strategies import strategy_names
from sflaudit.stages import attack_id, eval_id, identity_differences, membership_id

METHODS: tuple[str, ...] = ("mocosfl", "monacosfl")   # the default grid; --methods takes any registered strategy
STAGES: tuple[str, ...] = ("train", "profile", "eval", "invert", "membership")

StageFn = Callable[[str], None]


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a method at a depth, its run directory and its fully resolved config (TOML)."""

    method: str
    depth: int
    run_dir: Path
    config_text: str

    @property
    def name(self) -> str:
        return f"{self.method}-d{self.depth}"

    def config(self) -> Config:
        """The cell's config, parsed once (the stage ids below and every stage read it)."""
        return self._parsed

    @cached_property
    def _parsed(self) -> Config:
        return config_from_toml(self.config_text, source=f"config of {self.name}")

    @property
    def eval_id(self) -> str:
        """Id of the evaluation result this cell's report row reads."""
        return eval_id(self.config().eval)

    @property
    def attack_id(self) -> str:
        """Id of the attack result this cell's report row reads."""
        return attack_id(self.config().attack)

    @property
    def membership_id(self) -> str | None:
        """Id of the membership audit this cell's row reads (None when ``membership.images`` is 0)."""
        m = self.config().membership
        return membership_id(m) if m.images > 0 else None


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


SWEEP_FILE = "sweep.json"


def read_manifest(runs: Path) -> SweepManifest | None:
    return read_artifact(SweepManifest, Path(runs) / SWEEP_FILE)


def write_manifest_file(runs: Path, manifest: SweepManifest) -> None:
    write_artifact(Path(runs) / SWEEP_FILE, manifest)


def parse_methods(spec: str) -> list[str]:
    """``"mocosfl,monacosfl"`` → both, in the order given, without repeats (SflauditError on unknown names)."""
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item not in strategy_names():
            raise SflauditError(f"unknown method {item!r} in --methods (valid: {', '.join(strategy_names())})")
        if item not in out:
            out.append(item)
    if not out:
        raise SflauditError(f"--methods is empty (valid: {', '.join(strategy_names())})")
    return out


def cell_config(base: Config, method: str, depth: int) -> Config:
    """``base`` with ``sfl.method`` and ``model.depth`` replaced (validated: the depth must exist for the arch)."""
    from sflaudit.models import check_depth

    check_depth(base.model.arch, depth)
    cfg = apply_dict(base, {"sfl": {"method": method}, "model": {"depth": depth}}, source="report grid")
    validate(cfg)
    return cfg


def plan_cells(base: Config, depths: Iterable[int], methods: Sequence[str], runs: Path) -> list[Cell]:
    """Every (depth, method) cell, shallowest depth first; run directories are absolute (Ray workers need that)."""
    root = Path(runs).expanduser().resolve()
    return [Cell(m, d, root / f"{m}-d{d}", config_to_toml(cell_config(base, m, d))) for d in depths for m in methods]


def missing_stages(cell: Cell) -> list[str]:
    """The stages of ``cell`` whose result for the cell's settings is not in its run directory, in run order."""
    run = RunDir(cell.run_dir)
    try:
        eid, aid, mid = cell.eval_id, cell.attack_id, cell.membership_id
    except SflauditError:                       # an unreadable config: every stage is missing (and will fail)
        return list(STAGES)
    done = {"train": run.is_complete(), "profile": run.profile_path.is_file(),
            "eval": run.eval_path(eid).is_file(), "invert": run.attack_json(aid).is_file(),
            "membership": mid is None or run.membership_path(mid).is_file()}
    return [s for s in STAGES if not done[s]]


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
                   preset: str | None) -> None:
    """``<runs>/sweep.json``: the latest base config and the grid, so ``--only-render`` rebuilds the same report.

    A later sweep with the same training settings widens the recorded grid (union of depths and methods).
    """
    old = read_manifest(runs)
    if old is not None and not identity_differences(config_from_toml(old.config, source="sweep.json"), base):
        depths = sorted(set(depths) | {int(d) for d in old.depths})
        methods = [m for m in strategy_names() if m in set(methods) | set(old.methods)]
    write_manifest_file(runs, SweepManifest(config=config_to_toml(base), preset=preset, depths=list(depths),
                                            methods=list(methods), attacks=[base.attack.kind]))


# ---------------------------------------------------------------------------------------------------- stages


def train_stage(cfg: Config, run_dir: Path, *, quiet: bool) -> Summary:
    """Train (or resume) the cell; the caller holds the cell's lock."""
    from sflaudit.jobs import train_run

    return train_run(cfg, run_dir, quiet=quiet)


def profile_stage(cfg: Config, run_dir: Path) -> None:
    """Write profile.json for the schedule the run actually used (from its summary)."""
    from profiles.run import write_run_profile

    summary = RunDir(run_dir).read_summary()
    if summary is None:
        raise SflauditError(f"{run_dir} has no summary.json: training did not finish")
    write_run_profile(cfg, run_dir, summary.schedule)


def eval_stage(cfg: Config, run_dir: Path) -> None:
    """Linear probe of ``best.pt`` with the cell's evaluation settings (evals/<eval id>.json)."""
    from sflaudit.jobs import run_evaluation

    run_evaluation(RunDir(run_dir).best, cfg.eval, runtime=cfg.run)


def invert_stage(cfg: Config, run_dir: Path, *, lpips_weights: str | None = None) -> None:
    """Attack ``best.pt`` with the cell's attack settings (attacks/<attack id>/invert.json and .png)."""
    from attacks.job import run_invert

    run_invert(RunDir(run_dir).best, cfg.attack, runtime=cfg.run, lpips_weights=lpips_weights)


def membership_stage(cfg: Config, run_dir: Path) -> None:
    """Membership-inference audit of ``best.pt`` with the cell's settings (membership/<id>.json)."""
    from attacks.membership import run_membership

    run_membership(RunDir(run_dir).best, cfg.membership, runtime=cfg.run)


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
    try:
        cfg = cell.config()
        for stage in missing:
            _notify(on_stage, stage)
            if stage == "train":
                train_stage(cfg, cell.run_dir, quiet=quiet)
            elif stage == "profile":
                profile_stage(cfg, cell.run_dir)
            elif stage == "eval":
                eval_stage(cfg, cell.run_dir)
            elif stage == "invert":
                invert_stage(cfg, cell.run_dir, lpips_weights=lpips_weights)
            else:
                membership_stage(cfg, cell.run_dir)
            done.append(stage)
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the others
        failed = record_failure(cell, exc, stage)
        return CellResult(cell.name, "failed", tuple(done), failed.error, stage, time.perf_counter() - start)
    return CellResult(cell.name, "ok", tuple(done), wall_s=time.perf_counter() - start)


def _notify(on_stage: StageFn | None, stage: str) -> None:
    if on_stage is not None:
        on_stage(stage)
