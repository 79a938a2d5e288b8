"""Re-attacking and re-evaluating a finished sweep trains nothing and keeps the old results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from report_cli import DEPTHS, TINY, run_report  # tests/reports/report_cli.py
from sflaudit.artifacts import RunDir


def _bytes(runs: Path, names: tuple[str, ...]) -> dict[tuple[str, str], bytes]:
    return {(cell.name, n): (cell / n).read_bytes() for cell in sorted(runs.glob("*-d*")) for n in names}


def test_finished_sweep__new_attack_setting_trains_nothing_and_adds_results(smoke_sweep, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(smoke_sweep.runs, runs)
    before = _bytes(runs, ("ckpt.pt", "best.pt", "metrics.jsonl", "summary.json"))
    old_ids = {cell.name: RunDir(cell).attack_ids() for cell in runs.glob("*-d*")}
    assert all(len(ids) == 3 for ids in old_ids.values())                            # prior, decoder, hybrid
    out = tmp_path / "stronger.html"
    result = run_report("--depths", DEPTHS, "--attacks", "decoder", *TINY, "--set", "attack.epochs=2",
                        "--set", "eval.linear_epochs=2",
                        "--set", "run.threads=1", "--runs", str(runs), "--out", str(out), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    assert _bytes(runs, ("ckpt.pt", "best.pt", "metrics.jsonl", "summary.json")) == before   # no training step
    for cell in runs.glob("*-d*"):
        ids = RunDir(cell).attack_ids()
        assert len(ids) == 4 and set(old_ids[cell.name]) <= set(ids)                # the old results stay
        assert sorted(p.name for p in (cell / "evals").iterdir()) == ["probe-ep1-b128-shuffled.json",
                                                                      "probe-ep2-b128-shuffled.json"]
    doc = json.loads(out.with_suffix(".json").read_text())
    assert {r["attack_ids"]["decoder"] for r in doc["rows"]} == {"decoder-res_normN4C64-aux0.01-ep2-b32-lr0.001-stop12-n8-clean"}
    assert {r["eval_id"] for r in doc["rows"]} == {"probe-ep2-b128-shuffled"}
    for r in doc["rows"]:                                                # the page shows the new results
        record = RunDir(Path(r["run_dir"])).read_attack(r["attack_ids"]["decoder"])
        assert record is not None and r["attack_decoder_ssim"] == record.mean["ssim"]
        assert record.settings["epochs"] == 2
