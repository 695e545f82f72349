#!/usr/bin/env bash
# Makes sure a Docker engine answers `docker info`. If none does, starts dockerd in the background
# (no bridge, no iptables: containers use host networking and talk to loopback only) and waits for
# it with a deadline. Installs nothing: scripts/install-deps.sh installs Debian's docker.io (and
# scripts/test-all.sh runs that first).
#
#   bash scripts/start-docker.sh          # idempotent; log in .cache/dockerd.log
#   DOCKER_WAIT_S=60 bash scripts/start-docker.sh
# Needs root to start dockerd.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$ROOT/.cache"
LOG="$LOG_DIR/dockerd.log"
WAIT_S="${DOCKER_WAIT_S:-60}"

log() { echo "start-docker: $*" >&2; }
die() { log "error: $*"; exit 1; }

if docker info >/dev/null 2>&1; then
  log "docker engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
  exit 0
fi

# The docker.io package brings dockerd and a client (an older client is fine: API negotiation).
command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 \
  || die "dockerd or docker is missing: run \`bash scripts/install-deps.sh\` (as root; it installs docker.io)"

[[ "$(id -u)" == 0 ]] || die "need root to start dockerd"
mkdir -p "$LOG_DIR"
if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is running but not answering yet; waiting"
else
  # A containerd left by a killed dockerd can hold the socket; dockerd starts its own otherwise.
  rm -f /var/run/docker.pid
  log "starting dockerd (log: $LOG)"
  # Its own session: it must outlive the shell (and process group) that started it.
  setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$LOG" 2>&1 </dev/null &
  disown || true
fi

deadline=$((SECONDS + WAIT_S))
until docker info >/dev/null 2>&1; do
  if (( SECONDS >= deadline )); then
    tail -n 30 "$LOG" >&2 || true
    die "dockerd did not answer 'docker info' within ${WAIT_S}s (log: $LOG)"
  fi
  sleep 0.5
done
log "docker engine ready: $(docker info --format '{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}' 2>/dev/null)"
