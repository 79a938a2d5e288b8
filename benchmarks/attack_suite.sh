#!/usr/bin/env bash
# The attack-suite table of docs/results.md: real CIFAR-10, the cifar10-cpu budget (stated in its preset), MonAcoSFL,
# depths 1, 5, 9, 13, 17; the four inversion attacks (prior, decoder, hybrid, substitute) on
#   trained/  client 0 of each depth's finished run (a report sweep: train, evaluate, attack), and
#   init/     the same network at its random initialisation (the run's seed, before any step).
#   bash benchmarks/attack_suite.sh [OUT_DIR]     (resumable: finished cells and attacks are skipped;
#   DEPTHS=1,17 EPOCHS=10 narrow it)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
BENCH=$(dirname "$0")
OUT=${1:-runs/attack_suite}
DEPTHS=${DEPTHS:-1,5,9,13,17}
EPOCHS=${EPOCHS:-10}
ATTACKS=(prior decoder hybrid substitute)
sflaudit report --preset cifar10-cpu --depths "$DEPTHS" --methods monacosfl --attacks "$(IFS=,; echo "${ATTACKS[*]}")" \
  --set attack.epochs="$EPOCHS" --jobs 0 --runs "$OUT/trained" --out "$OUT/trained/report.html"
python "$BENCH/init_checkpoint.py" --preset cifar10-cpu --method monacosfl --depths "$DEPTHS" --out "$OUT/init"
# Two depths at a time, one torch thread each; an attack whose result (same settings) is already there is kept.
for d in ${DEPTHS//,/ }; do echo "$d"; done | OMP_NUM_THREADS=1 BENCH="$BENCH" OUT="$OUT" EPOCHS="$EPOCHS" \
  ATTACKS="${ATTACKS[*]}" xargs -P 2 -I{} bash -c '
  for a in $ATTACKS; do python "$BENCH/invert_once.py" "$OUT/init/d{}" --attack "$a" --epochs "$EPOCHS"; done'
python "$BENCH/attack_suite.py" "$OUT"
