"""The calibrated membership audit in a sweep: ``--membership-refs 2`` trains two reference runs per cell, the page
reports the strongest score's TPR at 1 % FPR with its interval, and its log–log ROC is drawn from the very points
that TPR is read from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sflaudit.artifacts import RunDir
from sflaudit.reports.rocplot import membership_roc_plot, roc_series

from report_cli import TINY, run_report  # tests/reports/report_cli.py


def test_calibrated_membership_on_the_page(tmp_path: Path) -> None:
    runs, html = tmp_path / "runs", tmp_path / "report.html"
    result = run_report("--depths", "1", "--methods", "mocosfl", *TINY, "--set", "membership.images=24",
                        "--membership-refs", "2", "--attacks", "prior", "--runs", str(runs), "--out", str(html),
                        "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    cell = RunDir(runs / "mocosfl-d1")
    assert len(list((cell.path / "refs").glob("ref*/summary.json"))) == 2
    row = json.loads(html.with_suffix(".json").read_text())["rows"][0]
    assert row["mia_refs"] == 2 and row["membership_id"].endswith("-refs2")
    record = cell.read_membership(row["membership_id"])
    best = max(record.scores, key=lambda n: (record.scores[n]["tpr_at_1fpr"], n))
    assert row["mia_worst"] == best and row["mia_worst_1fpr"] == record.scores[best]["tpr_at_1fpr"]
    assert row["mia_worst_1fpr_low"] <= row["mia_worst_1fpr"] <= row["mia_worst_1fpr_high"]
    (series,) = roc_series([row])
    drawn = float(series["tpr"][series["fpr"] <= 0.01 + 1e-12].max())       # the plot's points at 1 % FPR
    assert series["score"] == best and drawn == record.scores[best]["tpr_at_1fpr"]
    assert np.all(np.diff(series["fpr"]) >= 0) and membership_roc_plot([row])[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    assert "calibrated, 2 refs" in page and 'data-plot="membership_roc"' in page
    again = run_report("--depths", "1", "--methods", "mocosfl", *TINY, "--set", "membership.images=24",
                       "--membership-refs", "2", "--attacks", "prior", "--runs", str(runs), "--out", str(html),
                       "--only-render", "--privacy-axis", "membership", "--quiet")
    assert again.exit_code == 0, (again.output, again.exception)
    assert "Leakage axis of the front and the pick: <b>membership TPR@1% FPR</b>" in html.read_text()
