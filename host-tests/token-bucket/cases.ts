// token-bucket's case table: sequences of requests, each step with what the client, the upstream
// and the filter state must show. Run in the emulator (host-tests/token-bucket.test.ts) in every
// form, and meant for a real Envoy as well, so nothing here assumes the emulator:
// - Tenants are symbolic: a runner turns tenant "a" into `authorization: Bearer <run>-a` with a
//   prefix of its own per run, so buckets left by an earlier run or case never meet this one.
//   No case uses a model total except under a case configuration of its own.
// - Rates are 1 per minute with bursts of 5 requests and 1,000 tokens: a case that takes less
//   than a minute sees no whole unit refilled, so remaining counts are exact in real time too;
//   times (reset, retry-after) are given as ranges.
// - The upstream is ModelServer (upstream.ts), the same answers in both runners.
//
// Prompt estimate: every request's text is "user" plus a 36-byte message, 40 bytes at 4 bytes per
// token: 10 tokens. A reservation is 10 + max_tokens (default_max_tokens 100 when absent).

export type TokenBucketForm = "pipeline" | "separate" | "alone";
export const TOKEN_BUCKET_FORMS: readonly TokenBucketForm[] = ["pipeline", "separate", "alone"];

export const ROUTER_CONFIG = {
  models: {
    llama: { versions: { v1: { cluster: "llama-v1", weight: 100 }, v2: { cluster: "llama-v2", weight: 0 } } },
    iris: { versions: { "1": { cluster: "iris-1" } } },
    embed: { versions: { "1": { cluster: "embed-1" } } },
  },
};

const LLAMA = { tenant: { requests_per_minute: 1, requests_burst: 5, tokens_per_minute: 1, tokens_burst: 1000 } };

export const TOKEN_BUCKET_CONFIG = {
  default_max_tokens: 100,
  bytes_per_token: 4,
  models: {
    llama: LLAMA,
    iris: { tenant: { requests_per_minute: 1, requests_burst: 2 } },
    embed: {},
  },
};

export interface StepRequest {
  /** Symbolic tenant (see above); absent: no identity header (the anonymous tenant). */
  tenant?: string;
  method?: string;
  path?: string;
  /** An array sends the header once per value (as separate header lines or h2 fields). */
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array;
}

/** Per dimension: the number, or null when the header must be absent. */
export interface Dims<T> {
  requests?: T | null;
  tokens?: T | null;
}

export interface StepExpect {
  status: number;
  /** Whether this request reached the upstream. */
  upstream: boolean;
  /** A refusal by the filter: its error name (token_bucket.<name>), OpenAI type, code and param. */
  error?: { name: string; type: string; code: string; param?: string | null };
  limit?: Dims<number>;
  remaining?: Dims<number>;
  /** x-ratelimit-reset-*: [least, most] milliseconds (parsed from Go's duration format). */
  resetMs?: Dims<[number, number]>;
  /** retry-after seconds: [least, most], or null when it must be absent. */
  retryAfter?: [number, number] | null;
  /** No x-ratelimit-* header at all. */
  noHeaders?: boolean;
  /** Filter state wasm.llm_tokens once the stream is over. */
  llmTokens?: number;
  /** The max_tokens the upstream saw ("none": absent). */
  upstreamMaxTokens?: number | "none";
  /** The max_output_tokens a Responses API request reached the upstream with ("none": absent). */
  upstreamMaxOutputTokens?: number | "none";
  /** The response's cache-control ("no-store" on an answer served smaller); null: absent. */
  cacheControl?: string | null;
  /** Text the refusal's message contains. */
  messageIncludes?: string;
  contentType?: "json" | "sse";
}

export interface TokenBucketStep {
  request: StepRequest;
  expect: StepExpect;
}

export interface TokenBucketCase {
  name: string;
  /** Settings merged over TOKEN_BUCKET_CONFIG (top-level keys replace). */
  config?: Record<string, unknown>;
  steps: TokenBucketStep[];
  forms?: TokenBucketForm[];
}

export const CHAT_PATH = "/v1/chat/completions";

/** A 36-byte message that says `phrase`. */
export function say(phrase = "What is 2+2?"): string {
  return phrase.padEnd(36, ".");
}

/** A chat request body to `model` with `extra` members. */
export function chat(extra: Record<string, unknown> = {}, model = "llama", message = say()): string {
  return JSON.stringify({ model, messages: [{ role: "user", content: message }], ...extra });
}

const post = (tenant: string | undefined, body: string, headers: Record<string, string | string[]> = {}, path = CHAT_PATH): StepRequest =>
  ({ tenant, method: "POST", path, headers: { "content-type": "application/json", ...headers }, body });

export const RESPONSES_PATH = "/v1/responses";

/** A Responses API request body to `model`: one user message as `input` (the same 10-token estimate as `chat`). */
export function respond(extra: Record<string, unknown> = {}, model = "llama", message = say()): string {
  return JSON.stringify({ model, input: [{ role: "user", content: message }], ...extra });
}

const ok = (extra: Partial<StepExpect> = {}): StepExpect => ({ status: 200, upstream: true, ...extra });
const limited = (name: string, type: string, extra: Partial<StepExpect> = {}): StepExpect =>
  ({ status: 429, upstream: false, error: { name, type, code: "rate_limit_exceeded", param: null }, llmTokens: 0, ...extra });
const invalid = (code: string, param: string): StepExpect =>
  ({ status: 400, upstream: false, error: { name: "invalid_count", type: "invalid_request_error", code, param }, noHeaders: true, llmTokens: 0 });

const MINUTE = 60_000;
const near = (ms: number): [number, number] => [ms - 5_000, ms];

export const CASES: TokenBucketCase[] = [
  {
    name: "counts requests and tokens down, and settles each response from its usage",
    steps: [
      // 10 + 50 reserved; usage 12 + 30 = 42 gives 18 back.
      { request: post("a", chat({ max_tokens: 50 })), expect: ok({
        limit: { requests: 5, tokens: 1000 }, remaining: { requests: 4, tokens: 940 },
        resetMs: { requests: near(MINUTE), tokens: near(60 * MINUTE) }, llmTokens: 42, upstreamMaxTokens: 50, contentType: "json",
      }) },
      { request: post("a", chat({ max_tokens: 50 })), expect: ok({ remaining: { requests: 3, tokens: 898 }, llmTokens: 42 }) },
      // 10 + 10 reserved, 22 used: 2 more taken.
      { request: post("a", chat({ max_tokens: 10 })), expect: ok({ remaining: { requests: 2, tokens: 896 }, llmTokens: 22 }) },
      { request: post("a", chat({ max_tokens: 0 })), expect: ok({ remaining: { requests: 1, tokens: 884 }, llmTokens: 12 }) },
      // No max_tokens: 10 + 100 reserved.
      { request: post("a", chat()), expect: ok({ remaining: { requests: 0, tokens: 772 }, llmTokens: 42, upstreamMaxTokens: "none" }) },
      { request: post("a", chat({ max_tokens: 1 })), expect: limited("requests_limited", "requests", {
        remaining: { requests: 0, tokens: 840 }, retryAfter: [55, 60],
      }) },
    ],
  },
  {
    name: "refuses a reservation larger than what is left, and one larger than the burst",
    steps: [
      // 910 reserved, 912 used.
      { request: post("b", chat({ max_tokens: 900 }, "llama", say("Tell me at length"))), expect: ok({ remaining: { requests: 4, tokens: 90 }, llmTokens: 912 }) },
      // 110 wanted, 88 left: 22 tokens at 1 a minute.
      { request: post("b", chat({ max_tokens: 100 })), expect: limited("tokens_limited", "tokens", {
        remaining: { requests: 4, tokens: 88 }, retryAfter: [22 * 60 - 5, 22 * 60],
      }) },
      { request: post("b", chat({ max_tokens: 5000 })), expect: limited("request_too_large", "tokens", {
        remaining: { requests: 4, tokens: 88 }, retryAfter: null,
      }) },
      // The same from the Responses API: its message names the field to lower.
      { request: post("b", respond({ max_output_tokens: 5000 }), {}, RESPONSES_PATH), expect: limited("request_too_large", "tokens", {
        remaining: { requests: 4, tokens: 88 }, retryAfter: null, messageIncludes: "(prompt estimate 10 + max_output_tokens 5000), more than the limit's burst of 1000 tokens. Lower max_output_tokens",
      }) },
      { request: post("b", chat({ max_tokens: 50 })), expect: ok({ remaining: { requests: 3, tokens: 28 }, llmTokens: 42 }) },
    ],
  },
  {
    name: "keeps tenants and models apart",
    steps: [
      { request: post("c1", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 4, tokens: 989 } }) },
      { request: post("c2", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 4, tokens: 989 } }) },
      { request: post("c1", chat({ max_tokens: 1 }, "iris")), expect: ok({ limit: { requests: 2, tokens: null }, remaining: { requests: 1, tokens: null } }) },
      { request: post(undefined, chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 4, tokens: 989 } }) },
      // c1's first request used 13 for 11 reserved.
      { request: post("c1", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 3, tokens: 976 } }) },
    ],
  },
  {
    name: "ignores a client-sent x-ai-tenant: the identity header decides",
    steps: [
      { request: post("h", chat({ max_tokens: 1 }), { "x-ai-tenant": "someone-else" }), expect: ok({ remaining: { requests: 4 } }) },
      { request: post("h", chat({ max_tokens: 1 }), { "x-ai-tenant": "another" }), expect: ok({ remaining: { requests: 3 } }) },
      { request: post("h2", chat({ max_tokens: 1 }), { "x-ai-tenant": "someone-else" }), expect: ok({ remaining: { requests: 4 } }) },
    ],
  },
  {
    name: "settles a stream from its usage chunk, and keeps the reservation of a stream without one",
    steps: [
      { request: post("d", chat({ max_tokens: 50, stream: true, stream_options: { include_usage: true } })), expect: ok({ remaining: { tokens: 940 }, llmTokens: 42, contentType: "sse" }) },
      { request: post("d", chat({ max_tokens: 50 })), expect: ok({ remaining: { tokens: 898 }, llmTokens: 42 }) },
      { request: post("d", chat({ max_tokens: 50, stream: true })), expect: ok({ remaining: { tokens: 856 }, llmTokens: 60, contentType: "sse" }) },
      { request: post("d", chat({ max_tokens: 50 })), expect: ok({ remaining: { tokens: 796 } }) },
    ],
  },
  {
    // The upstream gzips its JSON when asked (upstream.ts), which would hide the usage.
    name: "asks the upstream for an uncompressed answer, so that a client's accept-encoding never hides the usage",
    steps: [
      { request: post("z", chat({ max_tokens: 50 }), { "accept-encoding": "gzip, deflate, br" }), expect: ok({ remaining: { tokens: 940 }, llmTokens: 42, contentType: "json" }) },
      { request: post("z", chat({ max_tokens: 50 }), { "accept-encoding": "gzip" }), expect: ok({ remaining: { tokens: 898 }, llmTokens: 42 }) },
    ],
  },
  {
    name: "charges nothing for an upstream error, and the reservation for an answer without usage",
    steps: [
      { request: post("e", chat({ max_tokens: 50 }, "llama", say("fail 500"))), expect: { status: 500, upstream: true, remaining: { tokens: 940 }, llmTokens: 0 } },
      { request: post("e", chat({ max_tokens: 50 }, "llama", say("no usage"))), expect: ok({ remaining: { tokens: 940 }, llmTokens: 60 }) },
      { request: post("e", chat({ max_tokens: 50 })), expect: ok({ remaining: { requests: 2, tokens: 880 } }) },
    ],
  },
  {
    // Made-up keys the upstream refuses must not hold buckets (and so slots) a request short.
    // A 403 is a known identity refused something: its request counts, as after a 500.
    name: "gives the tenant's request back as well as the tokens when the upstream refuses the identity (401), not after a 403",
    steps: [
      { request: post("u", chat({ max_tokens: 50 }, "llama", say("fail 401"))), expect: { status: 401, upstream: true, remaining: { requests: 4, tokens: 940 }, llmTokens: 0 } },
      { request: post("u", chat({ max_tokens: 50 }, "llama", say("fail 401"))), expect: { status: 401, upstream: true, remaining: { requests: 4, tokens: 940 }, llmTokens: 0 } },
      { request: post("u", chat({ max_tokens: 50 }, "llama", say("fail 403"))), expect: { status: 403, upstream: true, remaining: { requests: 4, tokens: 940 }, llmTokens: 0 } },
      { request: post("u", chat({ max_tokens: 50 })), expect: ok({ remaining: { requests: 3, tokens: 940 } }) },
    ],
  },
  {
    // The total is what still caps a flood of made-up keys: a 401 gives its request back to the
    // tenant's bucket only.
    name: "keeps a 401's request in the model's total",
    config: { models: { llama: { ...LLAMA, total: { requests_per_minute: 1, requests_burst: 2 } } } },
    steps: [
      { request: post("x1", chat({ max_tokens: 50 }, "llama", say("fail 401"))), expect: { status: 401, upstream: true, llmTokens: 0 } },
      { request: post("x2", chat({ max_tokens: 50 }, "llama", say("fail 401"))), expect: { status: 401, upstream: true, llmTokens: 0 } },
      { request: post("x3", chat({ max_tokens: 50 }, "llama", say("fail 401"))), expect: limited("requests_limited", "requests") },
    ],
  },
  {
    // Envoy joins repeated `authorization` headers into one value; other names arrive as several.
    name: "refuses a tenant header sent twice, and counts nothing",
    config: { tenant_header: "x-api-key" },
    steps: [
      {
        request: post(undefined, chat(), { "x-api-key": ["made-up", "k1"] }),
        expect: { status: 400, upstream: false, error: { name: "repeated_identity", type: "invalid_request_error", code: "repeated_identity", param: null }, noHeaders: true, llmTokens: 0 },
      },
      { request: post(undefined, chat(), { "x-api-key": "k1" }), expect: ok({ remaining: { requests: 4 } }) },
    ],
  },
  {
    name: "answers 400 for a max_tokens or n that is not a valid count, and counts nothing",
    steps: [
      { request: post("f", chat({ max_tokens: "ten" })), expect: invalid("invalid_type", "max_tokens") },
      { request: post("f", chat({ max_completion_tokens: -5 })), expect: invalid("integer_below_min_value", "max_completion_tokens") },
      { request: post("f", chat({ max_tokens: 10, n: 500 })), expect: invalid("integer_above_max_value", "n") },
      { request: post("f", chat({ max_tokens: 50 })), expect: ok({ remaining: { requests: 4, tokens: 940 } }) },
    ],
  },
  {
    name: "passes a model without buckets, without headers",
    steps: [
      { request: post("g", chat({ max_tokens: 5000 }, "embed")), expect: ok({ noHeaders: true, llmTokens: 42 }) },
      // Fleet mode charges wasm.llm_tokens: the usage, not the estimate, even when compression was asked for.
      { request: post("g", chat({ max_tokens: 5000 }, "embed"), { "accept-encoding": "gzip" }), expect: ok({ noHeaders: true, llmTokens: 42, contentType: "json" }) },
    ],
  },
  {
    name: "serves a request that does not fit smaller with clamp_max_tokens",
    config: { clamp_max_tokens: true },
    steps: [
      { request: post("i", chat({ max_tokens: 900 }, "llama", say("Tell me at length"))), expect: ok({ remaining: { tokens: 90 }, llmTokens: 912, cacheControl: null }) },
      // 88 left: max_tokens 78; 42 used. An answer served smaller is no answer to the request as
      // sent: no cache keyed by that may store it.
      { request: post("i", chat({ max_tokens: 100 })), expect: ok({ remaining: { tokens: 0 }, upstreamMaxTokens: 78, llmTokens: 42, cacheControl: "no-store" }) },
      // 46 left: max_tokens 36.
      { request: post("i", chat()), expect: ok({ remaining: { tokens: 0 }, upstreamMaxTokens: 36, llmTokens: 42, cacheControl: "no-store" }) },
      // 4 left, fewer than 10 + clamp_min_tokens 16.
      { request: post("i", chat({ max_tokens: 100 })), expect: limited("tokens_limited", "tokens", { remaining: { tokens: 4 }, retryAfter: [22 * 60 - 5, 22 * 60] }) },
    ],
  },
  {
    name: "reads the Responses API's max_output_tokens, and lowers it (or adds it) with clamp_max_tokens",
    config: { clamp_max_tokens: true },
    steps: [
      // 10 + 900 reserved (not the default 100): 912 used.
      { request: post("r", respond({ max_output_tokens: 900 }, "llama", say("Tell me at length")), {}, RESPONSES_PATH),
        expect: ok({ remaining: { tokens: 90 }, llmTokens: 912, upstreamMaxOutputTokens: 900, upstreamMaxTokens: "none" }) },
      // 88 left: max_output_tokens 78, and no max_tokens added (a Responses upstream refuses it).
      { request: post("r", respond({ max_output_tokens: 100 }), {}, RESPONSES_PATH),
        expect: ok({ remaining: { tokens: 0 }, upstreamMaxOutputTokens: 78, upstreamMaxTokens: "none", llmTokens: 42 }) },
      // 46 left, no limit field: the Responses API's own is added, 36.
      { request: post("r", respond(), {}, RESPONSES_PATH),
        expect: ok({ remaining: { tokens: 0 }, upstreamMaxOutputTokens: 36, upstreamMaxTokens: "none", llmTokens: 42 }) },
      // Over a new tenant's burst: served with what the burst holds, 1000 - 10.
      { request: post("r2", respond({ max_output_tokens: 5000 }), {}, RESPONSES_PATH),
        expect: ok({ remaining: { tokens: 0 }, upstreamMaxOutputTokens: 990, llmTokens: 42 }) },
      // A chat request's max_output_tokens is another API's field, which its upstream ignores:
      // the default is reserved (958 - 110), not 1 + 10.
      { request: post("r2", chat({ max_output_tokens: 1 })), expect: ok({ remaining: { tokens: 848 }, upstreamMaxTokens: "none", llmTokens: 42 }) },
    ],
  },
  {
    name: "counts but never refuses in shadow mode",
    config: { shadow: true },
    steps: [
      { request: post("j", chat({ max_tokens: 5000 })), expect: ok({ remaining: { requests: 5, tokens: 1000 }, llmTokens: 42 }) },
      { request: post("j", chat({ max_tokens: "ten" })), expect: ok({ remaining: { requests: 4, tokens: 890 } }) },
      { request: post("j", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 3 } }) },
      { request: post("j", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 2 } }) },
      { request: post("j", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 1 } }) },
      { request: post("j", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 0 } }) },
      { request: post("j", chat({ max_tokens: 1 })), expect: ok({ remaining: { requests: 0 }, retryAfter: null }) },
    ],
  },
  {
    // Without the router in front the model is whatever the body names: with a shared default a
    // client that names a new model each time still draws on one set of buckets.
    name: "gives every model of a shared default (per_model false) one set of buckets, so a made-up model name is no fresh bucket",
    forms: ["alone"],
    config: { models: {}, default: { per_model: false, tenant: { requests_per_minute: 1, requests_burst: 2 }, total: { requests_per_minute: 1, requests_burst: 3 } } },
    steps: [
      { request: post("p", chat({ max_tokens: 1 }, "made-up-1")), expect: ok({ remaining: { requests: 1, tokens: null } }) },
      { request: post("p", chat({ max_tokens: 1 }, "made-up-2")), expect: ok({ remaining: { requests: 0, tokens: null } }) },
      // The 429 says the limit is every such model's, not the one named: another name would not help.
      {
        request: post("p", chat({ max_tokens: 1 }, "made-up-3")),
        expect: limited("requests_limited", "requests", {
          remaining: { requests: 0 }, retryAfter: [55, 60],
          messageIncludes: "Rate limit reached for requests to model 'made-up-3' (and every model without limits of its own: one shared limit): 1 per minute, burst 2.",
        }),
      },
      // Another tenant has buckets of its own, and meets the total the models share.
      { request: post("q", chat({ max_tokens: 1 }, "made-up-4")), expect: ok() },
      {
        request: post("q", chat({ max_tokens: 1 }, "made-up-5")),
        expect: limited("requests_limited", "requests", {
          retryAfter: [55, 60],
          messageIncludes: "Rate limit reached for requests to model 'made-up-5' (all tenants, and every model without limits of its own: one shared limit): 1 per minute, burst 3.",
        }),
      },
    ],
  },
  {
    name: "limits a model's total across tenants",
    config: { models: { embed: { total: { requests_per_minute: 1, requests_burst: 2 } } } },
    steps: [
      { request: post("k1", chat({ max_tokens: 1 }, "embed")), expect: ok({ remaining: { requests: 1, tokens: null } }) },
      { request: post("k2", chat({ max_tokens: 1 }, "embed")), expect: ok({ remaining: { requests: 0 } }) },
      { request: post("k3", chat({ max_tokens: 1 }, "embed")), expect: limited("requests_limited", "requests", { remaining: { requests: 0 }, retryAfter: [55, 60] }) },
    ],
  },
];
