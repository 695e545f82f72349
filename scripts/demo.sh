#!/usr/bin/env bash
# Demo on this machine's loopback, no Docker needed: the example envoy/envoy.yaml (the four
# filters from build/ai-gateway.wasm: warmup-health, model-router, inference-cache, token-bucket;
# its addresses moved to 127.0.0.1) in front of the three demo model servers docker-compose.yml
# runs: llama v1 and v2 (OpenAI-compatible; the router splits llama 90/10 between them) and
# iris v1 (KServe V2). Envoy listens on 127.0.0.1:10000 (admin 127.0.0.1:9901), the example's
# own ports; the demo servers take free ports. It sends the example requests, checks every
# answer, and prints what to curl next (first: curl -s localhost:10000/v1/models). Installs what
# is missing (scripts/install-deps.sh --for demo). Stops everything on exit.
#
#   bash scripts/demo.sh           # keeps running until Ctrl-C
#   bash scripts/demo.sh --once    # exits after the examples: 0 if every check passed, else 1
#
# Variables, all optional:
#   DEMO_PORT        Envoy's listener port (10000); the demo exits 1 when it is taken
#   DEMO_ADMIN_PORT  Envoy's admin port (9901); the same
#   ENVOY_CONFIG     the Envoy config to run (envoy/envoy.yaml; envoy/pipeline.yaml runs the same
#                    filters as one entry); it must keep that file's socket addresses (listener,
#                    admin, the three demo servers)
#   SKIP_SETUP=1     no install and no build (build/ must be current); Envoy from ENVOY_BIN or
#                    .venv/envoy-path. The integration test runs the demo this way.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ONCE=0
case "${1:-}" in
  "") ;;
  --once) ONCE=1 ;;
  *) echo "usage: bash scripts/demo.sh [--once]" >&2; exit 2 ;;
esac
CONFIG_FILE="${ENVOY_CONFIG:-envoy/envoy.yaml}"
[[ -f "$CONFIG_FILE" ]] || { echo "demo: no Envoy config at $CONFIG_FILE" >&2; exit 2; }
LISTENER="${DEMO_PORT:-10000}"
ADMIN="${DEMO_ADMIN_PORT:-9901}"
for var in DEMO_PORT:$LISTENER DEMO_ADMIN_PORT:$ADMIN; do
  [[ "${var#*:}" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "demo: ${var%%:*}=${var#*:} is not a port number" >&2; exit 2; }
done

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# port_taken PORT: whether something listens on 127.0.0.1:PORT. A plain bind, without the
# SO_REUSEPORT Envoy's listeners use: with it, a second Envoy would share the port with the first.
port_taken() {
  ! node -e 'require("net").createServer().once("error",()=>process.exit(1)).listen({port:+process.argv[1],host:"127.0.0.1",exclusive:true},function(){this.close()})' "$1"
}

# Envoy's listener and admin ports, checked before the install and the build (a minute or more
# the first time) so a taken port is said at once. (Without Node, install-deps.sh says what to do.)
for var in DEMO_PORT:$LISTENER DEMO_ADMIN_PORT:$ADMIN; do
  if command -v node >/dev/null 2>&1 && port_taken "${var#*:}"; then
    echo "demo: port ${var#*:} on 127.0.0.1 is taken (another demo or Envoy still running?)." >&2
    echo "demo: stop that, or choose another port: ${var%%:*}=<port> bash scripts/demo.sh" >&2
    exit 1
  fi
done

if [[ "${SKIP_SETUP:-0}" == 1 ]]; then
  ENVOY="${ENVOY_BIN:-$(cat .venv/envoy-path 2>/dev/null || true)}"
  [[ -x "$ENVOY" ]] || { echo "demo: no Envoy binary: set ENVOY_BIN or run scripts/install-envoy.sh" >&2; exit 1; }
  [[ -f build/ai-gateway.wasm ]] || { echo "demo: build/ai-gateway.wasm is missing: run npm run build" >&2; exit 1; }
else
  bash scripts/install-deps.sh --for demo
  npm run --silent build >/dev/null
  ENVOY="$(bash scripts/install-envoy.sh)"
fi

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# The example's socket addresses on loopback: Envoy's listener and admin on their fixed ports, the
# demo servers each on a free port (as the compose test does).
declare -A PORT
for addr in $(grep -oE '\{address: [A-Za-z0-9.-]+, port_value: [0-9]+\}' "$CONFIG_FILE" | sed -E 's/\{address: (.*), port_value: (.*)\}/\1:\2/' | sort -u); do
  case "$addr" in
    0.0.0.0:10000) PORT[$addr]="$LISTENER" ;;
    127.0.0.1:9901) PORT[$addr]="$ADMIN" ;;
    *) PORT[$addr]="$(free_port)" ;;
  esac
done
for addr in 0.0.0.0:10000 127.0.0.1:9901 llama-v1:8001 llama-v2:8002 iris-v1:8003; do
  [[ -n "${PORT[$addr]:-}" ]] || { echo "demo: $CONFIG_FILE has no socket address {address: ${addr%%:*}, port_value: ${addr##*:}}" >&2; exit 2; }
done
config="$(cat "$CONFIG_FILE")"
for addr in "${!PORT[@]}"; do
  config="${config//"{address: ${addr%%:*}, port_value: ${addr##*:}}"/"{address: 127.0.0.1, port_value: ${PORT[$addr]}}"}"
done
config="${config//\/etc\/envoy\/wasm\//$ROOT/build/}"
printf '%s\n' "$config" >"$WORK/envoy.yaml"

GW="127.0.0.1:$LISTENER"
node envoy/demo-server/server.mjs --port "${PORT[llama-v1:8001]}" --name llama-v1 --models llama:v1 >"$WORK/llama-v1.log" 2>&1 & PIDS+=($!)
node envoy/demo-server/server.mjs --port "${PORT[llama-v2:8002]}" --name llama-v2 --models llama:v2 >"$WORK/llama-v2.log" 2>&1 & V2_PID=$!; PIDS+=($V2_PID)
node envoy/demo-server/server.mjs --port "${PORT[iris-v1:8003]}" --name iris-v1 --models iris:v1 >"$WORK/iris-v1.log" 2>&1 & PIDS+=($!)
# Envoy's first health check then finds them ready (a failed one needs two passes, 3 s apart).
for port in "${PORT[llama-v1:8001]}" "${PORT[llama-v2:8002]}" "${PORT[iris-v1:8003]}"; do
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/v2/health/live" >/dev/null && break; sleep 0.1; done
done
"$ENVOY" -c "$WORK/envoy.yaml" --concurrency 2 --use-dynamic-base-id --file-flush-interval-msec 200 >"$WORK/access.log" 2>"$WORK/envoy.log" & ENVOY_PID=$!
PIDS+=("$ENVOY_PID")

echo "ai-gateway demo: Envoy with the ai-gateway filters (warmup-health, model-router, inference-cache,"
echo "token-bucket; $CONFIG_FILE) in front of three demo model servers: llama v1 (stable, 90 %),"
echo "llama v2 (canary, 10 %), iris v1 (KServe V2)."
echo "Envoy listens on http://$GW (admin http://127.0.0.1:$ADMIN); waiting for it and its health checks..."
healthy=0
for _ in $(seq 1 150); do
  kill -0 "$ENVOY_PID" 2>/dev/null || { echo "Envoy exited; its log:"; tail -n 30 "$WORK/envoy.log"; exit 1; }
  healthy="$(curl -s "127.0.0.1:$ADMIN/stats?filter=membership_healthy" | awk '{s+=$2} END {print s+0}' || true)"
  [[ "$healthy" == 3 ]] && break
  sleep 0.2
done
[[ "$healthy" == 3 ]] || { echo "not ready; Envoy log:"; tail -n 30 "$WORK/envoy.log"; exit 1; }
# warmup-health's first probes (and llama v2's warmup) before the first request: until then the
# router knows no ready version. And their ramps: a version whose first probe failed (a server
# slow to start on a loaded machine) ramps in over ramp_ms (8 s), its share meanwhile going to its
# fallback, so the examples would see the other version.
health_code() { curl -s -o /dev/null -w '%{http_code}' "$GW/ai-gateway/health/$1" || true; }
# all_ready: reads /ai-gateway/health's or /v1/models' JSON; "yes" when it lists llama v1 and v2
# and iris v1, and every version (and target) it lists is ready with ramp 1.
all_ready() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let ok=false;try{const j=JSON.parse(s);
    const vs=j.versions?[...j.versions,...(j.targets||[])].map(v=>({n:v.model+"/"+v.version,ready:v.ready,ramp:v.ramp}))
      :(j.data||[]).flatMap(m=>(m.versions||[]).map(v=>({n:m.id+"/"+v.id,ready:v.ready,ramp:v.ramp})));
    const names=new Set(vs.map(v=>v.n));
    ok=["llama/v1","llama/v2","iris/v1"].every(n=>names.has(n))&&vs.every(v=>v.ready===true&&v.ramp===1)}catch(e){}
    console.log(ok?"yes":"no")})' 2>/dev/null || echo no
}
not_ready() { # not_ready WHAT: says so with the health JSON and Envoy's log, and exits 1
  echo "demo: $1; GET /ai-gateway/health answers:"
  curl -s "$GW/ai-gateway/health" | sed 's/^/  /'; echo
  echo "GET /v1/models answers:"
  curl -s "$GW/v1/models" | sed 's/^/  /'; echo
  echo "Envoy's log (the last 40 lines):"; tail -n 40 "$WORK/envoy.log" | sed 's/^/  /'
  exit 1
}
ready=no
for _ in $(seq 1 200); do  # 40 s at most
  ready="$(curl -s "$GW/ai-gateway/health" | all_ready)"
  [[ "$ready" == yes ]] && break
  sleep 0.2
done
[[ "$ready" == yes ]] || not_ready "the model versions were not all ready and ramped in after 40 s"
# Each worker's router reads the records again within health_refresh_ms (1 s): every version ready
# with ramp 1 in 8 answers in a row of /v1/models (the router's own view), each on a new
# connection, so on any of Envoy's workers.
in_row=0
for _ in $(seq 1 100); do  # 10 s at most
  if [[ "$(curl -s "$GW/v1/models" | all_ready)" == yes ]]; then in_row=$((in_row + 1)); else in_row=0; fi
  ((in_row < 8)) || break
  sleep 0.1
done
((in_row >= 8)) || not_ready "Envoy's workers did not all see every version ready and ramped in after 10 s"
# The stats shown at the end count the examples alone, not these model lists.
curl -s -o /dev/null -X POST "127.0.0.1:$ADMIN/reset_counters"

# --- the examples -------------------------------------------------------------------------------
# example TITLE CURL-ARGS...: prints the command, sends it, shows the status, which server, model
# and version answered (the demo servers' x-demo-* headers), what the router set (the x-ai-*
# headers the server received), and the start of the body. Then `want` checks the answer.
FAILED=0
STATUS=""
quoted() { # the arguments as a shell would need them, for copying
  local a out=()
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:@=,+-]+$ ]]; then out+=("$a"); else out+=("'$a'"); fi
  done
  echo "${out[*]}"
}
header() { # header NAME: its value in the last answer (empty when absent)
  grep -i "^$1:" "$WORK/headers" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ //' || true
}
example() {
  local title="$1"; shift
  echo
  echo "== $title"
  echo "\$ curl -s -D - $(quoted "$@")"
  : >"$WORK/headers"; : >"$WORK/body"
  STATUS="$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" || true)"
  echo "  HTTP $STATUS"
  local h v
  for h in x-demo-server x-demo-model x-demo-version x-demo-body-model x-demo-seen-ai-headers x-ai-cache x-ai-cache-reason age x-ratelimit-remaining-requests x-ratelimit-remaining-tokens retry-after content-type; do
    v="$(header "$h")"
    [[ -z "$v" ]] || echo "  $h: $v"
  done
  echo "  $(head -c 220 "$WORK/body" | tr -d '\n')$([[ $(wc -c <"$WORK/body") -gt 220 ]] && echo ...)"
}
want() { # want WHAT EXPECTED ACTUAL
  if [[ "$3" == "$2" ]]; then
    echo "  [ok] $1: $2"
  else
    echo "  [FAIL] $1: expected ${2:-nothing}, got ${3:-nothing}"
    FAILED=$((FAILED + 1))
  fi
}
check() { # check WHAT yes|no
  if [[ "$2" == yes ]]; then
    echo "  [ok] $1"
  else
    echo "  [FAIL] $1"
    FAILED=$((FAILED + 1))
  fi
}
yes_if() { "$@" && echo yes || echo no; }
body_has() { yes_if grep -qF -- "$1" "$WORK/body"; }
router_counters() { # the sum of the router's counters
  curl -s "127.0.0.1:$ADMIN/stats?filter=^wasmcustom\.model_router\." | awk -F': ' '{s+=$2} END {print s+0}'
}

CT=(-H 'content-type: application/json')
echo
echo "Each answer shows which demo server, model and version answered (x-demo-server, x-demo-model,"
echo "x-demo-version), the body's model as the server received it (x-demo-body-model) and the x-ai-*"
echo "headers the router set for it (x-demo-seen-ai-headers)."
chat() { echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"; }

example "Body routing: \"model\":\"llama\" takes the 90/10 split, sticky per API key (sk-alice: v1)" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-alice' -d "$(chat llama)"
want "status" 200 "$STATUS"
want "answered by version" v1 "$(header x-demo-version)"
want "body's model rewritten to the server's name" llama-v1 "$(header x-demo-body-model)"

example "The same request with another key (sk-carol) falls in the canary's 10 %" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-carol' -d "$(chat llama)"
want "status" 200 "$STATUS"
want "answered by version" v2 "$(header x-demo-version)"
carol_tenant="$(header x-demo-seen-ai-headers | grep -oE '"x-ai-tenant":"[^"]*"' | cut -d'"' -f4 || true)"
want "x-ai-tenant (SHA-256 of the authorization value, never the key)" 9ff4820fc0717820 "$carol_tenant"

echo
echo "== \"model\":\"llama\" 100 times without an API key: a random draw each; x-demo-version counted"
split="$(for _ in $(seq 1 100); do printf 'url = "http://%s/v1/chat/completions"\noutput = "/dev/null"\n' "$GW"; done \
  | curl -s -K - "${CT[@]}" -d "$(chat llama)" -D - | grep -i '^x-demo-version:' | tr -d '\r' | awk '{print $2}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}' || true)"
echo "  $split"
v1="$(grep -oE 'v1=[0-9]+' <<<"$split" | cut -d= -f2 || true)"; v2="$(grep -oE 'v2=[0-9]+' <<<"$split" | cut -d= -f2 || true)"
want "answered by v1 or v2" 100 "$(( ${v1:-0} + ${v2:-0} ))"
check "most by v1 (90 %)" "$(yes_if test "${v1:-0}" -gt "${v2:-0}")"

example "An explicit version in the body: \"model\":\"llama@v2\"" \
  "$GW/v1/chat/completions" "${CT[@]}" -d "$(chat llama@v2)"
want "status" 200 "$STATUS"
want "answered by version" v2 "$(header x-demo-version)"

example "An alias in the x-model-version header (canary = v2), whatever the key" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-alice' -H 'x-model-version: canary' -d "$(chat llama)"
want "status" 200 "$STATUS"
want "answered by version" v2 "$(header x-demo-version)"

example "A client cannot pick the cluster itself: its x-ai-cluster is removed" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'x-ai-cluster: llama-v2' -d "$(chat llama@v1)"
want "status" 200 "$STATUS"
want "answered by server" llama-v1 "$(header x-demo-server)"

det='{"model":"llama","messages":[{"role":"user","content":"What is 2+2?"}],"temperature":0}'
example "Inference cache: a deterministic request (temperature 0) goes upstream once and is stored" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-alice' -d "$det"
want "status" 200 "$STATUS"
want "x-ai-cache" MISS "$(header x-ai-cache)"
cp "$WORK/body" "$WORK/first-body"
example "The same request again (other key order and spacing): answered by Envoy from the cache" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-alice' -d '{ "temperature": 0.0, "messages": [{"content":"What is 2+2?","role":"user"}], "model": "llama" }'
want "x-ai-cache" HIT "$(header x-ai-cache)"
check "no model server involved (no x-demo-server)" "$(yes_if test -z "$(header x-demo-server)")"
check "the stored answer, byte for byte" "$(yes_if cmp -s "$WORK/body" "$WORK/first-body")"
example "Another API key does not see sk-alice's entry (tenants are kept apart)" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-carol' -d "$det"
want "x-ai-cache" MISS "$(header x-ai-cache)"

example "Token budget: every answer says what is left of the key's per-minute budgets" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-dave' -d "$(chat llama)"
want "status" 200 "$STATUS"
want "x-ratelimit-limit-tokens" 200000 "$(header x-ratelimit-limit-tokens)"
check "x-ratelimit-remaining-tokens below the limit (the request was charged)" "$(yes_if test "$(header x-ratelimit-remaining-tokens)" -lt 200000)"
example "A request that could never fit the budget (max_tokens 1,000,000): 429 from Envoy, nothing sent upstream" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-dave' -d '{"model":"llama","messages":[{"role":"user","content":"hi"}],"max_tokens":1000000}'
want "status" 429 "$STATUS"
check "no model server involved (no x-demo-server)" "$(yes_if test -z "$(header x-demo-server)")"
check "OpenAI error JSON" "$(body_has '"error"')"

example "KServe V2: the model in the path" \
  "$GW/v2/models/iris/infer" "${CT[@]}" -d '{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}'
want "status" 200 "$STATUS"
want "answered by server" iris-v1 "$(header x-demo-server)"
check "the server's inference answer (outputs echo_x, sum)" "$(body_has '"name":"sum"')"

example "GET /v1/models: answered by the router itself (OpenAI list, with versions and readiness)" \
  "$GW/v1/models"
want "status" 200 "$STATUS"
check "no model server involved (no x-demo-server)" "$(yes_if test -z "$(header x-demo-server)")"
check "lists llama" "$(body_has '"id":"llama","object":"model"')"
check "lists llama's canary v2 with its readiness" "$(body_has '{"id":"v2","state":"ready","ready":true,"weight":10')"
check "lists iris" "$(body_has '"id":"iris","object":"model"')"

example "An unknown model: 404 in OpenAI's error format, from the router" \
  "$GW/v1/chat/completions" "${CT[@]}" -d "$(chat gpt-4o)"
want "status" 404 "$STATUS"
check "no model server involved (no x-demo-server)" "$(yes_if test -z "$(header x-demo-server)")"
check "error code model_not_found" "$(body_has '"code":"model_not_found"')"

before="$(router_counters)"
example "Per-route enablement: /healthz runs without the router, the cache and the token bucket (FilterConfig disabled)" \
  "$GW/healthz"
want "status" 200 "$STATUS"
want "the router's counters (sum) unchanged" "$before" "$(router_counters)"
check "charged to no one (no x-ratelimit-* headers)" "$(yes_if test -z "$(header x-ratelimit-remaining-requests)")"
check "not seen by the cache (no x-ai-cache)" "$(yes_if test -z "$(header x-ai-cache)")"

example "A path that is no inference API: Envoy's catch-all route answers 404 in OpenAI's error JSON, the filters off" \
  "$GW/no/such/api" "${CT[@]}" -H 'authorization: Bearer sk-dave' -d "$(chat llama)"
want "status" 404 "$STATUS"
want "content-type" application/json "$(header content-type)"
check "error code not_found" "$(body_has '"code":"not_found"')"
check "charged to no one (no x-ratelimit-* headers)" "$(yes_if test -z "$(header x-ratelimit-remaining-requests)")"

example "HTTP/1.0, which Envoy refuses: 426, in OpenAI's error JSON too (local_reply_config)" \
  "$GW/v1/chat/completions" --http1.0 "${CT[@]}" -d "$(chat llama)"
want "status" 426 "$STATUS"
want "content-type" application/json "$(header content-type)"
check "error code low_version" "$(body_has '"code":"low_version"')"

example "A model server that drops the connection (x-demo-fault: drop): Envoy's own 503, in OpenAI's error JSON too" \
  "$GW/v1/chat/completions" "${CT[@]}" -H 'x-demo-fault: drop' -d "$(chat llama@v1)"
want "status" 503 "$STATUS"
want "content-type" application/json "$(header content-type)"
check "error type server_error (local_reply_config)" "$(body_has '"type":"server_error"')"

echo
echo "== warmup-health: llama v2's server goes away and comes back loading; the router follows"
health_state() { # health_state MODEL VERSION: the state /ai-gateway/health reports
  curl -s "$GW/ai-gateway/health" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const v=(j.versions||[]).find(x=>x.model===process.argv[1]&&x.version===process.argv[2]);console.log(v?v.state+" ramp="+v.ramp:"none")})' "$1" "$2" 2>/dev/null || echo none
}
carol() { curl -s -o /dev/null -D - "$GW/v1/chat/completions" "${CT[@]}" -H 'authorization: Bearer sk-carol' -d "$(chat llama)" | grep -i '^x-demo-version:' | tr -d '\r' | awk '{print $2}'; }
echo "  llama v2: $(health_state llama v2); sk-carol answered by $(carol)"
kill "${V2_PID}" 2>/dev/null || true
wait "${V2_PID}" 2>/dev/null || true
for _ in $(seq 1 100); do [[ "$(health_code llama/v2)" == 503 ]] && break; sleep 0.1; done
want "GET /ai-gateway/health/llama/v2 once its server is gone" 503 "$(health_code llama/v2)"
echo "  llama v2: $(health_state llama v2)"
# carol_in_row VERSION: until sk-carol's requests (each on a new connection, so on any worker) are
# answered by VERSION 6 times in a row, 0.25 s apart: that spans more than health_refresh_ms (1 s),
# within which every worker's router re-reads the states. 20 s at most.
carol_in_row() {
  local in_row=0
  for _ in $(seq 1 80); do
    if [[ "$(carol)" == "$1" ]]; then in_row=$((in_row + 1)); else in_row=0; fi
    ((in_row < 6)) || break
    sleep 0.25
  done
}
carol_in_row v1
want "sk-carol (v2's key) meanwhile answered by" v1 "$(carol)"
echo "  restarting llama v2's server: 2 s to load its model, its first 2 requests slow (warmup)"
node envoy/demo-server/server.mjs --port "${PORT[llama-v2:8002]}" --name llama-v2 --models llama:v2 --load-ms 2000 --warmup-requests 2 --warmup-ms 200 >>"$WORK/llama-v2.log" 2>&1 & V2_PID=$!; PIDS+=($V2_PID)
seen=""
for _ in $(seq 1 300); do  # 30 s at most
  st="$(health_state llama v2)"
  [[ "$st" == "${seen##*, }" ]] || { seen="${seen:+$seen, }$st"; echo "  llama v2: $st"; }
  [[ "$st" == ready* ]] && break
  sleep 0.1
done
want "GET /ai-gateway/health/llama/v2 once loaded and warmed" 200 "$(health_code llama/v2)"
echo "  ramping in over 8 s: v2 takes its 10 % back gradually (sk-carol returns when the ramp covers its bucket)"
carol_in_row v2
echo "  llama v2: $(health_state llama v2)"
want "sk-carol answered again by" v2 "$(carol)"

echo
echo "== The router's stats (Envoy admin; stats_tags make them Prometheus labels)"
echo "\$ curl -s '127.0.0.1:$ADMIN/stats?usedonly&filter=model_router'"
curl -s "127.0.0.1:$ADMIN/stats?usedonly&filter=model_router" | sed 's/^/  /'

echo
if [[ "$FAILED" == 0 ]]; then
  echo "All examples gave the expected answers."
else
  echo "$FAILED check(s) FAILED. Envoy's access log (the last 12 requests):"
  sleep 0.5  # Envoy writes its access log every 200 ms
  tail -n 12 "$WORK/access.log" | sed 's/^/  /'
  echo "Envoy's log (the last 40 lines):"
  tail -n 40 "$WORK/envoy.log" | sed 's/^/  /'
fi
if [[ "$ONCE" == 1 ]]; then
  [[ "$FAILED" == 0 ]] && exit 0 || exit 1
fi

BODY="$(chat llama)"
cat <<EOT

Running. Envoy: http://$GW (admin http://127.0.0.1:$ADMIN). Try:
  curl -s $GW/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer sk-you' -d '$BODY' -D -
  curl -s $GW/v1/chat/completions -H 'content-type: application/json' -d '{"model":"llama@canary","messages":[{"role":"user","content":"hi"}],"stream":true}'
  curl -s $GW/v1/chat/completions -H 'x-model: llama' -H 'x-model-version: stable' -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"hi"}]}' -D -
  curl -s $GW/v1/models
  curl -s $GW/v2/models/iris/versions/v1/infer -H 'content-type: application/json' -d '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'
  curl -s $GW/predictions/iris -d 'any bytes'
  curl -s $GW/v1/chat/completions -H 'content-type: application/json' -d '{"model":"llama@v9","messages":[]}'
  curl -s '127.0.0.1:$ADMIN/stats?filter=model_router|inference_cache|token_bucket|warmup_health|health_check'
  curl -s 127.0.0.1:$ADMIN/stats/prometheus | grep '^model_router'
Logs: $WORK (Envoy's access log: access.log; removed on exit). Ctrl-C stops everything.
EOT
wait
