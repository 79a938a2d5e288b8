"""Validate the time model on a rate-limited loopback link (issue #16): measured s/step vs the model's prediction.

The harness runs a real ``--transport tcp`` training (one server and N client processes on 127.0.0.1) inside a
fresh network namespace whose loopback is shaped with ``tc qdisc … tbf rate R``. Root only; traffic never leaves the
namespace's loopback.

What is measured: the median of the server's step timers after the first step of one run. A step's timer starts
when the server orders the step and ends when its gradients are handed to the sockets; the next order follows at
once, and the clients can only answer it after the previous gradients have arrived and been backpropagated. So in a
steady run each timer spans one whole cycle (download, backward, forward, upload, server step) even though a send
returns before its bytes have crossed the link; the median drops the first step (no download before it) and the
step after a sync (whose download it absorbs). No process start-up or tail is in it.

What is predicted: :func:`sflaudit.profiles.timemodel.run_time` for the same config, with the profile row's analytic bytes
and, for client and server compute, this machine's speed on this very workload (:func:`workload_flops`: the same
runs on the unshaped loopback). One tbf queue carries **every** client's
traffic in both directions, so the pool's concurrent uploads (and downloads) share the rate: each of the ``n``
concurrent clients is modelled with ``R / n`` each way and no RTT (loopback). The protocol never overlaps an upload
phase with a download phase, so up and down sharing one queue does not slow either.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sflaudit.errors import SflauditError

from sflaudit.profiles.timemodel import TimeSplit

LOOPBACK_MTU = 9000          # packet overhead 66/9000 ≈ 0.7 %; tbf's burst must exceed one packet
TBF_BURST_BYTES = 16384      # the credit an idle link gathers: ≈ 33 ms at 4 Mbit/s, small next to a step
TBF_LATENCY = "2s"           # queue limit in time: large enough that tbf delays instead of dropping


@functools.lru_cache(maxsize=1)
def can_shape() -> str | None:
    """None when this process can create a namespace and shape its loopback (tried once: a container may deny
    either to root), else the reason it cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (ip netns, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} command (iproute2)"
    try:
        with shaped_namespace(1e9):
            pass
    except (SflauditError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot shape a loopback here ({exc})"
    return None


def _ip(*args: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise SflauditError(f"{' '.join(args)} failed: {proc.stderr.strip() or proc.returncode}")


@contextmanager
def shaped_namespace(rate_bps: float) -> Iterator[str]:
    """A fresh network namespace whose loopback (the only interface it has) is up and rate-limited to
    ``rate_bps`` by tbf; yields its name and deletes it on exit."""
    name = f"sflaudit-shape-{os.getpid()}-{int(rate_bps)}"
    _ip("ip", "netns", "add", name)
    try:
        _ip("ip", "-n", name, "link", "set", "lo", "mtu", str(LOOPBACK_MTU))
        _ip("ip", "-n", name, "link", "set", "lo", "up")
        _ip("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate",
            f"{int(rate_bps)}bit", "burst", str(TBF_BURST_BYTES), "latency", TBF_LATENCY)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)


@dataclass(frozen=True)
class Timed:
    """One stopped TCP run: wall seconds, steps and syncs done, the server's median step timer, socket bytes."""

    seconds: float
    median_step: float
    steps: int
    syncs: int
    up: int
    down: int


def timed_run(sets: Sequence[str], steps: int, *, preset: str = "smoke", namespace: str | None = None,
              timeout_s: float = 600.0) -> Timed:
    """Run ``python -m sflaudit.profiles.shaped`` (in ``namespace`` when given): a TCP training of ``preset`` + ``sets``
    stopped after ``steps`` steps in a temporary run directory; returns what it measured."""
    cmd = [sys.executable, "-m", "sflaudit.profiles.shaped", preset, str(steps), *sets]
    if namespace is not None:
        cmd = ["ip", "netns", "exec", namespace, *cmd]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=root)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SflauditError(f"the timed TCP run failed: {tail}")
    return Timed(**json.loads(proc.stdout.strip().splitlines()[-1]))


def _inner(preset: str, steps: int, sets: list[str]) -> dict[str, Any]:
    """The child process: train over TCP for ``steps`` steps and time it (from before the clients start to
    after every client has exited, i.e. has received everything)."""
    from sflaudit.flags import resolve_config
    from sflaudit.transport.auth import new_token
    from sflaudit.transport.driver import local_settings, run_tcp_training

    cfg = resolve_config(None, preset, sets)
    with tempfile.TemporaryDirectory(prefix="sflaudit-shaped-") as tmp:
        t0 = time.perf_counter()
        result = run_tcp_training(cfg, Path(tmp) / "run", local_settings(new_token()), stop_after_steps=steps,
                                  log=lambda _line: None)
        seconds = time.perf_counter() - t0
    stats = result.stats
    return {"seconds": seconds, "median_step": statistics.median(stats.step_seconds[1:] or stats.step_seconds),
            "steps": len(stats.step_seconds), "syncs": len(stats.sync_seconds),
            "up": stats.total("up"), "down": stats.total("down")}


@functools.lru_cache(maxsize=8)
def _profiled(sets: tuple[str, ...], preset: str) -> tuple[Any, Any, dict[str, Any]]:
    """(config, schedule, profile row at its depth) of ``preset`` + ``sets``; counted once per setting."""
    from sflaudit.profiles.run import config_rows, schedule_for
    from sflaudit.flags import resolve_config

    cfg = resolve_config(None, preset, list(sets))
    schedule = schedule_for(cfg)
    if schedule.pool_size != schedule.clients:
        raise SflauditError("the shaped-link check models a pool of every client (sfl.sampling_ratio = 1)")
    return cfg, schedule, config_rows(cfg, [cfg.model.depth], schedule, memory=False)[0]


def predicted(sets: Sequence[str], steps: int, syncs: int, rate_bps: float, *, preset: str = "smoke",
              flops: float) -> TimeSplit:
    """The time model's compute / transfer / latency seconds for ``steps`` steps and the first ``syncs`` syncs of
    ``preset`` + ``sets`` on a loopback of ``rate_bps`` shared by the N concurrent clients (R / N each way, no RTT),
    every process computing at ``flops`` FLOP/s."""
    from sflaudit.profiles.links import Link
    from sflaudit.profiles.timemodel import row_run_time

    cfg, schedule, row = _profiled(tuple(sets), preset)
    share = schedule.clients
    link = Link(rate_bps / share, rate_bps / share, 0.0)
    return row_run_time(row, cfg, schedule, link, flops, flops, cfg.sfl.method, steps=steps, syncs=syncs).run


@dataclass(frozen=True)
class Validation:
    """Measured vs predicted marginal seconds per step at one rate."""

    rate_bps: float
    measured: float
    predicted: float
    steps: int
    bytes_per_step: float          # socket bytes of the whole run (handshake and state included) / steps

    @property
    def error(self) -> float:
        """(measured − predicted) / predicted."""
        return (self.measured - self.predicted) / self.predicted


def validate(rate_bps: float, sets: Sequence[str], steps: int, *, flops: float,
             preset: str = "smoke") -> Validation:
    """One timed run of ``steps`` steps in a namespace shaped to ``rate_bps``, against the model's one step."""
    with shaped_namespace(rate_bps) as ns:
        run = timed_run(sets, steps, preset=preset, namespace=ns)
    if run.steps != steps:
        raise SflauditError(f"the run did {run.steps} steps, not {steps}")
    model = predicted(sets, 1, 0, rate_bps, preset=preset, flops=flops).total
    return Validation(rate_bps, run.median_step, model, steps, (run.up + run.down) / steps)


def workload_flops(sets: Sequence[str], steps: int, *, preset: str = "smoke") -> float:
    """This machine's effective FLOP/s on this very workload: the model's compute FLOPs of one step divided by the
    server's median step timer of a run of ``steps`` steps on the unshaped loopback (where the transfer is
    negligible). Small networks run far below a conv benchmark's speed
    (Python, framework and serialisation overheads per step), so this is the calibration a deployer would make on
    the real client."""
    seconds = timed_run(sets, steps, preset=preset).median_step
    if seconds <= 0:
        raise SflauditError("the unshaped run took no measurable time per step")
    return predicted(sets, 1, 0, 1e15, preset=preset, flops=1.0).compute / seconds


if __name__ == "__main__":      # the timed child of timed_run: preset, steps, --set values
    print(json.dumps(_inner(sys.argv[1], int(sys.argv[2]), sys.argv[3:])), flush=True)
