"""Seconds per training step of the paper's 20-client ResNet-18 setting, next to the raw-PyTorch equal-work floor.

Setting (protocol §7.1): 5 sampled clients × batch 20, K 6000, MoCo V2. For each depth, symmetric mode and precision
the script times ``Trainer.train_step`` (augmentation, per-client forward, metered wire, server step, per-client
backward and SGD) and a floor: one monolithic network (client + server + projector) doing the same rows in one go —
forward and backward on the query rows, a no-grad forward on the key rows, and for the ``original`` mode the
server-only second loss term — followed by one SGD step. Throughput ratio = floor seconds / trainer seconds (1.0 = no
overhead). A second, per-client floor runs the client part as 5 separate weight copies, each on its own rows (what
the protocol requires: clients do not share weights); the gap between the two floors is the cost of per-client
weights (small-batch convolutions, weight standardisation per model), not of the trainer.

Warm-up. Every timed function is first warmed up until one call takes fewer than 2,000 minor page faults (the heap
has reached its steady size; at most 8 calls), so one-off first-touch costs do not count as per-step overhead.

Paired, interleaved timing. After the warm-up the three steps (trainer, monolithic floor, per-client floor) are
timed interleaved: ``--repeats R`` repetitions, each of ``--steps N`` rounds, each round one call of every step in
an order that cycles through all 6 orders of the three (shuffled once with ``--seed``, so none always goes first).
A repetition's seconds per step are the median of its N calls; the trainer's include its share of the syncs (one
``Trainer.sync`` timed per repetition × 11 syncs per 125 steps). A repetition's ratio divides its floor seconds by
its own trainer seconds, so a slow moment of the (shared) machine slows both sides of the ratio. Per row the table
gives the median over the R repetitions of the seconds per step and of each ratio, the ratio's 95 % confidence
interval for the median — distribution-free, from order statistics (the sign-test interval: ranks from
``scipy.stats.binom.ppf``; ``common.ratio_summary``) — and its inter-quartile range, and a verdict on
"ratio ≥ 0.97": ``yes`` (interval at or above 0.97), ``no`` (below), ``can't tell`` (it straddles 0.97, or R < 6
repetitions, too few for a 95 % interval).

Run with the allocator settings the project uses:
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \\
        python benchmarks/train_step.py --depths 1,3,11,17 --precisions fp32          # R 7 × N 1
    python benchmarks/train_step.py --tiny --depths 1 --modes client --precisions fp32 --steps 1 --repeats 3  # seconds

Options: ``--depths``, ``--modes`` (symmetric: client, original), ``--precisions`` (fp32, bf16), ``--steps N``
(timed calls of each step per repetition, default 1), ``--repeats R`` (repetitions, default 7; 9 or more narrow the
interval to order statistics 2 and R − 1), ``--seed`` (the call orders, default 0), ``--channels-last``, ``--tiny``.

The trainer, the floors, the timing and the ratio statistics live in ``benchmarks/common.py``
(``benchmarks/gpu_check.py`` times the same step on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from common import (PAPER_PRESET, TINY, RatioSummary, balanced_orders, dataset_spec, floor_step, make_trainer,
                    paper_setting, ratio_summary, sync_share, time_call, warm_up)
from sflaudit.config import load_config

THRESHOLD = 0.97     # the target: the trainer within 3 % of its floor
CONFIDENCE = 0.95


def _ratio_cells(s: RatioSummary) -> list[str]:
    return [f"{s.median:.3f} [{s.low:.3f}, {s.high:.3f}]", f"{s.q1:.3f}–{s.q3:.3f}", s.verdict]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="1,3,11,17")
    ap.add_argument("--modes", default="client,original")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--steps", type=int, default=1, help="timed calls of each step per repetition (their median)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repetitions; the table gives their medians")
    ap.add_argument("--seed", type=int, default=0, help="seed of the order of the three steps in each round")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="a seconds-long check that the script runs: width 0.125, "
                    "B 4, K 256, the embedded photos, one warm-up call per timed function")
    args = ap.parse_args()
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be at least 1")
    torch.set_num_threads(torch.get_num_threads())
    overrides, dataset, warmup = (TINY, "photos", 1) if args.tiny else ((), None, None)
    cfg = load_config(preset=PAPER_PRESET, overrides=[f'data.dataset="{dataset or dataset_spec()}"', *overrides])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {paper_setting(cfg)}")
    print("trainer s/step = Trainer.train_step + its share of the syncs (11 per 125 steps); ratio = floor / trainer")
    print("per-client floor = the same, with the client part as 5 separate weight copies on their own rows")
    rank_note = ratio_summary([(1.0, 1.0)] * args.repeats, threshold=THRESHOLD, confidence=CONFIDENCE)
    print(f"interleaved: {args.repeats} repetitions × {args.steps} round{'s' * (args.steps != 1)} of (trainer, "
          f"monolithic floor, per-client "
          f"floor) in balanced orders (seed {args.seed}); each repetition's ratio = its floor s ÷ its own trainer s")
    print(f"medians over the repetitions; [interval] = distribution-free CI for the median ratio from order "
          f"statistics {rank_note.rank} and {args.repeats + 1 - rank_note.rank} (sign test, scipy.stats.binom), "
          f"coverage {100 * rank_note.coverage:.1f} % (nominal {100 * CONFIDENCE:g} %); IQR = quartiles of the "
          f"ratios; ≥ {THRESHOLD}: yes / no / can't tell (interval straddles {THRESHOLD} or coverage "
          f"< {100 * CONFIDENCE:g} %)")
    print()
    print("| depth | mode | precision | trainer s/step | sync s | monolithic floor s/step | monolithic ratio [CI] "
          f"| monolithic IQR | monolithic ≥ {THRESHOLD} | per-client floor s/step | per-client ratio [CI] "
          f"| per-client IQR | per-client ≥ {THRESHOLD} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for depth in [int(d) for d in args.depths.split(",")]:
            for mode in args.modes.split(","):
                for prec in args.precisions.split(","):
                    t = make_trainer(depth, mode, prec, args.channels_last, Path(tmp) / f"{depth}{mode}{prec}",
                                     dataset=dataset, overrides=overrides)
                    fns = [t.train_step, floor_step(t, prec), floor_step(t, prec, per_client=True)]
                    for fn in fns:   # each to its steady heap before any timing
                        if warmup is None:
                            warm_up(fn)
                        for _ in range(warmup or 0):
                            fn()
                    orders = balanced_orders(len(fns), args.repeats * args.steps, args.seed)
                    per_rep: list[list[float]] = []   # per repetition: trainer s (with syncs), sync s, floors s
                    for r in range(args.repeats):
                        calls: list[list[float]] = [[] for _ in fns]
                        for order in orders[r * args.steps:(r + 1) * args.steps]:
                            for i in order:
                                calls[i].append(time_call(fns[i], t.device))
                        sync_s = time_call(t.sync, t.device)
                        trainer_s, floor_s, pc_floor_s = (statistics.median(c) for c in calls)
                        per_rep.append([trainer_s + sync_s * sync_share(t), sync_s, floor_s, pc_floor_s])
                    trainer, sync, floor, pc_floor = ([rep[j] for rep in per_rep] for j in range(4))
                    mono = ratio_summary(list(zip(trainer, floor)), threshold=THRESHOLD, confidence=CONFIDENCE)
                    pc = ratio_summary(list(zip(trainer, pc_floor)), threshold=THRESHOLD, confidence=CONFIDENCE)
                    cells = [str(depth), mode, prec, f"{statistics.median(trainer):.3f}",
                             f"{statistics.median(sync):.3f}", f"{statistics.median(floor):.3f}", *_ratio_cells(mono),
                             f"{statistics.median(pc_floor):.3f}", *_ratio_cells(pc)]
                    print("| " + " | ".join(cells) + " |", flush=True)
                    del t, fns


if __name__ == "__main__":
    main()
