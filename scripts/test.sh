#!/usr/bin/env bash
# Quick start 2: install what is needed, build, and run every test: unit tests (normal and
# under ASan+UBSan), the libFuzzer targets for a bounded time, and the integration tests that
# drive the built daemon with real clients on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

jobs=$(nproc)
# Clones in other folders still hit the compiler cache.
export CCACHE_BASEDIR="$PWD"
step() { printf '\n=== %s\n' "$*"; }

step "clang-format"
git ls-files -- '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

step "build (-Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEALPOST_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

step "unit tests"
ctest --test-dir build --output-on-failure -j "$jobs"

step "unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSEALPOST_WERROR=ON \
  -DSEALPOST_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

if [[ -x tests/fuzz/run.sh ]]; then
  step "fuzzers (${FUZZ_SECONDS:-20}s each)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-20}" tests/fuzz/run.sh
fi

step "integration tests"
SEALPOST_BUILD_DIR="$PWD/build" /usr/bin/python3 -m pytest -q tests/integration
