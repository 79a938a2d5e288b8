#!/usr/bin/env bash
# GPU check: on one CUDA GPU, (a) `sflaudit train --preset smoke` on CUDA against the CPU (losses, final loss and kNN
# within stated tolerances), (b) trainer s/step at the paper's width against the raw-PyTorch floor, (c) bf16 against
# fp32 autocast, (d) peak memory. Capped at 5 minutes; exits non-zero when anything fails. Nothing is downloaded.
#   bash benchmarks/gpu_check.sh [--depths 1,11] [--steps 20]
#   bash benchmarks/gpu_check.sh --dry        (or GPU_CHECK_DRY=1: the same code on the CPU with tiny sizes, seconds)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
cd "$(dirname "$0")/.."
exec timeout --kill-after=10 "${GPU_CHECK_TIMEOUT:-300}" python benchmarks/gpu_check.py "$@"
