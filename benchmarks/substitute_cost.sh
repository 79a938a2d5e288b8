#!/usr/bin/env bash
# The substitute attack's cost against the decoder attack's at the default settings (the cifar10-cpu preset's
# attack section: 30 decoder epochs, patience 12, attack.substitute_budget 0.75) on the random-init cells of
# benchmarks/attack_suite.sh: real CIFAR-10, MonAcoSFL, depths 1, 5, 9, 13, 17, one torch thread per attack, two
# depths side by side (deep ones first).
#   bash benchmarks/substitute_cost.sh [OUT_DIR]     (resumable: an attack whose result is already there is kept)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
BENCH=$(dirname "$0")
OUT=${1:-runs/substitute_cost}
DEPTHS=${DEPTHS:-17,13,9,5,1}
python "$BENCH/init_checkpoint.py" --preset cifar10-cpu --method monacosfl --depths "$DEPTHS" --out "$OUT/init"
for d in ${DEPTHS//,/ }; do echo "$d"; done | OMP_NUM_THREADS=1 BENCH="$BENCH" OUT="$OUT" xargs -P 2 -I{} bash -c '
  for a in decoder substitute; do python "$BENCH/invert_once.py" "$OUT/init/d{}" --attack "$a"; done'
python "$BENCH/attack_suite.py" "$OUT"
