#!/usr/bin/env bash
# Set up (Debian packages), build, and run every test. README command 2; .ci/run calls it.
#   scripts/test.sh              all tests (GPU tests skip without a GPU)
#   scripts/test.sh -L radiomics only tests with that ctest label (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
jobs=$(nproc)
cmake -S . -B build
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" "$@"
