#!/usr/bin/env bash
# Makes sure the machine has HAProxy (Debian's package): the multi-controller e2e tests put it in front of several
# controller replicas in TCP mode on loopback, as operators do. Nothing is started here, and the package's own service
# is not needed (the tests run their own haproxy processes with their own configuration).
set -euo pipefail
if [ -x /usr/sbin/haproxy ]; then
  exit 0
fi
echo "==> installing HAProxy from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq haproxy >/dev/null
test -x /usr/sbin/haproxy
