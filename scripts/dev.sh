#!/usr/bin/env bash
# Installs, builds and starts a development controller on the embedded database, with a `dev` CLI context.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
echo "==> build"
npm run --silent build
exec node apps/cli/dist/main.js dev "$@"
