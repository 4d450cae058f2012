#!/usr/bin/env bash
# Regenerates the TypeScript types of the controller↔worker and replica↔replica protocols into libs/proto/src/gen (or into $1).
# libs/proto/src/worker-protocol.spec.ts fails when the committed files differ from what this produces.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-libs/proto/src/gen}"
rm -rf "$out"
node_modules/.bin/proto-loader-gen-types --keepCase --longs=String --defaults --oneofs --includeComments \
  --grpcLib=@grpc/grpc-js -O "$out" grove/worker/v1/worker.proto grove/controller/v1/replica.proto \
  -I libs/proto/proto 2>&1 | grep -v 'alpha' || true
test -f "$out/worker.ts" && test -f "$out/replica.ts"
