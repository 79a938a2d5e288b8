"""The commands' shortcut flags (``--method``, ``--depth``, ``--arch``, …) as config overrides: one mapping from a
flag to its dotted config key, shared by the CLI and the Python API (torch-free)."""

from __future__ import annotations

from pathlib import Path

from sflaudit.config import Config, load_config

FLAG_KEYS: dict[str, str] = {"method": "sfl.method", "depth": "model.depth", "arch": "model.arch",
                             "dataset": "data.dataset", "data_dir": "data.data_dir", "precision": "optim.precision",
                             "epochs": "optim.epochs", "device": "run.device", "seed": "run.seed"}


def traced_width(arch: object, sets: list[str]) -> list[str]:
    """``["model.width=1"]`` when `arch` is a traced network and `sets` give no width; else []."""
    explicit = any(s.replace(" ", "").startswith("model.width=") for s in sets)
    return ["model.width=1"] if isinstance(arch, str) and ":" in arch and not explicit else []


def resolve_config(config: Path | None, preset: str | None, sets: list[str] | None, **flags: object) -> Config:
    """Resolve preset/file/--set and the command's shortcut flags (:data:`FLAG_KEYS`; flags win). ``--arch`` naming a
    traced network (``torchvision:…``, ``module:callable``) also sets ``model.width = 1`` unless ``--set`` gives a
    width: such a network is cut as built."""
    overrides = list(sets or [])
    overrides += traced_width(flags.get("arch"), overrides)
    for name, value in flags.items():
        if value is None:
            continue
        key = FLAG_KEYS[name]
        if isinstance(value, bool):
            overrides.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, str):
            overrides.append(f'{key}="{value}"')
        else:
            overrides.append(f"{key}={value}")
    return load_config(config, preset, overrides)
