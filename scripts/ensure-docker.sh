#!/usr/bin/env bash
# Makes sure the machine has what the compose stage (scripts/test-compose.sh) needs: Debian's Docker engine
# (docker.io: dockerd, containerd, runc, iptables), docker-compose (1.29, the Python one Debian ships) and debootstrap
# (for local base images where no container registry answers). Nothing is started here, and the package's own
# service is not used: the compose stage runs a private dockerd of its own.
set -euo pipefail
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "==> installing ${missing[*]} from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d, where the machine has one, keeps the package's own docker service from starting.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v debootstrap >/dev/null
