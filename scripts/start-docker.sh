#!/usr/bin/env bash
# Makes sure a Docker engine answers `docker info`. If none does, installs Debian's docker.io when
# dockerd is missing, starts dockerd in the background (no bridge, no iptables: containers use
# host networking and talk to loopback only) and waits for it with a deadline.
#
#   bash scripts/start-docker.sh          # idempotent; log in .cache/dockerd.log
#   DOCKER_WAIT_S=60 bash scripts/start-docker.sh
# Needs root to install and start dockerd.
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

apt_install() {
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install $*"
  # One `apt-get update` per machine boot is enough; apt's lists are old or empty before it.
  if [[ ! -f /tmp/.ai-gateway-apt-updated ]]; then
    apt-get update -qq >&2 && touch /tmp/.ai-gateway-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd missing: apt-get install docker.io"
  apt_install docker.io
fi
# The docker.io package brings a client too; an older client on PATH is fine (API negotiation).
command -v docker >/dev/null 2>&1 || apt_install docker.io

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
