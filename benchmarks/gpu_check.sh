#!/usr/bin/env bash
# label_model end to end on CUDA (EfficientNet-Lite0 and ResNet-50, 1000 photos) against the CPU run.
# Prints probe / captioning / total times, peak GPU memory, and how many labels equal the CPU's.
# On a machine without CUDA it says so and exits 0. Extra arguments go to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736
exec "${PYTHON:-python}" benchmarks/gpu_check.py "$@"
