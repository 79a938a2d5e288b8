"""The depth × method sweep and its self-contained HTML trade-off report (DESIGN.md §7).

Re-exports are resolved lazily (PEP 562) so that ``sflaudit --help``, which imports :mod:`reports.cli`, does not
pull in torch through the sweep modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Constraints": "reports.tradeoffs", "Recommendation": "reports.tradeoffs", "annotate": "reports.tradeoffs",
    "collect_rows": "reports.collect", "pareto_cells": "reports.tradeoffs", "pareto_indices": "reports.tradeoffs",
    "recommend": "reports.tradeoffs",
    "EXECUTORS": "reports.executors", "run_sweep": "reports.executors",
    "ReportFiles": "reports.html", "ReportInputs": "reports.html", "write_report": "reports.html",
    "METHODS": "reports.sweep", "Cell": "reports.sweep", "CellResult": "reports.sweep",
    "cell_complete": "reports.sweep", "parse_methods": "reports.sweep", "plan_cells": "reports.sweep",
    "run_cell": "reports.sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
