"""The option types every config-taking command shares: ``--config``, ``--preset`` and ``--set``.

Used by every command module of the face (``sflaudit.cli``); :func:`sflaudit.config.resolve_config` turns them
and a command's shortcut flags into a Config. Light on purpose (typer and the torch-free config module
only) so that ``sflaudit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.config import PRESETS
from sflaudit.flags import resolve_config

__all__ = ["ConfigOpt", "PresetOpt", "SetOpt", "resolve_config"]

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (see presets).")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", help=f"{' | '.join(PRESETS)} (default demo without "
                                                                   "--config).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: --set sfl.clients=5.")]
