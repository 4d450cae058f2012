#!/usr/bin/env bash
# Makes sure the machine has Postgres server binaries (/usr/lib/postgresql/*/bin) for the tests' throwaway clusters.
# Nothing is started here: the test harness runs initdb and pg_ctl in a temporary directory.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${GROVE_PG_BIN:-}" ]; then
  exit 0
fi
echo "==> installing the Postgres server from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package's own cluster is not needed; policy-rc.d stops it from being started where that is possible.
$SUDO apt-get install -y -qq postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
