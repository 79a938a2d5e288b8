"""Stage identity: which config fields define each stage of a run, and the readable id of each stage's settings.

A run directory is made by stages — ``train`` (→ ckpt.pt, best.pt, summary.json), ``profile`` (analytic, from the
training identity), ``eval`` (linear probe of best.pt) and one stage per attack setting. Resume, sweep-skip and
"is this result the one I asked for" compare only the identity of the stage concerned, so a changed attack setting
re-attacks a finished run without retraining, and runtime fields never block anything.

* **training identity** — ``data``, ``model``, ``sfl``, ``ssl``, ``optim``, ``run.seed`` and the kNN *monitor*
  fields ``eval.every``, ``eval.knn_k``, ``eval.knn_t``, ``eval.bank_size`` (the monitor picks ``best.pt``, so it is
  part of what training produces), and ``defence`` (the wire defences change training); minus the runtime fields.
* **evaluation identity** — ``eval.linear_epochs``, ``eval.linear_batch`` (the probe runs on best.pt).
* **attack identity** — ``attack.kind`` and the fields that attack reads (:data:`ATTACK_FIELDS`).
* **membership identity** — ``membership.*`` (its own stage: membership/<id>.json).
* **runtime** — :data:`RUNTIME_FIELDS`: device, threads, checkpoint interval, data paths. Never compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from sflaudit.config import AttackConfig, Config, EvalConfig, MembershipConfig

TRAIN_SECTIONS: tuple[str, ...] = ("data", "model", "sfl", "ssl", "optim", "defence")
MONITOR_FIELDS: tuple[str, ...] = ("every", "knn_k", "knn_t", "bank_size")
EVAL_FIELDS: tuple[str, ...] = ("linear_epochs", "linear_batch")
RUNTIME_FIELDS: frozenset[str] = frozenset({"run.device", "run.threads", "run.ckpt_every", "data.data_dir",
                                            "data.download"})

# Fields each attack reads, in id order, with the short label used in its readable id.
_DECODER_FIELDS: tuple[tuple[str, str], ...] = (("decoder", ""), ("aux_fraction", "aux"), ("epochs", "ep"),
                                                ("batch", "b"), ("lr", "lr"), ("patience", "stop"))
ATTACK_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "prior": (*_DECODER_FIELDS, ("targets", "n")),
    "decoder": (*_DECODER_FIELDS, ("targets", "n")),
    "hybrid": (*_DECODER_FIELDS, ("hybrid_steps", "steps"), ("hybrid_lr", "hlr"), ("tv_weight", "tv"),
               ("hybrid_pull", "pull"), ("targets", "n")),
    "substitute": (*_DECODER_FIELDS, ("substitute_steps", "steps"), ("substitute_budget", "sb"),
                   ("substitute_lr", "slr"), ("substitute_observed", "obs"), ("targets", "n")),
    "whitebox": (("whitebox_steps", "steps"), ("whitebox_lr", "lr"), ("tv_weight", "tv"), ("targets", "n")),
}


def _fmt(value: Any) -> str:
    """A value as it appears in a readable id: floats in shortest form (0.01, 1e-05), bools as words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def training_identity(cfg: Config) -> dict[str, dict[str, Any]]:
    """The config fields that define what training produces, as a nested plain dict (runtime fields dropped)."""
    out: dict[str, dict[str, Any]] = {}
    for section in TRAIN_SECTIONS:
        values = asdict(getattr(cfg, section))
        out[section] = {k: v for k, v in values.items() if f"{section}.{k}" not in RUNTIME_FIELDS}
    out["run"] = {"seed": cfg.run.seed}
    out["eval"] = {k: getattr(cfg.eval, k) for k in MONITOR_FIELDS}
    return out


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def training_id(cfg: Config) -> str:
    """``train-<12 hex>``: a digest of :func:`training_identity` (equal ids ⇔ equal training identity)."""
    return f"train-{_digest(training_identity(cfg))}"


def identity_differences(old: Config, new: Config) -> list[str]:
    """Dotted keys whose training-identity value differs between ``old`` and ``new`` (sorted)."""
    a, b = training_identity(old), training_identity(new)
    return sorted(f"{s}.{k}" for s in a for k in a[s] if a[s][k] != b[s].get(k))


def eval_settings(cfg: EvalConfig) -> dict[str, Any]:
    """The evaluation stage's own settings."""
    return {k: getattr(cfg, k) for k in EVAL_FIELDS}


def eval_id(cfg: EvalConfig) -> str:
    """Readable id of an evaluation setting, e.g. ``probe-ep100-b128-shuffled`` (the probe draws seeded shuffled
    batches; results of sflaudit 0.2's un-shuffled probe, ids without the suffix, are not reused)."""
    return f"probe-ep{cfg.linear_epochs}-b{cfg.linear_batch}-shuffled"


def attack_settings(cfg: AttackConfig) -> dict[str, Any]:
    """The fields the configured attack reads (its identity), with ``kind`` and ``faithful`` first."""
    fields = ATTACK_FIELDS[cfg.kind]
    return {"kind": cfg.kind, "faithful": cfg.faithful, **{name: getattr(cfg, name) for name, _ in fields}}


def attack_id(cfg: AttackConfig) -> str:
    """Readable id of an attack setting, e.g. ``decoder-res_normN4C64-aux0.01-ep50-b32-lr0.001-n128-clean``.

    Every field in :data:`ATTACK_FIELDS` for the kind appears, so two settings share an id only when they are equal.
    """
    parts = [cfg.kind, *(f"{label}{_fmt(getattr(cfg, name))}" for name, label in ATTACK_FIELDS[cfg.kind])]
    parts.append("faithful" if cfg.faithful else "clean")
    return "-".join(parts)


def membership_id(cfg: MembershipConfig) -> str:
    """Readable id of a membership-audit setting, e.g. ``membership-n250-v8-r1000``."""
    return f"membership-n{cfg.images}-v{cfg.views}-r{cfg.resamples}"
