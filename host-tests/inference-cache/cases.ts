// inference-cache's case table: sequences of requests against a fresh cache, each step with what
// the client and the upstream must see. Run in the emulator (host-tests/inference-cache.test.ts)
// in every form, and through a real Envoy (envoy/tests/inference-cache/cases.test.ts). The
// upstream is `modelServer` (upstream.ts), the same answers in both runners; it counts requests,
// so "never reaches the upstream" is checked by its count.

export type CacheForm = "pipeline" | "separate" | "alone";
export const CACHE_FORMS: readonly CacheForm[] = ["pipeline", "separate", "alone"];

export const ROUTER_CONFIG = {
  models: {
    llama: { versions: { v1: { cluster: "llama-v1", weight: 100 }, v2: { cluster: "llama-v2", weight: 0 } } },
    iris: { versions: { "1": { cluster: "iris-1" } } },
  },
};

export const CACHE_CONFIG = {
  slots: 4096,
  max_entry_bytes: 65536,
  ttl_ms: 60000,
  models: { iris: { shared: true } },
};

export interface StepRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface StepExpect {
  status?: number;
  /** x-ai-cache. */
  cache: "HIT" | "MISS" | "BYPASS" | "REFRESH";
  reason: string;
  /** Whether this request reached the upstream. */
  upstream: boolean;
  /** The body equals the body of step N (0-based), byte for byte. */
  sameBodyAs?: number;
  /** The response is SSE whose events equal those of step N. */
  sameEventsAs?: number;
  contentType?: "json" | "sse";
  /** x-ai-cache-key equals that of step N. */
  sameKeyAs?: number;
  /** x-ai-cache-key differs from that of step N. */
  otherKeyThan?: number;
  /** Whether the response carries x-ai-cache-key. */
  key?: boolean;
  /** A HIT's `age` is at least this many seconds. */
  minAge?: number;
  /** A response from the upstream carries its `age` header, this value (else none). */
  upstreamAge?: string;
}

export interface CacheStep {
  request: StepRequest;
  expect: StepExpect;
  /** Fake (emulator) or real (Envoy) milliseconds to wait before this step. */
  waitMs?: number;
}

export interface CacheCase {
  name: string;
  /** Settings merged over CACHE_CONFIG. */
  config?: Record<string, unknown>;
  steps: CacheStep[];
  /** Forms the case is meaningful in (default all). */
  forms?: CacheForm[];
}

export const CHAT_PATH = "/v1/chat/completions";
const JSON_CT = { "content-type": "application/json" };

/** A chat request body with `extra` members (spelled as given when `raw`). */
export function chat(extra: Record<string, unknown> = {}, model = "llama"): string {
  return JSON.stringify({ model, messages: [{ role: "user", content: "What is 2+2?" }], temperature: 0, ...extra });
}

/** A chat body whose `seed` is the literal `digits` (JSON.stringify cannot write one beyond 2^53). */
const withSeed = (digits: string): string => chat({ seed: 0 }).replace('"seed":0', `"seed":${digits}`);

const post = (body: string, headers: Record<string, string> = {}): StepRequest => ({ method: "POST", path: CHAT_PATH, headers: { ...JSON_CT, ...headers }, body });
const embeddings = (input: string): StepRequest => ({ method: "POST", path: "/v1/embeddings", headers: JSON_CT, body: JSON.stringify({ model: "llama", input }) });
const miss = (extra: Partial<StepExpect> = {}): StepExpect => ({ status: 200, cache: "MISS", reason: "not-found", upstream: true, key: true, ...extra });
const hit = (of: number, extra: Partial<StepExpect> = {}): StepExpect => ({ status: 200, cache: "HIT", reason: "local-hit", upstream: false, sameBodyAs: of, sameKeyAs: of, key: true, ...extra });
const bypass = (reason: string, extra: Partial<StepExpect> = {}): StepExpect => ({ status: 200, cache: "BYPASS", reason, upstream: true, key: false, ...extra });

const SPACED = '{ "temperature" : 0.0 ,\n "messages" : [ { "content" : "What is 2+2?", "role" : "user" } ], "model":"llama" }';

export const CASES: CacheCase[] = [
  {
    name: "stores a deterministic miss and serves the repeat from the proxy",
    steps: [{ request: post(chat()), expect: miss() }, { request: post(chat()), expect: hit(0) }],
  },
  {
    name: "shares the key across key order, whitespace and number spelling",
    steps: [
      { request: post(chat()), expect: miss() },
      { request: post(SPACED), expect: hit(0) },
      { request: post(chat({ temperature: 0, max_tokens: 1e1 })), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat({ max_tokens: 10.0 })), expect: hit(2) },
    ],
  },
  {
    name: "shares the key across dropped fields and explicit defaults",
    steps: [
      { request: post(chat({ user: "alice", metadata: { run: 1 } })), expect: miss() },
      { request: post(chat({ user: "bob", top_p: 1, n: 1, stream_options: { include_usage: true } })), expect: hit(0) },
    ],
  },
  {
    name: "changes the key with the messages, the temperature, the tools or the model",
    steps: [
      { request: post(chat()), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "What is 3+3?" }] })), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat({ seed: 7, temperature: 0.5 })), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat({ tools: [{ type: "function", function: { name: "add" } }] })), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat({}, "iris")), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat()), expect: hit(0) },
    ],
  },
  {
    // Python servers read an integer literal as an exact int: these are two different seeds,
    // which RFC 8785's double form alone would merge.
    name: "keeps seeds beyond 2^53 apart",
    steps: [
      { request: post(withSeed("12345678901234567")), expect: miss() },
      { request: post(withSeed("12345678901234568")), expect: miss({ otherKeyThan: 0 }) },
      { request: post(withSeed("12345678901234567")), expect: hit(0) },
    ],
  },
  {
    name: "bypasses a request that is not deterministic, and caches one with a seed",
    steps: [
      { request: post(chat({ temperature: 0.7 })), expect: bypass("nondeterministic") },
      { request: post(chat({ temperature: 0.7 })), expect: bypass("nondeterministic") },
      { request: post(chat({ temperature: 0.7, seed: 1 })), expect: miss() },
      { request: post(chat({ temperature: 0.7, seed: 1 })), expect: hit(2) },
      // A seed that is not an integer is none to a server (llama.cpp draws one at random then).
      { request: post(chat({ temperature: 0.7, seed: "7" })), expect: bypass("nondeterministic") },
      { request: post(chat({ temperature: 0.7, seed: 1.5 })), expect: bypass("nondeterministic") },
      { request: post(chat({ temperature: 0.7, seed: true })), expect: bypass("nondeterministic") },
    ],
  },
  {
    name: "caches an embeddings request, which nothing samples, without a temperature or seed",
    steps: [
      { request: embeddings("What is 2+2?"), expect: miss() },
      { request: embeddings("What is 2+2?"), expect: hit(0) },
      { request: post(JSON.stringify({ model: "llama", messages: [{ role: "user", content: "What is 2+2?" }] })), expect: bypass("nondeterministic") },
    ],
  },
  {
    name: "keeps tenants apart, unless the model is shared",
    steps: [
      { request: post(chat(), { authorization: "Bearer tenant-a" }), expect: miss() },
      { request: post(chat(), { authorization: "Bearer tenant-b" }), expect: miss({ otherKeyThan: 0 }) },
      { request: post(chat(), { authorization: "Bearer tenant-a" }), expect: hit(0) },
      { request: post(chat({}, "iris"), { authorization: "Bearer tenant-a" }), expect: miss() },
      { request: post(chat({}, "iris"), { authorization: "Bearer tenant-b" }), expect: hit(3) },
    ],
  },
  {
    name: "refreshes on client no-cache and bypasses on no-store",
    steps: [
      { request: post(chat()), expect: miss() },
      { request: post(chat(), { "cache-control": "no-cache" }), expect: { status: 200, cache: "REFRESH", reason: "client-no-cache", upstream: true, key: true, sameKeyAs: 0 } },
      { request: post(chat(), { "cache-control": "no-store" }), expect: bypass("client-no-store") },
      { request: post(chat()), expect: hit(1, { sameBodyAs: 1 }) },
    ],
  },
  {
    name: "bypasses malformed and deeply nested bodies, and other methods",
    steps: [
      { request: post('{"model":"llama","temperature":0,'), expect: bypass("malformed-json", { status: undefined }) },
      { request: post(`{"model":"llama","temperature":0,"x":${"[".repeat(100)}${"]".repeat(100)}}`), expect: bypass("json-too-deep", { status: undefined }) },
      { request: { method: "GET", path: "/v1/models?x=1" }, expect: bypass("method-not-cached", { status: undefined }) },
      { request: post(chat(), { "content-type": "text/plain" }), expect: bypass("not-json") },
    ],
    // With the router in front, the malformed bodies are its 400 (and GET /v1/models its list).
    forms: ["alone"],
  },
  {
    name: "does not store an upstream error or a response with set-cookie",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "fail 500" }] })), expect: miss({ status: 500, reason: "status-not-cacheable" }) },
      { request: post(chat({ messages: [{ role: "user", content: "fail 500" }] })), expect: miss({ status: 500, reason: "status-not-cacheable" }) },
      { request: post(chat({ messages: [{ role: "user", content: "set cookie" }] })), expect: miss({ reason: "upstream-set-cookie" }) },
      { request: post(chat({ messages: [{ role: "user", content: "set cookie" }] })), expect: miss({ reason: "upstream-set-cookie" }) },
    ],
  },
  {
    // Its reason is decided at the end of the body, after the response's headers went out: the
    // next request's MISS, and inference_cache.not_stored.reason=response-not-json, show it.
    name: "does not store a JSON response whose body is not JSON, nor a stream with an event that is not",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "broken json" }] })), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "broken json" }] })), expect: miss() },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "broken json" }] })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "broken json" }] })), expect: miss({ contentType: "sse" }) },
    ],
  },
  {
    // As above, the next request's MISS (and not_stored.reason=upstream-error-body) shows it.
    name: "does not store an answer that is an error in a 200: a JSON body or a stream's event with a top-level error",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "error answer" }] })), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "error answer" }] })), expect: miss() },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "error answer" }] })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "error answer" }] })), expect: miss({ contentType: "sse" }) },
    ],
  },
  {
    // As above: the next request's MISS shows the stream was not kept.
    name: "does not store a stream with an event named error, nor one with no event before data: [DONE]",
    steps: [
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "error event" }] })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "error event" }] })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "empty stream" }] })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "empty stream" }] })), expect: miss({ contentType: "sse" }) },
      // An event after [DONE] is none before it: clients stop reading at [DONE].
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "done first" }] })), expect: miss() },
      { request: post(chat({ stream: true, messages: [{ role: "user", content: "done first" }] })), expect: miss() },
    ],
  },
  {
    name: "does not store a response that varies on a request header the key does not cover; stores one that varies on CORS and encoding",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "vary accept-language" }] })), expect: miss({ reason: "upstream-vary" }) },
      { request: post(chat({ messages: [{ role: "user", content: "vary accept-language" }] })), expect: miss({ reason: "upstream-vary" }) },
      { request: post(chat({ messages: [{ role: "user", content: "vary Origin,+Accept-Encoding" }] })), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "vary Origin,+Accept-Encoding" }] })), expect: hit(2) },
      { request: post(chat({ messages: [{ role: "user", content: "vary *" }] })), expect: miss({ reason: "upstream-vary" }) },
    ],
  },
  {
    name: "bypasses a request whose stream is neither true, false nor null: servers read 1 and \"true\" differently",
    steps: [
      { request: post(chat({ stream: 1 })), expect: bypass("stream-not-boolean") },
      { request: post(chat({ stream: "true" })), expect: bypass("stream-not-boolean") },
      { request: post(chat({ stream: null })), expect: miss() },
      { request: post(chat({ stream: false })), expect: hit(2) },
    ],
  },
  {
    name: "does not store a response stale at once (max-age=0), unless s-maxage, which a shared cache obeys, allows it",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "max-age 0" }] })), expect: miss({ reason: "upstream-no-cache" }) },
      { request: post(chat({ messages: [{ role: "user", content: "max-age 0" }] })), expect: miss({ reason: "upstream-no-cache" }) },
      { request: post(chat({ messages: [{ role: "user", content: "s-maxage 60" }] })), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "s-maxage 60" }] })), expect: hit(2) },
    ],
  },
  {
    name: "stores a streamed miss whole and replays it as the same events, or as one JSON response",
    steps: [
      { request: post(chat({ stream: true })), expect: miss({ contentType: "sse" }) },
      { request: post(chat({ stream: true })), expect: hit(0, { contentType: "sse", sameEventsAs: 0, sameBodyAs: undefined }) },
      { request: post(chat({ stream: false })), expect: hit(0, { contentType: "json", sameBodyAs: undefined }) },
    ],
  },
  {
    name: "answers a streamed request from a stored JSON response as SSE",
    steps: [
      { request: post(chat()), expect: miss({ contentType: "json" }) },
      { request: post(chat({ stream: true })), expect: hit(0, { contentType: "sse", sameBodyAs: undefined }) },
    ],
  },
  {
    // The upstream gzips its JSON when asked (upstream.ts): a compressed answer is not stored.
    name: "asks the upstream for an uncompressed answer, so that a client's accept-encoding never keeps a response out",
    steps: [
      { request: post(chat({ seed: 77 }), { "accept-encoding": "gzip, deflate, br" }), expect: miss() },
      { request: post(chat({ seed: 77 }), { "accept-encoding": "gzip" }), expect: hit(0) },
    ],
  },
  {
    name: "turns a hit into a miss once the entry expired",
    config: { ttl_ms: 1000 },
    steps: [
      { request: post(chat()), expect: miss() },
      { request: post(chat()), expect: hit(0) },
      { request: post(chat()), expect: miss({ reason: "expired", sameKeyAs: 0 }), waitMs: 1200 },
    ],
  },
  {
    // The model's ttl_ms is 60 s; the upstream says its answer is good for 1 s.
    name: "keeps an entry no longer than the upstream's max-age",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "max-age 1" }] })), expect: miss() },
      { request: post(chat({ messages: [{ role: "user", content: "max-age 1" }] })), expect: hit(0) },
      { request: post(chat({ messages: [{ role: "user", content: "max-age 1" }] })), expect: miss({ reason: "expired", sameKeyAs: 0 }), waitMs: 1200 },
    ],
  },
  {
    // RFC 9111: freshness counts from when the upstream made the answer, so the `age` it arrives
    // with counts against max-age (and ttl_ms), and a hit's `age` includes it; freshness that is
    // not a number of seconds is stale at once.
    name: "counts the upstream's age against max-age and in a hit's age; takes an unreadable max-age as stale",
    steps: [
      { request: post(chat({ messages: [{ role: "user", content: "aged 50" }] })), expect: miss({ upstreamAge: "50" }) },
      { request: post(chat({ messages: [{ role: "user", content: "aged 50" }] })), expect: hit(0, { minAge: 50 }) },
      { request: post(chat({ messages: [{ role: "user", content: "aged 60" }] })), expect: miss({ reason: "upstream-no-cache", upstreamAge: "60" }) },
      { request: post(chat({ messages: [{ role: "user", content: "aged 60" }] })), expect: miss({ reason: "upstream-no-cache", upstreamAge: "60" }) },
      { request: post(chat({ messages: [{ role: "user", content: "max-age abc" }] })), expect: miss({ reason: "upstream-no-cache" }) },
      { request: post(chat({ messages: [{ role: "user", content: "max-age abc" }] })), expect: miss({ reason: "upstream-no-cache" }) },
    ],
  },
  {
    name: "only emits the key in key_only mode",
    config: { key_only: true },
    steps: [
      { request: post(chat()), expect: { status: 200, cache: "BYPASS", reason: "key-only", upstream: true, key: true } },
      { request: post(chat()), expect: { status: 200, cache: "BYPASS", reason: "key-only", upstream: true, key: true, sameKeyAs: 0 } },
    ],
  },
  {
    name: "ignores client-sent cache headers",
    steps: [
      { request: post(chat(), { "x-ai-cache-key": "f".repeat(64), "x-ai-cache": "HIT" }), expect: miss() },
      { request: post(chat()), expect: hit(0) },
    ],
  },
];
