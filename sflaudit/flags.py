"""The commands' shortcut flags (``--method``, ``--depth``, ``--arch``, …) as config overrides: one mapping from a
flag to its dotted config key, shared by the CLI and the Python API (torch-free)."""

from __future__ import annotations

from pathlib import Path

from sflaudit.config import Config, load_config

FLAG_KEYS: dict[str, str] = {"method": "sfl.method", "depth": "model.depth", "arch": "model.arch",
                             "dataset": "data.dataset", "data_dir": "data.data_dir", "precision": "optim.precision",
                             "epochs": "optim.epochs", "device": "run.device", "seed": "run.seed"}


def resolve_config(config: Path | None, preset: str | None, sets: list[str] | None, **flags: object) -> Config:
    """Resolve preset/file/--set and the command's shortcut flags (:data:`FLAG_KEYS`; flags win)."""
    overrides = list(sets or [])
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
