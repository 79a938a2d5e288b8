"""End to end on 127.0.0.1: a server and two client processes train exactly what the simulator trains.

Smoke-sized run: ResNet-18 width 0.125 cut at depth 3, 2 clients, B = 8, 50 images each → 7 steps and 3 syncs.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from sflaudit.artifacts import Checkpoint
from sflaudit.config import Config, load_config
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.trainer import train
from sflaudit.transport.auth import client_handshake
from sflaudit.transport.client import connect
from sflaudit.transport.driver import TcpRun, local_settings, run_tcp_training
from sflaudit.transport.frames import TransportError, entries_of, tensor_frame_overhead

TOKEN = "loopback-test-token-0123456789"


def _cfg(*more: str) -> Config:
    return load_config(preset="smoke", overrides=["eval.linear_epochs=0", "optim.epochs=1", "run.threads=1",
                                                  "data.fraction=0.02", "eval.bank_size=64", *more])


def _settings(**changes: Any):
    return local_settings(TOKEN, **{"timeout_s": 5.0, "join_timeout_s": 60.0, **changes})


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("sim") / "run"
    train(_cfg(), run)
    return run


@pytest.fixture(scope="module")
def over_tcp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TcpRun]:
    run = tmp_path_factory.mktemp("tcp") / "run"
    return run, run_tcp_training(_cfg(), run, _settings(), log=lambda _: None)


def _assert_same_weights(a: Checkpoint, b: Checkpoint) -> None:
    states_a = [*a.clients_online, *a.clients_momentum, a.server_online, a.server_momentum]
    states_b = [*b.clients_online, *b.clients_momentum, b.server_online, b.server_momentum]
    for sa, sb in zip(states_a, states_b, strict=True):
        assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(a.queue, b.queue) and a.queue_ptr == b.queue_ptr and a.step == b.step


def test_loopback__two_client_processes_end_bit_identical_to_the_simulator(simulated: Path,
                                                                            over_tcp: tuple[Path, TcpRun]) -> None:
    run, result = over_tcp
    assert result.summary is not None and result.summary.steps == 7
    _assert_same_weights(read_checkpoint(simulated / "ckpt.pt"), read_checkpoint(run / "ckpt.pt"))
    _assert_same_weights(read_checkpoint(simulated / "best.pt"), read_checkpoint(run / "best.pt"))
    for name in ("metrics.jsonl", "traffic.json"):           # same losses, divergences, kNN and metered bytes
        assert (simulated / name).read_text() == (run / name).read_text()


def test_loopback__socket_bytes_equal_the_metered_bytes_plus_the_frame_overhead(over_tcp: tuple[Path, TcpRun]) -> None:
    run, result = over_tcp
    traffic = json.loads((run / "traffic.json").read_text())
    steps, syncs, clients = 7, 3, 2
    act = 16 * 8 * 32 * 32 * 4                        # 2B = 16 rows × 8×32×32 fp32 per query, key or gradient
    state = read_checkpoint(run / "ckpt.pt").clients_online[0]
    weights = sum(t.numel() * t.element_size() for t in state.values())
    assert traffic["total"]["up"] == steps * clients * 2 * act + syncs * clients * 2 * weights   # monacosfl: 2
    assert traffic["total"]["down"] == steps * clients * act + syncs * clients * 2 * weights     # payloads a sync
    act_over = 16 + 8 + 72                            # frame header + safetensors length + padded JSON header
    w_over = tensor_frame_overhead(entries_of(state))
    s = result.stats
    assert s.frames_up["ACTIVATION"] == steps * clients * 2 and s.frames_down["ACTIVATION"] == steps * clients
    assert s.up["ACTIVATION"] + s.up["WEIGHTS"] == (traffic["total"]["up"] + steps * clients * 2 * act_over
                                                    + syncs * clients * 2 * w_over)
    assert s.down["ACTIVATION"] + s.down["WEIGHTS"] == (traffic["total"]["down"] + steps * clients * act_over
                                                        + syncs * clients * 2 * w_over)
    assert s.seconds_per_step() is not None and len(s.step_seconds) == steps


def _impostor(host: str, port: int, out: dict[str, Any]) -> None:
    """Connect at once (first in the server's queue), then try the handshake with a wrong token in a thread."""
    conn = connect(host, port, local_settings("wrong-token-wrong-token", timeout_s=30.0))
    out["port"] = port

    def handshake() -> None:
        try:
            client_handshake(conn, "wrong-token-wrong-token", 1)
        except TransportError as exc:
            out["error"] = str(exc)
        conn.close()

    out["thread"] = threading.Thread(target=handshake)
    out["thread"].start()


def test_wrong_token__is_refused_and_logged_and_the_run_continues(tmp_path: Path) -> None:
    logs: list[str] = []
    out: dict[str, Any] = {}
    result = run_tcp_training(_cfg(), tmp_path / "run", _settings(), log=logs.append, stop_after_steps=1,
                              on_listen=lambda h, p: _impostor(h, p, out))
    out["thread"].join(10)
    assert out["error"] == f"server 127.0.0.1:{out['port']} refused client 1: authentication failed (wrong token)"
    refused = [line for line in logs if "refused" in line]
    assert len(refused) == 1 and refused[0].endswith("(claiming client 1): authentication failed (wrong token)")
    assert result.summary is None and read_checkpoint(tmp_path / "run" / "ckpt.pt").step == 1


def test_wrong_token__with_on_refused_stop_the_run_stops_cleanly(tmp_path: Path) -> None:
    out: dict[str, Any] = {}
    with pytest.raises(TransportError) as err:
        run_tcp_training(_cfg(), tmp_path / "run", _settings(on_refused="stop"), spawn=False, log=lambda _: None,
                         on_listen=lambda h, p: _impostor(h, p, out))
    out["thread"].join(10)
    assert "\n" not in str(err.value) and str(err.value).endswith(
        "(claiming client 1): authentication failed (wrong token); the run stops (on_refused = stop)")
    assert not (tmp_path / "run" / "ckpt.pt").exists()


def test_killed_client__one_line_error_within_the_timeout_then_the_run_resumes_exactly(simulated: Path,
                                                                                        tmp_path: Path) -> None:
    cfg, run = _cfg("run.ckpt_every=2"), tmp_path / "run"
    killed: dict[str, float] = {}

    def kill_client_1(p: dict[str, Any]) -> None:
        if p["step"] == 3 and not killed:
            child = next(c for c in mp.active_children() if c.name == "sflaudit-client-1")
            os.kill(child.pid, signal.SIGKILL)
            killed["at"] = time.monotonic()

    with pytest.raises(TransportError) as err:
        run_tcp_training(cfg, run, _settings(timeout_s=5.0), progress=kill_client_1, log=lambda _: None)
    assert time.monotonic() - killed["at"] < 5.0 + 5.0          # the timeout, plus the reaping of the other client
    message = str(err.value)
    assert "\n" not in message and message.startswith("client 1 (127.0.0.1:") and "at step 4" in message
    assert read_checkpoint(run / "ckpt.pt").step == 2            # the last checkpoint stays
    resumed = run_tcp_training(cfg, run, _settings(), log=lambda _: None)
    assert resumed.summary is not None
    _assert_same_weights(read_checkpoint(simulated / "ckpt.pt"), read_checkpoint(run / "ckpt.pt"))


def test_stalled_client__times_out_in_one_line_after_timeout_s(tmp_path: Path) -> None:
    """A client that stops answering (SIGSTOP) is named after ``timeout_s``, not waited for forever."""
    stopped: dict[str, float] = {}

    def stall_client_1(p: dict[str, Any]) -> None:
        if p["step"] == 1 and not stopped:
            child = next(c for c in mp.active_children() if c.name == "sflaudit-client-1")
            os.kill(child.pid, signal.SIGSTOP)                 # the driver's reaper kills it afterwards
            stopped["at"] = time.monotonic()

    with pytest.raises(TransportError) as err:
        run_tcp_training(_cfg(), tmp_path / "run", _settings(timeout_s=2.0), progress=stall_client_1,
                         log=lambda _: None)
    waited = time.monotonic() - stopped["at"]
    assert 2.0 <= waited < 2.0 + 2.0 + 3.0                   # timeout, reaping (2 s), slack
    assert str(err.value).startswith("client 1 (127.0.0.1:") and str(err.value).endswith(
        "sent nothing for 2 s while waiting for its query activations at step 2")
