"""Atomic writes and metrics.jsonl under OS-level failure: one ``error:`` line, no temp file, the last good file kept."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sflaudit import runs
from sflaudit.config import load_config
from sflaudit.errors import SflauditError
from sflaudit.runs import append_jsonl, atomic_torch_save, atomic_write_text, read_jsonl
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.trainer import Trainer

SMOKE_1_EPOCH = ["--preset", "smoke", "--set", "optim.epochs=1", "--set", "eval.linear_epochs=0"]


def _no_space(*_args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_atomic_write__enospc_is_one_line_keeps_the_old_file_and_no_temp(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old\n")
    monkeypatch.setattr(runs.os, "fsync", _no_space)
    with pytest.raises(SflauditError) as exc:
        atomic_write_text(target, "new\n")
    assert str(exc.value) == f"cannot write {target}: No space left on device; the previous summary.json is unchanged"
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_atomic_torch_save__enospc_from_the_file_write_not_torchs_zip_writer(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ckpt.pt"
    atomic_torch_save({"w": torch.ones(3)}, target)
    monkeypatch.setattr(runs.os, "replace", _no_space)
    with pytest.raises(SflauditError, match="No space left on device"):
        atomic_torch_save({"w": torch.zeros(3)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_append_jsonl__a_torn_append_is_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    real_write = os.write

    def half_then_full(fd: int, data: memoryview) -> int:   # the first call writes half a line, then the disk is full
        monkeypatch.setattr(runs.os, "write", lambda *_: _no_space())
        return real_write(fd, bytes(data[: len(data) // 2]))

    monkeypatch.setattr(runs.os, "write", half_then_full)
    with pytest.raises(SflauditError, match="cannot write .*metrics.jsonl: No space left on device"):
        append_jsonl(path, {"step": 2, "loss": 1.25})
    assert path.read_text() == '{"step": 1}\n'
    assert read_jsonl(path) == [{"step": 1}]


def _mount_tmpfs(where: Path, size: int) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return res.returncode == 0


def test_train__a_full_disk_ends_with_one_error_line_and_the_previous_ckpt_loads(tmp_path: Path) -> None:
    """A real full disk (root: a tmpfs sized for one checkpoint and a half): the second checkpoint write fails."""
    cfg = load_config(preset="smoke", overrides=["optim.epochs=1", "eval.linear_epochs=0", "run.ckpt_every=1"])
    Trainer(cfg, tmp_path / "probe").fit(stop_after_steps=1)
    ckpt_size = (tmp_path / "probe" / "ckpt.pt").stat().st_size
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, ckpt_size * 3 // 2 + (1 << 16)):
        pytest.skip("needs root and tmpfs mounts (the writer-level ENOSPC tests above run everywhere)")
    try:
        run = disk / "run"
        res = subprocess.run([sys.executable, "-m", "sflaudit", "train", *SMOKE_1_EPOCH, "--set", "run.ckpt_every=1",
                              "--out", str(run), "--quiet"], capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot write ") and "No space left" in lines[0]
        assert "Traceback" not in res.stderr
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
        state = read_checkpoint(run / "ckpt.pt")
        assert state.step == 1
        assert all(r["step"] <= 2 for r in read_jsonl(run / "metrics.jsonl"))
    finally:
        subprocess.run(["umount", str(disk)], check=False)
