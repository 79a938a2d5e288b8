#!/usr/bin/env bash
# The substitute attack's cost against the decoder attack's at the default settings (the cifar10-cpu preset's
# attack section: 30 decoder epochs, patience 12, attack.substitute_budget 0.75) on the random-init cells of
# benchmarks/attack_suite.sh: real CIFAR-10, MonAcoSFL, depths 1, 5, 9, 13, 17, one torch thread per attack, two
# depths side by side (deep ones first).
#   bash benchmarks/substitute_cost.sh [OUT_DIR]     (resumable: an attack already in its run directory is skipped)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
OUT=${1:-runs/substitute_cost}
DEPTHS=${DEPTHS:-17,13,9,5,1}
python "$(dirname "$0")/init_checkpoint.py" --preset cifar10-cpu --method monacosfl --depths "$DEPTHS" --out "$OUT/init"
for d in ${DEPTHS//,/ }; do echo "$d"; done | OMP_NUM_THREADS=1 xargs -P 2 -I{} bash -c '
  for a in decoder substitute; do
    compgen -G "'"$OUT"'/init/d{}/attacks/$a-*/invert.json" >/dev/null && continue
    sflaudit invert --checkpoint "'"$OUT"'/init/d{}/best.pt" --attack "$a" --quiet >/dev/null
  done'
python "$(dirname "$0")/attack_suite.py" "$OUT"
