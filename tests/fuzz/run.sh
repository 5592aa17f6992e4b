#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (SEALPOST_FUZZ=ON: src/smtp + tests/fuzz only) and
# runs each for FUZZ_SECONDS (default 30) on a temporary copy of its seed corpus, so the checked-in
# corpus stays small. Exits non-zero on a crash; reproducers are kept in build-fuzz/artifacts/.
# Usage: tests/fuzz/run.sh [fuzzer...]   env: FUZZ_SECONDS, FUZZ_BUILD_DIR, FUZZ_JOBS
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-30}
build=${FUZZ_BUILD_DIR:-build-fuzz}
fuzzers=("$@")
[ ${#fuzzers[@]} -eq 0 ] && fuzzers=(session_fuzz address_fuzz sasl_fuzz client_fuzz client_reuse_fuzz rdata_fuzz xtext_fuzz mta_sts_fuzz spool_log_fuzz)

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DSEALPOST_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${fuzzers[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$(cd "$build" && pwd)/artifacts"
mkdir -p "$artifacts"
status=0
for fuzzer in "${fuzzers[@]}"; do
  name=${fuzzer%_fuzz}
  corpus="$work/$name"
  mkdir -p "$corpus"
  [ -d "tests/fuzz/corpus/$name" ] && cp -R "tests/fuzz/corpus/$name/." "$corpus/"
  args=(-max_total_time="$seconds" -artifact_prefix="$artifacts/$fuzzer-" -print_final_stats=1)
  [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
  [ "$name" = session ] && args+=(-max_len=6000)
  [ "$name" = rdata ] && args+=(-max_len=600)  # RDATA is at most 65535, names 255
  [ "$name" = mta_sts ] && args+=(-max_len=4096)  # every prefix is parsed: keep it quadratic-cheap
  echo "== $fuzzer: ${seconds}s, corpus $(ls "$corpus" | wc -l) files"
  if ! "$build/tests/fuzz/$fuzzer" "${args[@]}" "$corpus" >"$work/$fuzzer.log" 2>&1; then
    status=1
    echo "!! $fuzzer FAILED; reproducer in $artifacts/"
    tail -n 60 "$work/$fuzzer.log"
  else
    grep -E "^#[0-9]+[[:space:]]" "$work/$fuzzer.log" | tail -n 1 || true
    grep -E "^(stat::|Done)" "$work/$fuzzer.log" || true
  fi
done
exit "$status"
