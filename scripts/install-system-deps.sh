#!/usr/bin/env bash
# Installs the Debian packages that tests and benchmarks talk to, when missing and when we can (root).
# Usage: scripts/install-system-deps.sh [package ...]   (default: what `npm test` needs)
set -uo pipefail
want=("$@")
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) and run again" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
