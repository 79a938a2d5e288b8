"""``sflaudit train --preset smoke`` with ``--transport tcp`` ends with the simulator's weights, bit for bit, at the
default config: no thread settings anywhere (``run.threads = 0``, no OMP/MKL variables), so the simulator computes
with torch's default thread count and the client processes must compute with the same one (the server sends it in
WELCOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from sflaudit.config import load_config
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.transport.client import compute_threads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


def _train(out: Path, *more: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    res = subprocess.run([sys.executable, "-m", "sflaudit", "train", "--preset", "smoke", "--out", str(out), "--quiet",
                          *more], capture_output=True, text=True, cwd=out.parent, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]


def test_console_script__tcp_transport_is_bit_identical_to_the_simulator_at_the_default_config(tmp_path: Path) -> None:
    _train(tmp_path / "sim")
    _train(tmp_path / "tcp", "--transport", "tcp")
    a, b = read_checkpoint(tmp_path / "sim" / "ckpt.pt"), read_checkpoint(tmp_path / "tcp" / "ckpt.pt")
    states_a = [*a.clients_online, *a.clients_momentum, a.server_online, a.server_momentum]
    states_b = [*b.clients_online, *b.clients_momentum, b.server_online, b.server_momentum]
    assert len(states_a) == len(states_b) == 2 * 2 + 2 and a.step == b.step > 0
    for sa, sb in zip(states_a, states_b, strict=True):
        assert list(sa) == list(sb)
        different = [k for k in sa if not torch.equal(sa[k], sb[k])]
        assert not different, different[:5]
    assert torch.equal(a.queue, b.queue) and a.queue_ptr == b.queue_ptr
    for name in ("metrics.jsonl", "traffic.json"):
        assert (tmp_path / "sim" / name).read_text() == (tmp_path / "tcp" / name).read_text()


def test_compute_threads__the_servers_count_unless_the_caller_names_one() -> None:
    cfg = load_config(preset="smoke")                      # run.threads = 0
    assert compute_threads({"threads": 6}, cfg) == 6
    assert compute_threads({"threads": 6}, cfg, 1) == 1    # an explicit count wins (and gives up bit-identity)
    assert compute_threads({}, cfg) == 1                   # a server that sends none: run.threads, else 1
    assert compute_threads({}, load_config(preset="smoke", overrides=["run.threads=3"])) == 3
    assert compute_threads({"threads": "2"}, cfg) == 1     # not a count
