#!/usr/bin/env bash
# Makes sure the machine has Chromium (Debian's package): the web console's browser tests drive it headless through
# playwright-core (issue 16). Quiet when it is already there, or when GROVE_CHROMIUM names the binary the tests use.
set -euo pipefail
if [ -x "${GROVE_CHROMIUM:-/usr/bin/chromium}" ]; then
  exit 0
fi
echo "==> installing Chromium from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Without recommends: the browser tests need neither the desktop integration nor the extra fonts' configuration tools.
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
