#!/usr/bin/env bash
# Installs, builds and starts a development cluster: controller on the embedded database, synthetic workers, a `dev` CLI context.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
echo "==> build"
npm run --silent build
# Two synthetic workers unless the arguments say otherwise (a later --workers wins).
exec node apps/cli/dist/main.js dev --workers 2 "$@"
