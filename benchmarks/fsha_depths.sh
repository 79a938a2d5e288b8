#!/usr/bin/env bash
# The active server on real CIFAR-10: the cifar10-cpu preset (MocoSFL, 252 steps) at depths 1, 5, 9, 13 and 17,
# each trained by an honest server and by a hijacking one (FSHA, attacker.kind=fsha), with the clients' canary
# detector on (defence.canary=10: 2 canary rows per client every 10th step) in both. Attacks: the prior, the
# decoder (10 epochs) and, on the hijacked cells, FSHA's own decoder. Resumable: the report skips finished cells.
#   bash benchmarks/fsha_depths.sh [RUNS_FOLDER]        (default runs/fsha)
# Feeds docs/results.md "FSHA against the honest worst case". 45 min on a 2-core CPU as two copies side by side
# (DEPTHS=17,13,9,5 for the second), each with --set run.threads=1.
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-runs/fsha}"
shift || true                       # further arguments go to sflaudit report (e.g. --set run.threads=1)
sflaudit report --preset cifar10-cpu --set "data.dataset=npz:$root/../shared/data/cifar10" --methods mocosfl \
  --depths "${DEPTHS:-1,5,9,13,17}" --vary attacker.kind=none,fsha --set defence.canary=10 \
  --attacks prior,decoder --set attack.epochs=10 --runs "$runs" --out "$runs/report.html" "$@"
