"""Stage identity: which config fields define each stage of a run, and the readable id of each stage's settings.

A run directory is made by stages — ``train`` (→ ckpt.pt, best.pt, summary.json), ``profile`` (analytic, from the
training identity), ``eval`` (linear probe of best.pt) and one stage per attack setting. Resume, sweep-skip and
"is this result the one I asked for" compare only the identity of the stage concerned, so a changed attack setting
re-attacks a finished run without retraining, and runtime fields never block anything.

* **training identity** — ``data``, ``model``, ``sfl``, ``ssl``, ``optim``, ``run.seed`` and the kNN *monitor*
  fields ``eval.every``, ``eval.knn_k``, ``eval.knn_t``, ``eval.bank_size`` (the monitor picks ``best.pt``, so it is
  part of what training produces), ``defence`` (the wire defences change training) and ``attacker`` unless its
  kind is ``none`` (an active server changes what the clients receive); minus the runtime fields,
  and minus each field of :data:`NEUTRAL_DEFAULTS` while at its default (added later: old run ids still hold).
* **evaluation identity** — ``eval.linear_epochs``, ``eval.linear_batch`` (the probe runs on best.pt).
* **attack identity** — ``attack.kind`` and the fields its plug-in declares (:mod:`sflaudit.auditors`).
* **membership identity** — ``membership.*`` (its own stage: membership/<id>.json).
* **runtime** — :data:`RUNTIME_FIELDS`: device, threads, checkpoint interval, data paths. Never compared.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sflaudit.auditors import attack_id as plugin_attack_id
from sflaudit.auditors import record_settings
from sflaudit.config import AttackConfig, Config, EvalConfig, MembershipConfig, config_to_dict

TRAIN_SECTIONS: tuple[str, ...] = ("data", "model", "sfl", "ssl", "optim", "defence")
MONITOR_FIELDS: tuple[str, ...] = ("every", "knn_k", "knn_t", "bank_size")
EVAL_FIELDS: tuple[str, ...] = ("linear_epochs", "linear_batch")
RUNTIME_FIELDS: frozenset[str] = frozenset({"run.device", "run.threads", "run.ckpt_every", "data.data_dir",
                                            "data.download", "defence.canary_threshold"})
# fields added after run directories were first recorded, left out of the identity while at this default: an
# existing run keeps its id, and any other value is a different training (data.image_size: resized images)
NEUTRAL_DEFAULTS: dict[str, Any] = {"data.image_size": 0, "model.norm": "groupnorm", "model.weights": "",
                                    "data.audit_exclude": 0, "data.audit_seed": 0, "defence.canary": 0,
                                    "defence.canary_rows": 2}

def training_identity(cfg: Config) -> dict[str, dict[str, Any]]:
    """The config fields that define what training produces, as a nested plain dict (runtime fields dropped)."""
    out: dict[str, dict[str, Any]] = {}
    every = config_to_dict(cfg)
    for section in TRAIN_SECTIONS:
        values = every[section]
        out[section] = {k: v for k, v in values.items() if f"{section}.{k}" not in RUNTIME_FIELDS
                        and not _neutral(f"{section}.{k}", v)}
    if cfg.attacker.kind != "none":        # an honest run's identity (and id) is what it was before [attacker]
        out["attacker"] = every["attacker"]
    out["run"] = {"seed": cfg.run.seed}
    out["eval"] = {k: getattr(cfg.eval, k) for k in MONITOR_FIELDS}
    return out


def _neutral(key: str, value: Any) -> bool:
    return key in NEUTRAL_DEFAULTS and value == NEUTRAL_DEFAULTS[key]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def training_id(cfg: Config) -> str:
    """``train-<12 hex>``: a digest of :func:`training_identity` (equal ids ⇔ equal training identity)."""
    return f"train-{_digest(training_identity(cfg))}"


def identity_differences(old: Config, new: Config) -> list[str]:
    """Dotted keys whose training-identity value differs between ``old`` and ``new`` (sorted)."""
    a, b = training_identity(old), training_identity(new)

    def value(ident: dict[str, dict[str, Any]], s: str, k: str) -> Any:
        return ident.get(s, {}).get(k, NEUTRAL_DEFAULTS.get(f"{s}.{k}"))       # a neutral field at its default is left out

    for ident in (a, b):
        ident.setdefault("attacker", {"kind": "none"})
    return sorted(f"{s}.{k}" for s in a.keys() | b.keys() for k in a.get(s, {}).keys() | b.get(s, {}).keys()
                  if value(a, s, k) != value(b, s, k))


def eval_settings(cfg: EvalConfig) -> dict[str, Any]:
    """The evaluation stage's own settings."""
    return {k: getattr(cfg, k) for k in EVAL_FIELDS}


def eval_id(cfg: EvalConfig) -> str:
    """Readable id of an evaluation setting, e.g. ``probe-ep100-b128-shuffled`` (the probe draws seeded shuffled
    batches; results of sflaudit 0.2's un-shuffled probe, ids without the suffix, are not reused)."""
    return f"probe-ep{cfg.linear_epochs}-b{cfg.linear_batch}-shuffled"


def attack_settings(cfg: AttackConfig) -> dict[str, Any]:
    """The fields the configured attack reads (its identity, declared by its plug-in), with ``kind`` first."""
    return record_settings(cfg.kind, cfg.settings)


def attack_id(cfg: AttackConfig) -> str:
    """Readable id of an attack setting, e.g. ``decoder-res_normN4C64-aux0.01-ep50-b32-lr0.001-stop12-n128-clean``
    (:func:`sflaudit.auditors.attack_id`: every field of the plug-in appears, so equal ids ⇔ equal settings)."""
    return plugin_attack_id(cfg.kind, cfg.settings)


def membership_id(cfg: MembershipConfig) -> str:
    """Readable id of a membership-audit setting, e.g. ``membership-n250-v8-r1000`` (``-refs4`` when calibrated with
    four reference models; uncalibrated ids are those of earlier versions)."""
    refs = f"-refs{cfg.refs}" if cfg.refs else ""
    return f"membership-n{cfg.images}-v{cfg.views}-r{cfg.resamples}{refs}"
