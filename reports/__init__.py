"""The depth × method sweep and its self-contained HTML trade-off report (docs/architecture.md).

Re-exports are resolved lazily (:mod:`sflaudit.lazy`) so that ``sflaudit --help``, which imports
:mod:`sflaudit.cli.report`, does not pull in torch through the sweep modules.
"""

from sflaudit.lazy import lazy_exports

__all__, __getattr__ = lazy_exports("sflaudit.reports", {
    "tradeoffs": ("Constraints", "Recommendation", "annotate", "pareto_cells", "pareto_indices", "recommend"),
    "collect": ("collect_rows",),
    "executors": ("EXECUTORS", "run_sweep"),
    "html": ("ReportFiles", "ReportInputs", "write_report"),
    "sweep": ("METHODS", "Cell", "CellResult", "cell_complete", "parse_methods", "plan_cells", "run_cell"),
})
