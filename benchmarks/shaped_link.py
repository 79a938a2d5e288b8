"""Time model vs a real TCP run on a rate-limited loopback, at several rates (issue #16). Root only.

For each rate, a fresh network namespace's loopback is shaped with ``tc qdisc add dev lo root tbf rate R``; the
``smoke`` config (2 clients, both in every step, ResNet-18 width 0.125) trains over ``--transport tcp`` inside it,
for a few steps; the median seconds per step (the server's step timers after the first) are compared with the time
model's step (:mod:`sflaudit.profiles.shaped` says why the timers hold a whole cycle). Compute speed in the model:
the same runs on the unshaped loopback (:func:`sflaudit.profiles.shaped.workload_flops`), each process with one
thread.

    sudo env GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
        .venv/bin/python benchmarks/shaped_link.py [--rates 4Mbit,16Mbit] [--steps 6] [--depth 1]
"""

from __future__ import annotations

import argparse
import sys

from sflaudit.profiles.links import parse_link
from sflaudit.profiles.shaped import can_shape, validate, workload_flops

TOLERANCE = 0.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="4Mbit,16Mbit")
    parser.add_argument("--steps", type=int, default=6, help="steps of each timed run")
    parser.add_argument("--depth", type=int, default=1)
    args = parser.parse_args()
    reason = can_shape()
    if reason:
        print(f"error: the shaped-link benchmark {reason}", file=sys.stderr)
        return 2
    sets = ["eval.every=0", "eval.linear_epochs=0", "run.threads=1", f"model.depth={args.depth}"]
    flops = workload_flops(sets, args.steps)
    print(f"smoke, depth {args.depth}, 2 clients sharing one tbf loopback; compute {flops / 1e9:.2f} GFLOP/s "
          f"(this workload, unshaped loopback); {args.steps} steps per run")
    print("| rate | bytes/step (socket) | measured s/step | model s/step | error |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for text in args.rates.split(","):
        v = validate(parse_link(f"up={text},down={text},rtt=0ms").up_bps, sets, args.steps, flops=flops)
        worst = max(worst, abs(v.error))
        print(f"| {text} | {v.bytes_per_step:,.0f} | {v.measured:.3f} | {v.predicted:.3f} | {v.error:+.1%} |",
              flush=True)
    print(f"worst |error| {worst:.1%} ({'within' if worst <= TOLERANCE else 'outside'} {TOLERANCE:.0%})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
