#!/usr/bin/env bash
# The compose stage of `npm test` (issue 15): builds the controller image from docker/Dockerfile on a private Docker
# engine, runs docker/compose.yml and docker/compose.ha.yml for real and drives them from this host with the CLI, the
# stock OpenSSH client and a synthetic worker, through the published ports only (e2e/src/deploy/*.deploy-spec.ts say
# what is checked).
#
# Nothing outside one state directory is kept: at the end, whatever happens (success, failure, Ctrl-C), the
# containers, volumes, networks and images go with the daemon and its data root, and so do its bridges, its iptables
# chains and rules, and the kernel settings dockerd changed (ip_forward, the FORWARD policy). A run killed outright
# is cleaned up by the next one before it starts. Runs on one machine take turns (a lock): Docker's iptables chains
# have fixed names. The daemon is never the machine's own: its socket, data root and exec root are ours.
#
# GROVE_SKIP_COMPOSE_STAGE=1 skips the stage (it says so), for a quick `npm test` while working on something else.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${GROVE_SKIP_COMPOSE_STAGE:-}" = 1 ]; then
  echo "==> compose stage: SKIPPED (GROVE_SKIP_COMPOSE_STAGE=1); the deployment was not tested"
  exit 0
fi

STATE=/tmp/grove-compose-stage
SOCKET="$STATE/docker.sock"
BRIDGE=grove-cs0
BRIDGE_ADDRESS=10.212.0.1/24
# Networks compose creates come from here: one range that the cleanup can recognise as ours.
ADDRESS_POOL=10.213.0.0/16
OURS="$BRIDGE|10\.212\.0\.|10\.213\."
LOCK=/run/lock/grove-compose-stage.lock
# Debian's client, which matches its daemon, first on PATH for docker-compose and the specs too (a newer client
# elsewhere on PATH would build with BuildKit, which Debian's daemon lacks, or complain about its absence).
DOCKER=/usr/bin/docker
export DOCKER_HOST="unix://$SOCKET"
STAGE_START=$(date +%s)
SUMMARY=()

say() { echo "==> compose stage: $*"; }
elapsed() { echo "$(($(date +%s) - $1))"; }
note() { SUMMARY+=("$1"); }

docker_chains_exist() { iptables -t filter -n -L DOCKER >/dev/null 2>&1; }

# Deletes the iptables rules that name our bridges or address ranges, in both tables Docker writes.
delete_our_rules() {
  local table rule
  for table in filter nat; do
    iptables-save -t "$table" 2>/dev/null | grep -E -- "^-A .*($OURS${1:+|$1})" | while read -r rule; do
      eval "iptables -t $table ${rule/-A/-D}" 2>/dev/null || true
    done
  done
}

# Idempotent: safe on a half-started stage and on what a killed run left behind.
cleanup() {
  set +e
  local CHAINS_EXISTED=1 FORWARD_POLICY="" IP_FORWARD=""
  if [ -f "$STATE/host-settings" ]; then
    # shellcheck disable=SC1091 # written by this script before dockerd started
    . "$STATE/host-settings"
  fi
  if [ -S "$SOCKET" ] && timeout 5 "$DOCKER" version >/dev/null 2>&1; then
    local containers
    containers=$("$DOCKER" ps -aq)
    if [ -n "$containers" ]; then
      # shellcheck disable=SC2086 # one id per word
      timeout 60 "$DOCKER" rm -f -v $containers >/dev/null
    fi
    # Through the daemon, so that it takes down the networks' bridges and rules itself.
    timeout 60 "$DOCKER" network prune -f >/dev/null
    timeout 60 "$DOCKER" volume prune -f >/dev/null
  fi
  local pid
  if [ -f "$STATE/dockerd.pid" ]; then
    pid=$(cat "$STATE/dockerd.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  # containerd and container shims of our daemon (their command lines name our state directory), should the daemon
  # have died without stopping them.
  for pid in $(pgrep -f -- "$STATE/" 2>/dev/null); do
    [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
  done
  local mount
  for mount in $(awk -v state="$STATE" '$2 == state || index($2, state "/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$mount" 2>/dev/null
  done
  # Bridges of compose networks (our address pool) that a killed daemon left, then ours.
  local bridges chain
  bridges=$(ip -o -4 addr show 2>/dev/null | awk '$4 ~ /^10\.213\./ { print $2 }' | sort -u | paste -sd'|')
  if command -v iptables >/dev/null 2>&1; then
    delete_our_rules "$bridges"
    if [ "$CHAINS_EXISTED" = 0 ]; then
      iptables -t filter -D FORWARD -j DOCKER-USER 2>/dev/null
      iptables -t filter -D FORWARD -j DOCKER-ISOLATION-STAGE-1 2>/dev/null
      iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
      iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
      for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
        iptables -t filter -F "$chain" 2>/dev/null
      done
      for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
        iptables -t filter -X "$chain" 2>/dev/null
      done
      iptables -t nat -F DOCKER 2>/dev/null
      iptables -t nat -X DOCKER 2>/dev/null
    fi
    [ -n "$FORWARD_POLICY" ] && iptables -t filter -P FORWARD "$FORWARD_POLICY"
  fi
  [ -n "$IP_FORWARD" ] && echo "$IP_FORWARD" >/proc/sys/net/ipv4/ip_forward
  local bridge
  for bridge in ${bridges//|/ } "$BRIDGE"; do
    ip link delete "$bridge" 2>/dev/null
  done
  rm -rf "$STATE"
  return 0
}

on_exit() {
  local code=$?
  trap - EXIT INT TERM
  # Nothing here may end the script early: a failing kill (a process already gone) must not skip the cleanup.
  set +e
  # The specs and what they started (workers, CLI processes): their own process group, so that none outlives us.
  if [ -n "${SPECS_PID:-}" ] && kill -0 "$SPECS_PID" 2>/dev/null; then
    kill -TERM -- "-$SPECS_PID" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$SPECS_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$SPECS_PID" 2>/dev/null
  fi
  if [ -d "$STATE" ]; then
    local start
    start=$(date +%s)
    say "cleaning up (containers, volumes, networks, images, the daemon, its bridges and iptables chains)"
    cleanup
    note "cleanup: $(elapsed "$start") s"
  fi
  if [ ${#SUMMARY[@]} -gt 0 ]; then
    say "summary"
    printf '    %s\n' "${SUMMARY[@]}"
  fi
  if [ "$code" = 0 ]; then
    say "PASSED in $(elapsed "$STAGE_START") s"
  else
    say "FAILED (exit code $code) after $(elapsed "$STAGE_START") s"
  fi
  exit "$code"
}

# --- prerequisites ---------------------------------------------------------------------------------------------------
say "starting (load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
if [ "$(id -u)" != 0 ]; then
  echo "the compose stage runs its own Docker daemon and needs root (it runs as $(id -un))" >&2
  exit 1
fi
bash scripts/ensure-docker.sh
# The lock is fd 9, which no long-lived child gets (9>&-): a daemon left behind must not keep the next run waiting.
exec 9>"$LOCK"
if ! flock -n 9; then
  say "another compose stage runs on this machine; waiting for it to finish"
  flock 9
fi
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -d "$STATE" ] || ip link show "$BRIDGE" >/dev/null 2>&1; then
  say "removing what an interrupted run left behind"
  cleanup
fi

# --- a private Docker daemon -----------------------------------------------------------------------------------------
start=$(date +%s)
mkdir -p "$STATE"
# The daemon's data root in memory where the machine has plenty: image layers are many small files, which this
# machine's disk (mounted with online discard) creates and deletes slowly. About 2 GB at the peak.
if [ "$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)" -ge 8 ]; then
  mount -t tmpfs -o size=6g,mode=0711 grove-compose-stage "$STATE"
  storage="memory (tmpfs)"
else
  storage="disk"
fi
{
  echo "CHAINS_EXISTED=$(docker_chains_exist && echo 1 || echo 0)"
  echo "FORWARD_POLICY=$(iptables -t filter -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')"
  echo "IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)"
} >"$STATE/host-settings"
ip link add "$BRIDGE" type bridge
ip addr add "$BRIDGE_ADDRESS" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Containers cannot ask for more open files or processes than this machine's hard limits allow (no CAP_SYS_RESOURCE
# here), and Docker's defaults ask for more.
ulimits=()
for limit in "nofile $(ulimit -Hn)" "nproc $(ulimit -Hu)"; do
  set -- $limit
  if [ "$2" != unlimited ]; then ulimits+=(--default-ulimit "$1=$2:$2"); fi
done
# In a session of its own: a Ctrl-C meant for this script must not stop the daemon before the cleanup has used it.
setsid dockerd -H "unix://$SOCKET" --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" \
  --bridge "$BRIDGE" --default-address-pool "base=$ADDRESS_POOL,size=24" "${ulimits[@]}" \
  >"$STATE/dockerd.log" 2>&1 9>&- &
for _ in $(seq 1 60); do
  if "$DOCKER" version >/dev/null 2>&1; then break; fi
  sleep 0.5
done
if ! "$DOCKER" version >/dev/null 2>&1; then
  echo "dockerd did not answer on $SOCKET:" >&2
  tail -20 "$STATE/dockerd.log" >&2
  exit 1
fi
mkdir -p "$STATE/bin"
ln -s "$DOCKER" "$STATE/bin/docker"
export PATH="$STATE/bin:$PATH"
say "private dockerd $("$DOCKER" version --format '{{.Server.Version}}') on $SOCKET, data in $storage" \
  "(up in $(elapsed "$start") s)"

# --- base images -----------------------------------------------------------------------------------------------------
start=$(date +%s)
if timeout 15 "$DOCKER" pull -q postgres:15 >"$STATE/registry-probe.log" 2>&1; then
  say "a container registry answered: pulling the real base images"
  "$DOCKER" pull -q node:20-bookworm-slim >/dev/null
  "$DOCKER" pull -q haproxy:2.8 >/dev/null
  note "base images: pulled from a registry in $(elapsed "$start") s"
else
  reason=$(tail -1 "$STATE/registry-probe.log")
  say "no container registry answered (docker pull postgres:15: ${reason:-no answer within 15 s});" \
    "building node:20-bookworm-slim, postgres:15 and haproxy:2.8 locally from Debian packages"
  DOCKER="$DOCKER" bash docker/stand-ins/build.sh "$STATE/stand-ins"
  rm -rf "$STATE/stand-ins"
  note "base images: built locally from Debian packages in $(elapsed "$start") s (no registry answered)"
fi

# --- the controller image --------------------------------------------------------------------------------------------
say "building the host's CLI and worker (they drive the containers)"
npm run --silent build
start=$(date +%s)
say "building the controller image (docker-compose build)"
if ! docker-compose -f docker/compose.yml -p grove-image build >"$STATE/image-build.log" 2>&1; then
  tail -60 "$STATE/image-build.log" >&2
  echo "the controller image did not build (the end of its build output is above)" >&2
  exit 1
fi
size=$("$DOCKER" image inspect grove-controller --format '{{.Size}}')
note "controller image: built in $(elapsed "$start") s, $((size / 1000000)) MB ($("$DOCKER" image inspect \
  grove-controller --format '{{.Config.User}}') user)"

# --- the checks ------------------------------------------------------------------------------------------------------
export GROVE_COMPOSE_REPORT="$STATE/report.txt"
: >"$GROVE_COMPOSE_REPORT"
say "running e2e/src/deploy/*.deploy-spec.ts"
status=0
# In the background, in a process group of its own, so that the traps run at once on Ctrl-C or SIGTERM and take it
# down with everything it started.
setsid npx jest -c e2e/deploy.jest.config.cjs --ci --runInBand --verbose 9>&- &
SPECS_PID=$!
wait "$SPECS_PID" || status=$?
SPECS_PID=""
while read -r line; do note "$line"; done <"$GROVE_COMPOSE_REPORT"
exit "$status"
