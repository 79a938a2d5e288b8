#!/usr/bin/env bash
# The defence table of docs/results.md: real CIFAR-10, the cifar10-cpu budget (stated in its preset), depth 5,
# MonAcoSFL, the default attacks (prior, decoder, hybrid; worst case = privacy axis). One report per defence family,
# each in its own runs folder, so any family can be rerun or extended alone; then one table of all cells.
#   bash benchmarks/defence_table.sh [OUT_DIR]        (resumable: finished cells are not retrained;
#   FAMILIES_RUN="noise dp" runs only those families)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
OUT=${1:-runs/defence}
COMMON=(--preset cifar10-cpu --depths 5 --methods monacosfl)
declare -A FAMILIES=(
  [noise]="defence.noise=0,0.1,0.3,1.0"
  [quantize]="defence.quantize=int8"
  [nopeek]="defence.nopeek=0.5,2"
  [bottleneck]="defence.bottleneck=C8S1"
  [dp]="defence.dp_epsilon=8"
)
for family in ${FAMILIES_RUN:-noise quantize nopeek bottleneck dp}; do
  mkdir -p "$OUT/$family"
  sflaudit report "${COMMON[@]}" --vary "${FAMILIES[$family]}" --runs "$OUT/$family" --out "$OUT/$family/report.html"
done
python "$(dirname "$0")/defence_table.py" "$OUT"
