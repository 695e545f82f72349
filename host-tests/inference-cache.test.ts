// inference-cache in the host emulator: the case table (host-tests/inference-cache/cases.ts) in
// every form (one pipeline entry with the router, the router and the cache as separate entries,
// the cache alone), then what needs its own set-up: the shared tier over a fake Webdis cluster,
// the bound of the local table, bad input, metrics and configuration errors.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Host, type Plugin, type RequestInit, type RequestResult } from "./emulator";
import { CACHE_CONFIG, CACHE_FORMS, CASES, ROUTER_CONFIG, chat, CHAT_PATH, type CacheForm } from "./inference-cache/cases";
import { checkStep, type SeenResponse } from "./inference-cache/check-step";
import { keyRef } from "./inference-cache/reference";
import { ModelServer, bodyFrames } from "./inference-cache/upstream";

const VM_ID = "ai-gateway";
type Config = Record<string, unknown>;

interface Rig {
  host: Host;
  server: ModelServer;
  /** `clientTimeoutMs`: the client gives up (a reset) after that much fake time. */
  send(init: RequestInit, options?: { clientTimeoutMs?: number }): Promise<RequestResult>;
  plugins: Plugin[];
}

async function rig(form: CacheForm, cacheConfig: Config, host = new Host(), routerConfig: Config = ROUTER_CONFIG): Promise<Rig> {
  const server = new ModelServer();
  const upstream = (req: { body: string; headers: Record<string, string> }) => {
    const r = server.answer(req.body, req.headers["accept-encoding"]);
    return { status: r.status, headers: r.headers, bodyChunks: bodyFrames(r) };
  };
  const start = async (wasm: string, rootId: string, configuration: unknown) => {
    const vm = await host.loadVm(wasm, { vmId: VM_ID });
    const plugin = vm.startPlugin({ rootId, configuration: JSON.stringify(configuration), allowOnHeadersStopIteration: true });
    expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
    return plugin;
  };
  let plugins: Plugin[];
  if (form === "pipeline") plugins = [await start("build/ai-gateway.wasm", "ai-gateway", { model_router: routerConfig, inference_cache: cacheConfig })];
  else if (form === "separate") {
    plugins = [await start("build/ai-gateway.wasm", "model-router", routerConfig), await start("build/ai-gateway.wasm", "inference-cache", cacheConfig)];
  } else plugins = [await start("build/inference-cache.wasm", "inference-cache", cacheConfig)];
  const chain = host.chain(...plugins);
  return { host, server, plugins, send: (init, options = {}) => chain.request(init, { upstream, ...options }) };
}

function seen(res: RequestResult, before: number, server: ModelServer): SeenResponse {
  return {
    status: res.status ?? 0,
    headers: res.response?.headers ?? {},
    body: res.response?.body ?? "",
    reachedUpstream: server.count > before,
    upstreamKey: res.upstreamRequest?.headers["x-ai-cache-key"] ?? "",
  };
}

async function runCase(form: CacheForm, c: (typeof CASES)[number]): Promise<Rig> {
  const r = await rig(form, { ...CACHE_CONFIG, ...(c.config ?? {}) });
  const history: SeenResponse[] = [];
  for (const [i, step] of c.steps.entries()) {
    if (step.waitMs) r.host.advance(step.waitMs);
    const before = r.server.count;
    const res = await r.send(step.request);
    const s = seen(res, before, r.server);
    checkStep(`step ${i}`, step, s, history);
    history.push(s);
  }
  return r;
}

const post = (body: string | Uint8Array, headers: Record<string, string> = {}): RequestInit => ({ method: "POST", path: CHAT_PATH, headers: { "content-type": "application/json", ...headers }, body });

describe("inference-cache", () => {
  for (const form of CACHE_FORMS) {
    describe(`case table (${form})`, () => {
      for (const c of CASES.filter((c) => !c.forms || c.forms.includes(form))) {
        it(c.name, async () => {
          await runCase(form, c);
        });
      }
    });
  }

  describe("local tier", () => {
    it("keeps the table within its slots however many entries are stored, counting evictions", async () => {
      const r = await rig("alone", { ...CACHE_CONFIG, slots: 4 });
      for (let i = 0; i < 40; i++) {
        const res = await r.send(post(chat({ messages: [{ role: "user", content: `q${i}` }] })));
        expect(res.response?.headers["x-ai-cache"]).toBe("MISS");
      }
      const keys = [...r.host.sharedData.keys(VM_ID)].filter((k) => k.startsWith("aigw/inference-cache/"));
      expect(keys.length).toBeLessThanOrEqual(4);
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(40);
      expect(r.host.metric("inference_cache.evictions")).toBeGreaterThan(0);
      expect(r.host.metric("inference_cache.misses")).toBe(40);
    });

    it("answers from the slot only for the same full key (a collision is a miss)", async () => {
      const r = await rig("alone", { ...CACHE_CONFIG, slots: 1 });
      await r.send(post(chat({ messages: [{ role: "user", content: "a" }] })));
      const other = await r.send(post(chat({ messages: [{ role: "user", content: "b" }] })));
      expect(other.response?.headers["x-ai-cache-reason"]).toBe("slot-collision");
      const again = await r.send(post(chat({ messages: [{ role: "user", content: "b" }] })));
      expect(again.response?.headers["x-ai-cache"]).toBe("HIT");
    });

    it("does not store a response larger than max_entry_bytes, and says why", async () => {
      const r = await rig("alone", { ...CACHE_CONFIG, max_entry_bytes: 4096 });
      const big = chat({ messages: [{ role: "user", content: "x".repeat(5000) }] });
      const server = r.server;
      // The server's answer is small; make it large by echoing a long model name.
      const answer = server.answer.bind(server);
      server.answer = (body: string) => {
        const reply = answer(body);
        reply.chunks = [reply.chunks[0].replace("The answer", "y".repeat(6000))];
        return reply;
      };
      const first = await r.send(post(big));
      expect(first.response?.headers["x-ai-cache"]).toBe("MISS");
      const second = await r.send(post(big));
      expect(second.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(r.host.metric("inference_cache.not_stored.reason=response-too-large")).toBe(2);
    });

    // As separate entries the cache gets the body as the router's entry left it, from Envoy.
    it.each(["pipeline"] as const)("holds max_body_bytes to the body the client sent, not the router's rewrite of it (%s form)", async (form) => {
      // The router writes a longer upstream model name into the body before the cache sees it.
      const router = { rewrite_body_model: true, models: { llama: { versions: { v1: { cluster: "llama-v1", upstream_model: "meta-llama/Llama-3.1-8B-Instruct" } } } } };
      const body = chat();
      const size = Buffer.byteLength(body);
      const atLimit = await rig(form, { ...CACHE_CONFIG, max_body_bytes: size }, new Host(), router);
      const routed = await atLimit.send(post(body));
      expect(Buffer.byteLength(routed.upstreamRequest?.body ?? "")).toBeGreaterThan(size);
      expect([routed.response?.headers["x-ai-cache"], routed.response?.headers["x-ai-cache-reason"]]).toEqual(["MISS", "not-found"]);
      const overLimit = await rig(form, { ...CACHE_CONFIG, max_body_bytes: size - 1 }, new Host(), router);
      const res = await overLimit.send(post(body));
      expect([res.response?.headers["x-ai-cache"], res.response?.headers["x-ai-cache-reason"]]).toEqual(["BYPASS", "body-too-large"]);
    });

    it("keys a body the router rewrites as the upstream gets it, the same in both forms", async () => {
      const router = { rewrite_body_model: true, models: { llama: { versions: { v1: { cluster: "llama-v1", upstream_model: "meta-llama/Llama-3.1-8B-Instruct" } } } } };
      const seenBy = async (form: CacheForm) => {
        const r = await rig(form, CACHE_CONFIG, new Host(), router);
        const res = await r.send(post(chat()));
        expect(JSON.parse(res.upstreamRequest?.body ?? "{}").model).toBe("meta-llama/Llama-3.1-8B-Instruct");
        return res.response?.headers["x-ai-cache-key"];
      };
      const key = await seenBy("pipeline");
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      expect(await seenBy("separate")).toBe(key);
    });

    it("counts a JSON response whose body is not JSON, or a stream with such an event, as not stored, response-not-json", async () => {
      const r = await rig("alone", CACHE_CONFIG);
      const broken = chat({ messages: [{ role: "user", content: "broken json" }] });
      for (let i = 0; i < 2; i++) expect((await r.send(post(broken))).response?.headers["x-ai-cache"]).toBe("MISS");
      expect(r.host.metric("inference_cache.not_stored.reason=response-not-json")).toBe(2);
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(0);
      // A stream with an event cut short, though it ends with data: [DONE].
      const brokenStream = chat({ stream: true, messages: [{ role: "user", content: "broken json" }] });
      for (let i = 0; i < 2; i++) expect((await r.send(post(brokenStream))).response?.headers["x-ai-cache"]).toBe("MISS");
      expect(r.host.metric("inference_cache.not_stored.reason=response-not-json")).toBe(4);
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(0);
      // A good answer to the same words after it is stored and served.
      const good = chat({ messages: [{ role: "user", content: "good json" }] });
      expect((await r.send(post(good))).response?.headers["x-ai-cache"]).toBe("MISS");
      expect((await r.send(post(good))).response?.headers["x-ai-cache"]).toBe("HIT");
    });

    it("counts an answer that is an error in a 200 (a JSON body, a stream's event) as not stored, upstream-error-body", async () => {
      const r = await rig("alone", CACHE_CONFIG);
      for (const stream of [false, true]) {
        const body = chat({ stream, messages: [{ role: "user", content: "error answer" }] });
        for (let i = 0; i < 2; i++) expect((await r.send(post(body))).response?.headers["x-ai-cache"]).toBe("MISS");
      }
      expect(r.host.metric("inference_cache.not_stored.reason=upstream-error-body")).toBe(4);
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(0);
    });

    it("stores a stream whose client leaves between data: [DONE] and the end of the body", async () => {
      const r = await rig("alone", CACHE_CONFIG);
      // All events up to [DONE] at once; the end of the body only after the client gave up.
      const upstream = (req: { body: string }) => {
        const reply = r.server.answer(req.body);
        return { status: reply.status, headers: reply.headers, bodyChunks: [reply.chunks.join(""), ""], chunkIntervalMs: 800 };
      };
      const chain = r.host.chain(...r.plugins);
      const first = await chain.request(post(chat({ stream: true })), { upstream, clientTimeoutMs: 1_000 });
      expect(first.reset).toBeUndefined();
      expect(first.stalled).toBeDefined();
      expect(first.response?.body).toContain("data: [DONE]");
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(1);
      const again = await r.send(post(chat({ stream: true })));
      expect(again.response?.headers["x-ai-cache-reason"]).toBe("local-hit");
      expect(r.server.count).toBe(1);
    });

    it.each(CACHE_FORMS)("stores a JSON response that ends with trailers (%s)", async (form) => {
      const r = await rig(form, CACHE_CONFIG);
      // An HTTP/2 or chunked HTTP/1.1 upstream ends the body with trailers: Envoy's last body
      // callback then has no end of stream, the trailers callback ends the response.
      const upstream = (req: { body: string }) => {
        const reply = r.server.answer(req.body);
        return { status: reply.status, headers: reply.headers, bodyChunks: reply.chunks, trailers: { "x-checksum": "1" } };
      };
      const chain = r.host.chain(...r.plugins);
      const first = await chain.request(post(chat()), { upstream });
      expect(first.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(first.response?.trailers).toEqual({ "x-checksum": "1" });
      expect(r.host.metric("inference_cache.stores.tier=local")).toBe(1);
      const again = await r.send(post(chat()));
      expect(again.response?.headers["x-ai-cache-reason"]).toBe("local-hit");
      expect(r.server.count).toBe(1);
    });

    // Another stream's headers on the same worker between a request's headers and its body: the
    // body's decision is the request's own (an embeddings path, a GET of the model list).
    const INTERLOPERS: [string, Record<string, string>, string, [string, string]][] = [
      ["an embeddings request's, before a sampled chat body", { ":method": "POST", ":path": "/v1/embeddings", "content-type": "application/json" },
        JSON.stringify({ model: "llama", messages: [{ role: "user", content: "Tell a story" }] }), ["BYPASS", "nondeterministic"]],
      ["a GET of the model list, before a deterministic chat body", { ":method": "GET", ":path": "/v1/models" }, chat(), ["MISS", "not-found"]],
    ];
    for (const form of CACHE_FORMS) {
      it.each(INTERLOPERS)(`decides by its own headers with %s between its headers and body (${form})`, async (_name, other, body, want) => {
        const r = await rig(form, CACHE_CONFIG);
        const chain = r.host.chain(...r.plugins);
        const mine = chain.newStream();
        mine.requestHeaders({ ":method": "POST", ":path": CHAT_PATH, "content-type": "application/json" });
        const theirs = chain.newStream();
        theirs.requestHeaders(other, { endOfStream: other[":method"] === "GET" });
        mine.requestBody(body, { endOfStream: true });
        mine.responseHeaders({ "content-type": "application/json" });
        expect([mine.response?.headers["x-ai-cache"], mine.response?.headers["x-ai-cache-reason"]]).toEqual(want);
        mine.finish();
        theirs.finish();
      });
    }

    it("does not store a stream that ends without [DONE]", async () => {
      const r = await rig("alone", CACHE_CONFIG);
      const answer = r.server.answer.bind(r.server);
      r.server.answer = (body: string) => {
        const reply = answer(body);
        reply.chunks = reply.chunks.slice(0, -1);
        return reply;
      };
      for (let i = 0; i < 2; i++) {
        const res = await r.send(post(chat({ stream: true })));
        expect(res.response?.headers["x-ai-cache"]).toBe("MISS");
      }
      expect(r.host.metric("inference_cache.not_stored.reason=stream-incomplete")).toBe(2);
    });
  });

  describe("key", () => {
    // The filter reads the method, path and model in place when they are ASCII and as strings
    // otherwise; either way x-ai-cache-key is the reference's key of the same request.
    const NO_RULES = { drop_fields: [], defaults: {} };
    const sha256hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
    const PATHS = [CHAT_PATH, CHAT_PATH + "?api-version=2024-06-01&x=%C3%A9", "/v1/chat/complétions", ""];
    const MODELS: Array<[string, string]> = [
      ["plain", '"llama"'],
      ["escaped", '"ll\\u0061ma"'],
      ["non-ASCII", '"llamé"'],
      ["absent", ""],
      ["not a string", "7"],
    ];
    for (const [what, modelJson] of MODELS) {
      it(`is the reference's key for a model that is ${what}, over paths with and without ASCII`, async () => {
        const r = await rig("alone", { ...CACHE_CONFIG, ...NO_RULES });
        for (const p of PATHS) {
          for (const tenant of ["", "Bearer sk-1"]) {
            const body = `{${modelJson ? `"model":${modelJson},` : ""}"messages":[{"role":"user","content":"Hi"}],"temperature":0}`;
            const headers: Record<string, string> = { "content-type": "application/json", ...(tenant ? { authorization: tenant } : {}) };
            const res = await r.send({ method: "POST", path: p, headers, body });
            const model = modelJson.startsWith('"') ? (JSON.parse(modelJson) as string) : "";
            const want = keyRef({ method: "POST", authority: "localhost", path: p, model, version: "", tenant: tenant ? sha256hex(tenant) : "", shared: false }, body, { drop: [], defaults: {} });
            expect(res.response?.headers["x-ai-cache-key"], `${p} ${tenant}`).toBe(want);
          }
        }
      });
    }

    it("is the reference's key with the router's model and version headers (separate entries)", async () => {
      const r = await rig("separate", { ...CACHE_CONFIG, ...NO_RULES });
      const body = chat();
      for (let i = 0; i < 2; i++) {
        const res = await r.send(post(body, { authorization: "Bearer sk-2" }));
        const want = keyRef({ method: "POST", authority: "localhost", path: CHAT_PATH, model: "llama", version: "v1", tenant: sha256hex("Bearer sk-2"), shared: false }, body, { drop: [], defaults: {} });
        expect(res.response?.headers["x-ai-cache-key"]).toBe(want);
      }
    });

    it("keys the host without its port: virtual hosts never share an entry, a fleet's Envoys on other ports do", async () => {
      const r = await rig("alone", { ...CACHE_CONFIG, ...NO_RULES });
      const body = chat();
      const send = (authority: string) => r.send({ ...post(body), authority });
      const a = await send("a.test");
      expect(a.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(a.response?.headers["x-ai-cache-key"]).toBe(keyRef({ method: "POST", authority: "a.test", path: CHAT_PATH, model: "llama", version: "", tenant: "", shared: false }, body, { drop: [], defaults: {} }));
      expect((await send("b.test")).response?.headers["x-ai-cache"]).toBe("MISS");
      expect((await send("A.Test:8080")).response?.headers["x-ai-cache"]).toBe("HIT");
    });
  });

  describe("bad input", () => {
    it.each([
      ["malformed JSON", '{"model":"llama",', "malformed-json"],
      ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), "malformed-json"],
      ["deep nesting", "[".repeat(5000) + "]".repeat(5000), "json-too-deep"],
      ["a huge body", JSON.stringify({ model: "llama", temperature: 0, pad: "x".repeat(2 << 20) }), "body-too-large"],
    ] as [string, string | Buffer, string][])("bypasses %s with a reason, and the request still goes through", async (_name, body, reason) => {
      const r = await rig("alone", CACHE_CONFIG);
      const res = await r.send(post(body));
      expect(res.status).toBe(200);
      expect(res.response?.headers["x-ai-cache"]).toBe("BYPASS");
      expect(res.response?.headers["x-ai-cache-reason"]).toBe(reason);
      expect(r.server.count).toBe(1);
      expect(r.host.logs({ minLevel: "error" })).toEqual([]);
    });
  });

  describe("shared tier", () => {
    /** A fake Webdis on cluster "webdis": GET /GET/<k>.raw and PUT /SETEX/<k>/<s>, over one Map. */
    function webdis(host: Host, store: Map<string, Buffer>, mode: { down?: boolean } = {}) {
      host.addCluster("webdis", (req) => {
        if (mode.down) return { status: 503, body: "" };
        const get = /^\/GET\/([^/]+)\.raw$/.exec(req.path);
        if (req.method === "GET" && get) {
          const v = store.get(decodeURIComponent(get[1]));
          if (v === undefined) return { status: 200, body: "$-1\r\n" };
          return { status: 200, body: Buffer.concat([Buffer.from(`$${v.length}\r\n`), v, Buffer.from("\r\n")]) };
        }
        const set = /^\/SETEX\/([^/]+)\/(\d+)\.raw$/.exec(req.path);
        if (req.method === "PUT" && set) {
          store.set(decodeURIComponent(set[1]), Buffer.from(req.bodyBytes));
          return { status: 200, body: "+OK\r\n" };
        }
        return { status: 403, body: "" };
      });
    }
    const SHARED = { ...CACHE_CONFIG, shared_tier: { cluster: "webdis", timeout_ms: 200 } };

    /** Two Envoys (hosts) of the cache alone over one fake Webdis store, each with its configuration. */
    async function twoEnvoys(configA: Config, configB: Config) {
      const store = new Map<string, Buffer>();
      const a = new Host();
      webdis(a, store);
      const b = new Host();
      webdis(b, store);
      return { store, a, b, ra: await rig("alone", configA, a), rb: await rig("alone", configB, b) };
    }

    it("stores through one Envoy and serves the entry through another", async () => {
      const { store, ra, rb } = await twoEnvoys(SHARED, SHARED);
      const first = await ra.send(post(chat(), { authorization: "Bearer t1" }));
      expect(first.response?.headers["x-ai-cache"]).toBe("MISS");
      expect([...store.keys()]).toEqual([expect.stringMatching(/^aigw:cache:[0-9a-f]{64}:[0-9a-f]{64}$/)]);
      const second = await rb.send(post(chat(), { authorization: "Bearer t1" }));
      expect(second.response?.headers["x-ai-cache"]).toBe("HIT");
      expect(second.response?.headers["x-ai-cache-reason"]).toBe("shared-hit");
      expect(second.response?.body).toBe(first.response?.body);
      expect(rb.server.count).toBe(0);
      // The shared hit filled b's local tier.
      const third = await rb.send(post(chat(), { authorization: "Bearer t1" }));
      expect(third.response?.headers["x-ai-cache-reason"]).toBe("local-hit");
      // Another tenant is not served tenant t1's entry.
      const other = await rb.send(post(chat(), { authorization: "Bearer t2" }));
      expect(other.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(rb.host.metric("inference_cache.hits.tier=shared")).toBe(1);
      expect(ra.host.metric("inference_cache.stores.tier=shared")).toBe(1);
    });

    it("keeps serving a shared hit from the local slot when the writing Envoy's clock runs ahead of the reader's", async () => {
      const { ra, rb } = await twoEnvoys(SHARED, SHARED);
      // Another machine's clock, 5 s ahead: its record was stored "after" this Envoy's now.
      ra.host.advance(5000);
      expect((await ra.send(post(chat()))).response?.headers["x-ai-cache"]).toBe("MISS");
      expect((await rb.send(post(chat()))).response?.headers["x-ai-cache-reason"]).toBe("shared-hit");
      // The shared hit filled b's local tier: the copy is not a record that b's clock stepped back past.
      const third = await rb.send(post(chat()));
      expect(third.response?.headers["x-ai-cache-reason"]).toBe("local-hit");
      expect(rb.host.metric("inference_cache.hits.tier=shared")).toBe(1);
    });

    it("serves a shared record no older than the reader's own ttl_ms, and counts a shared hit copied over another key's entry as an eviction", async () => {
      // A stores for 60 s; B's operator has since lowered ttl_ms to 2 s (and B has one slot).
      const { a, b, ra, rb } = await twoEnvoys(SHARED, { ...SHARED, ttl_ms: 2000, slots: 1 });
      await ra.send(post(chat({ messages: [{ role: "user", content: "one" }] })));
      await ra.send(post(chat({ messages: [{ role: "user", content: "two" }] })));
      a.advance(3000);
      b.advance(3000);
      // Three seconds old: past B's 2 s, though A allowed it 60.
      const old = await rb.send(post(chat({ messages: [{ role: "user", content: "one" }] })));
      expect([old.response?.headers["x-ai-cache"], old.response?.headers["x-ai-cache-reason"]]).toEqual(["MISS", "expired"]);
      expect(rb.server.count).toBe(1);
      // B's slot now holds "one" (stored by B, fresh); A writes "two" again, and B's shared hit of
      // it replaces "one" in B's only slot: an eviction.
      await ra.send(post(chat({ messages: [{ role: "user", content: "two" }] }), { "cache-control": "no-cache" }));
      const two = await rb.send(post(chat({ messages: [{ role: "user", content: "two" }] })));
      expect(two.response?.headers["x-ai-cache-reason"]).toBe("shared-hit");
      expect(rb.host.metric("inference_cache.evictions")).toBe(1);
      // Copied into the local slot, it is still bounded by B's ttl_ms there.
      b.advance(2500);
      const later = await rb.send(post(chat({ messages: [{ role: "user", content: "two" }] })));
      expect([later.response?.headers["x-ai-cache"], later.response?.headers["x-ai-cache-reason"]]).toEqual(["MISS", "expired"]);
    });

    it("fails open: Webdis down or slow is a miss with a reason, never an error", async () => {
      const store = new Map<string, Buffer>();
      const host = new Host();
      const mode = { down: true };
      webdis(host, store, mode);
      const r = await rig("alone", SHARED, host);
      const res = await r.send(post(chat()));
      expect(res.status).toBe(200);
      expect(res.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(res.response?.headers["x-ai-cache-reason"]).toBe("shared-tier-error");
      expect(r.host.metric("inference_cache.shared_errors.op=read")).toBe(1);
      // The local tier still works.
      const again = await r.send(post(chat()));
      expect(again.response?.headers["x-ai-cache-reason"]).toBe("local-hit");
      host.addCluster("webdis", () => ({ hang: true }));
      const slow = await r.send(post(chat({ seed: 3 })));
      expect(slow.response?.headers["x-ai-cache-reason"]).toBe("shared-tier-error");
      expect(slow.durationMs).toBeLessThan(1000);
    });

    it("serves and copies a shared record only when this cache would have stored it (status, size, content type, JSON)", async () => {
      const store = new Map<string, Buffer>();
      const a = new Host();
      webdis(a, store);
      const ra = await rig("alone", SHARED, a);
      // A long answer, so that its record is larger than a smaller max_entry_bytes below.
      const answer = ra.server.answer.bind(ra.server);
      ra.server.answer = (body: string) => {
        const reply = answer(body);
        reply.chunks = [reply.chunks[0].replace("The answer", "y".repeat(6000))];
        return reply;
      };
      const first = await ra.send(post(chat()));
      expect(first.response?.headers["x-ai-cache"]).toBe("MISS");
      const [key] = [...store.keys()];
      const good = Buffer.from(store.get(key)!);
      const bodyAt = good.length - Buffer.byteLength(first.response?.body ?? "");
      // Each a record another writer could have put in Redis under this key.
      const forged: Array<[string, Buffer, Record<string, unknown>]> = [
        ["status 101", (() => { const b = Buffer.from(good); b.writeUInt16LE(101, 6); return b; })(), SHARED],
        ["status 204", (() => { const b = Buffer.from(good); b.writeUInt16LE(204, 6); return b; })(), SHARED],
        ["larger than max_entry_bytes", good, { ...SHARED, max_entry_bytes: 4096, slots: 16 }],
        ["a JSON body that is not JSON", (() => { const b = Buffer.from(good); b[bodyAt] = 0x3c; return b; })(), SHARED],
      ];
      for (const [what, record, config] of forged) {
        const b = new Host();
        const records = new Map<string, Buffer>([[key, record]]);
        webdis(b, records);
        const rb = await rig("alone", config, b);
        if (what === "larger than max_entry_bytes") expect(record.length).toBeGreaterThan(4096);
        const res = await rb.send(post(chat()));
        expect([what, res.response?.headers["x-ai-cache"], res.response?.headers["x-ai-cache-reason"]]).toEqual([what, "MISS", "unreadable-entry"]);
        expect(rb.server.count, what).toBe(1);
      }
    });

    it("serves a shared stream record only when its events are JSON", async () => {
      const store = new Map<string, Buffer>();
      const a = new Host();
      webdis(a, store);
      const ra = await rig("alone", SHARED, a);
      const streamed = post(chat({ stream: true }));
      expect((await ra.send(streamed)).response?.headers["x-ai-cache"]).toBe("MISS");
      const [key] = [...store.keys()];
      const good = store.get(key)!;
      // The good record serves another gateway; one with an event's JSON broken does not.
      const at = good.indexOf("data: {") + "data: ".length;
      const broken = Buffer.from(good);
      broken[at] = 0x3c;
      for (const [record, cache, reason, upstream] of [[good, "HIT", "shared-hit", 0], [broken, "MISS", "unreadable-entry", 1]] as const) {
        const b = new Host();
        webdis(b, new Map([[key, record]]));
        const rb = await rig("alone", SHARED, b);
        const res = await rb.send(streamed);
        expect([res.response?.headers["x-ai-cache"], res.response?.headers["x-ai-cache-reason"]]).toEqual([cache, reason]);
        expect(rb.server.count).toBe(upstream);
      }
    });

    it("still times and counts a shared read whose client left before its answer, without touching the stream", async () => {
      const host = new Host();
      // Webdis answers a GET late (a miss) or, for the second request's key, never.
      let calls = 0;
      host.addCluster("webdis", (req) => {
        if (req.method !== "GET") return { status: 200, body: "+OK\r\n" };
        calls++;
        return calls === 1 ? { status: 200, body: "$-1\r\n", delayMs: 800 } : { hang: true };
      });
      const r = await rig("alone", { ...CACHE_CONFIG, shared_tier: { cluster: "webdis", timeout_ms: 1500 } }, host);
      const late = await r.send(post(chat({ seed: 1 })), { clientTimeoutMs: 200 });
      expect(late.stalled).toBeDefined();
      host.advance(1000);
      // The late answer was a miss: timed at the root, no error, nobody served.
      expect(host.histogram("inference_cache.shared_read_ms")).toEqual([800]);
      expect(host.metric("inference_cache.shared_errors.op=read") ?? 0).toBe(0);
      const hung = await r.send(post(chat({ seed: 2 })), { clientTimeoutMs: 200 });
      expect(hung.stalled).toBeDefined();
      host.advance(2000);
      // Its timeout is the tier's failure, counted although the client had gone.
      expect(host.metric("inference_cache.shared_errors.op=read")).toBe(1);
      expect(host.histogram("inference_cache.shared_read_ms")).toEqual([800, 1500]);
      expect(host.httpCallLog.map((c) => [c.request.method, c.outcome, c.deliveredTo !== undefined])).toEqual([["GET", "response", true], ["GET", "timeout", true]]);
      expect(host.logs({ minLevel: "warn" })).toEqual([]);
    });

    it("says shared-tier-error when Envoy refuses the call (a cluster the config lacks)", async () => {
      const r = await rig("alone", { ...CACHE_CONFIG, shared_tier: { cluster: "no-such-cluster", timeout_ms: 200 } }, new Host());
      const res = await r.send(post(chat()));
      expect(res.status).toBe(200);
      expect(res.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(res.response?.headers["x-ai-cache-reason"]).toBe("shared-tier-error");
      expect(r.host.metric("inference_cache.shared_errors.op=read")).toBe(1);
    });

    it("writes for the root context, so the end of the stream cannot cancel the write or lose its answer", async () => {
      const store = new Map<string, Buffer>();
      const host = new Host();
      webdis(host, store);
      const slow = host;
      const r = await rig("alone", SHARED, host);
      // Webdis confirms the write long after the client's stream has ended and been deleted.
      slow.addCluster("webdis", (req) => {
        if (req.method === "PUT") {
          store.set("written", Buffer.from(req.bodyBytes));
          return { status: 200, body: "+OK\r\n", delayMs: 150 };
        }
        return { status: 200, body: "$-1\r\n" };
      });
      const res = await r.send(post(chat()));
      expect(res.response?.headers["x-ai-cache"]).toBe("MISS");
      expect(host.metric("inference_cache.stores.tier=shared")).toBe(0);
      host.advance(200);
      const write = host.httpCallLog.find((c) => c.request.method === "PUT")!;
      expect(write.outcome).toBe("response");
      expect(host.metric("inference_cache.stores.tier=shared")).toBe(1);
      expect(store.get("written")?.subarray(0, 4).toString()).toBe("AIGC");
    });
  });

  describe("configuration", () => {
    it.each([
      [{ slots: 0 }, "inference-cache: slots: expected an integer 1..65536, got 0"],
      [{ tenant_header: "Bad Header" }, "tenant_header: expected a lower-case header name (letters, digits, '-', '_', '.'), got \"Bad Header\""],
      [{ shared_tier: {} }, "shared_tier.cluster"],
    ])("refuses %j, naming the field", async (config, message) => {
      const host = new Host();
      const vm = await host.loadVm("build/inference-cache.wasm", { vmId: VM_ID });
      const plugin = vm.startPlugin({ rootId: "inference-cache", configuration: JSON.stringify(config) });
      expect(plugin.configured).toBe(false);
      expect(host.logs({ minLevel: "critical" }).map((l) => l.message).join("\n")).toContain(message);
    });

    it.each(["", "  ", "{}"])("starts with every default from %j (the README: `{}` or nothing)", async (configuration) => {
      const host = new Host();
      const vm = await host.loadVm("build/inference-cache.wasm", { vmId: VM_ID });
      const plugin = vm.startPlugin({ rootId: "inference-cache", configuration, allowOnHeadersStopIteration: true });
      expect(plugin.configured).toBe(true);
      const body = JSON.stringify({ model: "m", temperature: 0, messages: [{ role: "user", content: "hi" }] });
      const res = await plugin.request({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body });
      expect(res.upstreamRequest?.headers["x-ai-cache-key"]).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});
