"""GPU check: training on a CUDA GPU against the CPU, against the raw-PyTorch floor, bf16 against fp32, peak memory.

On one CUDA GPU in well under 5 minutes (``bash benchmarks/gpu_check.sh``) it prints:

(a) agreement — the ``smoke`` preset trained by ``sflaudit train`` (a subprocess, the real CLI) with
    ``run.device=cuda`` and with ``run.device=cpu``, 4 fixed steps (``optim.epochs=1``, ``data.fraction=0.0125``,
    no linear probe). The loss of every step (``metrics.jsonl``) and the final loss and kNN accuracy
    (``summary.json``), both read through :class:`sflaudit.artifacts.RunDir`, must agree within
    :data:`LOSS_TOLERANCE` and :data:`KNN_TOLERANCE`. TF32 is off for the CUDA run (``NVIDIA_TF32_OVERRIDE=0``):
    this compares fp32 arithmetic. Why so few steps: this tiny network's training is chaotic. On a CPU, one thread
    against two (a summation-order difference) gave the same losses to 6 decimals for 4 steps, but after 16 steps
    a final loss 5.5 % apart and kNN 9 points apart. So only a short run can be compared tightly.
(b) seconds per ``Trainer.train_step`` (plus its share of the syncs) in the paper's setting at the paper's width
    (``paper-resnet18-20c``: ResNet-18 width 1, 5 sampled clients × B 20, K 6000, client-side symmetric MoCo V2),
    at ``--depths``, next to the raw-PyTorch floors of ``benchmarks/train_step.py`` (``benchmarks/common.py``: the
    monolithic and the per-client floor) on the same GPU; ratio = floor ÷ trainer (1.00 = no overhead);
(c) each of those with bf16 autocast (``optim.precision=bf16``) and without (``fp32``), and bf16 ÷ fp32;
(d) the peak memory of the trainer and of each floor (``torch.cuda.max_memory_allocated`` over its own window).

``--dry`` (or ``GPU_CHECK_DRY=1``) runs the same code paths on the CPU with tiny sizes in seconds (agreement: CPU
against CPU, one thread each; timing: width 0.125, B 4, K 256, depth 1, the embedded photos, 2 timed steps, one
thread) and prints the same tables
with the device marked ``cpu``; there peak memory is the process's peak resident set (CPU has no per-window
counter). Nothing is downloaded: the smoke preset uses the embedded photos, the timing uses real CIFAR-10 from
``../shared/data/cifar10`` when present, else the photos.

    bash benchmarks/gpu_check.sh                 # on the GPU machine (sets GLIBC_TUNABLES, 5-minute limit)
    python benchmarks/gpu_check.py --dry         # anywhere, seconds

Exit status: 0 when every part ran and (a) agreed; 1 when something failed (each failure is named on the last
line); 2 without a CUDA device and without ``--dry``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from common import (PAPER_PRESET, TINY, dataset_spec, floor_step, make_trainer, paper_setting, peak_memory_mib,
                    reset_peak_memory, time_it, trainer_seconds)
from sflaudit.artifacts import RunDir
from sflaudit.config import load_config
from sflaudit.runs import read_jsonl

SMOKE_SETS = ("optim.epochs=1", "data.fraction=0.0125", "eval.linear_epochs=0")   # smoke: 4 steps, kNN at the end
LOSS_TOLERANCE = 0.02     # absolute, on losses ≈ 4 (step 1's ≈ 0.005: the queue starts empty)
KNN_TOLERANCE = 3.0       # percentage points of kNN accuracy
TRAIN_TIMEOUT_S = 240


@dataclass(frozen=True)
class Agreement:
    """One compared quantity of (a)."""

    name: str
    value: float
    reference: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value) and math.isfinite(self.reference) and \
            abs(self.value - self.reference) <= self.tolerance


@dataclass(frozen=True)
class StepTiming:
    """One row of (b)–(d): seconds per step and peak MiB of the trainer and its two floors."""

    depth: int
    precision: str
    trainer_s: float
    floor_s: float
    per_client_floor_s: float
    trainer_mib: float
    floor_mib: float
    per_client_floor_mib: float

    def numbers(self) -> tuple[float, ...]:
        return (self.trainer_s, self.floor_s, self.per_client_floor_s, self.trainer_mib, self.floor_mib,
                self.per_client_floor_mib)


def start_smoke_run(device: str, out: Path, *, threads: int) -> subprocess.Popen:
    """Start ``sflaudit train`` on the shortened smoke preset on ``device`` (TF32 off), writing run directory
    ``out``."""
    cmd = [sys.executable, "-m", "sflaudit", "train", "--preset", "smoke", "--quiet", "--out", str(out),
           "--set", f"run.device={device}", "--set", f"run.threads={threads}"]
    for s in SMOKE_SETS:
        cmd += ["--set", s]
    env = {**os.environ, "NVIDIA_TF32_OVERRIDE": "0"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_smoke_run(proc: subprocess.Popen, device: str, out: Path) -> tuple[dict[int, float], float, float, float]:
    """Wait for a :func:`start_smoke_run`; (loss per step, final loss, final kNN %, wall s) from its run directory."""
    try:
        stdout, stderr = proc.communicate(timeout=TRAIN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"sflaudit train on {device} took over {TRAIN_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"sflaudit train on {device} exited {proc.returncode}: {tail[0]}")
    run = RunDir(out)
    summary = run.read_summary()
    if summary is None or summary.final_loss is None or summary.knn_final is None:
        raise RuntimeError(f"sflaudit train on {device} left no final loss / kNN in {run.summary_path}")
    losses = {int(r["step"]): float(r["loss"]) for r in read_jsonl(run.metrics) if r.get("type") == "train"}
    return losses, summary.final_loss, summary.knn_final, summary.wall_time_s


def agreement(device: str, tmp: Path, *, threads: int, parallel: bool) -> tuple[list[Agreement], float, float]:
    """(a): the smoke run on ``device`` against the same on the CPU; (rows, device wall s, CPU wall s).
    ``parallel``: both runs at once (the dry run's two single-thread CPU runs), else one after the other."""
    out, ref_out = tmp / f"smoke-{device}", tmp / "smoke-cpu-reference"
    proc = start_smoke_run(device, out, threads=threads)
    if parallel:
        ref_proc = start_smoke_run("cpu", ref_out, threads=threads)
        losses, loss, knn, wall = finish_smoke_run(proc, device, out)
    else:
        losses, loss, knn, wall = finish_smoke_run(proc, device, out)
        ref_proc = start_smoke_run("cpu", ref_out, threads=threads)
    ref_losses, ref_loss, ref_knn, ref_wall = finish_smoke_run(ref_proc, "cpu", ref_out)
    if sorted(losses) != sorted(ref_losses) or not losses:
        raise RuntimeError(f"the runs logged different steps: {sorted(losses)} against {sorted(ref_losses)}")
    rows = [Agreement(f"loss step {s}", losses[s], ref_losses[s], LOSS_TOLERANCE) for s in sorted(losses)]
    rows += [Agreement("final loss (summary)", loss, ref_loss, LOSS_TOLERANCE),
             Agreement("kNN final % (summary)", knn, ref_knn, KNN_TOLERANCE)]
    return rows, wall, ref_wall


def free(device: torch.device) -> None:
    """Drop what the last measurement left behind before the next one's memory window."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def step_timing(device: torch.device, depth: int, precision: str, tmp: Path, *, dry: bool,
                steps: int, warmup: int) -> StepTiming:
    """(b)–(d) for one depth and precision: trainer, monolithic floor and per-client floor on ``device``."""
    free(device)
    base = reset_peak_memory(device)
    t = make_trainer(depth, "client", precision, False, tmp / f"d{depth}-{precision}", device=device.type,
                     dataset="photos" if dry else None, overrides=TINY if dry else ())
    trainer_s, _ = trainer_seconds(t, steps, warmup)
    trainer_mib = peak_memory_mib(device, base)
    measured = []
    for per_client in (False, True):
        free(device)
        base = reset_peak_memory(device)
        step = floor_step(t, precision, per_client=per_client)
        seconds = time_it(step, steps, warmup, device=device)
        measured.append((seconds, peak_memory_mib(device, base)))
        del step
    del t
    free(device)
    (floor_s, floor_mib), (pc_s, pc_mib) = measured
    return StepTiming(depth, precision, trainer_s, floor_s, pc_s, trainer_mib, floor_mib, pc_mib)


def print_agreement(device: str, rows: list[Agreement], wall: float, ref_wall: float) -> None:
    print(f"| quantity | {device} | cpu reference | abs diff | tolerance | ok |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.value:.6f} | {r.reference:.6f} | {abs(r.value - r.reference):.6f} | "
              f"{r.tolerance:g} | {'ok' if r.ok else 'FAIL'} |")
    print(f"training wall s (summary): {device} {wall:.2f}, cpu reference {ref_wall:.2f}")


def print_timing(rows: list[StepTiming], device: torch.device) -> None:
    print("| depth | precision | trainer s/step | floor s/step | floor/trainer | per-client floor s/step | "
          "per-client/trainer | trainer peak MiB | floor peak MiB | per-client floor peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.depth} | {r.precision} | {r.trainer_s:.4f} | {r.floor_s:.4f} | {r.floor_s / r.trainer_s:.2f} | "
              f"{r.per_client_floor_s:.4f} | {r.per_client_floor_s / r.trainer_s:.2f} | {r.trainer_mib:.1f} | "
              f"{r.floor_mib:.1f} | {r.per_client_floor_mib:.1f} |")
    by = {(r.depth, r.precision): r for r in rows}
    for depth in sorted({r.depth for r in rows}):
        if (depth, "fp32") in by and (depth, "bf16") in by:
            a, b = by[depth, "fp32"], by[depth, "bf16"]
            print(f"bf16 ÷ fp32, depth {depth}: trainer s/step {b.trainer_s / a.trainer_s:.2f}, "
                  f"floor s/step {b.floor_s / a.floor_s:.2f}, trainer peak MiB {b.trainer_mib / a.trainer_mib:.2f}")
    what = ("torch.cuda.max_memory_allocated over each one's own window (the trainer: all its clients, queue and "
            "wire; a floor: its copies and activations)" if device.type == "cuda"
            else "the process's peak resident set so far (ru_maxrss; CPU has no per-window counter)")
    print(f"peak MiB = {what}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry", action="store_true", default=os.environ.get("GPU_CHECK_DRY", "") not in ("", "0"),
                    help="the same code paths on the CPU with tiny sizes (also GPU_CHECK_DRY=1)")
    ap.add_argument("--depths", default=None, help="depths timed in (b)–(d) (default 1,11; --dry: 1)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20; --dry: 2)")
    args = ap.parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        print("error: no CUDA device (torch.cuda.is_available() is False); run with --dry for the CPU check",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry else "cuda")
    depths = [int(d) for d in (args.depths or ("1" if args.dry else "1,11")).split(",")]
    steps = args.steps or (2 if args.dry else 20)
    warmup = 1 if args.dry else 5
    threads = 1 if args.dry else 0
    if args.dry:
        torch.set_num_threads(1)   # tiny convolutions: one thread is faster, and steady on a shared machine
    name = "cpu (dry run: tiny sizes, no GPU used)" if args.dry else f"cuda ({torch.cuda.get_device_name(0)})"
    cuda = f", CUDA {torch.version.cuda}" if device.type == "cuda" else ""
    print(f"gpu_check: device {name}, torch {torch.__version__}{cuda}, {torch.get_num_threads()} CPU threads")
    failures: list[str] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"\n(a) smoke training on {device.type} against cpu: `sflaudit train --preset smoke "
              + " ".join(f"--set {s}" for s in SMOKE_SETS) + f" --set run.device={device.type}` "
              f"(4 steps, TF32 off)")
        try:
            rows, wall, ref_wall = agreement(device.type, tmp, threads=threads, parallel=args.dry)
            print_agreement(device.type, rows, wall, ref_wall)
            failures += [f"(a) {r.name} differs by {abs(r.value - r.reference):.6f} > {r.tolerance:g}"
                         for r in rows if not r.ok]
        except Exception as exc:   # noqa: BLE001 — every part runs; the failure is reported and sets the status
            traceback.print_exc()
            failures.append(f"(a) {type(exc).__name__}: {exc}")
        data = "photos" if args.dry else dataset_spec()
        cfg = load_config(preset=PAPER_PRESET, overrides=[f'data.dataset="{data}"', *(TINY if args.dry else ())])
        print(f"\n(b)–(d) training step on {device.type}, {paper_setting(cfg)}; median of {steps} steps after "
              f"{warmup} warm-up")
        timings: list[StepTiming] = []
        for depth in depths:
            for precision in ("fp32", "bf16"):
                try:
                    r = step_timing(device, depth, precision, tmp, dry=args.dry, steps=steps, warmup=warmup)
                    bad = [v for v in r.numbers() if not (math.isfinite(v) and v > 0)]
                    if bad:
                        failures.append(f"(b–d) depth {depth} {precision}: non-positive or non-finite {bad}")
                    timings.append(r)
                except Exception as exc:   # noqa: BLE001
                    traceback.print_exc()
                    failures.append(f"(b–d) depth {depth} {precision} {type(exc).__name__}: {exc}")
        if timings:
            print_timing(timings, device)
    print(f"\ngpu_check: {time.perf_counter() - start:.0f} s; "
          + ("ok" if not failures else f"FAILED ({len(failures)}): " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
