#!/usr/bin/env bash
# Installs the Debian packages Squall needs to build, test and run. Idempotent and quiet when
# everything is already there. Needs root (or sudo) only when something is missing.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev libsodium-dev liblmdb-dev lmdb-utils libcmocka-dev
  libibverbs-dev librdmacm-dev
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libinih-dev
  iproute2 procps tmux bsdextrautils
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
