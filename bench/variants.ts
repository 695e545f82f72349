// The bench's variants, one row each. Every variant is one Envoy from bench/envoy-bench.yaml
// that differs only in its HTTP filters and its route. A filter variant names its floor (the
// variant its cost is reported above); the floors themselves are measured against plain Envoy.
// Adding a filter to the bench is one row here: its module, its filter entries, its route, the
// counters that prove it handled every request, and what the upstream must see. Beside some
// filters, a floor of their required calls (`callsFloor`): the body floor plus the host calls
// that filter's mandated outputs force, measured above the body floor like the filter.

import { readTemplate, renderTemplate } from "../envoy/harness/config";
import type { BodyKind } from "./request";

/** What the rows may depend on (from the command line). */
export interface VariantContext {
  rewriteBody: boolean;
  /** build/bench/<floor>.wasm paths, relative to the repository. */
  floors: Record<string, string>;
}

export interface Variant {
  /** Name on the command line (--variants), in the JSON and in the tables. */
  key: string;
  label: string;
  /**
   * plain: the reference; floor: a bench module with no logic of ours; calls: the body floor plus
   * the host calls a filter cannot avoid (a bench module too, reported above its floor like a
   * filter); filter: our code.
   */
  kind: "plain" | "floor" | "calls" | "filter";
  /** Key of the variant this one's "+CPU over floor" is taken against; null for plain Envoy. */
  floor: string | null;
  /** Modules (paths relative to the repository) Envoy loads, by base name, from ${WASM_DIR}. */
  wasm(ctx: VariantContext): string[];
  /** HTTP filters before the router. */
  filters(ctx: VariantContext): unknown[];
  /** by-name: route to the `upstream` cluster; by-header: `cluster_header: x-ai-cluster`, which the filter must set. */
  route: "by-name" | "by-header";
  /** wasmcustom stats whose sum must equal `perRequest` × the requests sent (proves the filter ran on each). */
  counters: string[];
  perRequest: number;
  /** The `"model"` values the upstream may see in the body. */
  upstreamModels(ctx: VariantContext): string[];
  /** Its requests' bodies (bench/request.ts); default "plain", the same body as every variant. */
  bodies?: BodyKind;
  /** Whether every request reaches the upstream ("every") or only the first ("first": cache hits). */
  upstream?: "every" | "first";
  /** Requests the counters must count, of `sent` (default `perRequest` × sent). */
  expectedCount?(sent: number): number;
  /** Request headers (name → value) the upstream must see on the variant's first request. */
  upstreamHeaders?: Record<string, string>;
  /** Response headers (name → value) every response must carry; the client checks each one. */
  responseHeaders?: Record<string, string>;
  /** kind "calls": its script for bench/floors/calls-floor.ts, one host call per line ... */
  script?: string[];
  /** ... and the key of the filter variant whose required calls they are. */
  shadows?: string;
}

/** The first of `want`'s headers that `got` (Node's lower-cased headers) lacks or has another value of, as `name: value (got ...)`; null when all match. */
export function headerMismatch(want: Record<string, string> | undefined, got: Record<string, string | string[] | undefined>): string | null {
  for (const [name, value] of Object.entries(want ?? {})) {
    if (got[name] !== value) return `${name}: ${value} (got ${got[name] === undefined ? "none" : JSON.stringify(got[name])})`;
  }
  return null;
}

/** Whether a variant's cost is reported above its floor (the floors themselves are measured against plain Envoy). */
export function aboveFloor(v: Pick<Variant, "kind" | "floor">): boolean {
  return (v.kind === "filter" || v.kind === "calls") && v.floor !== null;
}

export const ROUTE_HEADER = "x-ai-cluster";
/** The cluster the by-header variants name in ROUTE_HEADER (the only one). */
export const CLUSTER = "upstream";
export const STICKY_HEADER = "x-session-id";
export const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

/** A Wasm filter entry. All entries of a variant share one VM (same vm_id and module). */
export function wasmFilter(name: string, rootId: string, file: string, configuration: string) {
  return {
    name,
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name,
        root_id: rootId,
        // The body floor and the body-routing filters hold the headers until the body is in.
        allow_on_headers_stop_iteration: true,
        failure_policy: "FAIL_CLOSED",
        configuration: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: configuration },
        vm_config: { vm_id: "ai-gateway", runtime: "envoy.wasm.runtime.v8", code: { local: { filename: `\${WASM_DIR}/${file.split("/").pop()}` } } },
      },
    },
  };
}

export function modelRouterConfig(rewriteBody: boolean) {
  return {
    sticky_key: "header",
    sticky_header: STICKY_HEADER,
    rewrite_body_model: rewriteBody,
    // Two versions (a 90/10 sticky split) on the one upstream cluster: the split and the sticky
    // hash run, and upstream connections are the same as for the other variants.
    models: { llama: { versions: { v1: { cluster: "upstream", upstream_model: "llama-v1", weight: 90 }, v2: { cluster: "upstream", upstream_model: "llama-v2", weight: 10 } } } },
  };
}

/** The cache as the bench runs it: the local tier (256 slots of up to 64 KiB), no shared tier. */
export const CACHE_CONFIG = { slots: 256, max_entry_bytes: 65536, ttl_ms: 600000 };

/**
 * token-bucket as the bench runs it: per-tenant request and token buckets for llama, never
 * exhausted by the run (a refused request would fail the run's checks), so every request is
 * reserved, admitted and settled from the upstream's `usage`.
 */
export const TOKEN_BUCKET_CONFIG = {
  models: { llama: { tenant: { requests_per_minute: 6_000_000, tokens_per_minute: 600_000_000 } } },
};
const TOKEN_BUCKET_COUNTER = "wasmcustom.token_bucket.admitted";

// ---------------------------------------------------------------------------------------------
// The floors of required calls. Each script lists the host calls that a filter's required outputs
// (the issues', DESIGN.md's) force on Envoy 1.40's ABI, and only those: no call a cleverer
// implementation could leave out (counters, a second clock reading, a property that only fleet
// mode reads). Values have the real filter's sizes; the phases are where the filter needs them.

/** A cache key as the cache writes it: 64 hex digits (SHA-256). */
const CACHE_KEY = "68c03c756529968c848fa37e5c23c365fc37d8c417e89718d61ad8638081da2b";
/**
 * The cache's slot and token-bucket's record, keys as long as the filters' own
 * (`aigw/inference-cache/50`, `aigw/token-bucket/3769`). The floor writes each on every request,
 * so from the second request on a read finds a value of the filter's size, as the filters'
 * reads do once the bench has filled their slots and created their buckets.
 */
const CACHE_SLOT = "aigw/calls-floor/slot-0";
const CACHE_ENTRY_BYTES = 364; // one stored 284-byte completion with its header and key
const BUCKET_RECORD = "aigw/calls-floor/bkt-0";
const BUCKET_RECORD_BYTES = 56;

/**
 * The router must read `authorization` (the tenant) and `x-session-id` (the sticky key): one read
 * of the request headers. Its route is the cluster header, which is the body floor's own.
 */
const ROUTER_CALLS = ["request-headers read-request-headers"];

/**
 * As its own entry, the router also hands x-ai-model, x-ai-model-version, x-ai-tenant to later
 * filters (DESIGN.md's inter-filter protocol), and marks the stream in filter state so that those
 * filters can tell its headers from a client's (assembly/pipeline/README.md).
 */
const MODEL_ROUTER_CALLS = [
  ...ROUTER_CALLS,
  "request-body add-request-header x-ai-model llama",
  "request-body add-request-header x-ai-model-version v1",
  "request-body add-request-header x-ai-tenant bf46477e71da5806",
  "request-body set-property ai_model_routed 1",
];

/**
 * A cache miss, by part. Lookup (request body): the SHA-256 of the body (no host call: the least
 * hashing a key over the body needs; the real key hashes the canonical body and method, path,
 * model and version too), the key to the upstream (issue 9: x-ai-cache-key on the request and the
 * response), one slot read. Labels (response headers): x-ai-cache and x-ai-cache-reason (issue 9:
 * on every response) and the key. Store (response end): the slot's write, whatever the slot held
 * (the cache writes with CAS 0, hence put-shared).
 */
const CACHE_LOOKUP = [
  "request-body hash-request-body",
  `request-body add-request-header x-ai-cache-key ${CACHE_KEY}`,
  `request-body get-shared ${CACHE_SLOT}`,
];
const CACHE_LABELS = [
  "response-headers add-response-header x-ai-cache MISS",
  "response-headers add-response-header x-ai-cache-reason not-found",
  `response-headers add-response-header x-ai-cache-key ${CACHE_KEY}`,
];
const CACHE_STORE = [`response-end put-shared ${CACHE_SLOT} ${CACHE_ENTRY_BYTES}`];

/**
 * The cache alone: the request headers (the tenant partition, the client's cache-control), the
 * lookup; the response headers (the policy needs status, content-type, set-cookie,
 * cache-control), the labels; the body as it passes (what is stored); at its end the entry's time
 * and the store.
 */
const CACHE_MISS_CALLS = [
  "request-headers read-request-headers",
  ...CACHE_LOOKUP,
  "response-headers read-response-headers",
  ...CACHE_LABELS,
  "response-body read-response-body",
  "response-end read-clock",
  ...CACHE_STORE,
];

/** Issue 10: the six x-ratelimit-* headers on every response (values as long as the bench's). */
const RATELIMIT_HEADERS = [
  "response-headers add-response-header x-ratelimit-limit-requests 6000000",
  "response-headers add-response-header x-ratelimit-remaining-requests 5999998",
  "response-headers add-response-header x-ratelimit-reset-requests 1ms",
  "response-headers add-response-header x-ratelimit-limit-tokens 600000000",
  "response-headers add-response-header x-ratelimit-remaining-tokens 599999840",
  "response-headers add-response-header x-ratelimit-reset-tokens 1ms",
];

/** token-bucket's admission (the clock for the refill, the bucket record's compare-and-swap) and settlement (the record's compare-and-swap again). */
const BUCKET_ADMISSION = [
  "request-body read-clock",
  `request-body get-shared ${BUCKET_RECORD}`,
  `request-body set-shared ${BUCKET_RECORD} ${BUCKET_RECORD_BYTES}`,
];
const BUCKET_SETTLEMENT = [
  `response-end get-shared ${BUCKET_RECORD}`,
  `response-end set-shared ${BUCKET_RECORD} ${BUCKET_RECORD_BYTES}`,
];

/**
 * token-bucket. Request: the headers (the tenant), the admission. Response: the status (a
 * response without `usage` settles by it: an upstream error gives the reservation back, issue 10),
 * read as the whole map, which costs no more than one header's value; the six headers; the body
 * as it passes (`usage`); at its end the settlement. Not here: the filter's counters, and its
 * `wasm.llm_tokens` property writes, which only fleet mode reads (off in the bench's config).
 */
const TOKEN_BUCKET_CALLS = [
  "request-headers read-request-headers",
  ...BUCKET_ADMISSION,
  "response-headers read-response-headers",
  ...RATELIMIT_HEADERS,
  "response-body read-response-body",
  ...BUCKET_SETTLEMENT,
];

/**
 * The three stages in one entry: the union, each read made once (request headers, response
 * headers, response body), and one clock reading (the admission's; the cache entry's time can be
 * the same). The router sets no x-ai-* headers in a pipeline.
 */
const PIPELINE_FULL_CALLS = [
  "request-headers read-request-headers",
  ...CACHE_LOOKUP,
  ...BUCKET_ADMISSION,
  "response-headers read-response-headers",
  ...RATELIMIT_HEADERS,
  ...CACHE_LABELS,
  "response-body read-response-body",
  ...BUCKET_SETTLEMENT,
  ...CACHE_STORE,
];

/** The headers a script adds with `op` (add-request-header or add-response-header), name → value. */
export function addedHeaders(script: string[], op: "add-request-header" | "add-response-header"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of script) {
    const [, name, header, value] = line.trim().split(/[ \t]+/);
    if (name === op) out[header] = value;
  }
  return out;
}

/**
 * A floor of required calls: bench/floors/calls-floor.ts with `script`, the host calls the filter
 * variant `shadows` cannot avoid. Routed by the body floor's header and measured above the body
 * floor, like the filter. Its checks add no host call: the headers it adds must reach the
 * upstream (first request) and be on every response.
 */
function callsFloor(key: string, shadows: string, shadowsLabel: string, script: string[], bodies?: BodyKind): Variant {
  return {
    key,
    label: `required calls of ${shadowsLabel}`,
    kind: "calls",
    floor: "body-floor",
    wasm: (ctx) => [ctx.floors["calls-floor"]],
    filters: (ctx) => [wasmFilter(key, "calls-floor", ctx.floors["calls-floor"], script.join("\n"))],
    route: "by-header",
    counters: [], // proven by the headers instead: a counter would be one more call
    perRequest: 0,
    upstreamModels: asSent,
    bodies,
    upstreamHeaders: addedHeaders(script, "add-request-header"),
    responseHeaders: addedHeaders(script, "add-response-header"),
    script,
    shadows,
  };
}

/** The bench's requests name their model in the body: the router counts them by version, source `body`. */
const MODEL_ROUTER_COUNTERS = ["wasmcustom.model_router.requests.model=llama.version=v1.source=body", "wasmcustom.model_router.requests.model=llama.version=v2.source=body"];
const asSent = () => ["llama"];
const routedModels = (ctx: VariantContext) => (ctx.rewriteBody ? ["llama-v1", "llama-v2"] : ["llama"]);

/** model-router's variant and its noise-check twin, the same configuration under a key of its own (`noiseCheck`, bench/report.ts). */
export const NOISE_PAIR = ["model-router", "model-router-again"] as const;

/** The router as its own entry, body-routed: the variant of the issue's own-entry target. */
const MODEL_ROUTER: Variant = {
  key: NOISE_PAIR[0],
  label: "model-router",
  kind: "filter",
  floor: "body-floor",
  wasm: () => ["build/ai-gateway.wasm"],
  filters: (ctx) => [wasmFilter("model-router", "model-router", "ai-gateway.wasm", JSON.stringify(modelRouterConfig(ctx.rewriteBody)))],
  route: "by-header",
  counters: MODEL_ROUTER_COUNTERS,
  perRequest: 1,
  upstreamModels: routedModels,
};

export const VARIANTS: Variant[] = [
  { key: "plain", label: "plain Envoy", kind: "plain", floor: null, wasm: () => [], filters: () => [], route: "by-name", counters: [], perRequest: 0, upstreamModels: asSent },
  {
    key: "minimal",
    label: "minimal module",
    kind: "floor",
    floor: "plain",
    wasm: (ctx) => [ctx.floors.minimal],
    filters: (ctx) => [wasmFilter("minimal", "minimal", ctx.floors.minimal, "")],
    route: "by-name",
    counters: [], // it calls nothing in the host; the 2xx count and Envoy's wasm stats must do
    perRequest: 0,
    upstreamModels: asSent,
  },
  {
    key: "body-floor",
    label: "body floor",
    kind: "floor",
    floor: "plain",
    wasm: (ctx) => [ctx.floors["body-floor"]],
    filters: (ctx) => [wasmFilter("body-floor", "body-floor", ctx.floors["body-floor"], "")],
    route: "by-header",
    counters: [],
    perRequest: 0,
    upstreamModels: asSent,
  },
  {
    key: "noop",
    label: "noop",
    kind: "filter",
    floor: "minimal",
    wasm: () => ["build/noop.wasm"],
    filters: () => [wasmFilter("noop", "noop", "noop.wasm", "{}")],
    route: "by-name",
    counters: ["wasmcustom.noop.requests_total"],
    perRequest: 1,
    upstreamModels: asSent,
  },
  {
    key: "noop-x3",
    label: "3 × noop",
    kind: "filter",
    floor: "minimal",
    wasm: () => ["build/noop.wasm"],
    // Three entries of one module and VM: what each further filter entry costs.
    filters: () => [1, 2, 3].map((i) => wasmFilter(`noop-${i}`, "noop", "noop.wasm", "{}")),
    route: "by-name",
    counters: ["wasmcustom.noop.requests_total"], // one counter, defined by each entry's root context
    perRequest: 3,
    upstreamModels: asSent,
  },
  callsFloor("calls-model-router", "model-router", "model-router", MODEL_ROUTER_CALLS),
  MODEL_ROUTER,
  // model-router's variant a second time, in an Envoy of its own: how far two identical variants
  // land apart is the run's own noise (`noiseCheck`; bench/README.md, "Reading the table").
  { ...MODEL_ROUTER, key: NOISE_PAIR[1], label: "model-router, again" },
  callsFloor("calls-router-pipeline", "pipeline", "pipeline (model_router)", ROUTER_CALLS),
  {
    key: "pipeline",
    label: "pipeline (model_router)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    // One filter entry running the stages its configuration names; today only the model router.
    // Configured as a pipeline is meant to be: later stages read the Exchange, so the router sets
    // only the cluster header (`model_headers: false`), as plugins/model-router/README.md advises.
    filters: (ctx) => [
      wasmFilter("ai-gateway", "ai-gateway", "ai-gateway.wasm", JSON.stringify({ model_router: { ...modelRouterConfig(ctx.rewriteBody), model_headers: false } })),
    ],
    route: "by-header",
    counters: MODEL_ROUTER_COUNTERS,
    perRequest: 1,
    upstreamModels: routedModels,
  },
  // The cache's bodies: the floor reads what the filter reads.
  callsFloor("calls-cache-miss", "inference-cache", "inference-cache (miss)", CACHE_MISS_CALLS, "unique-deterministic"),
  {
    key: "inference-cache",
    label: "inference-cache (miss)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    // Every body different and deterministic: each request is looked up, missed, sent upstream
    // with x-ai-cache-key, and its response stored (the slots are overwritten in turn).
    filters: () => [wasmFilter("inference-cache", "inference-cache", "ai-gateway.wasm", JSON.stringify(CACHE_CONFIG))],
    route: "by-name",
    counters: ["wasmcustom.inference_cache.misses"],
    perRequest: 1,
    upstreamModels: asSent,
    bodies: "unique-deterministic",
  },
  {
    key: "cache-hit",
    label: "inference-cache (hit)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    // One deterministic body throughout: the first request is stored, every later one is answered
    // by the filter from shared data and never reaches the upstream.
    filters: () => [wasmFilter("inference-cache", "inference-cache", "ai-gateway.wasm", JSON.stringify(CACHE_CONFIG))],
    route: "by-name",
    counters: ["wasmcustom.inference_cache.hits.tier=local"],
    perRequest: 1,
    upstreamModels: asSent,
    bodies: "same-deterministic",
    upstream: "first",
    expectedCount: (sent) => sent - 1,
  },
  {
    key: "chain",
    label: "router + cache, separate entries (miss)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    filters: (ctx) => [
      wasmFilter("model-router", "model-router", "ai-gateway.wasm", JSON.stringify(modelRouterConfig(ctx.rewriteBody))),
      wasmFilter("inference-cache", "inference-cache", "ai-gateway.wasm", JSON.stringify(CACHE_CONFIG)),
    ],
    route: "by-header",
    counters: [...MODEL_ROUTER_COUNTERS, "wasmcustom.inference_cache.misses"],
    perRequest: 2,
    upstreamModels: routedModels,
    bodies: "unique-deterministic",
  },
  {
    key: "pipeline-chain",
    label: "router + cache, one pipeline entry (miss)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    filters: (ctx) => [
      wasmFilter("ai-gateway", "ai-gateway", "ai-gateway.wasm", JSON.stringify({
        model_router: { ...modelRouterConfig(ctx.rewriteBody), model_headers: false },
        inference_cache: CACHE_CONFIG,
      })),
    ],
    route: "by-header",
    counters: [...MODEL_ROUTER_COUNTERS, "wasmcustom.inference_cache.misses"],
    perRequest: 2,
    upstreamModels: routedModels,
    bodies: "unique-deterministic",
  },
  callsFloor("calls-token-bucket", "token-bucket", "token-bucket", TOKEN_BUCKET_CALLS),
  {
    key: "token-bucket",
    label: "token-bucket",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    // Reserve at admission (prompt estimate + max_tokens), settle from the response's usage.
    filters: () => [wasmFilter("token-bucket", "token-bucket", "ai-gateway.wasm", JSON.stringify(TOKEN_BUCKET_CONFIG))],
    route: "by-name",
    counters: [TOKEN_BUCKET_COUNTER],
    perRequest: 1,
    upstreamModels: asSent,
  },
  {
    key: "full-chain",
    label: "router + cache + token-bucket, separate entries (miss)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    filters: (ctx) => [
      wasmFilter("model-router", "model-router", "ai-gateway.wasm", JSON.stringify(modelRouterConfig(ctx.rewriteBody))),
      wasmFilter("inference-cache", "inference-cache", "ai-gateway.wasm", JSON.stringify(CACHE_CONFIG)),
      wasmFilter("token-bucket", "token-bucket", "ai-gateway.wasm", JSON.stringify(TOKEN_BUCKET_CONFIG)),
    ],
    route: "by-header",
    counters: [...MODEL_ROUTER_COUNTERS, "wasmcustom.inference_cache.misses", TOKEN_BUCKET_COUNTER],
    perRequest: 3,
    upstreamModels: routedModels,
    bodies: "unique-deterministic",
  },
  callsFloor("calls-pipeline-full", "pipeline-full", "router + cache + token-bucket, one pipeline entry (miss)", PIPELINE_FULL_CALLS, "unique-deterministic"),
  {
    key: "pipeline-full",
    label: "router + cache + token-bucket, one pipeline entry (miss)",
    kind: "filter",
    floor: "body-floor",
    wasm: () => ["build/ai-gateway.wasm"],
    filters: (ctx) => [
      wasmFilter("ai-gateway", "ai-gateway", "ai-gateway.wasm", JSON.stringify({
        model_router: { ...modelRouterConfig(ctx.rewriteBody), model_headers: false },
        inference_cache: CACHE_CONFIG,
        token_bucket: TOKEN_BUCKET_CONFIG,
      })),
    ],
    route: "by-header",
    counters: [...MODEL_ROUTER_COUNTERS, "wasmcustom.inference_cache.misses", TOKEN_BUCKET_COUNTER],
    perRequest: 3,
    upstreamModels: routedModels,
    bodies: "unique-deterministic",
  },
];

/** The variants to run for a --variants list: those named, plus plain Envoy and the floors they are measured above. */
export function selectVariants(names: string[] | null): { variants: Variant[]; added: string[] } {
  if (names === null) return { variants: VARIANTS, added: [] };
  const known = new Map(VARIANTS.map((v) => [v.key, v]));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new Error(`--variants: unknown ${unknown.join(", ")}; known: ${VARIANTS.map((v) => v.key).join(", ")}`);
  const want = new Set(["plain", ...names]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const k of [...want]) {
      const f = known.get(k)!.floor;
      if (f !== null && !want.has(f)) {
        want.add(f);
        grew = true;
      }
    }
  }
  return { variants: VARIANTS.filter((v) => want.has(v.key)), added: [...want].filter((k) => !names.includes(k)) };
}

/**
 * A variant's Envoy configuration: bench/envoy-bench.yaml with its filters and route. The
 * harness's own placeholders stay for startEnvoy (a value is not re-scanned, so the filter list
 * may use ${WASM_DIR}).
 */
export function variantConfig(v: Variant, ctx: VariantContext, upstreamPort: number): string {
  const harnessVars = Object.fromEntries(["ADMIN_PORT", "LISTENER_PORT", "WASM_DIR"].map((n) => [n, "${" + n + "}"]));
  return renderTemplate(readTemplate("bench/envoy-bench.yaml"), {
    ...harnessVars,
    UPSTREAM_PORT: upstreamPort,
    HTTP_FILTERS: JSON.stringify([...v.filters(ctx), ROUTER]),
    ROUTE: JSON.stringify(v.route === "by-header" ? { cluster_header: ROUTE_HEADER } : { cluster: CLUSTER }),
  });
}
