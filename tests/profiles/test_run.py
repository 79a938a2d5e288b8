"""``schedule_for``: the run schedule from labels alone, so ``sflaudit profile`` needs no dataset files."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from sflaudit.config import load_config
from sflaudit.sfl.schedule import sync_batches

from sflaudit.profiles.run import schedule_for


def test_schedule_for__paper_preset_without_cifar_files(tmp_path: Path) -> None:
    cfg = load_config(preset="paper-resnet18-20c", overrides=[f'data.data_dir="{tmp_path}"'])
    schedule = schedule_for(cfg)
    # 50000 CIFAR-10 images, 20 clients, 2 shards of int(50000/20/2) = 1250 each: 2500 images, B 20 → 125 steps
    assert schedule.steps_per_epoch == 2500 // 20 == 125
    assert schedule.epochs == 200 * 4 and schedule.pool_size == 5


def test_profile_cli__paper_preset_runs_with_no_dataset_anywhere(tmp_path: Path) -> None:
    empty_data, home = tmp_path / "data", tmp_path / "home"
    empty_data.mkdir()
    home.mkdir()  # no ~/.cache/sflaudit either
    env = {k: v for k, v in os.environ.items() if k != "SFLAUDIT_DATA"} | {"HOME": str(home), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "sflaudit", "profile", "--preset", "paper-resnet18-20c",
                          "--depths", "1..17", "--no-memory", "--format", "csv", "--set",
                          f'data.data_dir="{empty_data}"'], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [int(r["depth"]) for r in rows] == list(range(1, 18))
    # the run total carries client 0's share: 125 steps × 800 epochs × 5 pool clients, plus the syncs
    d1 = rows[0]
    syncs = 800 * len(sync_batches(125, 10))
    assert int(d1["run_up_mocosfl"]) == int(d1["step_up_client"]) * 5 * 125 * 800 + int(d1["sync_up_mocosfl"]) * syncs
    assert list(empty_data.iterdir()) == [] and list(home.iterdir()) == []
