#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, build, lint, type-check, format check, unit + integration + e2e tests.
# Extra arguments go to Jest, e.g. `npm test -- --selectProjects resources`.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true SCARF_ANALYTICS=false
bash scripts/ensure-deps.sh
bash scripts/ensure-postgres.sh
bash scripts/ensure-openssh-client.sh
bash scripts/ensure-haproxy.sh
bash scripts/ensure-prometheus.sh
bash scripts/ensure-chromium.sh
echo "==> build"
npm run --silent build
echo "==> lint"
npx nx show projects >/dev/null # the module-boundary rule reads Nx's project graph
npm run --silent lint
echo "==> type-check (sources and tests)"
npm run --silent typecheck
echo "==> format"
npx prettier --check . --log-level warn
echo "==> tests"
npx jest --ci --maxWorkers=2 "$@"
bash scripts/test-compose.sh # the docker compose deployment, built and run for real (its own stage, named in its output)
