// The pipeline (assembly/pipeline) in the host emulator: root_id `ai-gateway` runs the stages its
// configuration names in one filter entry and answers as the separate entries do; its
// configuration is checked like every filter's (one line naming field, value, expectation);
// per-route settings, keyed by Envoy's route name, turn a stage off or override its settings.
import { beforeAll, describe, expect, it } from "vitest";
import { Host, type Plugin, type RequestInit, type RequestResult } from "./emulator";
import { ModelServer } from "./inference-cache/upstream";

const WASM = "build/ai-gateway.wasm";
const VM_ID = "ai-gateway";

const ROUTER = {
  sticky_key: "header",
  sticky_header: "x-session-id",
  max_body_bytes: 4096,
  models: {
    llama: {
      versions: {
        v1: { cluster: "llama-v1", upstream_model: "meta-llama/Llama-3.1-8B", weight: 90 },
        v2: { cluster: "llama-v2", weight: 10, fallback: ["v1"] },
      },
      aliases: { stable: "v1", canary: "v2" },
    },
    iris: { versions: { "1": { cluster: "iris-1" } } },
  },
};

async function start(rootId: string, configuration: string | object, host = new Host()): Promise<{ host: Host; plugin: Plugin }> {
  const vm = await host.loadVm(WASM, { vmId: VM_ID });
  const plugin = vm.startPlugin({ rootId, configuration, allowOnHeadersStopIteration: true });
  return { host, plugin };
}

const JSON_CT = { "content-type": "application/json" };
const chat = (model: unknown) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] });

/** What a client and the upstream see of one request: comparable across the two forms. */
function observed(res: RequestResult) {
  const h = res.upstreamRequest?.headers ?? {};
  return {
    status: res.status,
    local: res.localResponse ? { status: res.localResponse.status, body: res.localResponse.body, details: res.localResponse.details } : null,
    upstream: res.upstreamRequest
      ? { cluster: h["x-ai-cluster"], model: h["x-ai-model"], version: h["x-ai-model-version"], tenant: h["x-ai-tenant"], body: res.upstreamRequest.body }
      : null,
  };
}

const REQUESTS: [string, RequestInit][] = [
  ["body-routed chat", { method: "POST", path: "/v1/chat/completions", headers: JSON_CT, body: chat("llama"), }],
  ["body-routed with version", { method: "POST", path: "/v1/chat/completions", headers: JSON_CT, body: chat("llama@canary") }],
  ["header-routed", { headers: { "x-model": "iris" } }],
  ["path-routed", { method: "POST", path: "/v2/models/iris/versions/1/infer", headers: JSON_CT, body: "{}" }],
  ["sticky by header", { method: "POST", headers: { ...JSON_CT, "x-session-id": "s-42", authorization: "Bearer k" }, body: chat("llama") }],
  ["unknown model", { method: "POST", headers: JSON_CT, body: chat("gpt-9") }],
  ["malformed body", { method: "POST", headers: JSON_CT, body: '{"model": "llama",' }],
  ["body in chunks", { method: "POST", headers: JSON_CT, bodyChunks: ['{"mod', 'el":"iris"', "}"] }],
  ["too large", { method: "POST", headers: JSON_CT, bodyChunks: ["[", " ".repeat(5000), "]"] }],
  ["model list", { path: "/v1/models" }],
  ["no model", { headers: {} }],
];

describe("pipeline", () => {
  describe("one filter entry (root_id ai-gateway)", () => {
    let separate: Plugin;
    let pipeline: Plugin;
    beforeAll(async () => {
      separate = (await start("model-router", ROUTER)).plugin;
      pipeline = (await start("ai-gateway", { model_router: ROUTER })).plugin;
      expect(separate.configured).toBe(true);
      expect(pipeline.configured).toBe(true);
    });

    it.each(REQUESTS)("answers %s as the separate model-router entry does", async (_, init) => {
      const a = observed(await separate.request(init));
      const b = observed(await pipeline.request(init));
      expect(b).toEqual(a);
    });

    it("counts into the same model_router stats as the separate entry", async () => {
      const { host, plugin } = await start("ai-gateway", { model_router: ROUTER });
      await plugin.request({ headers: { "x-model": "iris" } });
      expect(host.metric("model_router.requests.model=iris.version=1.source=header")).toBe(1);
    });

    it("answers each request alike whether its stream, Exchange and parse are reused or new", async () => {
      // One plugin reuses ended streams (and their parse's objects and node buffers); a fresh
      // plugin per request never does. Bodies of different sizes, valid and not, alternate.
      const bodies = [
        chat("llama"), '{"model": "llama",', chat("iris"), JSON.stringify({ model: "llama@v2", messages: Array.from({ length: 40 }, (_, i) => ({ role: "user", content: `m${i}` })) }),
        "[1,2]", chat("gpt-9"), '{"model":"iris"}', "", JSON.stringify({ model: "iris", deep: [[[[{ a: 1 }]]]] }),
      ];
      for (let round = 0; round < 3; round++) {
        for (const body of bodies) {
          const init: RequestInit = { method: "POST", headers: { ...JSON_CT, "x-session-id": "s-1" }, body };
          const fresh = (await start("ai-gateway", { model_router: ROUTER })).plugin;
          expect(observed(await pipeline.request(init))).toEqual(observed(await fresh.request(init)));
        }
      }
    });

    it("keeps its memory flat over many large bodies", async () => {
      const { plugin } = await start("ai-gateway", { model_router: { ...ROUTER, max_body_bytes: 1 << 20 } });
      const big = (i: number) => JSON.stringify({ model: "iris", messages: [{ role: "user", content: "x".repeat(200_000 + i) }] });
      const send = (i: number) => plugin.request({ method: "POST", headers: JSON_CT, body: big(i) }, { bufferLimitBytes: 1 << 21 });
      for (let i = 0; i < 300; i++) expect((await send(i)).status).toBe(200);
      const settled = plugin.vm.memory.byteLength;
      for (let i = 0; i < 600; i++) await send(i);
      expect(plugin.vm.memory.byteLength).toBe(settled);
      // Garbage is bounded by 1 MiB of host buffers between collections, not by 256 requests.
      expect(settled).toBeLessThan(16 << 20);
    });

    it("reads the body from Envoy once and lets it through unchanged", async () => {
      const body = chat("llama");
      const res = await pipeline.request({ method: "POST", headers: JSON_CT, bodyChunks: [body.slice(0, 10), body.slice(10)] });
      expect(res.upstreamRequest?.body).toBe(body);
      const bodyCalls = res.actions.filter((a) => a.callback === "onRequestBody");
      expect(bodyCalls.map((a) => a.status)).toEqual(["StopIterationAndBuffer", "Continue"]);
    });
  });

  describe("one read of each thing per request", () => {
    it("runs router, cache and token-bucket on one read of each header map, body and response chunk, and one clock reading per callback", async () => {
      const server = new ModelServer();
      const upstream = (req: { body: string }) => {
        const r = server.answer(req.body);
        return { status: r.status, headers: r.headers, bodyChunks: r.chunks };
      };
      const { plugin } = await start("ai-gateway", {
        model_router: { ...ROUTER, model_headers: false },
        inference_cache: {},
        token_bucket: { models: { llama: { tenant: { requests_per_minute: 1000, tokens_per_minute: 1_000_000 } } } },
      });
      expect(plugin.configured).toBe(true);
      const calls = plugin.vm.hostCalls;
      const body = JSON.stringify({ model: "llama", messages: [{ role: "user", content: "2+2?" }], temperature: 0, max_tokens: 16 });
      for (let i = 0; i < 2; i++) {
        const before = new Map(calls);
        const res = await plugin.request({ method: "POST", path: "/v1/chat/completions", headers: { ...JSON_CT, authorization: "Bearer k" }, body }, { upstream });
        expect(res.status).toBe(200);
        const made = (name: string) => (calls.get(name) ?? 0) - (before.get(name) ?? 0);
        const headers = res.response?.headers ?? {};
        if (i === 0) {
          // A miss: upstream answered; the cache stored it, the bucket settled from its usage.
          expect(headers["x-ai-cache"]).toBe("MISS");
          expect(made("proxy_get_header_map_pairs")).toBe(2); // request, response
          expect(made("proxy_get_buffer_bytes")).toBe(2); // request body, response body
          // Callbacks that need the time: request body (route, cache lookup, reserve) and
          // response body (settle, store).
          expect(made("proxy_get_current_time_nanoseconds")).toBe(2);
        } else {
          // A hit: answered from the cache, the response hooks see the local reply.
          expect(headers["x-ai-cache"]).toBe("HIT");
          expect(made("proxy_get_header_map_pairs")).toBeLessThanOrEqual(2);
          expect(made("proxy_get_buffer_bytes")).toBe(1);
        }
        // The token bucket runs after the cache: a hit never reaches it (nor costs a token).
        expect(headers["x-ratelimit-remaining-requests"]).toBe(i === 0 ? "999" : undefined);
      }
      expect(server.count).toBe(1);
    });
  });

  describe("a later stage's local reply", () => {
    it("is described by the cache as the separate entries describe it (token-bucket's 429: MISS, status-not-cacheable, the key)", async () => {
      const server = new ModelServer();
      const upstream = (req: { body: string }) => {
        const r = server.answer(req.body);
        return { status: r.status, headers: r.headers, bodyChunks: r.chunks };
      };
      const router = { ...ROUTER, model_headers: true };
      const cache = {};
      const bucket = { models: { llama: { tenant: { requests_per_minute: 1, requests_burst: 1 } } } };
      const host = new Host();
      const vm = await host.loadVm(WASM, { vmId: VM_ID });
      const entry = (rootId: string, configuration: object) => vm.startPlugin({ rootId, configuration, allowOnHeadersStopIteration: true });
      const separate = host.chain(entry("model-router", router), entry("inference-cache", cache), entry("token-bucket", bucket));
      const other = new Host();
      const pipeline = (await start("ai-gateway", { model_router: router, inference_cache: cache, token_bucket: bucket }, other)).plugin;
      const seen = (res: RequestResult) => {
        const h = res.response?.headers ?? {};
        return { status: res.status, cache: h["x-ai-cache"], reason: h["x-ai-cache-reason"], key: /^[0-9a-f]{64}$/.test(h["x-ai-cache-key"] ?? "") };
      };
      const send = (i: number, tenant: string) => ({
        method: "POST", path: "/v1/chat/completions", headers: { ...JSON_CT, authorization: `Bearer ${tenant}` },
        body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: `question ${i}` }], temperature: 0 }),
      });
      for (const [i, want] of [[0, 200], [1, 429]] as const) {
        const a = seen(await separate.request(send(i, "a"), { upstream }));
        const b = seen(await pipeline.request(send(i, "b"), { upstream }));
        expect(a.status).toBe(want);
        expect(b).toEqual(a);
      }
      expect(seen(await pipeline.request(send(2, "b"), { upstream }))).toEqual({ status: 429, cache: "MISS", reason: "status-not-cacheable", key: true });
      expect(other.metric("inference_cache.not_stored.reason=status-not-cacheable")).toBe(2);
    });
  });

  describe("configuration", () => {
    const CASES: [string, string | object, string][] = [
      ["blank", "", "ai-gateway: configuration: expected a JSON object with a section per stage (warmup_health, model_router, inference_cache, token_bucket), got nothing"],
      ["not JSON", "{", "ai-gateway: configuration: expected JSON, got"],
      ["an unknown section", { model_router: ROUTER, nope: {} }, "ai-gateway: nope: expected one of the keys warmup_health, model_router, inference_cache, token_bucket, routes, got an unknown key"],
      ["no stage", { routes: {} }, "ai-gateway: configuration: expected at least one stage section (warmup_health, model_router, inference_cache, token_bucket), got none"],
      ["a section that is not an object", { model_router: true }, "ai-gateway: model_router: expected an object with the model-router configuration, got true"],
      ["a bad stage setting", { model_router: { ...ROUTER, sticky_key: "moon" } }, "ai-gateway: model_router.sticky_key: expected \"none\", \"tenant\" or \"header\", got \"moon\""],
      ["routes not an object", { model_router: ROUTER, routes: [] }, "ai-gateway: routes: expected an object of route names to per-route settings, got []"],
      ["a route section unknown", { model_router: ROUTER, routes: { r: { cache: false } } }, "ai-gateway: routes.r.cache: expected one of the keys warmup_health, model_router, inference_cache, token_bucket, got an unknown key"],
      ["a route section neither false nor object", { model_router: ROUTER, routes: { r: { model_router: true } } }, "ai-gateway: routes.r.model_router: expected false (the stage is off on this route) or an object of settings, got true"],
      ["a bad route override", { model_router: ROUTER, routes: { r: { model_router: { max_body_bytes: 0 } } } }, "ai-gateway: routes.r.model_router.max_body_bytes: expected an integer 1..67108864, got 0"],
      ["a route's own cache table", { model_router: ROUTER, inference_cache: {}, routes: { r: { inference_cache: { slots: 5 } } } }, "ai-gateway: routes.r.inference_cache.slots: expected a setting a route may change (slots and max_entry_bytes shape the table in shared data that every route uses: set it in the inference_cache section), got 5"],
      ["two routes adding the cache with other tables", { model_router: ROUTER, routes: { a: { inference_cache: { slots: 64 } }, b: { inference_cache: {} } } },
        "ai-gateway: routes.b.inference_cache.slots: expected the value of route \"a\", which adds inference_cache too (64): routes share the table in shared data, got the default"],
      ["two routes adding token-bucket with other tables", { model_router: ROUTER, routes: { a: { token_bucket: { slots: 64, default: { tenant: { requests_per_minute: 60 } } } }, b: { token_bucket: { slots: 128, default: { tenant: { requests_per_minute: 60 } } } } } },
        "ai-gateway: routes.b.token_bucket.slots: expected the value of route \"a\", which adds token_bucket too (64): routes share the table in shared data, got 128"],
      ["a route's own probing", { warmup_health: { targets: [{ model: "m", version: "v1", cluster: "c", probe: { kind: "tgi" } }] }, routes: { r: { warmup_health: { ramp_ms: 60000 } } } },
        "ai-gateway: routes.r.warmup_health.ramp_ms: expected a setting a route may change (targets and tick_ms and lease_ms and interval_ms and timeout_ms and unhealthy_threshold and healthy_threshold and ramp_ms and max_response_bytes shape the one prober per Envoy and its records that every route uses: set it in the warmup_health section), got 60000"],
      ["two routes adding warmup-health with other targets", { model_router: ROUTER, routes: { a: { warmup_health: { targets: [{ model: "m", version: "v1", cluster: "c", probe: { kind: "tgi" } }] } }, b: { warmup_health: { targets: [{ model: "m", version: "v1", cluster: "d", probe: { kind: "tgi" } }] } } } },
        "ai-gateway: routes.b.warmup_health.targets: expected the value of route \"a\", which adds warmup_health too ([{\"model\":\"m\",\"version\":\"v1\",\"cluster\":\"c\",\"probe\":{\"kind\":\"tgi\"}}]): routes share the one prober per Envoy and its records, got"],
      ["a route's own bucket table", { token_bucket: { models: {} }, routes: { r: { token_bucket: { slots: 5 } } } }, "ai-gateway: routes.r.token_bucket.slots: expected a setting a route may change (slots shapes the table in shared data that every route uses: set it in the token_bucket section), got 5"],
    ];
    it.each(CASES)("refuses %s with one critical line naming field, value and expectation", async (_, configuration, message) => {
      const { host, plugin } = await start("ai-gateway", configuration);
      expect(plugin.configured).toBe(false);
      const critical = host.logs({ level: "critical" }).map((l) => l.message);
      expect(critical).toHaveLength(1);
      expect(critical[0].startsWith(message), critical[0]).toBe(true);
    });

    it.each(["AI-GATEWAY", "model_router", ""])("refuses root_id '%s', naming every root id of the module, the pipeline's too", async (rootId) => {
      const { host, plugin } = await start(rootId, { model_router: ROUTER });
      expect(plugin.configured).toBe(false);
      expect(host.logs({ level: "critical" }).map((l) => l.message)).toEqual([
        `root_id: '${rootId}' names no filter in this module; expected one of: inference-cache, model-router, noop, token-bucket, warmup-health, ai-gateway`,
      ]);
    });

    it("warns at start of each model another stage names that the router never routes to (a typo, most likely), and starts", async () => {
      const { host, plugin } = await start("ai-gateway", {
        model_router: ROUTER,
        inference_cache: { models: { lama: { shared: true }, llama: { shared: true } } },
        token_bucket: { models: { lama: { tenant: { requests_per_minute: 10 } }, iris: { tenant: { requests_per_minute: 10 } } } },
        warmup_health: { targets: [
          { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "vllm" } },
          { model: "llama", version: "v9", cluster: "llama-v9", probe: { kind: "vllm" } },
        ] },
      });
      expect(plugin.configured).toBe(true);
      expect(host.logs({ level: "warn" }).map((l) => l.message)).toEqual([
        'ai-gateway: warmup_health.targets[1]: model_router has no version "v9" of a model "llama", so these settings apply only on routes that turn model_router off',
        'ai-gateway: inference_cache.models.lama: model_router has no model "lama", so these settings apply only on routes that turn model_router off',
        'ai-gateway: token_bucket.models.lama: model_router has no model "lama", so these settings apply only on routes that turn model_router off',
      ]);
    });

    it("names the filter in errors of the separate entry", async () => {
      const { host, plugin } = await start("model-router", { ...ROUTER, sticky_key: "moon" });
      expect(plugin.configured).toBe(false);
      expect(host.logs({ level: "critical" }).map((l) => l.message)).toEqual([
        "model-router: sticky_key: expected \"none\", \"tenant\" or \"header\", got \"moon\"",
      ]);
    });
  });

  describe("per-route settings", () => {
    const CONFIG = {
      model_router: ROUTER,
      routes: {
        passthrough: { model_router: false },
        rewrite: { model_router: { rewrite_body_model: true } },
      },
    };

    it("turns a stage off on a route", async () => {
      const { host, plugin } = await start("ai-gateway", CONFIG);
      host.setProperty(["xds", "route_name"], "passthrough");
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-ai-cluster": "client-sent" }, body: chat("gpt-9") });
      expect(res.status).toBe(200);
      expect(res.upstreamRequest?.headers["x-ai-cluster"]).toBe("client-sent");
      expect(host.metric("model_router.errors.kind=model_not_found")).toBe(0);
    });

    it("overrides a setting on a route and keeps the rest of the stage's configuration", async () => {
      const { host, plugin } = await start("ai-gateway", CONFIG);
      host.setProperty(["xds", "route_name"], "rewrite");
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-model-version": "v1" }, body: chat("llama") });
      expect(res.upstreamRequest?.headers["x-ai-cluster"]).toBe("llama-v1");
      expect(JSON.parse(res.upstreamRequest!.body).model).toBe("meta-llama/Llama-3.1-8B");
    });

    it("removes a client's x-ai-model, x-ai-model-version and x-ai-tenant on a route that turns the router off, so later stages never take the model from the client", async () => {
      const config = {
        model_router: ROUTER,
        token_bucket: { models: { free: { tenant: { requests_per_minute: 1000 } } }, default: { tenant: { requests_per_minute: 1 } } },
        routes: { passthrough: { model_router: false } },
      };
      const { host, plugin } = await start("ai-gateway", config);
      host.setProperty(["xds", "route_name"], "passthrough");
      const sent = { method: "POST", headers: { ...JSON_CT, "x-ai-model": "free", "x-ai-model-version": "v9", "x-ai-tenant": "someone-else", authorization: "Bearer k" }, body: chat("llama") };
      const first = await plugin.request(sent);
      expect(first.status).toBe(200);
      expect(first.upstreamRequest?.headers["x-ai-model"]).toBeUndefined();
      expect(first.upstreamRequest?.headers["x-ai-model-version"]).toBeUndefined();
      expect(first.upstreamRequest?.headers["x-ai-tenant"]).toBeUndefined();
      // Charged to the body's model (the default limits: 1 a minute), not to the client's "free".
      const second = await plugin.request(sent);
      expect(second.localResponse?.status).toBe(429);
    });

    it("caches embeddings without a temperature or seed, on the embeddings route of inference-cache's README for its ttl_ms", async () => {
      const config = {
        model_router: ROUTER,
        inference_cache: { ttl_ms: 600000 },
        routes: { embeddings: { inference_cache: { ttl_ms: 86400000 } }, raw: { inference_cache: false } },
      };
      const { host, plugin } = await start("ai-gateway", config);
      const embed = { method: "POST", path: "/v1/embeddings", headers: JSON_CT, body: JSON.stringify({ model: "iris", input: "hello" }) };
      const chatNoTemperature = { ...embed, path: "/v1/chat/completions", body: JSON.stringify({ model: "iris", messages: [{ role: "user", content: "hello" }] }) };
      host.setProperty(["xds", "route_name"], "embeddings");
      expect((await plugin.request(embed)).response?.headers["x-ai-cache-reason"]).toBe("not-found");
      host.advance(700_000); // past the base's ttl_ms, within the route's
      const hit = (await plugin.request(embed)).response;
      expect([hit?.headers["x-ai-cache-reason"], hit?.headers["age"]]).toEqual(["local-hit", "700"]);
      // A chat answer without a temperature is sampled (the default 1).
      expect((await plugin.request(chatNoTemperature)).response?.headers["x-ai-cache-reason"]).toBe("nondeterministic");
    });

    it("removes a client's x-ai-model, x-ai-model-version and x-ai-tenant in a configuration without the router, and warns of bodies without a model when token_bucket has no default", async () => {
      const config = { token_bucket: { models: { free: { tenant: { requests_per_minute: 1000 } }, llama: { tenant: { requests_per_minute: 1 } } } } };
      const { host, plugin } = await start("ai-gateway", config);
      expect(host.logs({ minLevel: "warn" }).map((l) => l.message)).toContainEqual(expect.stringMatching(/^ai-gateway: token_bucket: without model_router, a request whose model the stage cannot read .* has no limits; set "default"/));
      const sent = { method: "POST", headers: { ...JSON_CT, "x-ai-model": "free", "x-ai-model-version": "v9", "x-ai-tenant": "someone-else", authorization: "Bearer k" }, body: chat("llama") };
      const first = await plugin.request(sent);
      expect(first.status).toBe(200);
      expect(first.upstreamRequest?.headers["x-ai-model"]).toBeUndefined();
      expect(first.upstreamRequest?.headers["x-ai-model-version"]).toBeUndefined();
      expect(first.upstreamRequest?.headers["x-ai-tenant"]).toBeUndefined();
      // Charged to the body's model (1 a minute), not to the client's "free".
      expect((await plugin.request(sent)).localResponse?.status).toBe(429);
      // A per-model default: each made-up name a fresh bucket, said at start; a shared one: nothing to say.
      const withDefault = await start("ai-gateway", { token_bucket: { ...config.token_bucket, default: { tenant: { requests_per_minute: 10 } } } });
      expect(withDefault.host.logs({ minLevel: "warn" }).map((l) => l.message).filter((m) => m.includes("without model_router"))).toEqual([
        'ai-gateway: token_bucket: without model_router, a body that names a model not in "models" gets fresh "default" buckets for each new name; set "default": {"per_model": false, ...}, or add model_router, which answers unknown models 404',
      ]);
      const shared = await start("ai-gateway", { token_bucket: { ...config.token_bucket, default: { per_model: false, tenant: { requests_per_minute: 10 } } } });
      expect(shared.host.logs({ minLevel: "warn" }).map((l) => l.message).filter((m) => m.includes("without model_router"))).toEqual([]);
    });

    it("warns of token_bucket's settings on a route that runs it without the router, naming the route", async () => {
      const WITHOUT = "without model_router";
      const warned = (host: Host) => host.logs({ minLevel: "warn" }).map((l) => l.message).filter((m) => m.includes(WITHOUT));
      const PER_MODEL = 'gets fresh "default" buckets for each new name';
      // The router turned off on a route: the base's token_bucket takes the body's model there.
      const off = await start("ai-gateway", { model_router: ROUTER, token_bucket: { default: { tenant: { requests_per_minute: 10 } } }, routes: { passthrough: { model_router: false }, other: {} } });
      expect(warned(off.host)).toEqual([expect.stringMatching(new RegExp(`^ai-gateway: routes\\.passthrough\\.token_bucket: ${WITHOUT}, a body that names a model not in "models" ${PER_MODEL};`))]);
      // A route's default replaces the base's whole: without per_model false it is per model again.
      const base = { token_bucket: { default: { per_model: false, tenant: { requests_per_minute: 1 } } } };
      const batch = await start("ai-gateway", { ...base, routes: { batch: { token_bucket: { default: { tenant: { requests_per_minute: 1 } } } }, kept: { token_bucket: { shadow: true } } } });
      expect(warned(batch.host)).toEqual([expect.stringMatching(new RegExp(`^ai-gateway: routes\\.batch\\.token_bucket: ${WITHOUT}, .*${PER_MODEL}`))]);
      // A route that keeps the base's settings is warned of once, with the base.
      const none = await start("ai-gateway", { token_bucket: { models: { llama: { tenant: { requests_per_minute: 1 } } } }, routes: { plain: {} } });
      expect(warned(none.host)).toEqual([expect.stringMatching(/^ai-gateway: token_bucket: without model_router, a request whose model the stage cannot read/)]);
      // With the router on every route, nothing to say.
      const routed = await start("ai-gateway", { model_router: ROUTER, token_bucket: { default: { tenant: { requests_per_minute: 10 } } }, routes: { batch: { token_bucket: { shadow: true } } } });
      expect(warned(routed.host)).toEqual([]);
    });

    describe("separate entries without the router in front (alone, or the router's entry off on the route)", () => {
      // A separate entry cannot tell the router's x-ai-* headers from a client's by the headers
      // alone; the router marks the stream's filter state (wasm.ai_model_routed), which a client
      // cannot set. Without the mark the client's copies go, as in an ai-gateway entry without
      // the router.
      const BUCKET = { models: { llama: { tenant: { requests_per_minute: 1 } } }, default: { tenant: { requests_per_minute: 1 } } };
      const sent = (i: number) => ({
        method: "POST", headers: { ...JSON_CT, "x-ai-model": `forged-${i}`, "x-ai-model-version": `v${i}`, "x-ai-tenant": "someone-else", authorization: "Bearer k" },
        body: chat("llama"),
      });

      it("removes a client's x-ai-model, x-ai-model-version and x-ai-tenant, so a new name per request finds no fresh bucket", async () => {
        const host = new Host();
        const vm = await host.loadVm(WASM, { vmId: VM_ID });
        const bucket = vm.startPlugin({ rootId: "token-bucket", configuration: BUCKET, allowOnHeadersStopIteration: true });
        const chain = host.chain(bucket);
        const first = await chain.request(sent(1));
        expect(first.status).toBe(200);
        expect(first.upstreamRequest?.headers["x-ai-model"]).toBeUndefined();
        expect(first.upstreamRequest?.headers["x-ai-model-version"]).toBeUndefined();
        expect(first.upstreamRequest?.headers["x-ai-tenant"]).toBeUndefined();
        // Charged to the body's model (1 a minute), whatever name the client sends.
        expect((await chain.request(sent(2))).localResponse?.status).toBe(429);
      });

      it("keeps the cache's key off a model the client names", async () => {
        const host = new Host();
        const vm = await host.loadVm(WASM, { vmId: VM_ID });
        const cache = vm.startPlugin({ rootId: "inference-cache", configuration: {}, allowOnHeadersStopIteration: true });
        const keyOf = async (headers: Record<string, string>) => {
          const res = await host.chain(cache).request({ method: "POST", headers: { ...JSON_CT, ...headers }, body: JSON.stringify({ model: "llama", messages: [], temperature: 0 }) });
          return res.response?.headers["x-ai-cache-key"];
        };
        const forged = await keyOf({ "x-ai-model": "forged", "x-ai-model-version": "v9" });
        expect(forged).toMatch(/^[0-9a-f]{64}$/);
        expect(await keyOf({})).toBe(forged);
      });

      it("trusts the headers of the router's entry before it (its mark in filter state)", async () => {
        const host = new Host();
        const vm = await host.loadVm(WASM, { vmId: VM_ID });
        const entry = (rootId: string, configuration: object) => vm.startPlugin({ rootId, configuration, allowOnHeadersStopIteration: true });
        const chain = host.chain(entry("model-router", ROUTER), entry("token-bucket", { models: { iris: { tenant: { requests_per_minute: 1 } } } }));
        const res = await chain.request({ method: "POST", headers: { ...JSON_CT, "x-ai-model": "forged", authorization: "Bearer k" }, body: chat("iris") });
        expect(res.upstreamRequest?.headers["x-ai-model"]).toBe("iris");
        expect(res.upstreamRequest?.headers["x-ai-model-version"]).toBe("1");
        expect(res.response?.headers["x-ratelimit-remaining-requests"]).toBe("0");
      });
    });

    it("lets several routes add a stage the base lacks when they agree on its table", async () => {
      const { plugin } = await start("ai-gateway", { model_router: ROUTER, routes: { a: { inference_cache: { slots: 64, ttl_ms: 1000 } }, b: { inference_cache: { slots: 64 } }, c: { inference_cache: false } } });
      expect(plugin.configured).toBe(true);
    });

    it("uses the configured chain on routes without settings of their own", async () => {
      const { host, plugin } = await start("ai-gateway", CONFIG);
      for (const name of ["other", null]) {
        if (name !== null) host.setProperty(["xds", "route_name"], name);
        const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-model-version": "v1" }, body: chat("llama") });
        expect(res.upstreamRequest?.headers["x-ai-cluster"]).toBe("llama-v1");
        expect(JSON.parse(res.upstreamRequest!.body).model).toBe("llama");
      }
    });
  });

  describe("an entry without allow_on_headers_stop_iteration", () => {
    const WARNING = /^(.*): a request ended while the filter waited for its body, and Envoy passed it no body at all\. If every request with a body hangs, the filter entry lacks allow_on_headers_stop_iteration: true/;
    const warnings = (host: Host) => host.logs({ level: "warn" }).map((l) => l.message).filter((m) => WARNING.test(m)).map((m) => WARNING.exec(m)![1]);

    it.each([["model-router", ROUTER], ["ai-gateway", { model_router: ROUTER }]] as [string, object][])(
      "root_id %s: Envoy withholds the body, and the first request that ends without one says why",
      async (rootId, configuration) => {
        const host = new Host();
        const vm = await host.loadVm(WASM, { vmId: VM_ID });
        const plugin = vm.startPlugin({ rootId, configuration, allowOnHeadersStopIteration: false });
        for (let i = 0; i < 2; i++) {
          const stream = plugin.newStream();
          stream.requestHeaders({ ":method": "POST", ":path": "/v1/chat/completions", ...JSON_CT });
          // Stop all: the body is Envoy's, the filter never sees it, the request hangs.
          expect(stream.requestBody(chat("llama"), { endOfStream: true })).toBe("NotCalled");
          expect(stream.upstreamRequest).toBeUndefined();
          stream.finish();
        }
        expect(warnings(host)).toEqual([rootId]);
      },
    );

    it("says nothing of a client that goes away after some of its body, or of requests without a body", async () => {
      const { host, plugin } = await start("ai-gateway", { model_router: ROUTER });
      const stream = plugin.newStream();
      stream.requestHeaders({ ":method": "POST", ":path": "/v1/chat/completions", ...JSON_CT });
      expect(stream.requestBody('{"model":')).toBe("StopIterationAndBuffer");
      stream.finish();
      expect((await plugin.request({ path: "/v1/models" })).status).toBe(200);
      expect(warnings(host)).toEqual([]);
    });
  });

  describe("tunnels", () => {
    // The headers of an upgrade or a CONNECT do not end the stream, and what follows them is a
    // tunnel's bytes: a stage that waited for the body's end would hold the tunnel until a timeout.
    const TUNNELS: [string, Record<string, string>][] = [
      ["a WebSocket upgrade", { ":method": "GET", ":path": "/v1/realtime", connection: "Upgrade", upgrade: "websocket", "x-model": "iris" }],
      ["a CONNECT", { ":method": "CONNECT", ":authority": "example.internal:443", "x-model": "iris" }],
    ];
    it.each(TUNNELS)("lets %s through at its headers, routed by header, in both forms", async (_, headers) => {
      const rewriting = { ...ROUTER, rewrite_body_model: true };
      for (const [rootId, configuration] of [["model-router", rewriting], ["ai-gateway", { model_router: rewriting, inference_cache: {}, token_bucket: { models: { iris: { tenant: { tokens_per_minute: 100000 } } } } }]] as [string, object][]) {
        const { plugin } = await start(rootId, configuration);
        expect(plugin.configured).toBe(true);
        const stream = plugin.newStream();
        expect(stream.requestHeaders(headers)).toBe("Continue");
        expect(stream.upstreamRequest?.headers["x-ai-cluster"]).toBe("iris-1");
        // The tunnel's bytes pass as they come.
        expect(stream.requestBody("frame")).toBe("Continue");
        stream.finish();
      }
    });

    it("takes a POST with an upgrade header for a tunnel too (Envoy leaves the header only on a request it upgrades, whose stream then never ends)", async () => {
      const { plugin } = await start("ai-gateway", { model_router: { ...ROUTER, default_model: "iris" } });
      const stream = plugin.newStream();
      expect(stream.requestHeaders({ ":method": "POST", ":path": "/v1/chat/completions", ...JSON_CT, connection: "Upgrade", upgrade: "websocket" })).toBe("Continue");
      // The body is not read: no model from it, the default.
      expect(stream.upstreamRequest?.headers["x-ai-cluster"]).toBe("iris-1");
    });
  });
});
