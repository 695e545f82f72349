// token-bucket under load in a real Envoy with two workers (--concurrency 2: two Wasm VMs of one
// vm_id racing on the same shared-data buckets with compare-and-swap), the router and the filter
// as separate entries, in front of the demo server (envoy/demo-server: its usage is a pure
// function of the request, and each response reports it, so the test knows what every admitted
// request really cost). 64 keep-alive connections send 384 requests at once to two tenants × two
// models, each bucket BUDGET tokens a minute; then, one at a time, what needs exact numbers: the
// countdown, a streamed response settled from its usage chunk (and passed on unbuffered), and
// bad input answered as the README documents, without a Wasm failure.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, type Envoy, type HttpRequest, type HttpResponse } from "../../harness";
import { startDemoServer, type DemoServer } from "../../demo-server/server.mjs";
import { ROUTER_CONFIG } from "../../../host-tests/token-bucket/cases";
import { STEP_HEADER, llmTokensOf, startBucketEnvoy, streamRequest, wasmFailureStats, wasmFailures } from "./envoy";

/** Tokens a minute (and burst) of each tenant's bucket of `llama` and of `iris`. */
const BUDGET = 1200;
/** `embed` refills 1 token a minute from a large burst: remaining counts are exact in real time. */
const EXACT_BURST = 1_000_000;
const DEFAULT_MAX_TOKENS = 1024;
const CONFIG = {
  models: {
    llama: { tenant: { tokens_per_minute: BUDGET } },
    iris: { tenant: { tokens_per_minute: BUDGET } },
    embed: { tenant: { tokens_per_minute: 1, tokens_burst: EXACT_BURST } },
  },
};
const CONNECTIONS = 64;
const REQUESTS_PER_CONNECTION = 6;
const TENANTS = ["alice", "bob"];
const MODELS = ["llama", "iris"];
/** Each load request asks for up to this many tokens; the demo server's replies are 6–32. */
const MAX_TOKENS = 64;
const CHUNK_MS = 20;
const CHAT = "/v1/chat/completions";

printEnvoyLogsOnFailure();

let demo: DemoServer;
let envoy: Envoy;
let steps = 0;

beforeAllOrFailEach(async () => {
  // The router's clusters (llama-v1, iris-1, embed-1) all lead to this one server.
  demo = await startDemoServer({ name: "demo-load", models: "llama:v1,iris:1,embed:1", chunkMs: CHUNK_MS });
  envoy = await startBucketEnvoy({ form: "separate", bucketConfig: CONFIG, modelServerPort: demo.port, name: "token-bucket-load", concurrency: 2 });
});

afterAll(async () => {
  closeHttp1Connections();
  await envoy?.stop();
  await demo?.close();
});

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What the filter reserves for a chat request with one user message: ceil(("user" + content) bytes / 4) + max_tokens. */
function reservation(content: string, maxTokens = DEFAULT_MAX_TOKENS): number {
  return Math.ceil((4 + Buffer.byteLength(content)) / 4) + maxTokens;
}

function chatRequest(tenant: string, model: string, content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: "POST",
    path: CHAT,
    headers: { "content-type": "application/json", authorization: `Bearer load-${process.pid}-${tenant}`, [STEP_HEADER]: `load-${++steps}`, ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content }], ...extra }),
  };
}

const counter = async (name: string) => (await envoy.stat(`wasmcustom.token_bucket.${name}`)) ?? 0;
const counters = async (names: string[]) => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await counter(n)] as const)));
const SETTLEMENT = ["admitted", "tokens_reserved", "tokens_settled", "refunds", "debits", "unsettled", "settlements_lost", "limited.reason=tokens", "cas_retries"];

/** One keep-alive connection of its own (an agent with one socket). */
function connection(): { send(req: HttpRequest): Promise<HttpResponse & { at: number }>; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(envoy.listenerUrl);
  return {
    send: (req) =>
      new Promise((resolve, reject) => {
        const headers = { ...req.headers, "content-length": String(Buffer.byteLength(req.body ?? "")) };
        const creq = http.request({ host: url.hostname, port: url.port, path: req.path, method: req.method, headers, agent, timeout: 30_000 }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => {
            const body = Buffer.concat(parts);
            const flat = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));
            resolve({ status: res.statusCode ?? 0, headers: flat, body, text: body.toString("utf8"), trailers: {}, at: performance.now() });
          });
          res.on("error", reject);
        });
        creq.on("timeout", () => creq.destroy(new Error(`no response in 30 s: ${req.path}`)));
        creq.on("error", reject);
        creq.end(req.body);
      }),
    close: () => agent.destroy(),
  };
}

interface Sent {
  tenant: string;
  model: string;
  reserved: number;
  res: HttpResponse & { at: number };
}

describe("token-bucket under load through Envoy (--concurrency 2, 64 connections, demo server)", () => {
  let sent: Sent[];
  let elapsedMs: number;
  let before: Record<string, number>;
  let after: Record<string, number>;

  beforeAll(async () => {
    before = await counters(SETTLEMENT);
    const connections = Array.from({ length: CONNECTIONS }, () => connection());
    const t0 = performance.now();
    try {
      const perConnection = await Promise.all(
        connections.map(async (conn, c) => {
          const out: Sent[] = [];
          for (let i = 0; i < REQUESTS_PER_CONNECTION; i++) {
            // Every connection spreads its requests over the four buckets.
            const k = c + i;
            const tenant = TENANTS[k % 2];
            const model = MODELS[Math.floor(k / 2) % 2];
            const content = `load ${c}.${i}: say something about ${model}`;
            const res = await conn.send(chatRequest(tenant, model, content, { max_tokens: MAX_TOKENS }));
            out.push({ tenant, model, reserved: reservation(content, MAX_TOKENS), res });
          }
          return out;
        }),
      );
      elapsedMs = performance.now() - t0;
      sent = perConnection.flat();
    } finally {
      connections.forEach((c) => c.close());
    }
    after = await counters(SETTLEMENT);
  }, 120_000);

  const buckets = () =>
    TENANTS.flatMap((tenant) => MODELS.map((model) => ({ tenant, model, requests: sent.filter((s) => s.tenant === tenant && s.model === model) })));
  const usageOf = (s: Sent) => (JSON.parse(s.res.text) as { usage: Usage }).usage.total_tokens;

  it("answers every request 200 or 429, over both workers", async () => {
    expect(sent.length).toBe(CONNECTIONS * REQUESTS_PER_CONNECTION);
    expect(sent.filter((s) => s.res.status !== 200 && s.res.status !== 429).map((s) => [s.res.status, s.res.text])).toEqual([]);
    const listener = `listener.127.0.0.1_${envoy.listenerPort}`;
    const perWorker = [await envoy.stat(`${listener}.worker_0.downstream_cx_total`), await envoy.stat(`${listener}.worker_1.downstream_cx_total`)];
    // Both workers, so both VMs, took a good share of the connections (the kernel spreads them), and
    // every connection sent to every bucket: had each VM kept its own buckets, each bucket would
    // have admitted about twice its budget (the next test).
    expect(perWorker.every((n) => (n ?? 0) >= 8), `connections per worker: ${perWorker.join(", ")}`).toBe(true);
  });

  it("keeps each bucket's settled usage within its budget: tenants and models never share one", () => {
    const refill = Math.ceil((BUDGET * elapsedMs) / 60_000);
    const summary: string[] = [];
    for (const b of buckets()) {
      const admitted = b.requests.filter((s) => s.res.status === 200);
      const used = admitted.reduce((sum, s) => sum + usageOf(s), 0);
      summary.push(`${b.tenant}/${b.model}: ${admitted.length} admitted, ${b.requests.length - admitted.length} refused, ${used} tokens used`);
      // The budget, plus what refilled while the test ran; no overshoot (no response used more than it reserved, see below).
      expect(used, summary.join("; ")).toBeLessThanOrEqual(BUDGET + refill);
      // Exhausted: some were refused, and more were admitted than one budget of reservations would allow (the refunds).
      expect(admitted.length).toBeLessThan(b.requests.length);
      expect(admitted.length * MAX_TOKENS).toBeGreaterThan(BUDGET);
      // Had the buckets been shared, the four together could not have used four budgets' worth.
      expect(used).toBeGreaterThan(BUDGET / 2);
    }
    const retries = after.cas_retries - before.cas_retries;
    console.log(`token-bucket load: ${sent.length} requests in ${Math.round(elapsedMs)} ms, ${retries} compare-and-swaps lost to the other worker, budget ${BUDGET} + refill ${refill} per bucket; ${summary.join("; ")}`);
  });

  it("settles every admitted request from its real usage, with nothing lost", () => {
    const admitted = sent.filter((s) => s.res.status === 200);
    const delta = (n: string) => after[n] - before[n];
    expect(delta("admitted")).toBe(admitted.length);
    expect(delta("tokens_reserved")).toBe(admitted.reduce((sum, s) => sum + s.reserved, 0));
    expect(delta("tokens_settled")).toBe(admitted.reduce((sum, s) => sum + usageOf(s), 0));
    // Every reply used less than it reserved: all refunds, no debit, so no overshoot.
    expect(delta("refunds")).toBe(admitted.length);
    expect(delta("debits")).toBe(0);
    expect(delta("unsettled")).toBe(0);
    expect(delta("settlements_lost")).toBe(0);
    expect(delta("limited.reason=tokens")).toBe(sent.length - admitted.length);
  });

  it("refuses with OpenAI's 429, retry-after and the headers of the bucket that refused", () => {
    for (const s of sent.filter((x) => x.res.status === 429)) {
      const h = s.res.headers;
      expect(h["content-type"]).toMatch(/^application\/json/);
      const error = (JSON.parse(s.res.text) as { error: Record<string, unknown> }).error;
      expect(Object.keys(error)).toEqual(["message", "type", "param", "code"]);
      expect(error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded", param: null });
      expect(error.message).toContain(`model '${s.model}'`);
      expect(Number(h["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(h["retry-after"])).toBeLessThanOrEqual(60);
      expect(h["x-ratelimit-limit-tokens"]).toBe(String(BUDGET));
      // Refused because fewer tokens were left than it reserves.
      expect(Number(h["x-ratelimit-remaining-tokens"])).toBeLessThan(s.reserved);
    }
    for (const s of sent.filter((x) => x.res.status === 200)) {
      expect(Number(s.res.headers["x-ratelimit-remaining-tokens"])).toBeLessThanOrEqual(BUDGET - s.reserved);
      expect(s.res.headers["retry-after"]).toBeUndefined();
    }
  });

  it("logs no Wasm failure", async () => {
    expect(wasmFailures(envoy.logs())).toEqual([]);
    expect(await wasmFailureStats(envoy)).toEqual({});
  });
});

describe("token-bucket one request at a time through Envoy (demo server)", () => {
  const send = (req: HttpRequest) => http1Request(envoy.listenerUrl, req);
  const remaining = (res: HttpResponse) => Number(res.headers["x-ratelimit-remaining-tokens"]);
  const usageOf = (res: HttpResponse) => (JSON.parse(res.text) as { usage: Usage }).usage.total_tokens;
  const stepOf = (req: HttpRequest) => req.headers![STEP_HEADER];

  it("counts x-ratelimit-remaining-tokens down by each reservation, and gives back what the usage did not take", async () => {
    let used = 0;
    let before = EXACT_BURST;
    for (const [i, maxTokens] of [40, 64, 8, 100, 20].entries()) {
      const content = `count down ${i}`;
      const req = chatRequest("countdown", "embed", content, { max_tokens: maxTokens });
      const res = await send(req);
      expect(res.status).toBe(200);
      // What is left after this reservation: the burst less the usage of the earlier requests (settled) and this reservation.
      expect(remaining(res)).toBe(EXACT_BURST - used - reservation(content, maxTokens));
      // So the level each request found falls by each earlier request's usage.
      const found = remaining(res) + reservation(content, maxTokens);
      if (i > 0) expect(found).toBeLessThan(before);
      before = found;
      const usage = usageOf(res);
      expect(await llmTokensOf(envoy, stepOf(req))).toBe(String(usage));
      used += usage;
    }
  });

  it("passes a stream on chunk by chunk and settles it from its usage chunk", async () => {
    const first = chatRequest("stream", "embed", "before the stream", { max_tokens: 64 });
    const r1 = await send(first);
    const u1 = usageOf(r1);
    const settledBefore = await counter("tokens_settled");

    const content = "tell me a long story, streamed";
    const streamed = chatRequest("stream", "embed", content, { max_tokens: 64, stream: true, stream_options: { include_usage: true } });
    // The server holds its last chunk ([DONE]) until the test has seen the first event.
    let release!: () => void;
    demo.holdLastChunk = new Promise<void>((r) => (release = r));
    const heldBefore = demo.lastChunksHeld;
    let body: string;
    try {
      const res = await streamRequest(envoy.listenerUrl, streamed);
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
      expect(Number(res.headers["x-ratelimit-remaining-tokens"])).toBe(EXACT_BURST - u1 - reservation(content, 64));
      // The first event reaches the client while the server has not sent its last chunk: Envoy
      // passes the stream on as it comes, not held back until its end.
      const atFirst = await res.until((b) => b.includes("\n\n"));
      expect(atFirst).not.toContain("[DONE]");
      release();
      body = await res.done;
    } finally {
      demo.holdLastChunk = null;
      release();
    }
    // The server did hold this stream's last chunk (so it was sent after the first event arrived).
    expect(demo.lastChunksHeld).toBe(heldBefore + 1);
    const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    expect(events.length).toBeGreaterThan(3);
    const usage = (JSON.parse(events.at(-2)!) as { usage: Usage }).usage;
    expect(usage.total_tokens).toBeGreaterThan(0);

    // Settled from the usage chunk: the filter state, the counter and the next request's remaining.
    expect(await llmTokensOf(envoy, stepOf(streamed))).toBe(String(usage.total_tokens));
    expect((await counter("tokens_settled")) - settledBefore).toBe(usage.total_tokens);
    const next = chatRequest("stream", "embed", "after the stream", { max_tokens: 64 });
    const r3 = await send(next);
    expect(remaining(r3)).toBe(EXACT_BURST - u1 - usage.total_tokens - reservation("after the stream", 64));
  });

  it("keeps the reservation of a stream cut off before its usage chunk", async () => {
    const content = "a stream that is cut";
    const cut = chatRequest("cut", "embed", content, { max_tokens: 64, stream: true, stream_options: { include_usage: true } }, { "x-demo-fault": "truncate" });
    const res = await streamRequest(envoy.listenerUrl, cut);
    expect(res.status).toBe(200);
    await res.done.catch(() => "");
    expect(await llmTokensOf(envoy, stepOf(cut))).toBe(String(reservation(content, 64)));
    const next = await send(chatRequest("cut", "embed", "after the cut", { max_tokens: 64 }));
    expect(remaining(next)).toBe(EXACT_BURST - reservation(content, 64) - reservation("after the cut", 64));
  });

  describe("bad input: the README's answers, never a trap", () => {
    const raw = (tenant: string, body: string | string[], headers: Record<string, string> = {}): HttpRequest => ({
      method: "POST",
      path: CHAT,
      headers: { "content-type": "application/json", authorization: `Bearer bad-${process.pid}-${tenant}`, [STEP_HEADER]: `bad-${++steps}`, ...headers },
      // Chunks go without content-length (HTTP/1.1 chunked encoding).
      ...(typeof body === "string" ? { body } : { chunks: body }),
    });

    it.each([
      ["malformed JSON", '{"model":"embed","messages":['],
      ["a body that is not an object", '["embed"]'],
      ["nesting deeper than max_json_depth", `{"model":"embed","messages":${"[".repeat(100)}${"]".repeat(100)}}`],
    ])("estimates %s from its length (+ default_max_tokens) and passes it on; the upstream's 400 settles to 0", async (what, body) => {
      // x-model names the model, so the router does not read the body.
      const req = raw(`opaque-${what}`, body, { "x-model": "embed" });
      const res = await send(req);
      expect(res.status).toBe(400);
      expect(res.headers["x-demo-server"]).toBe("demo-load");
      expect(remaining(res)).toBe(EXACT_BURST - Math.ceil(Buffer.byteLength(body) / 4) - DEFAULT_MAX_TOKENS);
      expect(await llmTokensOf(envoy, stepOf(req))).toBe("0");
    });

    const huge = () => JSON.stringify({ model: "embed", messages: [{ role: "user", content: "x".repeat(2 << 20) }], max_tokens: 4 });

    it.each([
      ["HTTP/1.1", http1Request],
      ["HTTP/2 (h2c)", h2cRequest],
    ])("admits a body declared over max_body_bytes at its headers, unread (%s), and settles it from the usage", async (protocol, client) => {
      const req = raw(`huge ${protocol}`, huge(), { "x-model": "embed" });
      const res = await client(envoy.listenerUrl, req);
      expect(res.status).toBe(200);
      expect(remaining(res)).toBe(EXACT_BURST - Math.ceil(Buffer.byteLength(req.body!) / 4) - DEFAULT_MAX_TOKENS);
      expect(await llmTokensOf(envoy, stepOf(req))).toBe(String(usageOf(res)));
      // Settled, so the next one starts from a full bucket less this one's usage.
      const small = JSON.stringify({ model: "embed", messages: [{ role: "user", content: "small" }], max_tokens: 4 });
      const next = await client(envoy.listenerUrl, raw(`huge ${protocol}`, small));
      expect(remaining(next)).toBe(EXACT_BURST - usageOf(res) - reservation("small", 4));
    });

    it("leaves a chunked body without content-length that outgrows Envoy's buffer limit to Envoy's own 413, charged nothing", async () => {
      const body = huge();
      const chunks: string[] = [];
      for (let i = 0; i < body.length; i += 256 << 10) chunks.push(body.slice(i, i + (256 << 10)));
      const req = raw("chunked", chunks, { "x-model": "embed" });
      const res = await send(req);
      expect(res.status).toBe(413);
      expect(res.text).toBe("Payload Too Large");
      expect(res.headers["x-demo-server"]).toBeUndefined();
      expect(await llmTokensOf(envoy, stepOf(req))).toBe("0");
    });

    it.each([
      ["1e15", 1e15, "integer_above_max_value"],
      ["-1", -1, "integer_below_min_value"],
      ['"ten"', "ten", "invalid_type"],
      ["1.5", 1.5, "invalid_type"],
    ])("answers max_tokens %s with 400 invalid_count, counting nothing", async (_what, value, code) => {
      const req = chatRequest("absurd", "llama", "absurd", { max_tokens: value });
      const res = await send(req);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error).toEqual({ message: expect.stringContaining("max_tokens"), type: "invalid_request_error", param: "max_tokens", code });
      expect(Object.keys(res.headers).filter((h) => h.startsWith("x-ratelimit-"))).toEqual([]);
      expect(await llmTokensOf(envoy, stepOf(req))).toBe("0");
    });

    it("answers a max_tokens over the burst with 429 request_too_large, without retry-after", async () => {
      const req = chatRequest("absurd", "llama", "absurd", { max_tokens: 999_999_999 });
      const res = await send(req);
      expect(res.status).toBe(429);
      expect(JSON.parse(res.text).error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
      expect(JSON.parse(res.text).error.message).toMatch(/^Request too large for model 'llama'/);
      expect(res.headers["retry-after"]).toBeUndefined();
      expect(res.headers["x-ratelimit-remaining-tokens"]).toBe(String(BUDGET));
    });

    it("reserves default_max_tokens for a request without max_tokens", async () => {
      const req = chatRequest("no-max", "embed", "no max_tokens");
      const res = await send(req);
      expect(res.status).toBe(200);
      expect(remaining(res)).toBe(EXACT_BURST - reservation("no max_tokens"));
    });

    it("logs no Wasm failure", async () => {
      expect(wasmFailures(envoy.logs())).toEqual([]);
      expect(await wasmFailureStats(envoy)).toEqual({});
    });
  });
});
