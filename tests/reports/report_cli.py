"""Helpers shared by the report tests: the tiny smoke budget and an in-process ``report`` command."""

from __future__ import annotations

import typer
from click.testing import Result
from typer.testing import CliRunner

from sflaudit.cli.report import report

# Smoke preset with the smallest budget that still exercises every stage (seconds per cell on 2 cores).
TINY_SETS = ["optim.epochs=1", "attack.epochs=1", "attack.targets=8", "attack.aux_fraction=0.01",
             "eval.linear_epochs=1"]
TINY = ["--preset", "smoke", *(arg for item in TINY_SETS for arg in ("--set", item))]
DEPTHS = "1,2"


def report_app() -> typer.Typer:
    """A Typer app with just the report command, registered the way sflaudit.cli.commands does it."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("report")(report)

    @app.command("version")
    def _version() -> None:  # a second command keeps `report` a named sub-command, as in the real CLI
        """Print nothing."""

    return app


def run_report(*args: str) -> Result:
    """Invoke ``report`` in this process; returns the CliRunner result."""
    return CliRunner().invoke(report_app(), ["report", *args], catch_exceptions=True)


