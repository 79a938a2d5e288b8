"""The table scripts read attack results through RunDir: hand-written records in, the expected rows out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sflaudit.artifacts import AttackRecord, RunDir

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _record(kind: str, depth: int, ssim: float, *, aux: int = 500, epochs: int = 3) -> AttackRecord:
    """An attack result with every target at SSIM ``ssim`` (so its bootstrap interval is [ssim, ssim])."""
    return AttackRecord(
        attack_id=f"{kind}-aux{aux}-test", settings={"kind": kind, "faithful": False, "patience": 8},
        threat_model={"aux_images": aux}, run={"depth": depth},
        mean={"mse": 0.01, "psnr": 20.0, "ssim": ssim, "ssim_ref": ssim, "lpips": None},
        metrics={"ssim": [ssim] * 8}, lpips={"status": "unavailable", "reason": "test", "weights": None},
        training={"val_loss": [0.1] * epochs}, attack_wall_s=12.0, wall_s=13.0)


def _write(run: Path, *records: AttackRecord) -> None:
    for rec in records:
        RunDir(run).write_attack(rec, png=b"")


def _table(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_attack_suite_and_aux_budget__read_hand_written_records(tmp_path: Path) -> None:
    _write(tmp_path / "init" / "d1", _record("prior", 1, 0.1), _record("decoder", 1, 0.8),
           _record("hybrid", 1, 0.9), _record("decoder", 1, 0.85, aux=5000, epochs=5))
    _write(tmp_path / "trained" / "monacosfl-d9-seed1138", _record("decoder", 9, 0.6), _record("prior", 9, 0.7))
    (tmp_path / "init" / "empty").mkdir()     # no attack results: not a row

    suite = _table("benchmarks/attack_suite.py", str(tmp_path))
    rows = [line for line in suite.splitlines() if line.startswith("| init") or line.startswith("| trained")]
    assert len(rows) == 6    # init: prior, 2 decoders, hybrid; trained: prior, decoder
    assert rows[0].startswith("| init | 1 | prior |") and "0.100 [0.100, 0.100]" in rows[0]
    assert rows[-1].startswith("| trained | 9 | decoder |")
    assert "init d1: worst hybrid 0.900; prior lowest; hybrid ≥ decoder" in suite
    assert "trained d9: worst prior 0.700; prior NOT lowest" in suite

    budget = _table("benchmarks/aux_budget.py", str(tmp_path))
    assert "| 1 | prior | 500 |" in budget
    assert "| 1 | decoder | 5,000 |" in budget and "| 5 (8) |" in budget   # epochs run (patience)
    assert "depth 1, 500 aux: decoder SSIM 0.800, above the prior +0.700" in budget
