"""Whole jobs behind the CLI: a training run with its progress bar and run-directory rules, and on-demand eval."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sflaudit.config import Config, config_to_toml
from sflaudit.errors import SflauditError
from sflaudit.runs import RunDir, atomic_write_json


def prepare_run_dir(cfg: Config, run_dir: Path, *, force: bool) -> None:
    """Apply the run-directory contract: refuse to overwrite a finished run (unless ``force``) and refuse to resume
    a run written with another config."""
    run = RunDir(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise SflauditError(f"{run_dir} exists and is not a directory")
    if run.is_complete() and not force:
        raise SflauditError(f"{run_dir} holds a finished run; pass --force to overwrite it or --out another folder")
    if force and run_dir.is_dir():
        shutil.rmtree(run_dir)
        return
    if run.config.is_file() and run.ckpt.is_file():
        if run.config.read_text() != config_to_toml(cfg):
            raise SflauditError(f"{run_dir} holds an unfinished run with a different config; resume it with "
                                f"--config {run.config}, or pass --force / --out")
    elif run_dir.is_dir() and any(run_dir.iterdir()) and not run.config.is_file():
        raise SflauditError(f"{run_dir} is not empty and is not a run directory; choose another --out")


def run_training(cfg: Config, run_dir: Path, *, force: bool = False, quiet: bool = False,
                 console: Any = None) -> dict[str, Any]:
    """Train or resume ``run_dir`` with a rich progress bar; returns summary.json's content."""
    from sflaudit.sfl.trainer import Trainer

    prepare_run_dir(cfg, run_dir, force=force)
    resuming = RunDir(run_dir).ckpt.is_file()
    trainer = Trainer(cfg, run_dir)
    if quiet or console is None:
        summary = trainer.fit()
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            verb = "resume" if resuming else "train"
            task = bar.add_task(f"{verb} {cfg.sfl.method} d{cfg.model.depth}", total=trainer.schedule.total_steps,
                                completed=0, info="")

            def show(p: dict[str, Any]) -> None:
                knn = f" kNN {p['knn']:.1f}%" if p.get("knn") is not None else ""
                info = f"epoch {p['epoch'] + 1}/{trainer.schedule.epochs} loss {p['loss']:.3f}{knn} " \
                       f"{p['img_s']:.0f} img/s"
                bar.update(task, completed=p["step"], info=info)

            trainer.progress = show
            summary = trainer.fit()
    assert summary is not None
    return summary


def evaluate_checkpoint(checkpoint: Path, *, linear_epochs: int | None = None,
                        out: Path | None = None) -> dict[str, Any]:
    """kNN and linear probe of a checkpoint's client 0 + server; writes eval.json beside it (or to ``out``)."""
    from sflaudit.sfl.monitor import evaluate_checkpoint_file

    result: dict[str, Any] = {"checkpoint": str(checkpoint),
                              **evaluate_checkpoint_file(checkpoint, linear_epochs=linear_epochs)}
    atomic_write_json(out or checkpoint.parent / "eval.json", result)
    return result
