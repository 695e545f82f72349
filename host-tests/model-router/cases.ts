// model-router's behaviour as one table: each case is a request and what the client, the
// upstream and the stats must see. Data only; the runners are host-tests/model-router.test.ts
// (emulator) and envoy/tests/model-router/cases.test.ts (a real Envoy, HTTP/1.1 and h2c), each
// for every form in ./forms.ts FORMS. Behaviour that needs a different configuration, shared
// data, many requests or time stays in those test files.
import { keyLandingOn, stickyVersion, tenantHash } from "./bucket";

/** The configuration every case runs with (each version's cluster exists in the Envoy template). */
export const CASES_CONFIG = {
  sticky_key: "header",
  sticky_header: "x-session-id",
  max_body_bytes: 4096,
  rewrite_body_model: true,
  path_templates: ["kserve_v2", "torchserve", "/v1/models/{model}:predict"],
  models: {
    llama: {
      versions: {
        v1: { cluster: "llama-v1", upstream_model: "meta-llama/Llama-3.1-8B", weight: 90 },
        v2: { cluster: "llama-v2", upstream_model: "llama-v2", weight: 10, fallback: ["v1"] },
        v3: { cluster: "llama-v3", weight: 0, fallback: [] },
      },
      aliases: { stable: "v1", canary: "v2", latest: "v3" },
      created: 1735689600,
    },
    iris: { versions: { "1": { cluster: "iris-1", weight: 100 }, "2": { cluster: "iris-2", weight: 0 } } },
    "org/model": { versions: { a: { cluster: "org-a" } }, owned_by: "org" },
  },
};

/** Every cluster CASES_CONFIG names. */
export const CASES_CLUSTERS = ["llama-v1", "llama-v2", "llama-v3", "iris-1", "iris-2", "org-a"] as const;

export type Body = string | Uint8Array;

export interface CaseRequest {
  /** Default POST with a body, GET without. */
  method?: string;
  path: string;
  /** An array sends the header once per value. */
  headers?: Record<string, string | string[]>;
  /** Sent whole, with content-length. */
  body?: Body;
  /** Sent as separate frames without content-length (HTTP/1.1 chunked, HTTP/2 DATA frames). */
  chunks?: Body[];
  trailers?: Record<string, string>;
}

/** The request reached the router's cluster. */
export interface Routed {
  status: 200;
  /** Which source named the model: `model_router.requests.model=<model>.version=<version>.source=<source>` grows by one. */
  source: "header" | "path" | "body" | "default";
  cluster: string;
  model: string;
  version: string;
  /** x-ai-tenant as the upstream saw it. */
  tenant?: string;
  /** Every x-ai-* header the upstream saw, exactly (client-sent copies removed). */
  aiHeaders?: Record<string, string>;
  /** The body the upstream received, exactly. */
  upstreamBody?: string;
  /** The upstream's content-length; null: none (the body stays chunked). */
  upstreamContentLength?: string | null;
}

/** The router answered with an OpenAI-shaped error. */
export interface Refused {
  status: 400 | 404 | 405 | 413;
  code: string;
  type: string;
  param: string | null;
  /** The error kind: the `model_router.errors.kind=<kind>` stat grows by one. */
  kind: string;
  message?: string | RegExp;
}

export interface RouterCase {
  name: string;
  request: CaseRequest;
  expect: Routed | Refused;
}

const JSON_CT = { "content-type": "application/json" };
const CHAT_PATH = "/v1/chat/completions";
const chat = (model: unknown, extra: object = {}) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra });

const LLAMA_WEIGHTS = [["v1", 90], ["v2", 10], ["v3", 0]] as const;
/** The llama version a sticky session key lands on. */
const stickyLlama = (key: string) => stickyVersion("llama", { kind: "header", value: key }, LLAMA_WEIGHTS);
const ON_V1 = keyLandingOn("llama", "v1", LLAMA_WEIGHTS, Array.from({ length: 200 }, (_, i) => `probe-v1-${i}`));
const llama = (version: string) => ({ cluster: `llama-${version}`, model: "llama", version });
const iris = (version: string) => ({ cluster: `iris-${version}`, model: "iris", version });

const filler = chat("llama@v2", { filler: "x".repeat(3000) });
const deep65 = `{"model":"llama","x":${"[".repeat(65)}${"]".repeat(65)}}`;
const deep100 = `{"model":"llama","x":${"[".repeat(100)}${"]".repeat(100)}}`;
const invalid = (bytes: number[]) => Buffer.concat([Buffer.from('{"model":"llama","x":"'), Buffer.from(bytes), Buffer.from('"}')]);
/** `s` cut into pieces of `size` characters. */
const chunksOf = (s: string, size: number) => Array.from({ length: Math.ceil(s.length / size) }, (_, i) => s.slice(i * size, (i + 1) * size));
const rewritten = (body: string, from: string, to: string) => body.replace(JSON.stringify(from), JSON.stringify(to));
const stableBody = `{ "messages": [], "model" : "llama@stable", "x": "é" }`;
const stableRewritten = rewritten(stableBody, "llama@stable", "meta-llama/Llama-3.1-8B");

const error = (status: Refused["status"], code: string, kind: string, param: string | null, message?: string | RegExp): Refused => ({
  status, code, type: "invalid_request_error", param, kind, ...(message === undefined ? {} : { message }),
});

export const CASES: RouterCase[] = [
  // Sources, in the configured order: header, path, body.
  { name: "routes by the model header", request: { path: CHAT_PATH, headers: { "x-model": "llama", "x-session-id": "k-v1" } }, expect: { status: 200, source: "header", ...llama(stickyLlama("k-v1")) } },
  { name: "routes by the model header with name@version", request: { path: "/", headers: { "x-model": "llama@v3" } }, expect: { status: 200, source: "header", ...llama("v3") } },
  { name: "routes by the model and version headers", request: { path: "/", headers: { "x-model": "llama", "x-model-version": "v2" } }, expect: { status: 200, source: "header", ...llama("v2") } },
  { name: "routes by an alias in the version header", request: { path: "/", headers: { "x-model": "llama", "x-model-version": "latest" } }, expect: { status: 200, source: "header", ...llama("v3") } },
  { name: "routes a model name with a slash", request: { path: "/", headers: { "x-model": "org/model" } }, expect: { status: 200, source: "header", cluster: "org-a", model: "org/model", version: "a" } },
  { name: "routes a KServe V2 infer path by the split", request: { method: "POST", path: "/v2/models/iris/infer", body: "{}" }, expect: { status: 200, source: "path", ...iris("1") } },
  { name: "routes a KServe V2 versioned infer path", request: { method: "POST", path: "/v2/models/iris/versions/2/infer", body: "{}" }, expect: { status: 200, source: "path", ...iris("2") } },
  { name: "routes a KServe V2 ready path", request: { path: "/v2/models/iris/versions/2/ready" }, expect: { status: 200, source: "path", ...iris("2") } },
  { name: "routes a KServe V2 metadata path", request: { path: "/v2/models/iris/versions/2" }, expect: { status: 200, source: "path", ...iris("2") } },
  { name: "routes a KServe V2 infer path with a trailing slash", request: { method: "POST", path: "/v2/models/iris/infer/", body: "{}" }, expect: { status: 200, source: "path", ...iris("1") } },
  { name: "routes a KServe V2 path naming a model with a slash", request: { method: "POST", path: "/v2/models/org/model/infer", body: "{}" }, expect: { status: 200, source: "path", cluster: "org-a", model: "org/model", version: "a" } },
  { name: "routes a KServe V2 versioned path naming a model with a slash", request: { method: "POST", path: "/v2/models/org/model/versions/a/infer?x=1", body: "{}" }, expect: { status: 200, source: "path", cluster: "org-a", model: "org/model", version: "a" } },
  { name: "routes a TorchServe path naming a model with a slash", request: { method: "POST", path: "/predictions/org/model", body: "x" }, expect: { status: 200, source: "path", cluster: "org-a", model: "org/model", version: "a" } },
  { name: "leaves Triton's server-wide stats path to the other sources, not a model named stats", request: { path: "/v2/models/stats" }, expect: error(400, "model_required", "model_missing", "model") },
  { name: "rewrites the body of a custom template's request", request: { method: "POST", path: "/v1/models/llama:predict", headers: { ...JSON_CT, "x-session-id": ON_V1 }, body: '{"x":1}' }, expect: { status: 200, source: "path", ...llama("v1"), upstreamBody: '{"model":"meta-llama/Llama-3.1-8B","x":1}' } },
  // rewrite_body_model is on: a JSON body a built-in template routed still passes as sent.
  { name: "leaves a path-routed JSON body as sent", request: { method: "POST", path: "/v2/models/iris/infer", headers: JSON_CT, body: '{"inputs": []}' }, expect: { status: 200, source: "path", ...iris("1"), upstreamBody: '{"inputs": []}' } },
  { name: "routes a TorchServe path", request: { method: "POST", path: "/predictions/iris/2", body: "\u0000\u0001" }, expect: { status: 200, source: "path", ...iris("2"), upstreamBody: "\u0000\u0001" } },
  { name: "routes a TorchServe path without version", request: { method: "POST", path: "/predictions/iris?x=1", body: "x" }, expect: { status: 200, source: "path", ...iris("1") } },
  { name: "routes by a custom template", request: { method: "POST", path: "/v1/models/llama:predict", headers: { "x-session-id": "k-v1" }, body: "{}" }, expect: { status: 200, source: "path", ...llama(stickyLlama("k-v1")) } },
  { name: "routes by the body's model", request: { path: CHAT_PATH, headers: { ...JSON_CT, "x-session-id": "k-v1" }, body: chat("llama") }, expect: { status: 200, source: "body", ...llama(stickyLlama("k-v1")) } },
  { name: "routes by the body's name@version", request: { path: CHAT_PATH, headers: JSON_CT, body: chat("llama@v2") }, expect: { status: 200, source: "body", ...llama("v2") } },
  { name: "routes by an alias in the body", request: { path: CHAT_PATH, body: chat("llama@canary") }, expect: { status: 200, source: "body", ...llama("v2") } },
  { name: "routes by the version header for a body model", request: { path: CHAT_PATH, headers: { "x-model-version": "stable" }, body: chat("llama") }, expect: { status: 200, source: "body", ...llama("v1") } },
  { name: "routes by an escaped body model", request: { path: CHAT_PATH, body: '{"model":"ll\\u0061ma@v3"}' }, expect: { status: 200, source: "body", ...llama("v3") } },
  { name: "routes by a +json content type", request: { path: CHAT_PATH, headers: { "content-type": "application/vnd.api+json; charset=utf-8" }, body: chat("llama@v3") }, expect: { status: 200, source: "body", ...llama("v3") } },
  { name: "routes by the header before the body", request: { path: CHAT_PATH, headers: { "x-model": "iris" }, body: chat("llama") }, expect: { status: 200, source: "header", ...iris("1") } },
  { name: "routes by the path before the body", request: { method: "POST", path: "/v2/models/iris/infer", body: chat("llama") }, expect: { status: 200, source: "path", ...iris("1") } },
  { name: "lets an explicit version win over the sticky split", request: { path: CHAT_PATH, headers: { ...JSON_CT, "x-session-id": ON_V1 }, body: chat("llama@v2") }, expect: { status: 200, source: "body", ...llama("v2") } },

  // Bodies in frames.
  { name: "routes a body that arrives in many small chunks", request: { path: CHAT_PATH, headers: JSON_CT, chunks: chunksOf(filler, 97) }, expect: { status: 200, source: "body", ...llama("v2"), upstreamBody: rewritten(filler, "llama@v2", "llama-v2"), upstreamContentLength: null } },
  { name: "finishes in the trailers when the body ends with trailers", request: { path: CHAT_PATH, headers: JSON_CT, chunks: [chat("llama@v2").slice(0, 10), chat("llama@v2").slice(10)], trailers: { "x-checksum": "abc" } }, expect: { status: 200, source: "body", ...llama("v2"), upstreamBody: chat("llama-v2") } },

  // Headers it sets and removes.
  {
    name: "removes client-sent x-ai-* headers and sets x-ai-tenant from a hash of the identity",
    request: { path: CHAT_PATH, headers: { ...JSON_CT, "x-ai-cluster": "llama-v2", "x-ai-model": "evil", "x-ai-model-version": "v9", "x-ai-tenant": "someone-else", authorization: "Bearer sk-secret" }, body: chat("llama@v1") },
    expect: { status: 200, source: "body", ...llama("v1"), aiHeaders: { "x-ai-cluster": "llama-v1", "x-ai-model": "llama", "x-ai-model-version": "v1", "x-ai-tenant": tenantHash("Bearer sk-secret") } },
  },
  { name: "sets x-ai-tenant to anonymous without an identity, whatever the client sent", request: { path: CHAT_PATH, headers: { ...JSON_CT, "x-ai-tenant": "spoof" }, body: chat("llama@v1") }, expect: { status: 200, source: "body", ...llama("v1"), tenant: "anonymous" } },

  // Body rewrite (rewrite_body_model).
  { name: "replaces the body's model with the version's upstream name and fixes content-length", request: { path: CHAT_PATH, headers: JSON_CT, body: stableBody }, expect: { status: 200, source: "body", ...llama("v1"), upstreamBody: stableRewritten, upstreamContentLength: String(Buffer.byteLength(stableRewritten)) } },
  { name: "rewrites to the model name when the version has no upstream name", request: { path: CHAT_PATH, body: chat("llama@v3") }, expect: { status: 200, source: "body", ...llama("v3"), upstreamBody: chat("llama") } },
  { name: "rewrites name@version to the upstream name", request: { path: CHAT_PATH, body: chat("llama@v2") }, expect: { status: 200, source: "body", ...llama("v2"), upstreamBody: chat("llama-v2") } },
  { name: "leaves a body model equal to the upstream name alone", request: { path: "/", headers: { "x-model": "iris" }, body: '{"model":"iris"}' }, expect: { status: 200, source: "header", ...iris("1"), upstreamBody: '{"model":"iris"}' } },
  { name: "rewrites a body whose model came from a header", request: { path: "/", headers: { "x-model": "llama", "x-model-version": "v2" }, body: chat("whatever") }, expect: { status: 200, source: "header", ...llama("v2"), upstreamBody: chat("llama-v2") } },
  { name: "routes a body whose other members are duplicated", request: { path: CHAT_PATH, headers: { "x-session-id": "k-v1" }, body: '{"model":"llama","messages":[],"messages":[]}' }, expect: { status: 200, source: "body", ...llama(stickyLlama("k-v1")), upstreamBody: '{"model":"meta-llama/Llama-3.1-8B","messages":[],"messages":[]}' } },
  ...["not json", '{"model": 1}', "[]"].map((body): RouterCase => ({ name: `passes ${body} through when the model came from a header`, request: { path: "/", headers: { "x-model": "llama@v2" }, body }, expect: { status: 200, source: "header", ...llama("v2"), upstreamBody: body } })),
  ...([
    ['{"prompt":"hi"}', '{"model":"llama-v2","prompt":"hi"}'],
    ["{}", '{"model":"llama-v2"}'],
    [' \n { "prompt" : "é" } ', ' \n {"model":"llama-v2", "prompt" : "é" } '],
  ] as const).map(([body, want]): RouterCase => ({
    name: `adds the model to ${JSON.stringify(body)}, which has none`,
    request: { path: "/v1/completions", headers: { ...JSON_CT, "x-model": "llama@v2" }, body },
    expect: { status: 200, source: "header", ...llama("v2"), upstreamBody: want, upstreamContentLength: String(Buffer.byteLength(want)) },
  })),
  { name: "keeps a chunked body chunked (no content-length added)", request: { path: "/", chunks: [chat("llama@v2").slice(0, 5), chat("llama@v2").slice(5)] }, expect: { status: 200, source: "body", ...llama("v2"), upstreamBody: chat("llama-v2"), upstreamContentLength: null } },

  // Errors, in OpenAI's shape.
  { name: "answers an unknown model (body)", request: { path: CHAT_PATH, body: chat("gpt-4o") }, expect: error(404, "model_not_found", "model_not_found", "model", "The model 'gpt-4o' does not exist") },
  { name: "answers an unknown model with a quote in its name", request: { path: CHAT_PATH, body: chat('gpt"4') }, expect: error(404, "model_not_found", "model_not_found", "model", "The model 'gpt\"4' does not exist") },
  { name: "answers an unknown model (header)", request: { path: CHAT_PATH, headers: { "x-model": "gpt-4o" } }, expect: error(404, "model_not_found", "model_not_found", "model") },
  { name: "answers an unknown model (header, with a body)", request: { path: CHAT_PATH, headers: { ...JSON_CT, "x-model": "gpt-9" }, body: chat("x") }, expect: error(404, "model_not_found", "model_not_found", "model") },
  { name: "answers an unknown model (TorchServe path)", request: { path: "/predictions/resnet" }, expect: error(404, "model_not_found", "model_not_found", "model") },
  { name: "answers an unknown model (KServe path)", request: { path: "/v2/models/nope/infer", headers: JSON_CT, body: "{}" }, expect: error(404, "model_not_found", "model_not_found", "model") },
  { name: "answers an unknown version", request: { path: CHAT_PATH, body: chat("llama@v9") }, expect: error(404, "model_version_not_found", "version_not_found", "model", "The model 'llama' has no version or alias 'v9'") },
  { name: "answers an unknown version header", request: { path: CHAT_PATH, headers: { "x-model": "llama", "x-model-version": "v9" } }, expect: error(404, "model_version_not_found", "version_not_found", "model") },
  { name: "answers a malformed body", request: { path: CHAT_PATH, body: '{"model":"llama"' }, expect: error(400, "invalid_json", "invalid_body", null, "The request body is not valid JSON: unexpected end of input at byte 16") },
  { name: "says a malformed body was sent compressed", request: { path: CHAT_PATH, headers: { ...JSON_CT, "content-encoding": "gzip" }, body: "H4sIAAAAAAAAA6tWyk0syslMSS1SslJQSs7PS0lNTq0BAAnbzAsZAAAA" }, expect: error(400, "invalid_json", "invalid_body", null, /^The request body is not valid JSON: .* at byte 0\. It was sent with content-encoding 'gzip', which this gateway does not decode: send it uncompressed, or decompress it in Envoy first$/) },
  { name: "answers a body that is a string", request: { path: CHAT_PATH, body: '"llama"' }, expect: error(400, "invalid_json", "invalid_body", null) },
  { name: "answers a body that is an array", request: { path: CHAT_PATH, headers: JSON_CT, body: '["llama"]' }, expect: error(400, "invalid_json", "invalid_body", null) },
  { name: "answers deep nesting (65)", request: { path: CHAT_PATH, body: deep65 }, expect: error(400, "invalid_json", "invalid_body", null, /^The request body exceeds this gateway's JSON limits: nesting too deep at byte \d+$/) },
  { name: "answers a number beyond a double", request: { path: CHAT_PATH, body: '{"model":"llama","temperature":1e400}' }, expect: error(400, "invalid_json", "invalid_body", null, "The request body is JSON this gateway does not accept: number out of range at byte 31") },
  { name: "answers deep nesting (100)", request: { path: CHAT_PATH, headers: JSON_CT, body: deep100 }, expect: error(400, "invalid_json", "invalid_body", null) },
  { name: "answers invalid UTF-8 (a lone 0xff)", request: { path: CHAT_PATH, body: invalid([0xff]) }, expect: error(400, "invalid_json", "invalid_body", null) },
  { name: "answers invalid UTF-8 (a broken two-byte sequence)", request: { path: CHAT_PATH, headers: JSON_CT, body: invalid([0xc3, 0x28]) }, expect: error(400, "invalid_json", "invalid_body", null) },
  { name: "answers a model that is an array", request: { path: CHAT_PATH, body: '{"model":["llama"]}' }, expect: error(400, "invalid_model", "invalid_model", "model") },
  { name: "answers a model that is a number", request: { path: CHAT_PATH, headers: JSON_CT, body: '{"model": 7}' }, expect: error(400, "invalid_model", "invalid_model", "model") },
  { name: "answers an empty version", request: { path: CHAT_PATH, body: chat("llama@") }, expect: error(400, "invalid_model", "invalid_model", "model") },
  { name: "answers a model with two '@'", request: { path: CHAT_PATH, body: chat("llama@v1@v2") }, expect: error(400, "invalid_model", "invalid_model", "model") },
  { name: "cuts a long unknown model's name in its error between characters, not within a surrogate pair", request: { path: CHAT_PATH, body: chat("a".repeat(127) + "\u{1F600}".repeat(3)) }, expect: error(404, "model_not_found", "model_not_found", "model", `The model '${"a".repeat(127)}...' does not exist`) },
  { name: "answers a model name too long, saying how long it may be", request: { path: CHAT_PATH, body: chat("m".repeat(600)) }, expect: error(400, "invalid_model", "invalid_model", "model", 'model: expected a string "name" or "name@version" of at most 512 characters') },
  // Parsers downstream differ on duplicate keys (first, last, error): a duplicated model is refused.
  { name: "answers a body that names its model twice", request: { path: CHAT_PATH, body: '{"model":"iris","model":"llama","messages":[]}' }, expect: error(400, "invalid_model", "invalid_model", "model", /more than once/) },
  { name: "answers a body declared in another charset, saying JSON must be UTF-8", request: { path: CHAT_PATH, headers: { "content-type": "application/json; charset=UTF-16LE" }, body: Buffer.from(chat("llama"), "utf16le") }, expect: error(400, "invalid_json", "invalid_body", null, /declared charset='UTF-16LE': JSON bodies must be UTF-8/) },
  { name: "answers a model header sent twice, the first empty", request: { path: CHAT_PATH, headers: { "x-model": ["", "llama"] }, body: chat("iris") }, expect: error(400, "invalid_model", "invalid_model", "model", /x-model: given more than once/) },
  { name: "routes a GET of one model by the model header, not as OpenAI's retrieve", request: { path: "/v1/models/iris", headers: { "x-model": "llama@v2" } }, expect: { status: 200, source: "header", ...llama("v2") } },
  { name: "answers a model header sent twice", request: { path: CHAT_PATH, headers: { "x-model": ["iris", "llama"] } }, expect: error(400, "invalid_model", "invalid_model", "model", /x-model: given more than once/) },
  { name: "answers a version header sent twice", request: { path: CHAT_PATH, headers: { "x-model": "llama", "x-model-version": ["canary", "v1"] } }, expect: error(400, "invalid_model", "invalid_model", "model", /x-model-version: given more than once/) },
  { name: "answers a twice-named body model it would rewrite", request: { path: "/", headers: { "x-model": "llama@v2" }, body: '{"model":"a","messages":[],"model":"b"}' }, expect: error(400, "invalid_model", "invalid_model", "model", /more than once/) },
  // A body routed by a header that starts as an object the reader does not take: passed on, its
  // model would go unrewritten, a second `model` unnoticed.
  { name: "answers a header-routed object body with a lone surrogate it would rewrite", request: { path: "/", headers: { "x-model": "llama@v2" }, body: '{"model":"a","model":"b","x":"\\udc00"}' }, expect: error(400, "invalid_json", "invalid_body", null, /lone surrogate|surrogate/) },
  { name: "answers a header-routed object body after a byte order mark it would rewrite (upstream parsers skip the mark)", request: { path: "/", headers: { "x-model": "llama@v2" }, body: '\ufeff{"model":"a","model":"b"}' }, expect: error(400, "invalid_json", "invalid_body", null, /not valid JSON/) },
  { name: "answers a header-routed malformed object body it would rewrite", request: { path: "/", headers: { ...JSON_CT, "x-model": "llama@v2" }, body: ' {"model":"a",' }, expect: error(400, "invalid_json", "invalid_body", null, /not valid JSON/) },
  { name: "answers an empty version in the header", request: { path: CHAT_PATH, headers: { "x-model": "@v1" } }, expect: error(400, "invalid_model", "invalid_model", "model") },
  { name: "answers a body without model", request: { path: CHAT_PATH, body: '{"messages":[]}' }, expect: error(400, "model_required", "model_missing", "model") },
  { name: "answers an empty body", request: { path: CHAT_PATH, body: "" }, expect: error(400, "model_required", "model_missing", "model") },
  { name: "refuses a POST to the model list (405)", request: { method: "POST", path: "/v1/models", headers: JSON_CT, body: chat("llama") }, expect: error(405, "method_not_allowed", "method_not_allowed", null, "The model list (/v1/models) answers GET and HEAD only") },
  { name: "refuses a DELETE of the model list (405)", request: { method: "DELETE", path: "/v1/models?x=1" }, expect: error(405, "method_not_allowed", "method_not_allowed", null) },
  { name: "answers an unknown model's retrieve with 404", request: { path: "/v1/models/gpt-9" }, expect: error(404, "model_not_found", "model_not_found", "model", "The model 'gpt-9' does not exist") },
  { name: "routes a GET of a path a template routes, not as one model", request: { path: "/v1/models/iris:predict" }, expect: { status: 200, source: "path", ...iris("1") } },
  { name: "routes a DELETE of one model like any request, not as the list", request: { method: "DELETE", path: "/v1/models/llama", headers: { "x-model": "llama", "x-session-id": "k-v1" } }, expect: { status: 200, source: "header", ...llama(stickyLlama("k-v1")) } },
  { name: "answers a GET without model", request: { method: "GET", path: "/v1/anything" }, expect: error(400, "model_required", "model_missing", "model") },
  { name: "answers a declared body over the limit", request: { path: CHAT_PATH, body: chat("llama", { pad: "x".repeat(5000) }) }, expect: error(413, "request_too_large", "body_too_large", null) },
  { name: "answers a chunked body over the limit", request: { path: CHAT_PATH, chunks: ["{".repeat(3000), "}".repeat(3000)] }, expect: error(413, "request_too_large", "body_too_large", null) },
  { name: "answers a chunked JSON body over the limit", request: { path: CHAT_PATH, headers: JSON_CT, chunks: [chat("llama", { pad: "x".repeat(2048) }), " ".repeat(2058)] }, expect: error(413, "request_too_large", "body_too_large", null) },
];

export function isRefused(e: Routed | Refused): e is Refused {
  return e.status !== 200;
}
