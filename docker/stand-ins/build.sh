#!/usr/bin/env bash
# Builds local stand-ins for the base images Grove's Dockerfile and compose files name, for a Docker engine that
# reaches no container registry but whose machine reaches a Debian archive (through apt's own configuration):
#   node:20-bookworm-slim  Debian 12 (debootstrap, minbase) + this machine's Node.js and npm
#   postgres:15            Debian 12 + postgresql-15, with an entrypoint honouring the official image's variables
#   haproxy:2.8            Debian 12 + haproxy (2.6), started as the official image starts it
# All three come from one Debian base, grove-stand-in/debian:bookworm, which carries this machine's CA bundle (a TLS
# proxy between the build and the npm registry is trusted inside the image exactly as it is here).
#
# Usage: docker/stand-ins/build.sh WORK_DIR   (as root, for debootstrap; DOCKER names the client, default docker).
# WORK_DIR receives the root file system and build contexts; remove it afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: $0 WORK_DIR}
docker=${DOCKER:-docker}
base=grove-stand-in/debian:bookworm
mkdir -p "$work"

step() { printf '    %-44s' "$1"; }
done_in() { echo "$(($(date +%s) - $1)) s"; }

# The machine's own Debian mirror (apt's configuration); debootstrap's default when apt names none.
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" { print $1; exit }')
ca_bundle=/etc/ssl/certs/ca-certificates.crt
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
node_version=$("$node_bin" --version)
case "$node_version" in
  v20.*) ;;
  *) echo "    note: this machine's Node.js is $node_version; the node:20-bookworm-slim stand-in carries it" ;;
esac

start=$(date +%s)
step "debootstrap bookworm (minbase)"
rootfs="$work/rootfs"
rm -rf "$rootfs"
if ! debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1; then
  echo "failed"
  tail -20 "$work/debootstrap.log" >&2
  exit 1
fi
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || {
  mkdir -p "$rootfs/etc/ssl/certs" && cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
}
# Nothing the images need: downloaded packages, documentation.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
done_in "$start"

start=$(date +%s)
step "import $base"
# NODE_EXTRA_CA_CERTS: Node.js reads its own CA list, not the system's; with it, npm trusts what the machine trusts.
tar -C "$rootfs" -c . | "$docker" import \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["bash"]' - "$base" >/dev/null
rm -rf "$rootfs"
done_in "$start"

build() {
  local tag=$1 context=$2
  local start
  start=$(date +%s)
  step "build $tag"
  if ! DOCKER_BUILDKIT=0 "$docker" build -q --build-arg "BASE=$base" -t "$tag" "$context" >"$work/build-${tag%%:*}.log" 2>&1; then
    echo "failed"
    tail -30 "$work/build-${tag%%:*}.log" >&2
    exit 1
  fi
  done_in "$start"
}

node_context="$work/node"
rm -rf "$node_context"
mkdir -p "$node_context"
cp "$here/node/Dockerfile" "$node_context/"
cp "$node_bin" "$node_context/node"
cp -r "$npm_dir" "$node_context/npm"
build node:20-bookworm-slim "$node_context"
rm -rf "$node_context"
build postgres:15 "$here/postgres"
build haproxy:2.8 "$here/haproxy"
