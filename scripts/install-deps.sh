#!/usr/bin/env bash
# Installs the Debian 12 packages Sealpost needs, only those missing.
#   scripts/install-deps.sh build   # to build and run sealpostd
#   scripts/install-deps.sh test    # plus everything the test suite drives
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config ccache openssl
  libssl-dev libasio-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
  libunbound-dev dns-root-data nlohmann-json3-dev libcurl4-openssl-dev
)
test_pkgs=(
  libgtest-dev clang-14 libclang-rt-14-dev clang-format
  python3 python3-pytest python3-aiosmtpd swaks curl msmtp gsasl
  postfix sasl2-bin libsasl2-modules nsd unbound unbound-anchor ldnsutils knot-dnsutils dovecot-core dovecot-lmtpd
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
# The tests run private instances of postfix, nsd, unbound and dovecot on loopback ports of
# their own; the system services these packages would start (nsd and unbound both on port 53)
# are not wanted, so a policy-rc.d stops maintainer scripts from starting them.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Postfix is only ever run as private instances (postfix -c DIR); the system one stays unconfigured.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
