"""``sflaudit.api.report``: the function ``sflaudit report`` calls, returning the page's rows and answer."""

from __future__ import annotations

import json
from pathlib import Path

from sflaudit import api


def test_api_report__renders_the_sweep_and_returns_what_report_json_holds(smoke_sweep, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    rep = api.report(smoke_sweep.runs, out, only_render=True)          # the sweep's own config and grid
    doc = json.loads(out.with_suffix(".json").read_text())
    assert (rep.html, rep.csv, rep.json) == (out, out.with_suffix(".csv"), out.with_suffix(".json"))
    assert rep.rows == doc["rows"] and rep.pareto == doc["pareto"] and rep.recommendation == doc["recommendation"]
    assert rep.failed == [] and rep.cells == 4 and rep.recommendation["cell"] in rep.pareto
