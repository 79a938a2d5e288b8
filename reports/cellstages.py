"""The stages of a sweep cell as objects: each declares its name, whether its result for the cell's settings is
already in the run directory (its identity: :mod:`sflaudit.stages`), and ``run(context)``.

The stages are plug-ins (the ``sflaudit.stages`` entry-point group; sflaudit's own five are declared there too). The
sweep (:func:`sflaudit.reports.sweep.run_cell`) iterates :func:`cell_stages` in order and runs the missing ones
inside one load-once scope (:mod:`sflaudit.memo`), so that a cell's stages parse its config, read its dataset,
best.pt and client 0 once. A stage that attacks announces each attack as ``invert:<kind>``. The work of each stage is
a module function (``train_stage``, …, the seam the sweep's tests replace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Protocol

from sflaudit.artifacts import RunDir
from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry
from sflaudit.stages import training_id
from sflaudit.reports.grid import Cell

StageFn = Callable[[str], None]


@dataclass
class CellContext:
    """What every stage of one cell reads: the cell, its run directory and the sweep's runtime options."""

    cell: Cell
    quiet: bool = True
    lpips_weights: str | None = None
    on_stage: StageFn | None = None

    @cached_property
    def cfg(self) -> Config:
        return self.cell.config()

    @property
    def run(self) -> RunDir:
        return RunDir(self.cell.run_dir)

    def announce(self, what: str) -> None:
        if self.on_stage is not None:
            self.on_stage(what)


class Stage(Protocol):
    name: str
    order: int                       # place in a cell's run (train 0, profile 1, eval 2, invert 3, membership 4)

    def identity(self, cell: Cell) -> str:
        """What must match for an existing result to be reused (:mod:`sflaudit.stages`' ids)."""

    def outputs(self, cell: Cell) -> list[Path]:
        """The files the stage writes for the cell's settings (its result is there when they all are)."""

    def done(self, cell: Cell) -> bool:
        """Whether the result for the cell's settings is in its run directory."""

    def run(self, ctx: CellContext) -> None:
        """Produce it (the caller holds the cell's lock)."""


def train_stage(cfg: Config, run_dir: Path, *, quiet: bool) -> None:
    """Train (or resume) the cell; the caller holds the cell's lock."""
    from sflaudit.jobs import train_run

    train_run(cfg, run_dir, quiet=quiet)


def profile_stage(cfg: Config, run_dir: Path) -> None:
    """profile.json for the schedule the run actually used (from its summary)."""
    from sflaudit.profiles.run import write_run_profile

    summary = RunDir(run_dir).read_summary()
    if summary is None:
        raise SflauditError(f"{run_dir} has no summary.json: training did not finish")
    write_run_profile(cfg, run_dir, summary.schedule)


def eval_stage(cfg: Config, run_dir: Path) -> None:
    """Linear probe of best.pt with the cell's evaluation settings (evals/<eval id>.json)."""
    from sflaudit.jobs import run_evaluation

    run_evaluation(RunDir(run_dir).best, cfg.eval, runtime=cfg.run)


def invert_stage(cfg: Config, run_dir: Path, *, kind: str, lpips_weights: str | None = None) -> None:
    """Attack ``kind`` on best.pt with the cell's attack settings (attacks/<attack id>/); the result of a ``shared``
    attack (the prior) is copied from another cell of the sweep that computed the same one."""
    from sflaudit.attacks.job import run_invert
    from sflaudit.auditors import get_attack

    here = Path(run_dir)
    siblings = sorted(p for p in here.parent.iterdir() if p.is_dir() and p != here) if get_attack(kind).shared else []
    run_invert(RunDir(run_dir).best, replace(cfg.attack, kind=kind), runtime=cfg.run, lpips_weights=lpips_weights,
               share_from=siblings)


def membership_stage(cfg: Config, run_dir: Path) -> None:
    """Membership-inference audit of best.pt with the cell's settings (membership/<id>.json)."""
    from sflaudit.attacks.membership import run_membership

    run_membership(RunDir(run_dir).best, cfg.membership, runtime=cfg.run)


class _FileStage:
    """A stage whose result is there when every one of its output files is, and whose work is the module function
    named ``work`` (looked up when it runs, so tests may replace it)."""

    work = ""

    def outputs(self, cell: Cell) -> list[Path]:
        raise NotImplementedError

    def done(self, cell: Cell) -> bool:
        return all(p.is_file() for p in self.outputs(cell))

    def run(self, ctx: CellContext) -> None:
        globals()[self.work](ctx.cfg, ctx.cell.run_dir)


class TrainStage:
    name = "train"
    order = 0

    def identity(self, cell: Cell) -> str:
        return training_id(cell.config())

    def outputs(self, cell: Cell) -> list[Path]:
        run = RunDir(cell.run_dir)
        return [run.config, run.ckpt, run.best, run.summary_path]

    def done(self, cell: Cell) -> bool:
        return RunDir(cell.run_dir).is_complete()

    def run(self, ctx: CellContext) -> None:
        train_stage(ctx.cfg, ctx.cell.run_dir, quiet=ctx.quiet)


class ProfileStage(_FileStage):
    name, order, work = "profile", 1, "profile_stage"

    def identity(self, cell: Cell) -> str:
        return training_id(cell.config())            # analytic, from what training produced

    def outputs(self, cell: Cell) -> list[Path]:
        return [RunDir(cell.run_dir).profile_path]


class EvalStage(_FileStage):
    name, order, work = "eval", 2, "eval_stage"

    def identity(self, cell: Cell) -> str:
        return cell.eval_id

    def outputs(self, cell: Cell) -> list[Path]:
        return [RunDir(cell.run_dir).eval_path(cell.eval_id)]


class InvertStage(_FileStage):
    name = "invert"
    order = 3

    def identity(self, cell: Cell) -> str:
        return ",".join(cell.attack_ids.values())

    def outputs(self, cell: Cell) -> list[Path]:
        run = RunDir(cell.run_dir)
        return [run.attack_json(aid) for aid in cell.attack_ids.values()]

    def missing(self, cell: Cell) -> list[str]:
        """The attack kinds of ``cell`` without a result for the cell's settings, in the sweep's order."""
        run = RunDir(cell.run_dir)
        return [kind for kind, aid in cell.attack_ids.items() if not run.attack_json(aid).is_file()]

    def run(self, ctx: CellContext) -> None:
        for kind in self.missing(ctx.cell):
            ctx.announce(f"invert:{kind}")
            invert_stage(ctx.cfg, ctx.cell.run_dir, kind=kind, lpips_weights=ctx.lpips_weights)


class MembershipStage(_FileStage):
    name, order, work = "membership", 4, "membership_stage"

    def identity(self, cell: Cell) -> str:
        return cell.membership_id or "off"

    def outputs(self, cell: Cell) -> list[Path]:
        mid = cell.membership_id
        return [] if mid is None else [RunDir(cell.run_dir).membership_path(mid)]


TRAIN, PROFILE, EVAL, INVERT, MEMBERSHIP = (TrainStage(), ProfileStage(), EvalStage(), InvertStage(),
                                            MembershipStage())
STAGE_REGISTRY: Registry[Stage] = Registry("sflaudit.stages", "stage")   # sflaudit's own entry points: the five


def cell_stages() -> tuple[Stage, ...]:
    """The registered stages in run order (``order``: train 0 … membership 4; a plug-in's after, by its order)."""
    return tuple(sorted(STAGE_REGISTRY, key=lambda st: getattr(st, "order", 100)))
