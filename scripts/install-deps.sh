#!/usr/bin/env bash
# Installs the Debian 12 packages Sealpost needs, only those missing.
#   scripts/install-deps.sh build   # to build and run sealpostd
#   scripts/install-deps.sh test    # plus everything the test suite drives
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config ccache openssl
  libssl-dev libasio-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
)
test_pkgs=(
  libgtest-dev clang-14 libclang-rt-14-dev clang-format
  python3 python3-pytest swaks curl msmtp gsasl
)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == "test" ]]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
