"""Typed run configuration: dataclasses, TOML load/save, presets, dotted overrides and validation.

One surface for everything: CLI flags and ``--set section.field=value`` map onto the same fields, and the resolved
config is written into every run directory as ``config.toml`` (it reloads to an equal :class:`Config`).
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from sflaudit.errors import SflauditError
from sflaudit.memo import memoized
from sflaudit.plugin_sections import (  # noqa: F401
    AttackConfig, AttackerConfig, DefenceConfig, PluginSection, plugin_table)
from sflaudit.presets import DEFAULT_PRESET, PRESETS, preset_text  # noqa: F401  (re-exported)


@dataclass
class DataConfig:
    dataset: str = "photos"          # photos | digits | cifar10 | cifar100 | npz:PATH | folder:PATH
    data_dir: str = ""               # where torchvision datasets live ("" = ~/.cache/sflaudit or $SFLAUDIT_DATA)
    download: bool = False           # fetch cifar10/cifar100 when missing (needs network)
    augment: str = "mocov2"          # mocov1 | mocov2 | none
    partition: str = "shards"        # shards (reference non-IID) | iid | dirichlet
    dirichlet_alpha: float = 0.5
    fraction: float = 1.0            # share of the training split used (protocol's data_proportion)
    audit_exclude: int = 0           # > 0: a membership reference model — trains on other images than the audit of
                                     # this many per side of the run with seed audit_seed (sflaudit/sfl/auditset.py)
    audit_seed: int = 0
    image_size: int = 0              # side S: every image resized to S×S on load (0 = the dataset's own size)


@dataclass
class ModelConfig:
    arch: str = "resnet18"           # resnet18 | resnet34 | mobilenetv2 | a plug-in | torchvision:NAME | module:callable
    depth: int = 3                   # client-side main-path conv layers (protocol.md §2)
    width: float = 1.0               # channel width multiplier (built-in networks and arch plug-ins)
    norm: str = "groupnorm"          # traced networks (torchvision:…, module:callable): groupnorm (BatchNorm
                                     # replaced, Opacus) | batchnorm (kept)
    weights: str = ""                # traced networks: the user's weights (.safetensors or a torch state dict)


@dataclass
class SflConfig:
    method: str = "monacosfl"        # a registered sync strategy: mocosfl | monacosfl (sflaudit/sfl/strategies.py)
    clients: int = 5                 # N
    batch: int = 20                  # B, images per client per step
    sampling_ratio: float = 1.0      # share of clients in each epoch's pool
    avg_freq: int = 10               # ≈ syncs per epoch (protocol §1.5)
    noniid_ratio: float = 0.2        # share of classes per client for the shard partition
    wire_dtype: str = "float32"      # dtype of activations/gradients on the wire: float32 | bfloat16 | float16
    seed_average_with_client0: bool = True   # quirk Q2 (reference behaviour)
    batch_sampling: str = "random"   # random: fresh random batch every step (quirk Q3) | epoch: proper epochs
    momentum_sync_every: int = 1     # monacosfl: momentum weights cross at sync s (1-based over the run) iff s % k == 0


@dataclass
class SslConfig:
    moco_version: str = "V2"         # V1 | smallV2 | V2 | largeV2
    K: int = 6000                    # queue length
    T: float = 0.1                   # InfoNCE temperature
    ema: float = 0.99                # momentum τ, client and server
    symmetric: str = "client"        # client (MonAcoSFL, 2B rows) | original (MocoSFL, summed two-way loss)


@dataclass
class OptimConfig:
    epochs: int = 200                # base epochs; effective epochs = epochs · int(1 / sampling_ratio)
    lr: float = 0.06                 # server learning rate
    client_lr: float = 0.06
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"         # cosine | multistep
    client_schedule: str = "per_step"  # per_step (quirk Q1, reference) | per_epoch
    precision: str = "fp32"          # fp32 | bf16 (autocast)
    channels_last: bool = False


@dataclass
class EvalConfig:
    every: int = 1                   # kNN monitor every N epochs (0 = only at the end)
    knn_k: int = 200
    knn_t: float = 0.1
    bank_size: int = 0               # kNN memory-bank images (0 = whole train split)
    linear_epochs: int = 100
    linear_batch: int = 128


@dataclass
class MembershipConfig:
    images: int = 250                # members and as many non-members audited (0 = no membership stage)
    views: int = 8                   # augmented views per image for the view-similarity score (EncoderMI)
    resamples: int = 1000            # bootstrap resamples for the AUC interval
    refs: int = 0                    # reference models trained for calibrated attacks (LiRA, RMIA); 0 = uncalibrated


@dataclass
class RunConfig:
    seed: int = 1138
    ckpt_every: int = 200            # steps between ckpt.pt writes (also written at every epoch end)
    device: str = "auto"             # auto | cpu | cuda
    threads: int = 0                 # torch intra-op threads (0 = torch default)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sfl: SflConfig = field(default_factory=SflConfig)
    ssl: SslConfig = field(default_factory=SslConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    defence: DefenceConfig = field(default_factory=DefenceConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    attacker: AttackerConfig = field(default_factory=AttackerConfig)
    membership: MembershipConfig = field(default_factory=MembershipConfig)
    run: RunConfig = field(default_factory=RunConfig)


SECTIONS: tuple[str, ...] = tuple(f.name for f in fields(Config))


# --------------------------------------------------------------------------------------------- TOML conversion


def config_to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """Every field of every section, as plain TOML-serialisable values (``[attack]``: kind, then every registered
    plug-in's setting, given or default; ``[defence]`` likewise)."""
    out = {s: dataclasses.asdict(getattr(cfg, s)) for s in SECTIONS if s not in ("attack", "attacker", "defence")}
    out["attack"] = {"kind": cfg.attack.kind, **cfg.attack.resolved()}
    out["attacker"] = {"kind": cfg.attacker.kind, **cfg.attacker.resolved()}
    out["defence"] = cfg.defence.resolved()
    return {s: out[s] for s in SECTIONS}


def config_to_toml(cfg: Config) -> str:
    """The full resolved config as TOML text (every field written)."""
    return tomli_w.dumps(config_to_dict(cfg))


def _coerce(section: str, name: str, expected: type, value: Any) -> Any:
    """Check one value against its field type; ints are accepted where floats are expected."""
    where = f"{section}.{name}"
    if expected is bool:
        if not isinstance(value, bool):
            raise SflauditError(f"{where} must be true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SflauditError(f"{where} must be an integer, got {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SflauditError(f"{where} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise SflauditError(f"{where} must be a string, got {value!r}")
    return value


def _field_types(section_cls: type) -> dict[str, type]:
    hints = {"int": int, "float": float, "bool": bool, "str": str}
    return {f.name: hints[f.type] if isinstance(f.type, str) else f.type for f in fields(section_cls)}


def _plugin_types(sec: PluginSection) -> dict[str, type]:
    """Every registered plug-in setting of the section (and ``kind`` for ``[attack]``)."""
    fields = {name: kind for name, (kind, _) in plugin_table(sec.SECTION).fields().items()}
    return {"kind": str, **fields} if isinstance(sec, (AttackConfig, AttackerConfig)) else fields


def apply_dict(cfg: Config, data: dict[str, Any], *, source: str) -> Config:
    """Overlay a nested ``{section: {field: value}}`` mapping onto ``cfg`` (returns a new Config)."""
    out = dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s)) for s in SECTIONS})
    out.attack.settings, out.defence.settings = dict(cfg.attack.settings), dict(cfg.defence.settings)
    out.attacker.settings = dict(cfg.attacker.settings)
    for section, values in data.items():
        if section not in SECTIONS:
            raise SflauditError(f"unknown config section {section!r} in {source} (valid: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise SflauditError(f"config section {section!r} in {source} must be a table")
        sec = getattr(out, section)
        types = _field_types(type(sec)) if not isinstance(sec, PluginSection) else _plugin_types(sec)
        for name, value in values.items():
            if name not in types:
                raise SflauditError(
                    f"unknown config key {section}.{name} in {source} (valid: {', '.join(sorted(types))})"
                )
            value = _coerce(section, name, types[name], value)
            if isinstance(sec, PluginSection) and name != "kind":
                sec.settings[name] = value
            else:
                setattr(sec, name, value)
    return out


def config_from_toml(text: str, *, source: str = "config", base: Config | None = None) -> Config:
    """Parse TOML text onto ``base`` (defaults when None) and validate it (once per text inside a cell's load-once
    scope, :mod:`sflaudit.memo`; every caller gets its own copy)."""
    if base is None:
        return copy.deepcopy(memoized("config", text, lambda: _parse(text, source, None)))
    return _parse(text, source, base)


def _parse(text: str, source: str, base: Config | None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SflauditError(f"{source} is not valid TOML: {exc}") from None
    cfg = apply_dict(base or Config(), data, source=source)
    validate(cfg)
    return cfg


# ------------------------------------------------------------------------------------------ presets, overrides


def parse_override(item: str) -> tuple[str, str, Any]:
    """``"sfl.clients=5"`` → ("sfl", "clients", 5); the value is parsed as a TOML value, bare words as strings."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise SflauditError(f"--set expects section.field=value, got {item!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts[0], parts[1], value


def load_config(
    path: str | Path | None = None,
    preset: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Config:
    """Resolve a config: defaults ← preset (``demo`` when neither preset nor file) ← file ← ``--set`` overrides."""
    cfg = Config()
    if preset is None and path is None:
        preset = DEFAULT_PRESET
    if preset is not None:
        cfg = apply_dict(cfg, tomllib.loads(preset_text(preset)), source=f"preset {preset}")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise SflauditError(f"config file {p} does not exist")
        try:
            text = p.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SflauditError(f"cannot read config file {p}: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SflauditError(f"{p} is not valid TOML: {exc}") from None
        cfg = apply_dict(cfg, data, source=str(p))
    for item in overrides:
        section, name, value = parse_override(item)
        cfg = apply_dict(cfg, {section: {name: value}}, source=f"--set {item}")
    validate(cfg)
    return cfg


from sflaudit.validation import validate  # noqa: E402  (re-exported: config.validate is the public name)
