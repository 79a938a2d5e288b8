"""The option types every config-taking command shares: ``--config``, ``--preset`` and ``--set``.

Used by ``sflaudit/cli.py``, ``profiles/cli.py`` and ``reports/cli.py``; :func:`resolve_config` turns them
and a command's shortcut flags into a Config. Light on purpose (typer and the torch-free config module
only) so that ``sflaudit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.config import PRESETS

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (see presets).")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", help=f"{' | '.join(PRESETS)} (default demo without "
                                                                   "--config).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: --set sfl.clients=5.")]


def resolve_config(config: Path | None, preset: str | None, sets: list[str] | None, **flags: object):
    """Resolve preset/file/--set and the command's convenience flags (flags win)."""
    from sflaudit.config import load_config

    overrides = list(sets or [])
    mapping = {"method": "sfl.method", "depth": "model.depth", "arch": "model.arch", "dataset": "data.dataset",
               "data_dir": "data.data_dir", "precision": "optim.precision", "epochs": "optim.epochs",
               "device": "run.device", "seed": "run.seed"}
    for name, value in flags.items():
        if value is None:
            continue
        if isinstance(value, bool):
            overrides.append(f"{mapping[name]}={'true' if value else 'false'}")
        elif isinstance(value, str):
            overrides.append(f'{mapping[name]}="{value}"')
        else:
            overrides.append(f"{mapping[name]}={value}")
    return load_config(config, preset, overrides)
