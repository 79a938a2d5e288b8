"""Seconds per training step of the paper's 20-client ResNet-18 setting, next to the raw-PyTorch equal-work floor.

Setting (protocol §7.1): 5 sampled clients × batch 20, K 6000, MoCo V2. For each depth and symmetric mode the script
times ``Trainer.train_step`` (augmentation, per-client forward, metered wire, server step, per-client backward and
SGD) and a floor: one monolithic network (client + server + projector) doing the same rows in one go — forward and
backward on the query rows, a no-grad forward on the key rows, and for the ``original`` mode the server-only second
loss term — followed by one SGD step. Throughput ratio = floor seconds / trainer seconds (1.0 = no overhead).
A second, per-client floor runs the client part as 5 separate weight copies, each on its own rows (what the
protocol requires: clients do not share weights); the gap between the two floors is the cost of per-client weights
(small-batch convolutions, weight standardisation per model), not of the trainer.
Every timed function is first warmed up until one call takes fewer than 2,000 minor page faults (the heap
has reached its steady size; at most 8 calls), so one-off first-touch costs do not count as per-step overhead.

Run with the allocator settings the project uses:
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
        python benchmarks/train_step.py --depths 1,3,11,17 --steps 3
    python benchmarks/train_step.py --tiny --depths 1 --modes client --precisions fp32 --steps 1   # seconds

The trainer, the floors and the timing live in ``benchmarks/common.py`` (``benchmarks/gpu_check.py`` times the same
step on a GPU).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from common import PAPER_PRESET, TINY, dataset_spec, floor_step, make_trainer, paper_setting, time_it, trainer_seconds
from sflaudit.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="1,3,11,17")
    ap.add_argument("--modes", default="client,original")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="a seconds-long check that the script runs: width 0.125, "
                    "B 4, K 256, the embedded photos, one warm-up call per timed function")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    overrides, dataset, warmup = (TINY, "photos", 1) if args.tiny else ((), None, None)
    cfg = load_config(preset=PAPER_PRESET, overrides=[f'data.dataset="{dataset or dataset_spec()}"', *overrides])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {paper_setting(cfg)}")
    print("trainer s/step = Trainer.train_step + its share of the syncs (11 per 125 steps); ratio = floor / trainer")
    print("per-client floor = the same, with the client part as 5 separate weight copies on their own rows")
    print(f"{'depth':>5} {'mode':>8} {'prec':>5} {'trainer s/step':>15} {'(sync s)':>9} {'floor s/step':>13} "
          f"{'ratio':>6} {'vs fp32 floor':>14} {'per-client floor':>17} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for depth in [int(d) for d in args.depths.split(",")]:
            for mode in args.modes.split(","):
                fp32_floor = None
                for prec in args.precisions.split(","):
                    t = make_trainer(depth, mode, prec, args.channels_last, Path(tmp) / f"{depth}{mode}{prec}",
                                     dataset=dataset, overrides=overrides)
                    trainer_s, sync_s = trainer_seconds(t, args.steps, warmup)
                    floor_s = time_it(floor_step(t, prec), args.steps, warmup)
                    pc_floor_s = time_it(floor_step(t, prec, per_client=True), args.steps, warmup)
                    if prec == "fp32":
                        fp32_floor = floor_s
                    vs = f"{fp32_floor / trainer_s:.2f}x" if fp32_floor else "-"
                    print(f"{depth:>5} {mode:>8} {prec:>5} {trainer_s:>15.3f} {sync_s:>9.3f} {floor_s:>13.3f} "
                          f"{floor_s / trainer_s:>6.2f} {vs:>14} {pc_floor_s:>17.3f} {pc_floor_s / trainer_s:>6.2f}",
                          flush=True)
                    del t


if __name__ == "__main__":
    main()
