// token-bucket in the host emulator: the case table (host-tests/token-bucket/cases.ts) in every
// form (one pipeline entry with the router, the router and the filter as separate entries, the
// filter alone), then what needs its own set-up: bad and huge bodies, streams cut short, the
// failure modes, the cache in front, wasm.llm_tokens on every path, metrics and configuration
// errors.
import { describe, expect, it } from "vitest";
import { Host, type FilterChain, type Plugin, type RequestResult, type UpstreamHandler } from "./emulator";
import {
  CASES, CHAT_PATH, ROUTER_CONFIG, TOKEN_BUCKET_CONFIG, TOKEN_BUCKET_FORMS, chat, say, type StepRequest, type TokenBucketForm,
} from "./token-bucket/cases";
import { checkStep, type SeenResponse } from "./token-bucket/check-step";
import { ModelServer } from "./token-bucket/upstream";

const VM_ID = "ai-gateway";
type Config = Record<string, unknown>;

interface Sent {
  result: RequestResult;
  /** wasm.llm_tokens as the stream's filter state held it at the end. */
  llmTokens: string | undefined;
}

interface Rig {
  host: Host;
  server: ModelServer;
  chain: FilterChain;
  plugins: Plugin[];
  send(req: StepRequest): Sent;
}

async function start(host: Host, wasm: string, rootId: string, configuration: unknown): Promise<Plugin> {
  const vm = await host.loadVm(wasm, { vmId: VM_ID });
  const plugin = vm.startPlugin({ rootId, configuration: JSON.stringify(configuration), allowOnHeadersStopIteration: true });
  expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
  return plugin;
}

function upstreamOf(server: ModelServer): UpstreamHandler {
  return (req) => {
    const r = server.answer(req.body, req.headers["accept-encoding"]);
    return { status: r.status, headers: r.headers, bodyChunks: r.chunks };
  };
}

/** One request through `chain`, driven frame by frame so that the filter state can be read after it. */
function drive(host: Host, chain: FilterChain, req: StepRequest, upstream: UpstreamHandler): Sent {
  const stream = chain.newStream({ upstream });
  const headers: Record<string, string | string[]> = { ":method": req.method ?? "POST", ":path": req.path ?? CHAT_PATH, ...(req.headers ?? {}) };
  if (req.tenant !== undefined) headers.authorization = `Bearer run-${req.tenant}`;
  const body = req.body;
  if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
  stream.requestHeaders(headers, { endOfStream: body === undefined });
  if (body !== undefined) stream.requestBody(body, { endOfStream: true });
  for (let i = 0; i < 100 && !stream.finished; i++) host.advance(100);
  expect(stream.finished).toBe(true);
  return { result: stream.result(), llmTokens: llmTokensOf(stream.fm.slots.map((s) => s.ctx)) };
}

function llmTokensOf(contexts: Array<{ filterState(): ReadonlyMap<string, Uint8Array> }>): string | undefined {
  for (const ctx of contexts) {
    const v = ctx.filterState().get("llm_tokens");
    if (v !== undefined) return Buffer.from(v).toString();
  }
  return undefined;
}

async function rig(form: TokenBucketForm, config: Config, host = new Host(), extra: Config = {}): Promise<Rig> {
  const server = new ModelServer();
  let plugins: Plugin[];
  if (form === "pipeline") plugins = [await start(host, "build/ai-gateway.wasm", "ai-gateway", { model_router: ROUTER_CONFIG, token_bucket: config, ...extra })];
  else if (form === "separate") {
    plugins = [await start(host, "build/ai-gateway.wasm", "model-router", ROUTER_CONFIG), await start(host, "build/ai-gateway.wasm", "token-bucket", config)];
  } else plugins = [await start(host, "build/token-bucket.wasm", "token-bucket", config)];
  const chain = host.chain(...plugins);
  const upstream = upstreamOf(server);
  return { host, server, chain, plugins, send: (req) => drive(host, chain, req, upstream) };
}

function seen(sent: Sent, before: number, server: ModelServer): SeenResponse {
  const res = sent.result;
  return {
    status: res.status ?? 0,
    headers: res.response?.headers ?? {},
    body: res.response?.body ?? "",
    reachedUpstream: server.count > before,
    llmTokens: sent.llmTokens,
  };
}

const post = (tenant: string | undefined, body: string | Uint8Array | undefined, headers: Record<string, string> = {}): StepRequest =>
  ({ tenant, method: "POST", path: CHAT_PATH, headers: { "content-type": "application/json", ...headers }, body });

describe("token-bucket", () => {
  for (const form of TOKEN_BUCKET_FORMS) {
    describe(`case table (${form})`, () => {
      for (const c of CASES.filter((c) => !c.forms || c.forms.includes(form))) {
        it(c.name, async () => {
          const r = await rig(form, { ...TOKEN_BUCKET_CONFIG, ...(c.config ?? {}) });
          for (const [i, step] of c.steps.entries()) {
            const before = r.server.count;
            checkStep(`step ${i}`, step, seen(r.send(step.request), before, r.server));
          }
          expect(r.host.logs({ minLevel: "error" })).toEqual([]);
        });
      }
    });
  }

  describe("bad input", () => {
    const WITH_DEFAULT = { ...TOKEN_BUCKET_CONFIG, default: { tenant: { tokens_per_minute: 1, tokens_burst: 10_000_000 } } };

    it.each([
      // A body that is not read as an object is its bytes / 4 + default_max_tokens (100), under the model "" (default).
      ["malformed JSON", '{"model":"llama",', 5 + 100],
      ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 3 + 100],
      ["deep nesting", "[".repeat(5000) + "]".repeat(5000), 2500 + 100],
      ["an array", "[1,2,3]", 2 + 100],
    ] as Array<[string, string | Uint8Array, number]>)("estimates %s from its length, and never traps", async (_name, body, reserved) => {
      const r = await rig("alone", WITH_DEFAULT);
      const sent = r.send(post("x", body));
      expect(sent.result.status).toBe(200);
      expect(sent.result.response?.headers["x-ratelimit-remaining-tokens"]).toBe(String(10_000_000 - reserved));
      expect(r.host.logs({ minLevel: "error" })).toEqual([]);
      expect(r.host.traps).toEqual([]);
    });

    it("estimates a body over max_body_bytes from its length without reading it (the model unknown: the default)", async () => {
      const big = chat({ pad: "x".repeat(2 << 20) });
      const reserved = Math.ceil(Buffer.byteLength(big) / 4) + 100;
      const r = await rig("alone", WITH_DEFAULT);
      const sent = r.send(post("x", big));
      expect(sent.result.status).toBe(200);
      expect(sent.result.response?.headers["x-ratelimit-remaining-tokens"]).toBe(String(10_000_000 - reserved));
      const small = await rig("alone", { ...TOKEN_BUCKET_CONFIG, default: { tenant: { tokens_per_minute: 1000 } } });
      const refused = small.send(post("x", big));
      expect(refused.result.status).toBe(429);
      expect(JSON.parse(refused.result.response!.body).error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
      expect(refused.result.response?.headers["retry-after"]).toBeUndefined();
      expect(refused.llmTokens).toBe("0");
    });

    it("admits a body declared over max_body_bytes at its headers, never holding it; one without content-length when it crosses the limit", async () => {
      const r = await rig("alone", { ...WITH_DEFAULT, max_body_bytes: 1000 });
      const open = () => r.chain.newStream({ upstream: upstreamOf(r.server) });
      const head = { ":method": "POST", ":path": CHAT_PATH, authorization: "Bearer run-big", "content-type": "application/json" };
      const declared = open();
      // Continue at the headers: the body streams on.
      expect(declared.requestHeaders({ ...head, "content-length": "4000" })).toBe("Continue");
      expect(declared.requestBody("x".repeat(2000))).toBe("Continue");
      declared.requestBody("x".repeat(2000), { endOfStream: true });
      for (let i = 0; i < 100 && !declared.finished; i++) r.host.advance(100);
      expect(declared.result().response?.headers["x-ratelimit-remaining-tokens"]).toBe(String(10_000_000 - 1000 - 100));
      // Settled: the server reported 42 tokens.
      const chunked = open();
      expect(chunked.requestHeaders(head)).toBe("StopIteration");
      expect(chunked.requestBody("x".repeat(600))).toBe("StopIterationAndBuffer");
      // 1,200 bytes arrived when it crossed 1,000: estimated from those.
      expect(chunked.requestBody("x".repeat(600))).toBe("Continue");
      chunked.requestBody("x".repeat(600), { endOfStream: true });
      for (let i = 0; i < 100 && !chunked.finished; i++) r.host.advance(100);
      expect(chunked.result().response?.headers["x-ratelimit-remaining-tokens"]).toBe(String(10_000_000 - 42 - 300 - 100));
      expect(r.host.traps).toEqual([]);
    });

    it("counts a request without a body as one request and no tokens", async () => {
      const r = await rig("alone", { ...TOKEN_BUCKET_CONFIG, default: { tenant: { requests_per_minute: 1, requests_burst: 5, tokens_per_minute: 1000 } } });
      const list = () => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"object":"list","data":[]}' });
      const sent = drive(r.host, r.chain, { tenant: "x", method: "GET", path: "/v1/models" }, list);
      expect(sent.result.status).toBe(200);
      expect(sent.result.response?.headers["x-ratelimit-remaining-requests"]).toBe("4");
      expect(sent.result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("1000");
      expect(sent.llmTokens).toBe("0");
    });

    it("replaces an upstream's own x-ratelimit-* headers", async () => {
      const r = await rig("alone", { ...TOKEN_BUCKET_CONFIG, default: { tenant: { requests_per_minute: 1, requests_burst: 5, tokens_per_minute: 1000 } } });
      const own = { "x-ratelimit-remaining-requests": "77", "x-ratelimit-reset-tokens": "9h" };
      const list = () => ({ status: 200, headers: { "content-type": "application/json", ...own }, body: '{"object":"list","data":[]}' });
      const sent = drive(r.host, r.chain, { tenant: "x", method: "GET", path: "/v1/models" }, list);
      expect(sent.result.response?.headers["x-ratelimit-remaining-requests"]).toBe("4");
      expect(sent.result.response?.headers["x-ratelimit-reset-tokens"]).toBe("0s");
      expect(sent.result.response?.headers["x-ratelimit-limit-tokens"]).toBe("1000");
    });
  });

  describe("settlement", () => {
    async function manual(config: Config = TOKEN_BUCKET_CONFIG) {
      const host = new Host();
      // The tunnels below name their model by x-ai-model, as a router entry before this one would:
      // its mark in the stream's filter state makes the entry take the header.
      host.setProperty(["ai_model_routed"], "1");
      const plugin = await start(host, "build/token-bucket.wasm", "token-bucket", config);
      return { host, plugin, chain: host.chain(plugin) };
    }
    const open = (chain: FilterChain, body: string) => {
      const s = chain.newStream();
      s.requestHeaders({ ":method": "POST", ":path": CHAT_PATH, authorization: "Bearer run-cut", "content-type": "application/json" });
      s.requestBody(body, { endOfStream: true });
      return s;
    };
    const remaining = (r: { host: Host; chain: FilterChain }) =>
      drive(r.host, r.chain, post("cut", chat({ max_tokens: 0 })), upstreamOf(new ModelServer())).result.response?.headers["x-ratelimit-remaining-tokens"];
    const usageChunk = (total: number) => `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: total - 1, total_tokens: total } })}\n\n`;

    it("keeps the reservation of a stream cut off before its usage", async () => {
      const r = await manual();
      const s = open(r.chain, chat({ max_tokens: 90, stream: true }));
      s.responseHeaders({ "content-type": "text/event-stream" });
      s.responseBody('data: {"choices":[{"delta":{"content":"hel');
      s.finish();
      expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe("100");
      // 100 kept, then 10 more reserved.
      expect(remaining(r)).toBe("890");
      expect(r.host.metric("token_bucket.unsettled")).toBe(1);
    });

    it("settles a stream cut off after its usage chunk from that usage", async () => {
      const r = await manual();
      const s = open(r.chain, chat({ max_tokens: 90, stream: true }));
      s.responseHeaders({ "content-type": "text/event-stream" });
      s.responseBody(usageChunk(25).slice(0, 30));
      s.responseBody(usageChunk(25).slice(30));
      s.finish();
      expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe("25");
      expect(remaining(r)).toBe(String(1000 - 25 - 10));
      expect(r.host.metric("token_bucket.refunds")).toBe(1);
    });

    it("writes at most 10^9 to wasm.llm_tokens: Envoy's rate-limit filter charges nothing for a larger hits_addend", async () => {
      // A fresh bucket each: the first charge's debit would refuse the next request.
      for (const [total, written] of [[1_000_000_000, "1000000000"], [1_000_000_001, "1000000000"], [999_999_999_999, "1000000000"], [25, "25"]] as const) {
        const r = await manual();
        const s = open(r.chain, chat({ max_tokens: 90, stream: true }));
        s.responseHeaders({ "content-type": "text/event-stream" });
        s.responseBody(usageChunk(total));
        s.finish();
        expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe(written);
      }
    });

    it("keeps the reservation of a request whose client leaves before any response", async () => {
      const r = await manual();
      const s = open(r.chain, chat({ max_tokens: 40 }));
      s.finish();
      expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe("50");
      expect(remaining(r)).toBe("940");
    });

    it("charges a WebSocket session default_max_tokens at its headers, which its 101 keeps", async () => {
      const r = await manual();
      const s = r.chain.newStream();
      // The headers do not end the stream, and the filter does not wait for the tunnel's end.
      expect(s.requestHeaders({ ":method": "GET", ":path": "/v1/realtime", connection: "Upgrade", upgrade: "websocket", authorization: "Bearer run-cut", "x-ai-model": "llama" })).toBe("Continue");
      s.responseHeaders({ ":status": "101", connection: "Upgrade", upgrade: "websocket" });
      s.responseBody("\u0081\u0005hello");
      s.finish();
      expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe("100");
      expect(remaining(r)).toBe("890");
      // An upgrade the upstream refuses (no 101) did no model work: settled to 0.
      const refused = r.chain.newStream();
      refused.requestHeaders({ ":method": "GET", ":path": "/v1/realtime", connection: "Upgrade", upgrade: "websocket", authorization: "Bearer run-cut", "x-ai-model": "llama" });
      refused.responseHeaders({ ":status": "404" }, { endOfStream: true });
      refused.finish();
      expect(llmTokensOf(refused.fm.slots.map((x) => x.ctx))).toBe("0");
      // 1000 - 100 (the session) - 12 (the last probe's usage) - 10 (this probe's reservation): the
      // refused upgrade's 100 came back.
      expect(remaining(r)).toBe("878");
    });

    it("refuses a tunnel that declares a body for a limited model (400 body_on_tunnel), and lets one for an unlimited model pass", async () => {
      const r = await manual();
      const upgrade = { ":method": "GET", ":path": "/v1/chat/completions", connection: "Upgrade", upgrade: "websocket", authorization: "Bearer run-cut" };
      const s = r.chain.newStream();
      s.requestHeaders({ ...upgrade, "x-ai-model": "llama", "content-length": "40" });
      const reply = s.localResponse;
      expect([reply?.status, JSON.parse(reply?.body ?? "{}").error?.code]).toEqual([400, "body_on_tunnel"]);
      s.finish();
      expect(r.host.metric("token_bucket.invalid")).toBe(1);
      const unlimited = r.chain.newStream();
      expect(unlimited.requestHeaders({ ...upgrade, "x-ai-model": "embed", "content-length": "40" })).toBe("Continue");
      unlimited.finish();
      // Nothing was taken from the tenant's tokens.
      expect(remaining(r)).toBe("990");
    });

    it("settles to 0 when Envoy answers for a reset upstream", async () => {
      const r = await manual();
      const s = open(r.chain, chat({ max_tokens: 40 }));
      s.upstreamReset();
      s.finish();
      expect(s.response?.status).toBe(503);
      expect(llmTokensOf(s.fm.slots.map((x) => x.ctx))).toBe("0");
      expect(remaining(r)).toBe("990");
    });
  });

  describe("failure modes", () => {
    it("lets a request through uncharged when every compare-and-swap is lost, or answers 503 with failure_mode_deny", async () => {
      for (const deny of [false, true]) {
        const r = await rig("alone", { ...TOKEN_BUCKET_CONFIG, cas_retries: 2, failure_mode_deny: deny });
        r.host.sharedData.injectCasConflict({ key: /^aigw\/token-bucket\//, times: 3 });
        const sent = r.send(post("z", chat({ max_tokens: 10 })));
        expect(r.host.metric("token_bucket.unavailable.reason=contention")).toBe(1);
        expect(r.host.metric("token_bucket.cas_retries")).toBe(3);
        if (deny) {
          expect(sent.result.status).toBe(503);
          expect(JSON.parse(sent.result.response!.body).error).toMatchObject({ type: "server_error", code: "rate_limit_unavailable" });
          expect(sent.result.response?.headers["retry-after"]).toBe("1");
          expect(sent.llmTokens).toBe("0");
        } else {
          expect(sent.result.status).toBe(200);
          expect(Object.keys(sent.result.response!.headers).filter((h) => h.startsWith("x-ratelimit"))).toEqual([]);
          expect(sent.llmTokens).toBe("22");
        }
        // Nothing was charged: the next request starts from a full bucket.
        expect(r.send(post("z", chat({ max_tokens: 10 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("980");
      }
    });

    it("wins a contended compare-and-swap within cas_retries", async () => {
      const r = await rig("alone", { ...TOKEN_BUCKET_CONFIG, cas_retries: 3 });
      r.host.sharedData.injectCasConflict({ key: /^aigw\/token-bucket\//, times: 3 });
      expect(r.send(post("z", chat({ max_tokens: 10 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("980");
      expect(r.host.metric("token_bucket.cas_retries")).toBe(3);
    });

    it("counts a full table as unavailable, and never lets two buckets share a slot", async () => {
      const r = await rig("alone", { ...TOKEN_BUCKET_CONFIG, slots: 1 });
      expect(r.send(post("t1", chat({ max_tokens: 10 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("980");
      const other = r.send(post("t2", chat({ max_tokens: 10 })));
      expect(other.result.status).toBe(200);
      expect(other.result.response?.headers["x-ratelimit-remaining-tokens"]).toBeUndefined();
      expect(r.host.metric("token_bucket.unavailable.reason=table_full")).toBe(1);
      expect(r.send(post("t1", chat({ max_tokens: 10 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("958");
      expect(r.host.sharedData.keys(VM_ID).filter((k) => k.startsWith("aigw/token-bucket/"))).toEqual(["aigw/token-bucket/0"]);
    });
  });

  describe("with the cache in front (pipeline)", () => {
    it("charges a miss and not a hit", async () => {
      const host = new Host();
      const server = new ModelServer();
      const plugin = await start(host, "build/ai-gateway.wasm", "ai-gateway", {
        model_router: ROUTER_CONFIG, inference_cache: {}, token_bucket: TOKEN_BUCKET_CONFIG,
      });
      const chain = host.chain(plugin);
      const send = (req: StepRequest) => drive(host, chain, req, upstreamOf(server));
      const body = chat({ max_tokens: 50, temperature: 0 });
      const miss = send(post("w", body));
      expect(miss.result.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(miss.result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("940");
      const hit = send(post("w", body));
      expect(hit.result.response?.headers["x-ai-cache"]).toBe("HIT");
      expect(hit.result.response?.headers["x-ratelimit-remaining-tokens"]).toBeUndefined();
      // The miss settled to 42; the hit took nothing.
      expect(send(post("w", chat({ max_tokens: 50, temperature: 0, seed: 1 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("898");
      expect(server.count).toBe(2);
    });

    // The cache keys the request as the client sent it; an answer to its clamped copy (a smaller
    // max_tokens) would be served, cut short, to the same request when the buckets are full again.
    for (const form of ["pipeline", "separate"] as const) {
      it(`keeps an answer served smaller (clamp_max_tokens) out of the cache (${form})`, async () => {
        const host = new Host();
        const server = new ModelServer();
        const config = { ...TOKEN_BUCKET_CONFIG, clamp_max_tokens: true };
        const plugins = form === "pipeline"
          ? [await start(host, "build/ai-gateway.wasm", "ai-gateway", { model_router: ROUTER_CONFIG, inference_cache: {}, token_bucket: config })]
          : [
            await start(host, "build/ai-gateway.wasm", "model-router", ROUTER_CONFIG),
            await start(host, "build/ai-gateway.wasm", "inference-cache", {}),
            await start(host, "build/ai-gateway.wasm", "token-bucket", config),
          ];
        const chain = host.chain(...plugins);
        const send = (req: StepRequest) => drive(host, chain, req, upstreamOf(server));
        // 912 used: 88 left.
        send(post("k", chat({ max_tokens: 900 }, "llama", say("Tell me at length"))));
        const body = chat({ max_tokens: 100, temperature: 0 });
        const clamped = send(post("k", body)).result.response;
        expect(clamped?.headers["x-upstream-max-tokens"]).toBe("78");
        expect(clamped?.headers["cache-control"]).toBe("no-store");
        expect(clamped?.headers["x-ai-cache"]).toBe("MISS");
        expect(clamped?.headers["x-ai-cache-reason"]).toBe("upstream-no-store");
        expect(host.metric("inference_cache.stores.tier=local")).toBe(0);
        expect(send(post("k", body)).result.response?.headers["x-ai-cache"]).toBe("MISS");
        expect(server.count).toBe(3);
      });
    }
  });

  describe("before the cache (separate entries)", () => {
    it("charges a hit what its stored response reports as usage", async () => {
      const host = new Host();
      const server = new ModelServer();
      const plugins = [
        await start(host, "build/ai-gateway.wasm", "model-router", ROUTER_CONFIG),
        await start(host, "build/ai-gateway.wasm", "token-bucket", TOKEN_BUCKET_CONFIG),
        await start(host, "build/ai-gateway.wasm", "inference-cache", {}),
      ];
      const chain = host.chain(...plugins);
      const send = (req: StepRequest) => drive(host, chain, req, upstreamOf(server));
      const body = chat({ max_tokens: 50, temperature: 0 });
      expect(send(post("v", body)).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("940");
      const hit = send(post("v", body));
      expect(hit.result.response?.headers["x-ai-cache"]).toBe("HIT");
      // Reserved like any request; settled from the stored usage (42).
      expect(hit.result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("898");
      expect(hit.llmTokens).toBe("42");
      expect(send(post("v", chat({ max_tokens: 50, seed: 2 }))).result.response?.headers["x-ratelimit-remaining-tokens"]).toBe("856");
      expect(server.count).toBe(2);
    });
  });

  describe("metrics", () => {
    it("counts admissions, refusals, reservations, settlements and clamps", async () => {
      const r = await rig("alone", TOKEN_BUCKET_CONFIG);
      const m = (n: string) => r.host.metric(`token_bucket.${n}`);
      r.send(post("m", chat({ max_tokens: 50 })));
      r.send(post("m", chat({ max_tokens: 5000 })));
      r.send(post("m", chat({ max_tokens: 900 }, "llama", say("at length"))));
      r.send(post("m", chat({ max_tokens: "x" })));
      r.send(post("m", chat({}, "embed")));
      r.send(post("m", chat({ max_tokens: 100 })));
      expect(m("admitted")).toBe(2);
      expect(m("limited.reason=too_large")).toBe(1);
      expect(m("limited.reason=tokens")).toBe(1);
      expect(m("limited.reason=requests")).toBe(0);
      expect(m("invalid")).toBe(1);
      expect(m("unlimited")).toBe(1);
      expect(m("tokens_reserved")).toBe(60 + 910);
      expect(m("tokens_settled")).toBe(42 + 912);
      expect(m("refunds")).toBe(1);
      expect(m("debits")).toBe(1);
      expect(m("clamps")).toBe(0);
      const c = await rig("alone", { ...TOKEN_BUCKET_CONFIG, clamp_max_tokens: true });
      c.send(post("m", chat({ max_tokens: 5000 })));
      expect(c.host.metric("token_bucket.clamps")).toBe(1);
      expect(c.host.metric("token_bucket.tokens_reserved")).toBe(1000);
    });
  });

  describe("configuration", () => {
    it.each([
      ["", 'token-bucket: configuration: expected a JSON object with "models" or "default", got nothing'],
      [JSON.stringify({ models: { llama: { tenant: {} } } }), "token-bucket: models.llama.tenant: expected an object with requests_per_minute or tokens_per_minute"],
      [JSON.stringify({ default: {}, slots: 0 }), "token-bucket: slots: expected an integer 1..65536, got 0"],
    ])("refuses %j, naming the field", async (config, message) => {
      const host = new Host();
      const vm = await host.loadVm("build/token-bucket.wasm", { vmId: VM_ID });
      const plugin = vm.startPlugin({ rootId: "token-bucket", configuration: config });
      expect(plugin.configured).toBe(false);
      expect(host.logs({ minLevel: "critical" }).map((l) => l.message).join("\n")).toContain(message);
    });

    it("creates its table's slots when configured, once", async () => {
      const host = new Host();
      await start(host, "build/token-bucket.wasm", "token-bucket", { ...TOKEN_BUCKET_CONFIG, slots: 16 });
      const keys = host.sharedData.keys(VM_ID).filter((k) => k.startsWith("aigw/token-bucket/"));
      expect(keys.length).toBe(16);
      const cas = keys.map((k) => host.sharedData.get(k, VM_ID)!.cas);
      await start(host, "build/token-bucket.wasm", "token-bucket", { ...TOKEN_BUCKET_CONFIG, slots: 16 });
      expect(keys.map((k) => host.sharedData.get(k, VM_ID)!.cas)).toEqual(cas);
    });
  });
});
