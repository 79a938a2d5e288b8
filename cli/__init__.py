"""The face: the ``sflaudit`` command line (typer), installed as ``sflaudit.cli`` from the repository's ``cli/``.

It is the one place that turns command-line options into library calls; the same calls are the Python API
(:mod:`sflaudit.api`). ``app`` is the typer application, ``main`` the console script's entry point.
"""

from sflaudit.cli.commands import app, main

__all__ = ["app", "main"]
