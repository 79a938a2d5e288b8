"""summary.json of a finished training run, from the trainer's final state and its metrics log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sflaudit.artifacts import Summary
from sflaudit.runs import read_jsonl
from sflaudit.stages import training_id


def last_train_loss(metrics: Path) -> float | None:
    """The loss of the last ``train`` row of metrics.jsonl (None before the first step)."""
    rows = [r for r in read_jsonl(metrics) if r.get("type") == "train"]
    return rows[-1]["loss"] if rows else None


def write_run_summary(trainer: Any, wall: float, steps: int, images: int) -> Summary:
    """Write summary.json (last: its presence means training is complete) for ``trainer``
    (``sflaudit.sfl.trainer.Trainer``) after ``steps`` steps and ``images`` images in ``wall`` seconds of this
    process. The linear probe is not run here: it is the evaluation stage's job, on best.pt."""
    t, cfg = trainer, trainer.cfg

    def rate(x: float, digits: int) -> float | None:
        return round(x / wall, digits) if wall > 0 else None

    summary = Summary(
        train_id=training_id(cfg), method=cfg.sfl.method, arch=cfg.model.arch, depth=cfg.model.depth,
        epochs=t.schedule.epochs, steps=t.step, schedule=t.schedule, knn_final=t.last_knn,
        knn_best=t.best_knn, final_loss=last_train_loss(t.run.metrics), wall_time_s=round(wall, 3),
        knn_monitor_s=round(t.eval_seconds, 3), knn_monitor_share=rate(t.eval_seconds, 4),
        steps_per_s=rate(steps, 4), images_per_s=rate(images, 2), traffic_total=t.link.total())
    t.run.write_summary(summary)
    return summary
