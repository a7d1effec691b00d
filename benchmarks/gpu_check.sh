#!/usr/bin/env bash
# One prepared GPU check (issue 11): the `paper` model (random-init VGG-16)
# trained for a fixed number of steps with float32, mixed precision and
# mixed precision + XLA (images/s and reviews/s of each), plus Transform
# throughput at 320 px. See benchmarks/gpu_check.py.
#
# Usage: benchmarks/gpu_check.sh [--steps N] [--warmup N] [--batch-size N]
#                                [--users N] [--images N] [--out DIR]
# The same settings by environment (flags win): STEPS, WARMUP, BATCH, USERS,
# IMAGES, OUT; PYTHON picks the interpreter (default .venv/bin/python).
# On a CPU-only machine, STEPS=2 BATCH=2 WARMUP=1 is a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3)"
args=()
[[ -n "${STEPS:-}" ]] && args+=(--steps "$STEPS")
[[ -n "${WARMUP:-}" ]] && args+=(--warmup "$WARMUP")
[[ -n "${BATCH:-}" ]] && args+=(--batch-size "$BATCH")
[[ -n "${USERS:-}" ]] && args+=(--users "$USERS")
[[ -n "${IMAGES:-}" ]] && args+=(--images "$IMAGES")
[[ -n "${OUT:-}" ]] && args+=(--out "$OUT")
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
else
  echo "nvidia-smi not found: running on CPU"
fi
export TF_USE_LEGACY_KERAS=0 TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PY" -m benchmarks.gpu_check "${args[@]}" "$@"
