"""Run a sweep's missing cells: locally (in this process, or a process pool) or on Ray, under one progress bar.

Every executor calls the same :func:`sflaudit.reports.sweep.run_cell`; complete cells are skipped before anything starts.
Ray runs one task per cell with declared resources (``num_cpus``/``num_gpus``), on the cluster at ``ray_address``
or on a local Ray started for the sweep (and shut down after it). A cluster's workers need sflaudit installed and
the runs folder on a shared filesystem: cells write their own run directories.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, \
    TimeElapsedColumn
from rich.text import Text

from sflaudit.reports.sweep import Cell, CellResult, cell_complete, check_configs, record_failure, run_cell
from sflaudit.errors import SflauditError

EXECUTORS: tuple[str, ...] = ("local", "ray")


def usable_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota (``cpu.max``) where one
    is set — a container often sees all of the host's cores in ``os.cpu_count()``."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


class _EtaColumn(ProgressColumn):
    """Time left, from the mean wall time of the cells run so far (skipped cells do not count)."""

    def render(self, task: Task) -> Text:
        finish = task.fields.get("finish_at")
        if finish is None:
            return Text("ETA -:--:--", style="progress.remaining")
        left = max(0, int(finish - time.monotonic()))
        return Text(f"ETA {left // 3600}:{left % 3600 // 60:02d}:{left % 60:02d}", style="progress.remaining")


class SweepProgress:
    """The overall bar: cells done of all, the current cell and stage, ok/failed counts, elapsed time and ETA."""

    def __init__(self, total: int, *, console: Console | None, enabled: bool = True, parallel: int = 1) -> None:
        self.total, self.parallel = total, max(1, parallel)
        self.done = self.ok = self.failed = 0
        self.run_times: list[float] = []
        self._bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.description}"), TextColumn("{task.fields[counts]}"),
                             TimeElapsedColumn(), _EtaColumn(), console=console or Console(stderr=True),
                             transient=False) if enabled else None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self._bar is not None:
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total, counts="", finish_at=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def show(self, text: str) -> None:
        """Say what is running now (e.g. ``mocosfl-d3 · train``)."""
        if self._bar is not None:
            self._bar.update(self._task, description=text)

    def finish(self, result: CellResult) -> None:
        """Count a finished (or skipped) cell and re-estimate the time left (a busy cell is not finished)."""
        if result.status == "busy":
            return
        self.done += 1
        if result.status == "failed":
            self.failed += 1
        else:
            self.ok += 1
        if result.status != "skipped":
            self.run_times.append(result.wall_s)
        if self._bar is None:
            return
        finish_at = None
        if self.run_times:
            mean = sum(self.run_times) / len(self.run_times)
            finish_at = time.monotonic() + mean * (self.total - self.done) / self.parallel
        counts = f"[green]{self.ok} ok[/]" + (f" [red]{self.failed} failed[/]" if self.failed else "")
        self._bar.update(self._task, completed=self.done, counts=counts, finish_at=finish_at)


def _sequential(cells: Sequence[Cell], bar: SweepProgress, lpips_weights: str | None,
                wait: float | None = 0) -> list[CellResult]:
    out = []
    for cell in cells:
        bar.show(f"{cell.name} · {'waiting for another process' if wait is None else 'start'}")
        result = run_cell(cell, quiet=True, on_stage=lambda s, n=cell.name: bar.show(f"{n} · {s}"),
                          lpips_weights=lpips_weights, wait=wait)
        bar.finish(result)
        out.append(result)
    return out


def _pool(cells: Sequence[Cell], bar: SweepProgress, jobs: int, lpips_weights: str | None) -> list[CellResult]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = max(1, usable_cpus() // jobs)
    out = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {pool.submit(run_cell, c, quiet=True, threads=threads, lpips_weights=lpips_weights): c
                   for c in spread_depths(cells)}
        try:
            while running:
                bar.show(f"{len(running)} cells queued or running")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    cell = running.pop(fut)
                    result = _collect_future(cell, fut.result, "worker")
                    bar.finish(result)
                    out.append(result)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return out


def spread_depths(cells: Sequence[Cell]) -> list[Cell]:
    """The cells reordered for a pool: one cell of every depth, then a second of every depth, … (each round
    shallowest first). Cells running side by side then differ in depth, so the later cells of a depth find its
    prior finished and copy it (a prior depends on the activation's shape, not on the method or seed) instead of
    two workers computing the same prior at once."""
    seen: dict[int, int] = {}
    rank = []
    for c in cells:
        rank.append(seen.get(c.depth, 0))
        seen[c.depth] = rank[-1] + 1
    return [c for _, _, c in sorted(zip(rank, range(len(cells)), cells, strict=True), key=lambda t: (t[0], t[1]))]


def _collect_future(cell: Cell, get: Any, stage: str) -> CellResult:
    """A worker's result, or a failed result (with error.json) when the worker itself died."""
    try:
        return get()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a dead worker fails its cell, not the sweep
        return record_failure(cell, exc, stage)


def _ray_gpus(ray: Any, cells: Sequence[Cell], gpus_per_cell: float | None) -> float:
    """Declared GPUs per task: the given value, else 1 when the cluster has GPUs and the config may use them."""
    if gpus_per_cell is not None:
        return gpus_per_cell
    from sflaudit.config import config_from_toml

    wants = any(config_from_toml(c.config_text).run.device != "cpu" for c in cells)
    return 1.0 if wants and ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def _ray(cells: Sequence[Cell], bar: SweepProgress, *, address: str | None, cpus_per_cell: float,
         gpus_per_cell: float | None, lpips_weights: str | None) -> list[CellResult]:
    try:
        import ray
    except ImportError:
        raise SflauditError("--executor ray needs Ray: pip install 'sflaudit[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=usable_cpus(), include_dashboard=False, log_to_driver=False)
    try:
        gpus = _ray_gpus(ray, cells, gpus_per_cell)
        task = ray.remote(num_cpus=cpus_per_cell, num_gpus=gpus, max_retries=0)(run_cell)
        threads = max(1, int(cpus_per_cell))
        refs = {task.remote(c, quiet=True, threads=threads, lpips_weights=lpips_weights): c for c in cells}
        bar.parallel = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus_per_cell, 1e-9)))
        out = []
        try:
            while refs:
                bar.show(f"ray: {len(refs)} tasks queued or running")
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    cell = refs.pop(ref)
                    result = _collect_future(cell, lambda r=ref: ray.get(r), "ray task")
                    bar.finish(result)
                    out.append(result)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
        return out
    finally:
        if started:
            ray.shutdown()


def run_sweep(cells: Sequence[Cell], *, executor: str = "local", jobs: int = 1, ray_address: str | None = None,
              cpus_per_cell: float = 1, gpus_per_cell: float | None = None, console: Console | None = None,
              progress: bool = True, lpips_weights: str | None = None) -> list[CellResult]:
    """Run every incomplete cell; returns one result per cell in ``cells``' order (complete ones ``skipped``).

    Args:
        executor: ``local`` (``jobs`` 1 = in this process, one after another; more = a process pool of that size;
            0 = one worker per CPU core) or ``ray`` (one task per cell; ``ray_address`` joins a cluster, else a local Ray is started).
        cpus_per_cell, gpus_per_cell: Ray resources per task (GPUs: None = 1 when the cluster has any, else 0).
        progress: show the overall progress bar on ``console`` (stderr by default).
    Raises:
        SflauditError: unknown executor, bad ``jobs``, or a run directory made with a different config.
    """
    if executor not in EXECUTORS:
        raise SflauditError(f"unknown executor {executor!r} (valid: {', '.join(EXECUTORS)})")
    if jobs < 0:
        raise SflauditError(f"--jobs must be 0 (one per CPU core) or more, got {jobs}")
    jobs = jobs or usable_cpus()
    check_configs(cells)
    for cell in cells:
        Path(cell.run_dir).parent.mkdir(parents=True, exist_ok=True)
    pending = [c for c in cells if not cell_complete(c)]
    results = {c.name: CellResult(c.name, "skipped") for c in cells if c not in pending}
    with SweepProgress(len(cells), console=console, enabled=progress, parallel=jobs) as bar:
        for result in results.values():
            bar.finish(result)
        if executor == "ray" and pending:
            ran = _ray(pending, bar, address=ray_address, cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell,
                       lpips_weights=lpips_weights)
        elif jobs > 1 and len(pending) > 1:
            ran = _pool(pending, bar, jobs, lpips_weights)
        else:
            ran = _sequential(pending, bar, lpips_weights)
        busy = {r.name for r in ran if r.status == "busy"}
        if busy:                      # cells another process is running: wait for it, then take what is left
            ran = [r for r in ran if r.status != "busy"]
            ran += _sequential([c for c in pending if c.name in busy], bar, lpips_weights, wait=None)
        bar.show("done")
    results.update({r.name: r for r in ran})
    return [results[c.name] for c in cells]
