#!/usr/bin/env bash
# Makes sure the machine has the stock OpenSSH client (ssh, scp, ssh-keygen): the SSH gateway's e2e tests drive the
# controller with them, as users do (`ssh -J`).
set -euo pipefail
if command -v ssh >/dev/null 2>&1 && command -v scp >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
  exit 0
fi
echo "==> installing the OpenSSH client from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq openssh-client >/dev/null
command -v ssh >/dev/null
