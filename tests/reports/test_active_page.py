"""A sweep with a hijacking server beside the honest one: FSHA runs only on the hijacked cells, the pick is an honest
cell, and the page sets the active attack against the honest worst case with the detector's alarms."""

from __future__ import annotations

import json
from pathlib import Path

from sflaudit.artifacts import RunDir
from sflaudit.config import load_config
from sflaudit.reports.active import active_pairs, attacker_note
from sflaudit.reports.grid import cell_attacks

from report_cli import TINY, run_report  # tests/reports/report_cli.py


def test_cell_attacks__the_active_evaluation_only_where_its_attacker_trained() -> None:
    honest = load_config(preset="smoke")
    hijacked = load_config(preset="smoke", overrides=["attacker.kind=fsha"])
    assert cell_attacks(honest, ["prior", "fsha", "decoder"]) == ("prior", "decoder")
    assert cell_attacks(hijacked, ["prior", "decoder"]) == ("prior", "decoder", "fsha")


def test_sweep_with_a_hijacking_server__measured_beside_its_twin_never_recommended(tmp_path: Path) -> None:
    runs, html = tmp_path / "runs", tmp_path / "report.html"
    result = run_report("--depths", "1", "--methods", "mocosfl", *TINY, "--set", "membership.images=0",
                        "--set", "defence.canary=4", "--set", "attacker.batch=8",
                        "--set", 'attacker.decoder="res_normN0C8"', "--vary", "attacker.kind=none,fsha",
                        "--attacks", "prior", "--runs", str(runs), "--out", str(html), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    honest, hijacked = RunDir(runs / "mocosfl-d1-attacker.kind=none"), RunDir(runs / "mocosfl-d1-attacker.kind=fsha")
    assert sorted(r.settings["kind"] for r in map(honest.read_attack, honest.attack_ids())) == ["prior"]
    kinds = {aid.split("-")[0]: hijacked.read_attack(aid) for aid in hijacked.attack_ids()}
    assert sorted(kinds) == ["fsha", "prior"]
    assert kinds["fsha"].threat_model["attacker"] == "active (malicious) server"
    assert json.loads(hijacked.traffic_path.read_text())["total"] == json.loads(honest.traffic_path.read_text())["total"]
    doc = json.loads(html.with_suffix(".json").read_text())
    rows = {r["cell"]: r for r in doc["rows"]}
    assert doc["recommendation"]["cell"] == "mocosfl-d1-attacker.kind=none"
    assert rows["mocosfl-d1-attacker.kind=fsha"]["attacker"] == "fsha"
    assert rows["mocosfl-d1-attacker.kind=none"]["detector_alarm_rate"] == 0.0
    assert rows["mocosfl-d1-attacker.kind=fsha"]["detector_first_alarm"] == 4
    pairs = active_pairs(doc["rows"])
    assert len(pairs) == 1 and pairs[0]["active_ssim"] == rows["mocosfl-d1-attacker.kind=fsha"]["attack_fsha_ssim"]
    assert pairs[0]["honest_ssim"] == rows["mocosfl-d1-attacker.kind=none"]["attack_ssim"]
    page = html.read_text()
    assert "Active server" in page and "assumes an honest-but-curious server" in page
    note = attacker_note(doc["rows"], rows["mocosfl-d1-attacker.kind=none"])
    assert f"SSIM {pairs[0]['active_ssim']:.3f}" in note and "kNN" in note
    assert "canary detector first alarmed at step 4" in note
