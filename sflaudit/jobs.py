"""Whole jobs behind the CLI, one per stage: training (with its progress bar and run-directory rules) and the
evaluation stage (linear probe of best.pt). Each stage compares only its own identity (sflaudit.stages)."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sflaudit.artifacts import Evaluation, RunDir, Summary
from sflaudit.config import Config, EvalConfig, RunConfig, config_from_toml
from sflaudit.errors import SflauditError
from sflaudit.stages import EVAL_FIELDS, eval_id, eval_settings, identity_differences


def stored_config(run: RunDir) -> Config:
    """The config a run directory was trained with (its config.toml)."""
    try:
        text = run.config.read_text()
    except OSError as exc:
        raise SflauditError(f"cannot read {run.config}: {exc.strerror or exc}") from None
    return config_from_toml(text, source=str(run.config))


def training_conflict(cfg: Config, run: RunDir) -> list[str]:
    """Training-identity keys in which ``cfg`` differs from the run in ``run`` (empty: same training)."""
    return identity_differences(stored_config(run), cfg) if run.config.is_file() else []


def _differ_text(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_out_path(run_dir: Path) -> None:
    """Refuse a run-directory path that is a file or lies under one (one line instead of an OS traceback)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SflauditError(f"{run_dir} exists and is not a directory; choose another --out")
    for parent in run_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SflauditError(f"{parent} is not a directory, so {run_dir} cannot be created")
            break


def prepare_run_dir(cfg: Config, run_dir: Path, *, force: bool) -> bool:
    """Apply the run-directory contract; returns True when training is already complete (nothing to train).

    Refuses a path that is not a directory, a folder that is not a run directory, and a run whose training
    identity differs from ``cfg`` (unless ``force``, which deletes the old run). Runtime fields (threads, device,
    checkpoint interval, data paths) and eval/attack settings never block.
    """
    run = RunDir(run_dir)
    check_out_path(run_dir)
    if force and run_dir.is_dir():
        for entry in run_dir.iterdir():              # everything but the lock the caller may hold
            if entry != run.lock:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        return False
    if run.config.is_file():
        differ = training_conflict(cfg, run)
        if differ:
            state = "a finished" if run.is_complete() else "an unfinished"
            raise SflauditError(f"{run_dir} holds {state} run with different training settings "
                                f"({_differ_text(differ)}); use the same settings to resume or re-attack it, "
                                f"or pass --force / --out")
        return run.is_complete()
    if run_dir.is_dir() and any(p != run.lock for p in run_dir.iterdir()):
        raise SflauditError(f"{run_dir} is not empty and is not a run directory; choose another --out")
    return False


def run_training(cfg: Config, run_dir: Path, *, force: bool = False, quiet: bool = False,
                 console: Any = None) -> Summary:
    """Train or resume ``run_dir`` holding its lock (another process training it → one-line refusal)."""
    from sflaudit.locks import RunLock

    check_out_path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(RunDir(run_dir).lock):
        return train_run(cfg, run_dir, force=force, quiet=quiet, console=console)


def train_run(cfg: Config, run_dir: Path, *, force: bool = False, quiet: bool = False,
              console: Any = None) -> Summary:
    """Train or resume ``run_dir`` (the caller holds its lock); a run already complete is returned as it is."""
    if prepare_run_dir(cfg, run_dir, force=force):
        summary = RunDir(run_dir).read_summary()
        assert summary is not None
        return summary
    return _fit(cfg, run_dir, quiet=quiet, console=console)


def _fit(cfg: Config, run_dir: Path, *, quiet: bool, console: Any) -> Summary:
    from sflaudit.sfl.trainer import Trainer

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


def with_runtime(cfg: Config, runtime: RunConfig | None) -> Config:
    """``cfg`` with the caller's runtime fields (device, threads) instead of the ones stored at training."""
    if runtime is None:
        return cfg
    return replace(cfg, run=replace(cfg.run, device=runtime.device, threads=runtime.threads))


def stage_settings(checkpoint: Path, section: str, **overrides: Any) -> Any:
    """Config section ``section`` of ``checkpoint``'s own config with the given fields replaced (None = keep),
    validated — the settings of a stage run on a finished checkpoint."""
    from sflaudit.config import apply_dict, validate
    from sflaudit.sfl.checkpoint import read_checkpoint

    cfg = config_from_toml(read_checkpoint(Path(checkpoint)).config, source=f"config of {checkpoint}")
    given = {k: v for k, v in overrides.items() if v is not None}
    cfg = apply_dict(cfg, {section: given}, source=f"{section} options") if given else cfg
    validate(cfg)
    return getattr(cfg, section)


def eval_settings_for(checkpoint: Path, **overrides: Any) -> EvalConfig:
    """The evaluation settings of ``checkpoint``'s own config with ``eval.*`` fields replaced (None = keep)."""
    return stage_settings(checkpoint, "eval", **overrides)


def run_evaluation(checkpoint: Path, settings: EvalConfig | None = None, *, runtime: RunConfig | None = None,
                   out: Path | None = None, reuse: bool = True) -> Evaluation:
    """The evaluation stage: kNN and linear probe of ``checkpoint``'s client 0 + server under ``settings``.

    ``settings`` None = the evaluation settings the run was trained with. The result goes to the run directory's
    ``evals/<eval id>.json`` (or ``out``); an existing result of the same setting is returned without work when
    ``reuse``.
    """
    from sflaudit.sfl.checkpoint import read_checkpoint
    from sflaudit.sfl.monitor import evaluate_state

    checkpoint = Path(checkpoint)
    run = RunDir(checkpoint.parent)
    ckpt = read_checkpoint(checkpoint)
    cfg = with_runtime(config_from_toml(ckpt.config, source=f"config of {checkpoint}"), runtime)
    if settings is not None:
        cfg = replace(cfg, eval=replace(cfg.eval, **{k: getattr(settings, k) for k in EVAL_FIELDS}))
    ident = eval_id(cfg.eval)
    if reuse and out is None and (done := run.read_eval(ident)) is not None and done.checkpoint == str(checkpoint):
        return done
    start = time.perf_counter()
    result = evaluate_state(ckpt, cfg, source=str(checkpoint))
    evaluation = Evaluation(eval_id=ident, settings=eval_settings(cfg.eval), checkpoint=str(checkpoint),
                            step=int(ckpt.step), knn=result.get("knn"),
                            linear_probe_best=result.get("linear_probe_best"),
                            linear_probe_last=result.get("linear_probe_last"),
                            test_images=result.get("test_images"),
                            wall_s=round(time.perf_counter() - start, 3))
    if out is not None:
        from sflaudit.artifact_json import write_artifact

        write_artifact(Path(out), evaluation)
    else:
        run.write_eval(evaluation)
    return evaluation
