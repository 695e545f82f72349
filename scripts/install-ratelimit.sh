#!/usr/bin/env bash
# Installs the Python packages of the tests' rate-limit service (envoy/ratelimit-service/server.py):
# the pins in envoy/ratelimit-service/requirements.txt, into a venv of its own under
# ${AI_GATEWAY_CACHE:-$HOME/.cache/ai-gateway-wasm}/ratelimit-venv, where envoy/harness finds it.
# Idempotent: a stamp file holds the hash of the requirements it was installed from, so a second
# run only checks that the stamp matches and the packages import. Prints the venv's python on
# stdout (and nothing else there). scripts/install-deps.sh runs it for the tests.
#
#   bash scripts/install-ratelimit.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${AI_GATEWAY_CACHE:-$HOME/.cache/ai-gateway-wasm}"
VENV="$CACHE/ratelimit-venv"
REQS="$ROOT/envoy/ratelimit-service/requirements.txt"
STAMP="$VENV/requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "install-ratelimit: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The imports server.py needs; a venv that cannot import them is reinstalled.
check='import grpc, redis, yaml; from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc'
want_sum="$(sha256sum "$REQS" | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_sum" ]] && "$VENV/bin/python" -c "$check" >/dev/null 2>&1; then
  echo "$VENV/bin/python"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  mkdir -p "$CACHE"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv $VENV' failed (Debian: apt-get install -y python3-venv)"
fi
log "pip install -r envoy/ratelimit-service/requirements.txt"
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >&2 \
  || die "pip install failed"
"$VENV/bin/python" -c "$check" || die "the packages installed but do not import: $check"

echo "$want_sum" >"$STAMP"
echo "$VENV/bin/python"
