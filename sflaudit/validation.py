"""Config validation: allowed choices, numeric ranges and cross-field rules, each failure one line naming the
offending value and the valid range. Reads fields by name only (no import of ``sflaudit.config``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sflaudit.errors import SflauditError


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.augment": ("mocov1", "mocov2", "none"),
    "data.partition": ("shards", "iid", "dirichlet"),
    "sfl.wire_dtype": ("float32", "bfloat16", "float16"),
    "sfl.batch_sampling": ("random", "epoch"),
    "ssl.moco_version": ("V1", "smallV2", "V2", "largeV2"),
    "ssl.symmetric": ("client", "original"),
    "optim.schedule": ("cosine", "multistep"),
    "optim.client_schedule": ("per_step", "per_epoch"),
    "optim.precision": ("fp32", "bf16"),
    "run.device": ("auto", "cpu", "cuda"),
}

# (key, low, high, low inclusive, high inclusive); None = unbounded
Ranges = tuple[tuple[str, float | None, float | None, bool, bool], ...]
_RANGES: Ranges = (
    ("data.dirichlet_alpha", 0.0, None, False, True),
    ("data.fraction", 0.0, 1.0, False, True),
    ("data.image_size", 0, 4096, True, True),
    ("model.width", 0.0, 4.0, False, True),
    ("sfl.clients", 1, None, True, True),
    ("sfl.batch", 1, None, True, True),
    ("sfl.sampling_ratio", 0.0, 1.0, False, True),
    ("sfl.avg_freq", 1, None, True, True),
    ("sfl.noniid_ratio", 0.0, 1.0, False, True),
    ("sfl.momentum_sync_every", 1, None, True, True),
    ("ssl.K", 1, None, True, True),
    ("ssl.T", 0.0, None, False, True),
    ("ssl.ema", 0.0, 1.0, True, True),
    ("optim.epochs", 1, None, True, True),
    ("optim.lr", 0.0, None, True, True),
    ("optim.client_lr", 0.0, None, True, True),
    ("optim.momentum", 0.0, 1.0, True, False),
    ("optim.weight_decay", 0.0, None, True, True),
    ("eval.every", 0, None, True, True),
    ("eval.knn_k", 1, None, True, True),
    ("eval.knn_t", 0.0, None, False, True),
    ("eval.bank_size", 0, None, True, True),
    ("eval.linear_epochs", 0, None, True, True),
    ("eval.linear_batch", 1, None, True, True),
    ("membership.images", 0, None, True, True),
    ("membership.views", 2, None, True, True),
    ("membership.resamples", 100, None, True, True),
    ("membership.refs", 0, 64, True, True),
    ("data.audit_exclude", 0, None, True, True),
    ("run.ckpt_every", 1, None, True, True),
    ("run.threads", 0, None, True, True),
)


def _get(cfg: Any, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def check_range(key: str, value: float, low: float | None, high: float | None, lo_inc: bool = True,
                hi_inc: bool = True) -> None:
    """One line naming ``key`` when ``value`` is outside its range (None = unbounded); plug-ins use it too."""
    bad_low = low is not None and (value < low if lo_inc else value <= low)
    bad_high = high is not None and (value > high if hi_inc else value >= high)
    if bad_low or bad_high:
        raise SflauditError(f"{key} = {value!r} is out of range {_range_text(low, high, lo_inc, hi_inc)}")


def check_ranges(section: str, settings: Any) -> None:
    """A plug-in's settings against the ``RANGES`` of its class and bases — (field, low, high, low inclusive, high
    inclusive), as :data:`_RANGES` — and every float among them finite; one line naming ``section.field``."""
    seen: set[str] = set()
    for cls in type(settings).__mro__:
        for name, low, high, lo_inc, hi_inc in cls.__dict__.get("RANGES", ()):
            if name in seen:
                continue
            seen.add(name)
            value = getattr(settings, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SflauditError(f"{section}.{name} = {value!r} must be a finite number")
            check_range(f"{section}.{name}", value, low, high, lo_inc, hi_inc)


def _range_text(low: float | None, high: float | None, lo_inc: bool, hi_inc: bool) -> str:
    left = "(-inf" if low is None else ("[" if lo_inc else "(") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + ("]" if hi_inc else ")")
    return f"{left}, {right}"


def validate(cfg: Any) -> None:
    """Raise :class:`SflauditError` for the first bad field (choices, ranges, arch depth, method rules)."""
    from sflaudit.sfl.strategies import get_strategy, strategy_names  # local: registered methods, no import cycle

    if cfg.sfl.method not in strategy_names():
        raise SflauditError(f"sfl.method = {cfg.sfl.method!r} is not one of {', '.join(strategy_names())}")
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise SflauditError(f"{key} = {value!r} is not one of {', '.join(choices)}")
    for key, low, high, lo_inc, hi_inc in _RANGES:
        check_range(key, _get(cfg, key), low, high, lo_inc, hi_inc)
    from sflaudit.auditors import validate_settings   # local: the plug-ins' own settings and checks
    from sflaudit.defenders import DEFENCE_SETTINGS

    from sflaudit.attackers import validate_attacker

    validate_settings(cfg.attack.kind, cfg.attack.settings)
    DEFENCE_SETTINGS.validate(cfg.defence.settings)
    validate_attacker(cfg.attacker.kind, cfg.attacker.settings)
    get_strategy(cfg.sfl.method).validate(cfg)     # each method checks its own requirements
    if cfg.defence.canary and cfg.defence.canary_rows >= cfg.sfl.batch:
        raise SflauditError(f"defence.canary_rows = {cfg.defence.canary_rows} needs sfl.batch > it (each canary pairs "
                            f"a query with the next image's key), got sfl.batch = {cfg.sfl.batch}")
    if int(cfg.sfl.sampling_ratio * cfg.sfl.clients) < 1:
        raise SflauditError(
            f"sfl.sampling_ratio = {cfg.sfl.sampling_ratio} with {cfg.sfl.clients} clients samples no client per epoch"
        )
    ds = cfg.data.dataset
    if not (ds in ("photos", "digits", "cifar10", "cifar100") or ds.startswith(("npz:", "folder:"))):
        raise SflauditError(
            f"data.dataset = {ds!r} is not one of photos, digits, cifar10, cifar100, npz:PATH, folder:PATH"
        )
    from sflaudit.models.cuts import check_depth  # local: keeps `import sflaudit.config` light

    check_depth(cfg.model.arch, cfg.model.depth)
    _validate_model(cfg.model)
    _validate_defence(cfg)


def _validate_model(m: Any) -> None:
    """model.norm and model.weights apply to traced networks (torchvision:…, module:callable) only."""
    from sflaudit.models.usernets import NORMS, is_graph_arch

    if m.norm not in NORMS:
        raise SflauditError(f"model.norm = {m.norm!r} is not one of {', '.join(NORMS)}")
    if not is_graph_arch(m.arch) and (m.norm != "groupnorm" or m.weights):
        raise SflauditError(f"model.norm and model.weights apply to torchvision:… and module:callable networks, "
                            f"not to {m.arch}")
    if m.weights and not Path(m.weights).expanduser().is_file():
        raise SflauditError(f"model.weights {m.weights!r}: no such file")


def _validate_defence(cfg: Any) -> None:
    """The built-in defences' rules across sections (each plug-in checks its own fields): int8 replaces the wire
    dtype, and DP-SGD (per-image gradients) refuses the batch-level NoPeek penalty."""
    d = cfg.defence
    if d.quantize == "int8" and cfg.sfl.wire_dtype != "float32":
        raise SflauditError(f"defence.quantize = 'int8' replaces the wire dtype; it cannot be combined with "
                            f"sfl.wire_dtype = {cfg.sfl.wire_dtype!r} (set sfl.wire_dtype = 'float32')")
    if d.dp_epsilon > 0 and d.nopeek > 0:
        raise SflauditError("defence.dp_epsilon cannot be combined with defence.nopeek (distance correlation is a "
                            "batch-level penalty: DP-SGD needs a per-image gradient)")
