"""A smoke sweep with ``--vary``: one row and one line per value, and the effect the paper names (rarer syncs →
the clients' models drift further apart between syncs)."""

from __future__ import annotations

import json
from pathlib import Path

from report_cli import TINY, run_report  # tests/reports/report_cli.py
from sflaudit.runs import read_jsonl


def test_vary__sync_frequency_axis_renders_and_rarer_syncs_drift_further(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "vary.html"
    result = run_report("--depths", "1", "--methods", "mocosfl", "--attacks", "decoder", "--vary",
                        "sfl.avg_freq=1,4", *TINY, "--runs", str(runs), "--out", str(out), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [r["cell"] for r in doc["rows"]] == ["mocosfl-d1-sfl.avg_freq=1", "mocosfl-d1-sfl.avg_freq=4"]
    assert [r["setting_text"] for r in doc["rows"]] == ["sfl.avg_freq=1", "sfl.avg_freq=4"]
    assert doc["vary"] == [["sfl.avg_freq", ["1", "4"]]]
    page = out.read_text()
    assert "MocoSFL · sfl.avg_freq=1" in page and "MocoSFL · sfl.avg_freq=4" in page
    drift = {}
    for r in doc["rows"]:
        syncs = [m for m in read_jsonl(Path(r["run_dir"]) / "metrics.jsonl") if m["type"] == "sync"]
        drift[r["setting"]["sfl.avg_freq"]] = {k: sum(m[f"{k}/mean"] for m in syncs) / len(syncs)
                                               for k in ("ol-og", "ol-ml")}
    assert drift["1"]["ol-og"] > drift["4"]["ol-og"] > 0       # 16 steps between syncs drift further than 4
    assert drift["1"]["ol-ml"] > drift["4"]["ol-ml"] > 0       # and online from momentum models too
