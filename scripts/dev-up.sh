#!/usr/bin/env bash
# Quick start 1: install what is needed, build, and start sealpostd on its embedded default
# (loopback ports 10465/10587/10025, a generated certificate, mailbox demo@localhost, state
# in ./sealpost-state). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEALPOST_TESTS=OFF >/dev/null
cmake --build build-dev --target sealpostd sealpost
exec build-dev/src/daemon/sealpostd --state-dir "${SEALPOST_STATE_DIR:-sealpost-state}" "$@"
