"""Throughput of the batched MoCo augmentations (images per second per view) on CPU.

    python benchmarks/augment_throughput.py                 # mocov1 + mocov2, batch 256 and 1024, 2 threads
    python benchmarks/augment_throughput.py --baseline      # also torchvision's per-image reference pipeline

Each setting is warmed up, then timed over at least ``--seconds`` of repeated calls; the figure is the median of
``--repeats`` such windows. A figure taken while other processes used the CPU is flagged: on a small machine they
stall the OpenMP threads and the figure collapses (OMP_WAIT_POLICY=PASSIVE softens that). The target for the
default demo is ≥ 20,000 images/s per view for mocov2 at 32×32 on 2 threads. With ``--baseline`` the same recipe
built from torchvision transforms is applied image by image (the reference code's data-loader path, minus PIL
decoding) and the ratio is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from sflaudit.data.augment import AugmentSpec, augment

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def cpu_busy_seconds() -> float:
    """Seconds of CPU time used by every process on the machine so far (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def images_per_second(run: Callable[[], None], images: int, seconds: float, repeats: int) -> tuple[float, float]:
    """Median over ``repeats`` windows of ≥ ``seconds`` each of images processed per second.

    Returns:
        (images/s, largest share of a window's wall time that other processes spent on the CPU).
    """
    run()
    run()  # warm-up: allocator, thread pool, lazy initialisation
    rates, others = [], []
    for _ in range(repeats):
        calls, busy, mine, start = 0, cpu_busy_seconds(), time.process_time(), time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or calls == 0:
            run()
            calls += 1
        rates.append(calls * images / elapsed)
        others.append(max(0.0, cpu_busy_seconds() - busy - (time.process_time() - mine)) / elapsed)
    return statistics.median(rates), max(others)


def reference_pipeline(kind: str, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The protocol §3.2 recipe as torchvision transforms on one float C×H×W image (one draw per call)."""
    from torchvision import transforms as T

    jitter = T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1 if kind == "mocov2" else 0.4)], p=0.8)
    steps = [T.RandomResizedCrop(size, antialias=True), jitter, T.RandomGrayscale(0.2)]
    if kind == "mocov2":
        steps.append(T.RandomApply([T.GaussianBlur(3, (0.1, 2.0))], p=0.5))
    steps += [T.RandomHorizontalFlip(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    return T.Compose(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["mocov1", "mocov2"], choices=["mocov1", "mocov2", "none"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--size", type=int, default=32, help="input and output side (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed window (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows per setting; the median is shown")
    parser.add_argument("--baseline", action="store_true", help="also time torchvision's per-image pipeline")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}×{args.size} uint8 input")
    for kind in args.kinds:
        spec = AugmentSpec(kind, args.size, CIFAR10_MEAN, CIFAR10_STD)
        for batch in args.batch_sizes:
            x = torch.randint(0, 256, (batch, 3, args.size, args.size), dtype=torch.uint8, generator=generator)
            rate, others = images_per_second(lambda: augment(x, spec, generator), batch, args.seconds, args.repeats)
            line = f"{kind:7s} batch {batch:5d}: {rate:10,.0f} images/s per view"
            if args.baseline:
                pipeline, images = reference_pipeline(kind, args.size), x[:256].float() / 255
                base, _ = images_per_second(lambda: [pipeline(im) for im in images], 256, args.seconds, args.repeats)
                line += f"   (torchvision per image: {base:8,.0f} images/s, ×{rate / base:.1f})"
            if others > 0.1:
                line += f"   [busy machine: other processes used up to {others:.0%} of a core — unreliable]"
            print(line, flush=True)


if __name__ == "__main__":
    main()
