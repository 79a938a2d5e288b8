"""The depth × method grid of ``sflaudit report``: plan the cells and run one cell (train → profile → invert).

Each cell is its own run directory ``<runs>/<method>-d<depth>`` (DESIGN.md §3). A cell is *complete* when it holds
``summary.json`` (training finished), ``profile.json`` and ``invert.json``; :func:`run_cell` does only the stages
whose file is missing, so an interrupted sweep continues where it stopped and never redoes a finished stage.
A stage that raises is recorded in ``<cell>/error.json`` (``{"error": one line, "stage": ..., "type": ...}``) and
the cell is reported as failed; the next sweep retries it. Executors live in :mod:`reports.executors`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sflaudit.config import Config, apply_dict, config_from_toml, config_to_toml, validate
from sflaudit.errors import SflauditError
from sflaudit.runs import RunDir, atomic_write_json, read_json

METHODS: tuple[str, ...] = ("mocosfl", "monacosfl")
STAGES: tuple[str, ...] = ("train", "profile", "invert")
SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = "sflaudit-sweep/1"

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


@dataclass(frozen=True)
class CellResult:
    """What running a cell did: ``status`` is ok | failed | skipped (already complete)."""

    name: str
    status: str
    stages_run: tuple[str, ...] = ()
    error: str | None = None
    stage: str | None = None
    wall_s: float = 0.0


def parse_methods(spec: str) -> list[str]:
    """``"mocosfl,monacosfl"`` → both, in the order given, without repeats (SflauditError on unknown names)."""
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item not in METHODS:
            raise SflauditError(f"unknown method {item!r} in --methods (valid: {', '.join(METHODS)})")
        if item not in out:
            out.append(item)
    if not out:
        raise SflauditError(f"--methods is empty (valid: {', '.join(METHODS)})")
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


def cell_complete(run_dir: Path) -> bool:
    """A cell is complete when training finished and both the profile and the attack results are written."""
    run = RunDir(Path(run_dir))
    return run.is_complete() and run.profile.is_file() and run.invert_json.is_file()


def check_configs(cells: Iterable[Cell]) -> None:
    """Refuse to reuse a run directory that was made with another config (e.g. another preset or --set)."""
    for cell in cells:
        path = RunDir(cell.run_dir).config
        if path.is_file() and path.read_text() != cell.config_text:
            raise SflauditError(f"{cell.run_dir} holds a run made with a different config; use another --runs "
                                f"folder, the same preset/--set as before, or delete that cell")


def write_manifest(runs: Path, base: Config, depths: Sequence[int], methods: Sequence[str],
                   preset: str | None) -> None:
    """``<runs>/sweep.json``: the base config and grid, so ``--only-render`` can rebuild the same report.

    A later sweep of the same config into the same folder widens the recorded grid (union of depths and methods).
    """
    text = config_to_toml(base)
    old = read_manifest(runs)
    if old is not None and old.get("config") == text:
        depths = sorted(set(depths) | {int(d) for d in old.get("depths", [])})
        methods = [m for m in METHODS if m in set(methods) | set(old.get("methods", []))]
    atomic_write_json(Path(runs) / SWEEP_FILE, {"format": SWEEP_FORMAT, "config": text, "preset": preset,
                                                "depths": list(depths), "methods": list(methods)})


def read_manifest(runs: Path) -> dict[str, Any] | None:
    """The sweep manifest of ``runs`` (None when there is none)."""
    path = Path(runs) / SWEEP_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != SWEEP_FORMAT:
        raise SflauditError(f"{path} is not an sflaudit sweep manifest (expected format {SWEEP_FORMAT})")
    return data


# ---------------------------------------------------------------------------------------------------- stages


def train_stage(cfg: Config, run_dir: Path, *, quiet: bool) -> dict[str, Any]:
    """Train (or resume) the cell; returns summary.json's content."""
    from sflaudit.jobs import run_training

    return run_training(cfg, run_dir, quiet=quiet)


def profile_stage(cfg: Config, run_dir: Path, summary: dict[str, Any]) -> None:
    """Write profile.json for the schedule the run actually used."""
    from profiles.run import write_run_profile
    from sflaudit.sfl.schedule import Schedule

    sched = dict(summary["schedule"], sync_batches=tuple(summary["schedule"]["sync_batches"]))
    write_run_profile(cfg, run_dir, Schedule(**sched))


def invert_stage(run_dir: Path, *, lpips_weights: str | None = None) -> None:
    """Attack ``best.pt`` (the weights at the best kNN evaluation); writes invert.json and invert.png."""
    from attacks.job import run_invert

    run_invert(RunDir(run_dir).best, lpips_weights=lpips_weights)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def run_cell(cell: Cell, *, quiet: bool = True, on_stage: StageFn | None = None, threads: int | None = None,
             lpips_weights: str | None = None) -> CellResult:
    """Run the missing stages of ``cell`` (train → profile → invert) and record a failure in ``error.json``.

    Args:
        cell: the cell (its run directory and resolved config).
        quiet: no per-run progress bar (set when a parent progress bar is active).
        on_stage: called with the stage name before each stage that runs.
        threads: torch intra-op threads for this process (None = leave as is); set by pool and Ray workers.
        lpips_weights: LPIPS AlexNet weights file for the attack metrics (None = env / default cache).
    Returns:
        ``skipped`` when the cell was already complete, ``ok`` when it is complete now, ``failed`` with the error's
        first line and stage otherwise. KeyboardInterrupt is not caught: the sweep stops, the cell keeps its
        checkpoint, and the next sweep resumes it.
    """
    start = time.perf_counter()
    run = RunDir(cell.run_dir)
    if cell_complete(cell.run_dir):
        return CellResult(cell.name, "skipped")
    if threads:
        import torch

        torch.set_num_threads(threads)
    error_file = cell.run_dir / "error.json"
    error_file.unlink(missing_ok=True)
    done: list[str] = []
    stage = "config"
    try:
        cfg = config_from_toml(cell.config_text, source=f"config of {cell.name}")
        stage = "train"
        if run.is_complete():
            summary = read_json(run.summary)
        else:
            _notify(on_stage, stage)
            summary = train_stage(cfg, cell.run_dir, quiet=quiet)
            done.append(stage)
        stage = "profile"
        if not run.profile.is_file():
            _notify(on_stage, stage)
            profile_stage(cfg, cell.run_dir, summary)
            done.append(stage)
        stage = "invert"
        if not run.invert_json.is_file():
            _notify(on_stage, stage)
            invert_stage(cell.run_dir, lpips_weights=lpips_weights)
            done.append(stage)
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the others
        message = _first_line(exc)
        cell.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(error_file, {"error": message, "stage": stage, "type": type(exc).__name__,
                                       "cell": cell.name})
        return CellResult(cell.name, "failed", tuple(done), message, stage, time.perf_counter() - start)
    return CellResult(cell.name, "ok", tuple(done), wall_s=time.perf_counter() - start)


def _notify(on_stage: StageFn | None, stage: str) -> None:
    if on_stage is not None:
        on_stage(stage)

