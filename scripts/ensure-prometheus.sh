#!/usr/bin/env bash
# Makes sure the machine has Prometheus (Debian's package): the metrics e2e test runs its own prometheus process on a
# loopback port, scraping a dev cluster, and checks the Grafana dashboard's queries against it (issue 14). The
# package's own service (all interfaces, port 9090, /var/lib/prometheus) is not wanted: where installing started it,
# it is stopped and disabled again.
set -euo pipefail
if [ -x /usr/bin/prometheus ]; then
  exit 0
fi
echo "==> installing Prometheus from Debian packages"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Without recommends: the node exporter and the other exporters would come with services of their own.
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1
elif [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
  $SUDO /etc/init.d/prometheus stop >/dev/null
  $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
fi
test -x /usr/bin/prometheus
