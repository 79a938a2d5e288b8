#!/usr/bin/env bash
# The decoder attack's leakage curve over the attacker's auxiliary budget (docs/results.md): real CIFAR-10, the
# cifar10-cpu network (MonAcoSFL) at its random initialisation, depths 1 and 13, auxiliary sets of 0.1 %, 1 % and
# 10 % of the 50,000-image training split (50, 500, 5,000 images). Every cell gets about the same optimisation budget
# (at most ~600 Adam steps of batch 32: 300, 40 and 5 epochs), so the curve measures data, not compute; each stops
# early by the default rule (8 epochs without a better validation loss, an epoch counting as at least 15 batches).
# The prior runs once per budget, at depth 13 (it never looks at the activation, only at its shape).
#   bash benchmarks/aux_budget.sh [OUT_DIR]    (resumable: an attack whose result is already there is kept)
#   python benchmarks/aux_budget.py OUT_DIR    (the table alone)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
BENCH=$(dirname "$0")
OUT=${1:-runs/aux_budget}
python "$BENCH/init_checkpoint.py" --preset cifar10-cpu --method monacosfl --depths 1,13 --out "$OUT/init"
# One line per attack: depth, attack, aux fraction, epochs, patience; most expensive first, two at a time, one
# thread each.
CELLS="1 decoder 0.1 5 8
1 decoder 0.01 40 8
1 decoder 0.001 300 8
13 decoder 0.1 5 8
13 decoder 0.01 40 8
13 decoder 0.001 300 8
13 prior 0.1 5 8
13 prior 0.01 40 8
13 prior 0.001 300 8"
# An attack whose result (same settings) is already in its run directory is kept (benchmarks/invert_once.py).
echo "$CELLS" | OMP_NUM_THREADS=1 OUT="$OUT" BENCH="$BENCH" xargs -P 2 -L 1 sh -c '
  python "$BENCH/invert_once.py" "$OUT/init/d$0" --attack "$1" --aux-fraction "$2" --epochs "$3" --patience "$4"'
python "$BENCH/aux_budget.py" "$OUT"
