"""Validate the time model on a rate-limited loopback link (issue #16): measured s/step vs the model's prediction.

The harness runs a real ``--transport tcp`` training (one server and N client processes on 127.0.0.1) inside a
fresh network namespace whose loopback is shaped with ``tc qdisc … tbf rate R``. Root only; traffic never leaves the
namespace's loopback.

What is measured: the wall time of two runs of the same config stopped after ``k1`` and ``k2`` steps; the marginal
time ``(T(k2) − T(k1)) / (k2 − k1)`` cancels process start-up, joining, the initial state and the tail, and counts
the syncs the extra steps contain. (The server's own per-step timer is not used: a send returns once the bytes are in
the kernel's socket buffer, so on a slow link part of each step's download would land in the next step.)

What is predicted: :func:`profiles.timemodel.run_time` for the same config, with the profile row's analytic bytes
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

from profiles.timemodel import TimeSplit

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
    """Run ``python -m profiles.shaped`` (in ``namespace`` when given): a TCP training of ``preset`` + ``sets``
    stopped after ``steps`` steps in a temporary run directory; returns what it measured."""
    cmd = [sys.executable, "-m", "profiles.shaped", preset, str(steps), *sets]
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
    from sflaudit.options import resolve_config
    from sflaudit.transport.auth import new_token
    from sflaudit.transport.driver import local_settings, run_tcp_training

    cfg = resolve_config(None, preset, sets)
    with tempfile.TemporaryDirectory(prefix="sflaudit-shaped-") as tmp:
        t0 = time.perf_counter()
        result = run_tcp_training(cfg, Path(tmp) / "run", local_settings(new_token()), stop_after_steps=steps,
                                  log=lambda _line: None)
        seconds = time.perf_counter() - t0
    stats = result.stats
    return {"seconds": seconds, "median_step": statistics.median(stats.step_seconds), "steps": len(stats.step_seconds), "syncs": len(stats.sync_seconds),
            "up": stats.total("up"), "down": stats.total("down")}


def predicted(sets: Sequence[str], steps: int, syncs: int, rate_bps: float, *, preset: str = "smoke",
              flops: float) -> TimeSplit:
    """The time model's compute / transfer / latency seconds for ``steps`` steps and the first ``syncs`` syncs of ``preset`` + ``sets`` on a
    loopback of ``rate_bps`` shared by the concurrent clients, every process computing at ``flops`` FLOP/s."""
    from profiles.links import Link
    from profiles.run import config_rows, schedule_for
    from profiles.timemodel import Node, run_time, step_work
    from sflaudit.options import resolve_config
    from sflaudit.sfl.moco import PROJECTOR_DIMS

    cfg = resolve_config(None, preset, list(sets))
    schedule = schedule_for(cfg)
    row = config_rows(cfg, [cfg.model.depth], schedule, memory=False)[0]
    work = step_work(row["client_flops"], row["server_flops"], rows=schedule.rows_per_client, batch=cfg.sfl.batch,
                     pool_size=schedule.pool_size, up_bytes=row[f"step_up_{cfg.ssl.symmetric}"],
                     down_bytes=row[f"step_down_{cfg.ssl.symmetric}"], queue=cfg.ssl.K,
                     key_dim=PROJECTOR_DIMS[cfg.ssl.moco_version][1])
    # steps share the rate among the pool; syncs download to all N (the model's max over them, at R/N each)
    share = max(schedule.pool_size, schedule.clients)
    node = Node(flops, Link(rate_bps / share, rate_bps / share, 0.0))
    if schedule.pool_size != schedule.clients:
        raise SflauditError("the shaped-link check models a pool of every client (sfl.sampling_ratio = 1)")
    return run_time(work, row["weight_bytes"], method=cfg.sfl.method, steps=steps, syncs=syncs,
                    pool=[node] * schedule.pool_size, server_flops=flops, sfl=cfg.sfl).run


@dataclass(frozen=True)
class Validation:
    """Measured vs predicted marginal seconds per step at one rate."""

    rate_bps: float
    measured: float
    predicted: float
    steps: tuple[int, int]
    bytes_per_step: float

    @property
    def error(self) -> float:
        """(measured − predicted) / predicted."""
        return (self.measured - self.predicted) / self.predicted


def validate(rate_bps: float, sets: Sequence[str], steps: tuple[int, int], *, flops: float,
             preset: str = "smoke") -> Validation:
    """Two timed runs (``steps`` = k1 < k2) in a namespace shaped to ``rate_bps``, against the model."""
    k1, k2 = steps
    with shaped_namespace(rate_bps) as ns:
        short = timed_run(sets, k1, preset=preset, namespace=ns)
        long = timed_run(sets, k2, preset=preset, namespace=ns)
    if short.steps != k1 or long.steps != k2:
        raise SflauditError(f"the runs did {short.steps} and {long.steps} steps, not {k1} and {k2}")
    measured = (long.seconds - short.seconds) / (k2 - k1)
    model = (predicted(sets, k2, long.syncs, rate_bps, preset=preset, flops=flops).total
             - predicted(sets, k1, short.syncs, rate_bps, preset=preset, flops=flops).total) / (k2 - k1)
    per_step = (long.up + long.down - short.up - short.down) / (k2 - k1)
    return Validation(rate_bps, measured, model, steps, per_step)


def workload_flops(sets: Sequence[str], steps: int, *, preset: str = "smoke") -> float:
    """This machine's effective FLOP/s on this very workload: the model's compute FLOPs of one step divided by the
    server's median step timer of a run of ``steps`` steps on the unshaped loopback (where the transfer is
    negligible and a send does not outlast its step). Small networks run far below a conv benchmark's speed
    (Python, framework and serialisation overheads per step), so this is the calibration a deployer would make on
    the real client."""
    run = timed_run(sets, steps, preset=preset)
    seconds = run.median_step
    flop = predicted(sets, 1, 0, 1e15, preset=preset, flops=1.0).compute
    if seconds <= 0:
        raise SflauditError("the unshaped runs took no measurable time per step")
    return flop / seconds


if __name__ == "__main__":      # the timed child of timed_run: preset, steps, --set values
    print(json.dumps(_inner(sys.argv[1], int(sys.argv[2]), sys.argv[3:])), flush=True)
