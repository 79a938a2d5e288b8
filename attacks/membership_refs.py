"""The membership auditor's reference models: K ordinary training runs with the target's exact settings on other
images (:mod:`sflaudit.sfl.auditset`), trained once, resumable, and reused by every membership setting that audits
as many images.

Reference k of a run lives in ``<run>/refs/ref<k>-<train id>/`` — a complete run directory (config.toml, ckpt.pt,
best.pt, summary.json): an interrupted audit resumes it, ``--force`` never touches it, and its training identity
(the target's, plus ``data.audit_exclude``, ``data.audit_seed`` and its own ``run.seed``) says what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from sflaudit.artifacts import RunDir
from sflaudit.config import Config, validate
from sflaudit.jobs import run_training
from sflaudit.sfl.auditset import REFERENCE_SEED_STRIDE
from sflaudit.stages import training_id

from sflaudit.attacks.calibrated import CALIBRATED, AttackerView

ProgressFn = Callable[[str], None]
CALIBRATION = "offline LiRA (out-model Gaussian of the logit signal, fixed variance) and offline RMIA (a = 0.3, gamma = 1)"


def reference_config(cfg: Config, k: int, images: int) -> Config:
    """Reference model k (k ≥ 1) of the run ``cfg`` audited on ``images`` per side."""
    ref = replace(cfg, data=replace(cfg.data, audit_exclude=images, audit_seed=cfg.run.seed),
                  run=replace(cfg.run, seed=cfg.run.seed + k * REFERENCE_SEED_STRIDE),
                  membership=replace(cfg.membership, images=0, refs=0))
    validate(ref)
    return ref


def reference_dir(run_dir: Path, ref: Config, k: int) -> Path:
    return Path(run_dir) / "refs" / f"ref{k}-{training_id(ref)}"


def train_references(cfg: Config, run_dir: Path, images: int, count: int, *,
                     progress: ProgressFn | None = None) -> list[tuple[Config, Path, float]]:
    """Train (or resume, or reuse) the ``count`` reference models; (config, best.pt, training seconds) of each."""
    out = []
    for k in range(1, count + 1):
        ref = reference_config(cfg, k, images)
        where = reference_dir(run_dir, ref, k)
        if progress is not None:
            progress(f"reference model {k}/{count}: {where}")
        summary = run_training(ref, where, quiet=True)
        out.append((ref, RunDir(where).best, float(summary.wall_time_s)))
    return out


def calibrated_scores(target: dict[str, dict[str, np.ndarray]], references: list[dict[str, dict[str, np.ndarray]]],
                      members: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"lira_<signal>" | "rmia_<signal>": (member scores, non-member scores)}`` — empty without references.

    The attacker gets one :class:`~sflaudit.attacks.calibrated.AttackerView` per signal: the candidates (members
    then non-members, concatenated: the view holds no labels, and a calibrated score depends on its own candidate
    only, so the order tells it nothing) under the target and every reference model, and the population. The
    scores are split back into members and non-members here, by the auditor, after the attack has run.
    """
    if not references:
        return {}
    out = {}
    for signal in target:
        cand = np.concatenate([target[signal]["member"], target[signal]["nonmember"]])
        refs = np.stack([np.concatenate([r[signal]["member"], r[signal]["nonmember"]]) for r in references])
        view = AttackerView(target=cand, reference=refs, population_target=target[signal]["population"],
                            population_reference=np.stack([r[signal]["population"] for r in references]),
                            signal=signal)
        for name, attack in CALIBRATED.items():
            s = attack(view)
            out[f"{name}_{signal}"] = (s[:members], s[members:])
    return out
