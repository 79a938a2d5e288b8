#!/usr/bin/env bash
# A user's own network on real CIFAR-10: the cifar10-cpu preset with model.arch = cifar_vgg:vgg11_quarter (the module
# benchmarks/cifar_vgg.py, imported through PYTHONPATH), cuts after convs 1, 3, 5 and 7, both methods, two seeds (SEEDS=…), the
# prior and decoder attacks at 10 epochs, membership. Resumable: the report skips finished cells.
#   bash benchmarks/usernet_sweep.sh [RUNS_FOLDER]        (default runs/usernet)
# Feeds docs/results.md "A user's network on CIFAR-10". 15 min for SEEDS=1 with --set run.threads=1 beside
# another job on a 2-core CPU.
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-runs/usernet}"
shift || true                       # further arguments go to sflaudit report (e.g. --set run.threads=1)
export PYTHONPATH="$root/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
sflaudit report --preset cifar10-cpu --set "data.dataset=npz:$root/../shared/data/cifar10" \
  --set model.arch=cifar_vgg:vgg11_quarter --set model.width=1 --depths "${DEPTHS:-1,3,5,7}" --seeds "${SEEDS:-2}" \
  --attacks prior,decoder --set attack.epochs=10 --runs "$runs" --out "$runs/report.html" "$@"
