"""The checkpoint file format: an atomic write and a safe, validated read of an artifacts.Checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sflaudit.artifacts import Checkpoint
from sflaudit.errors import SflauditError
from sflaudit.sfl.checkpoint import read_checkpoint, write_checkpoint


def _ckpt(trainer: dict | None) -> Checkpoint:
    w = {"w": torch.arange(3.0)}
    return Checkpoint(config="[run]\nseed = 1\n", step=7, epoch=1, batch=2, clients_online=[w], clients_momentum=[w],
                      server_online=w, server_momentum=w, queue=torch.ones(2, 4), queue_ptr=1, knn=12.5,
                      trainer=trainer)


def test_write_then_read__round_trips_every_field(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    write_checkpoint(_ckpt({"pool": [1, 0], "rng": {"torch": torch.zeros(2, dtype=torch.uint8)}}), path)
    got = read_checkpoint(path)
    assert (got.step, got.epoch, got.batch, got.queue_ptr, got.knn, got.config) == (7, 1, 2, 1, 12.5, "[run]\nseed = 1\n")
    assert torch.equal(got.clients_online[0]["w"], torch.arange(3.0)) and torch.equal(got.queue, torch.ones(2, 4))
    assert got.trainer is not None and got.trainer["pool"] == [1, 0]
    assert not list(tmp_path.glob(".*.tmp"))                         # the temp file was renamed away


def test_read__weights_only_checkpoint_has_no_trainer_state(tmp_path: Path) -> None:
    write_checkpoint(_ckpt(None), tmp_path / "best.pt")
    assert read_checkpoint(tmp_path / "best.pt").trainer is None


def test_read__incomplete_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    torch.save({"format": Checkpoint.FORMAT, "config": "", "step": 1}, tmp_path / "x.pt")
    with pytest.raises(SflauditError, match="lacks epoch, batch") as err:
        read_checkpoint(tmp_path / "x.pt")
    assert "\n" not in str(err.value)


def test_module__knows_only_the_file_format_not_the_trainer() -> None:
    code = "import sys, sflaudit.sfl.checkpoint; print('sflaudit.sfl.trainer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
