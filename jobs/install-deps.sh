#!/usr/bin/env bash
# Installs the Debian 12 packages bert-pretrain needs, if any is missing (idempotent).
# As root it runs apt-get itself; otherwise it prints the command for an administrator.
set -euo pipefail
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev libssl-dev zlib1g-dev libdeflate-dev pkg-config "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v swift >/dev/null; then
  echo "warning: no swift on PATH; install a Swift 6 toolchain for Linux from https://swift.org/install" >&2
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "ask an administrator to run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
