#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCARF_ANALYTICS=false
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing npm dependencies (npm ci)"
  npm ci --no-fund --no-audit 2>&1 | grep -v 'Unknown user config "nodedir"' || { echo "npm ci failed" >&2; exit 1; }
fi
