// model-router (build/model-router.wasm) in the host emulator, with Envoy's call order and body
// semantics. The case table (host-tests/model-router/cases.ts: sources, headers, body rewrite,
// errors) runs here in every form, and again through a real Envoy in
// envoy/tests/model-router/cases.test.ts. The rest needs its own configuration, shared data, many
// requests or time: configuration, source order and defaults, the request lifecycle, sticky
// splits and warmup-health records, GET /v1/models, metrics, and the per-request cost against
// the noop filter. Tests assert on what a client, the upstream, the stats and the logs see.
import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Host, type Plugin, type RequestInit, type RequestResult } from "./emulator";
import { buildHealthWriter, HEALTH_WRITER_WASM } from "./model-router/build";
import { encodeHealthRecord, healthKey, type HealthStateName } from "./model-router/health-record";
import { identityBucket, stickyVersion, tenantHash } from "./model-router/bucket";
import { CASES, isRefused, CASES_CONFIG, type RouterCase } from "./model-router/cases";
import { caseStat, checkCase } from "./model-router/check-case";
import { FORMS, filterEntry, type Form } from "./model-router/forms";

const VM_ID = "ai-gateway";

const CONFIG = {
  sticky_key: "header",
  sticky_header: "x-session-id",
  max_body_bytes: 4096,
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
type Config = Record<string, unknown>;
const withConfig = (extra: Config): Config => ({ ...CONFIG, ...extra });

interface Setup {
  host: Host;
  plugin: Plugin;
}

/** The form the tests now running load the router in (set by each form's describe block). */
let activeForm: Form = "separate";

async function setup(config: Config = CONFIG, host = new Host()): Promise<Setup> {
  const entry = filterEntry(activeForm, config);
  const vm = await host.loadVm(entry.wasm, { vmId: VM_ID });
  const plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, allowOnHeadersStopIteration: true });
  expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
  return { host, plugin };
}

const chat = (model: unknown, extra: object = {}) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra });
const JSON_CT = { "content-type": "application/json" };

/** The route headers the upstream received. */
function route(res: RequestResult): Record<string, string | undefined> {
  const h = res.upstreamRequest?.headers ?? {};
  return { cluster: h["x-ai-cluster"], model: h["x-ai-model"], version: h["x-ai-model-version"], tenant: h["x-ai-tenant"] };
}

function errorOf(res: RequestResult): { status?: number; contentType?: string; error: Record<string, unknown> } {
  const body = JSON.parse(res.localResponse?.body ?? "null");
  expect(Object.keys(body ?? {})).toEqual(["error"]);
  return { status: res.status, contentType: res.localResponse?.headers["content-type"], error: body.error };
}

function setHealth(host: Host, model: string, version: string, state: HealthStateName | null, rampPermyriad = 10_000): void {
  const value = state === null ? new Uint8Array(0) : encodeHealthRecord({ state, sinceMs: BigInt(host.now), rampPermyriad, reason: "test" });
  host.sharedData.set(healthKey(model, version), value, { vmId: VM_ID });
}

// Every test runs in both forms: its own filter entry and the one-entry pipeline.
describe.each(FORMS)("model-router (%s form)", (form) => {
  beforeAll(() => {
    activeForm = form;
  });

  describe("configure", () => {
    it("starts with a valid configuration and defines its stats at configure time", async () => {
      const { host } = await setup();
      for (const source of ["header", "path", "body", "default"]) {
        expect(host.metric(`model_router.requests.model=llama.version=v1.source=${source}`)).toBe(0);
        expect(host.metric(`model_router.requests.model=org_model.version=a.source=${source}`)).toBe(0);
      }
      expect(host.metric("model_router.requests.model=llama.version=v1")).toBeUndefined();
      expect(host.metric("model_router.fallbacks.model=llama.version=v2")).toBe(0);
      expect(host.metric("model_router.errors.kind=model_not_found")).toBe(0);
      expect(host.metric("model_router.model_lists")).toBe(0);
      expect(host.logs({ minLevel: "warn" })).toEqual([]);
    });

    it("warns once when two names become one metric tag, and routes both", async () => {
      const host = new Host();
      const config = { models: { "org/llama": { versions: { v1: { cluster: "a" } } }, org_llama: { versions: { "v.1": { cluster: "b", weight: 100 }, v_1: { cluster: "c", weight: 0 } } } } };
      const entry = filterEntry(form, config);
      const vm = await host.loadVm(entry.wasm, { vmId: VM_ID });
      const plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration });
      const lines = host.logs({ minLevel: "warn" }).filter((l) => l.source !== "emulator").map((l) => l.message);
      expect(plugin.configured, JSON.stringify(lines)).toBe(true);
      expect(lines).toEqual(['model_router: models "org/llama" and "org_llama" share the metric tag model=org_llama: their counters add up; rename one to tell them apart']);
    });

    it.each([
      // [configuration, message as its own entry, message in the pipeline]
      [{ ...CONFIG, models: { llama: { versions: { v1: { cluster: "a", weight: "x" } } } } }, 'model-router: models.llama.versions.v1.weight: expected an integer 0..100, got "x"', 'ai-gateway: model_router.models.llama.versions.v1.weight: expected an integer 0..100, got "x"'],
      [{ ...CONFIG, unknown_key: 1 }, "model-router: unknown_key: expected one of the keys", "ai-gateway: model_router.unknown_key: expected one of the keys"],
      ["not json", "model-router: configuration: expected JSON, got", "ai-gateway: configuration: expected JSON, got"],
      // {"a": "b"} as a google.protobuf.Struct, as Envoy hands it over: protobuf's binary encoding.
      ["\n\u0008\n\u0001a\u0012\u0003\u001a\u0001b", "model-router: configuration: expected JSON, got binary data (not JSON at byte 1): a google.protobuf.Struct or another message reaches the filter in protobuf's binary encoding; give the configuration as a google.protobuf.StringValue whose value is the JSON",
        "ai-gateway: configuration: expected JSON, got binary data (not JSON at byte 1): a google.protobuf.Struct"],
      ["", 'model-router: configuration: expected a JSON object with "models", got nothing', "ai-gateway: configuration: expected a JSON object with a section per stage (warmup_health, model_router, inference_cache, token_bucket), got nothing"],
    ] as [Config | string, string, string][])("refuses %j with one critical line, also in Envoy's canary", async (config, separateMessage, pipelineMessage) => {
      const message = form === "separate" ? separateMessage : pipelineMessage;
      const entry = typeof config === "string" ? { ...filterEntry(form, {}), configuration: config } : filterEntry(form, config);
      for (const canary of [false, true]) {
        const host = new Host();
        const vm = await host.loadVm(entry.wasm, { vmId: VM_ID });
        const plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, canary });
        expect(plugin.configured).toBe(false);
        const lines = host.logs({ minLevel: "warn" }).filter((l) => l.source !== "emulator");
        // The canary and nothing else: a refused canary means the plugin never starts.
        expect(lines).toHaveLength(1);
        expect(lines[0].level).toBe("critical");
        expect(lines[0].message.startsWith(message)).toBe(true);
        expect(host.traps).toEqual([]);
      }
    });
  });

  describe("case table", () => {
    let host: Host;
    let plugin: Plugin;
    beforeAll(async () => {
      host = new Host();
      const entry = filterEntry(form, CASES_CONFIG);
      const vm = await host.loadVm(entry.wasm, { vmId: VM_ID });
      plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, allowOnHeadersStopIteration: true });
      expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
    });

    const init = (c: RouterCase): RequestInit => ({
      method: c.request.method,
      path: c.request.path,
      headers: c.request.headers,
      body: c.request.body,
      bodyChunks: c.request.chunks,
      trailers: c.request.trailers,
    });

    it.each(CASES)("$name", async (c) => {
      const stat = caseStat(c);
      const before = host.metric(stat) ?? 0;
      const res = await plugin.request(init(c));
      const up = res.upstreamRequest;
      checkCase(c, {
        status: res.status ?? 0,
        headers: res.response?.headers ?? {},
        body: res.response?.body ?? "",
        upstream: up === undefined ? undefined : { cluster: up.headers["x-ai-cluster"], headers: up.headers, body: up.body },
      });
      if (isRefused(c.expect)) {
        expect(res.localResponse?.status).toBe(c.expect.status);
        expect(res.localResponse?.details).toBe(`model_router.${c.expect.kind}`);
      }
      expect(host.metric(stat)).toBe(before + 1);
      expect(host.traps).toEqual([]);
    });
  });

  describe("sources", () => {
    it("skips the body source for a content type that is not JSON and never buffers it", async () => {
      const { plugin } = await setup(withConfig({ default_model: "iris" }));
      const res = await plugin.request({ path: "/upload", headers: { "content-type": "application/octet-stream" }, body: chat("llama") });
      expect(route(res)).toMatchObject({ cluster: "iris-1", model: "iris" });
      expect(res.actions.find((a) => a.callback === "onRequestHeaders")?.status).toBe("Continue");
    });

    it("follows the configured order of sources", async () => {
      const { plugin } = await setup(withConfig({ sources: ["body", "header"] }));
      const byBody = await plugin.request({ path: "/v1/chat/completions", headers: { "x-model": "iris" }, body: chat("llama@v2") });
      expect(route(byBody)).toMatchObject({ model: "llama", version: "v2" });
      const byHeader = await plugin.request({ path: "/v1/chat/completions", headers: { "x-model": "iris" }, body: '{"messages":[]}' });
      expect(route(byHeader)).toMatchObject({ model: "iris" });
      // "path" is not a source here: a KServe path names nothing.
      const noPath = await plugin.request({ path: "/v2/models/iris/infer" });
      expect(errorOf(noPath).error.code).toBe("model_required");
    });

    it("finds a body's model among many (compared one by one up to 8, hashed beyond)", async () => {
      for (const count of [3, 12]) {
        const models: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) models[`m${i}`] = { versions: { v1: { cluster: `m${i}-v1` } } };
        const { plugin } = await setup({ models });
        for (const i of [0, count - 1]) {
          const res = await plugin.request({ path: "/v1/chat/completions", body: chat(`m${i}`) });
          expect(route(res)).toMatchObject({ cluster: `m${i}-v1`, model: `m${i}` });
        }
        const unknown = await plugin.request({ path: "/v1/chat/completions", body: chat(`m${count}`) });
        expect(errorOf(unknown).error.code).toBe("model_not_found");
      }
    });

    it("reads a path two ways by the version the model has: with models org and org/llama, /predictions/org/llama is org/llama", async () => {
      const { plugin } = await setup({ path_templates: ["torchserve"], models: { org: { versions: { v1: { cluster: "org-1" } } }, "org/llama": { versions: { v1: { cluster: "org-llama-1" } } } } });
      expect(route(await plugin.request({ method: "POST", path: "/predictions/org/llama", body: "x" }))).toMatchObject({ cluster: "org-llama-1", model: "org/llama", version: "v1" });
      expect(route(await plugin.request({ method: "POST", path: "/predictions/org/v1", body: "x" }))).toMatchObject({ cluster: "org-1", model: "org", version: "v1" });
      expect(route(await plugin.request({ method: "POST", path: "/predictions/org/llama/v1", body: "x" }))).toMatchObject({ cluster: "org-llama-1", model: "org/llama", version: "v1" });
      // Neither reading has the version: model org's, named by the first template, is the 404.
      const neither = errorOf(await plugin.request({ method: "POST", path: "/predictions/org/v9", body: "x" }));
      expect([neither.status, neither.error.message]).toEqual([404, "The model 'org' has no version or alias 'v9'"]);
    });

    it("uses the default model when no source names one", async () => {
      const { host, plugin } = await setup(withConfig({ default_model: "iris" }));
      for (const init of [{ path: "/anything" }, { path: "/v1/chat/completions", body: '{"messages":[]}' }, { path: "/v1/chat/completions", body: "" }]) {
        const res = await plugin.request(init);
        expect(route(res)).toMatchObject({ cluster: "iris-1", model: "iris", version: "1" });
      }
      expect(host.metric("model_router.requests.model=iris.version=1.source=default")).toBe(3);
    });
  });

  describe("request lifecycle", () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setup();
    });

    const callbacks = (res: RequestResult) => res.actions.filter((a) => a.filter === filterEntry(form, {}).rootId && a.callback.startsWith("onRequest")).map((a) => `${a.callback}:${a.status}`);

    it("continues at once when the headers end the stream", async () => {
      const res = await s.plugin.request({ method: "GET", path: "/v2/models/iris/ready" });
      expect(res.stalled).toBeUndefined();
      expect(callbacks(res)).toEqual(["onRequestHeaders:Continue"]);
    });

    it("holds the headers and buffers the body until its end, then continues", async () => {
      const body = chat("llama@v2");
      const chunks = body.match(/.{1,7}/gs)!;
      const res = await s.plugin.request({ path: "/v1/chat/completions", bodyChunks: chunks });
      expect(res.status).toBe(200);
      expect(callbacks(res)).toEqual([
        "onRequestHeaders:StopIteration",
        ...chunks.slice(0, -1).map(() => "onRequestBody:StopIterationAndBuffer"),
        "onRequestBody:Continue",
      ]);
      expect(route(res)).toMatchObject({ version: "v2" });
      expect(res.upstreamRequest?.body).toBe(body);
      expect(res.routeCacheClears).toBeGreaterThan(0);
    });

    it("routes a body split into one-byte chunks", async () => {
      const body = chat("llama@v3", { text: "é✓😀" });
      const bytes = Buffer.from(body);
      const res = await s.plugin.request({ path: "/v1/chat/completions", bodyChunks: [...bytes].map((b) => new Uint8Array([b])) });
      expect(route(res)).toMatchObject({ version: "v3" });
      expect(Buffer.from(res.upstreamRequest!.bodyBytes).equals(bytes)).toBe(true);
    });

    it("finishes in the trailers when the body ends with trailers", async () => {
      const res = await s.plugin.request({ path: "/v1/chat/completions", bodyChunks: [chat("llama@v2")], trailers: { "x-trailer": "1" } });
      expect(res.status).toBe(200);
      expect(callbacks(res)).toEqual(["onRequestHeaders:StopIteration", "onRequestBody:StopIterationAndBuffer", "onRequestTrailers:Continue"]);
      expect(route(res)).toMatchObject({ version: "v2" });
      expect(res.upstreamRequest?.trailers).toEqual({ "x-trailer": "1" });
    });

    it("answers a body over the limit that arrives with trailers", async () => {
      const res = await s.plugin.request({ path: "/v1/chat/completions", bodyChunks: ["x".repeat(3000), "y".repeat(3000)], trailers: { t: "1" } }, { bufferLimitBytes: 1 << 20 });
      expect(errorOf(res)).toMatchObject({ status: 413, error: { code: "request_too_large" } });
    });

    it("removes client-sent copies of its headers before anything else, even on errors", async () => {
      const spoof = { "x-ai-cluster": "llama-v3", "x-ai-model": "x", "x-ai-model-version": "x", "x-ai-tenant": "x" };
      const stream = s.plugin.newStream();
      stream.requestHeaders({ ":path": "/v1/x", "x-model": "nope", ...spoof }, { endOfStream: true });
      expect(stream.localResponse?.status).toBe(404);
      expect(Object.keys(stream.currentRequestHeaders).filter((h) => h.startsWith("x-ai-"))).toEqual([]);
      const ok = await s.plugin.request({ headers: { "x-model": "llama@v1", ...spoof } });
      expect(route(ok)).toEqual({ cluster: "llama-v1", model: "llama", version: "v1", tenant: "anonymous" });
    });
  });

  describe("errors", () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setup();
    });

    it("never traps on random and truncated bodies", async () => {
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const good = Buffer.from(chat("llama@v2", { nested: { a: [1, 2.5e3, true, null, "é"] } }));
      for (let i = 0; i < 300; i++) {
        const body = i % 2 === 0 ? good.subarray(0, Math.floor(rand() * good.length)) : Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
        const res = await s.plugin.request({ path: "/v1/chat/completions", bodyChunks: [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)] });
        expect([200, 400, 404]).toContain(res.status);
      }
      expect(s.host.traps).toEqual([]);
    });
  });

  describe("body rewrite", () => {
    it("does not touch the body when the rewrite is off", async () => {
      const { plugin } = await setup();
      const res = await plugin.request({ body: chat("llama@v2") });
      expect(res.upstreamRequest?.body).toBe(chat("llama@v2"));
    });
  });

  describe("sticky split", () => {
    async function assign(plugin: Plugin, keys: string[]): Promise<string[]> {
      const out: string[] = [];
      for (const key of keys) out.push(route(await plugin.request({ headers: { "x-model": "llama", "x-session-id": key } })).version!);
      return out;
    }
    const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    const SPLIT_90_10 = [["v1", 90], ["v2", 10]] as const;
    const split = (w1: number, w2: number) =>
      withConfig({ models: { llama: { versions: { v1: { cluster: "c1", weight: w1 }, v2: { cluster: "c2", weight: w2 } } } } });

    it("puts 10% of 10,000 keys on v2 (within 1 point), the version the reference bucket predicts", async () => {
      const { plugin } = await setup(split(90, 10));
      const got = await assign(plugin, KEYS);
      const share = got.filter((v) => v === "v2").length / KEYS.length;
      expect(Math.abs(share - 0.1)).toBeLessThan(0.01);
      expect(got).toEqual(KEYS.map((k) => stickyVersion("llama", { kind: "header", value: k }, SPLIT_90_10)));
    });

    it("gives a key the same version every time, in every worker", async () => {
      const host = new Host();
      const a = await setup(split(90, 10), host);
      const b = await setup(split(90, 10), host);
      const keys = KEYS.slice(0, 500);
      const first = await assign(a.plugin, keys);
      expect(await assign(a.plugin, keys)).toEqual(first);
      expect(await assign(b.plugin, keys)).toEqual(first);
    });

    it("moves only keys that were on v1 when v2 grows from 10 to 20", async () => {
      const before = await assign((await setup(split(90, 10))).plugin, KEYS);
      const after = await assign((await setup(split(80, 20))).plugin, KEYS);
      let moved = 0;
      for (let i = 0; i < KEYS.length; i++) {
        if (before[i] === after[i]) continue;
        moved++;
        expect([KEYS[i], before[i], after[i]]).toEqual([KEYS[i], "v1", "v2"]);
      }
      expect(Math.abs(moved / KEYS.length - 0.1)).toBeLessThan(0.01);
    });

    it("draws at random without a key, and an explicit version wins over the split", async () => {
      const { plugin } = await setup(split(90, 10));
      let v2 = 0;
      for (let i = 0; i < 5000; i++) if (route(await plugin.request({ headers: { "x-model": "llama" } })).version === "v2") v2++;
      expect(Math.abs(v2 / 5000 - 0.1)).toBeLessThan(0.015);
      const key = KEYS.find((k) => stickyVersion("llama", { kind: "header", value: k }, SPLIT_90_10) === "v1")!;
      expect(route(await plugin.request({ headers: { "x-model": "llama@v2", "x-session-id": key } })).version).toBe("v2");
    });

    it("sticks by tenant when configured, at random for anonymous requests", async () => {
      const { plugin } = await setup(withConfig({ ...split(50, 50), sticky_key: "tenant", sticky_header: undefined }));
      const auth = "Bearer sk-1";
      const want = stickyVersion("llama", { kind: "tenant", identity: auth }, [["v1", 50], ["v2", 50]]);
      for (let i = 0; i < 20; i++) expect(route(await plugin.request({ headers: { "x-model": "llama", authorization: auth } })).version).toBe(want);
      const anonymous = new Set<string>();
      for (let i = 0; i < 50; i++) anonymous.add(route(await plugin.request({ headers: { "x-model": "llama" } })).version!);
      expect(anonymous).toEqual(new Set(["v1", "v2"]));
    });

    it("keeps every client on its version whatever tenant_hex_chars shows", async () => {
      const identities = Array.from({ length: 40 }, (_, i) => `Bearer sk-${i}`);
      const versionsWith = async (hexChars: number) => {
        const { plugin } = await setup(withConfig({ ...split(50, 50), sticky_key: "tenant", sticky_header: undefined, tenant_hex_chars: hexChars }));
        const out: string[] = [];
        for (const auth of identities) out.push(route(await plugin.request({ headers: { "x-model": "llama", authorization: auth } })).version!);
        return out;
      };
      const want = identities.map((auth) => (identityBucket("llama", auth) < 5000 ? "v1" : "v2"));
      expect(new Set(want)).toEqual(new Set(["v1", "v2"]));
      for (const hexChars of [8, 16, 64]) expect(await versionsWith(hexChars)).toEqual(want);
    });
  });

  describe("tenant", () => {
    it.each([
      [{}, { authorization: "Bearer sk-abc" }, tenantHash("Bearer sk-abc")],
      [{ tenant_header: "x-api-key", tenant_hex_chars: 64 }, { "x-api-key": "k1" }, tenantHash("k1", 64)],
      [{}, {}, "anonymous"],
      [{ anonymous_tenant: "" }, {}, undefined],
      [{ tenant_header: "" }, { authorization: "Bearer sk-abc" }, undefined],
    ])("with %j and %j sets x-ai-tenant to %s", async (config, headers, want) => {
      const { plugin } = await setup(withConfig(config));
      const res = await plugin.request({ headers: { "x-model": "iris", ...headers } });
      expect(route(res).tenant).toBe(want);
      expect(JSON.stringify(res.upstreamRequest?.headers)).not.toContain("x-ai-tenant\":\"Bearer");
    });

    it("with model_headers false sets only the cluster header, and still removes client-sent copies", async () => {
      const { host, plugin } = await setup(withConfig({ model_headers: false }));
      const spoofed = { "x-ai-model": "evil", "x-ai-model-version": "v9", "x-ai-tenant": "someone-else", authorization: "Bearer sk-abc" };
      const res = await plugin.request({ headers: spoofed, body: chat("llama@v2") });
      expect(route(res)).toEqual({ cluster: "llama-v2", model: undefined, version: undefined, tenant: undefined });
      expect(host.metric("model_router.requests.model=llama.version=v2.source=body")).toBe(1);
    });

    it("gives each identity its own digest when many alternate (the per-worker digest table)", async () => {
      const { plugin } = await setup(withConfig({ tenant_hex_chars: 64 }));
      const identities = Array.from({ length: 300 }, (_, i) => `Bearer sk-${(i * 7919) % 150}`);
      for (const auth of identities) {
        const res = await plugin.request({ headers: { "x-model": "iris", authorization: auth } });
        expect(route(res).tenant).toBe(createHash("sha256").update(auth).digest("hex"));
      }
    });
  });

  describe("warmup-health", () => {
    it("skips a version that is not ready for its fallback and counts it", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0 }));
      setHealth(host, "llama", "v2", "loading");
      const res = await plugin.request({ body: chat("llama@v2") });
      expect(route(res)).toMatchObject({ cluster: "llama-v1", version: "v1" });
      expect(host.metric("model_router.fallbacks.model=llama.version=v2")).toBe(1);
      expect(host.metric("model_router.requests.model=llama.version=v1.source=body")).toBe(1);
    });

    it.each<[HealthStateName | "malformed"]>([["unknown"], ["loading"], ["warming"], ["failing"], ["malformed"]])("treats %s as not ready", async (state) => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0 }));
      if (state === "malformed") host.sharedData.set(healthKey("llama", "v3"), "garbage!!!!!!!!!", { vmId: VM_ID });
      else setHealth(host, "llama", "v3", state);
      const res = await plugin.request({ headers: { "x-model": "llama@v3" } });
      expect(errorOf(res)).toMatchObject({ status: 503, error: { code: "model_not_ready", type: "server_error", param: "model" } });
      expect(res.localResponse?.headers["retry-after"]).toBe("5");
    });

    it("answers 503 with retry-after when no version is ready", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0, retry_after_s: 30 }));
      setHealth(host, "llama", "v1", "failing");
      setHealth(host, "llama", "v2", "warming");
      setHealth(host, "llama", "v3", "loading");
      const res = await plugin.request({ headers: { "x-model": "llama", "x-session-id": "k" } });
      expect(res.status).toBe(503);
      expect(res.localResponse?.headers["retry-after"]).toBe("30");
      expect(host.metric("model_router.errors.kind=no_ready_version")).toBe(1);
    });

    it("treats a missing record as not ready with absent_state_ready false", async () => {
      const { host, plugin } = await setup(withConfig({ absent_state_ready: false, health_refresh_ms: 0 }));
      expect((await plugin.request({ headers: { "x-model": "iris" } })).status).toBe(503);
      setHealth(host, "iris", "1", "ready");
      expect(route(await plugin.request({ headers: { "x-model": "iris" } })).version).toBe("1");
      // An emptied record ("" is how a publisher frees a key) is absent again.
      setHealth(host, "iris", "1", null);
      expect((await plugin.request({ headers: { "x-model": "iris" } })).status).toBe(503);
    });

    it("ramps a version in: its share grows with the ramp, moving buckets only onto it", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0, models: { llama: { versions: { v1: { cluster: "c1", weight: 50 }, v2: { cluster: "c2", weight: 50 } } } } }));
      const keys = Array.from({ length: 4000 }, (_, i) => `k${i}`);
      const shares: number[] = [];
      let previous: string[] | null = null;
      for (const ramp of [0, 2500, 5000, 10_000]) {
        setHealth(host, "llama", "v2", "ready", ramp);
        const got: string[] = [];
        for (const k of keys) got.push(route(await plugin.request({ headers: { "x-model": "llama", "x-session-id": k } })).version!);
        shares.push(got.filter((v) => v === "v2").length / keys.length);
        if (previous !== null) for (let i = 0; i < keys.length; i++) if (previous[i] !== got[i]) expect([previous[i], got[i]]).toEqual(["v1", "v2"]);
        previous = got;
      }
      expect(shares[0]).toBe(0);
      expect(Math.abs(shares[1] - 0.125)).toBeLessThan(0.02);
      expect(Math.abs(shares[2] - 0.25)).toBeLessThan(0.02);
      expect(Math.abs(shares[3] - 0.5)).toBeLessThan(0.02);
    });

    it("caches states per worker for health_refresh_ms, read again after a tick of that period", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 1000 }));
      expect(plugin.root!.tickPeriod).toBe(1000);
      const v2 = async () => route(await plugin.request({ headers: { "x-model": "llama@v2" } })).version;
      expect(await v2()).toBe("v2");
      setHealth(host, "llama", "v2", "failing");
      host.advance(999);
      expect(await v2()).toBe("v2");
      // The tick at 1000 ms marks the cache stale; no request came in between.
      host.advance(1);
      expect(await v2()).toBe("v1");
      setHealth(host, "llama", "v2", "ready");
      host.advance(1000);
      expect(await v2()).toBe("v2");
    });

    it("reads no clock on the request path: the ticks keep the health cache fresh", async () => {
      const { plugin } = await setup(withConfig({ health_refresh_ms: 1000 }));
      const calls = plugin.vm.hostCalls;
      for (const init of [{ headers: { "x-model": "llama" } }, { method: "POST", path: "/v1/chat/completions", headers: JSON_CT, body: chat("llama") }]) {
        const before = calls.get("proxy_get_current_time_nanoseconds") ?? 0;
        for (let i = 0; i < 3; i++) expect((await plugin.request(init)).upstreamRequest).toBeDefined();
        expect((calls.get("proxy_get_current_time_nanoseconds") ?? 0) - before).toBe(0);
      }
    });

    it("arms no tick with health_refresh_ms 0, and reads the records at every request", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0 }));
      expect(plugin.root!.tickPeriod).toBe(0);
      const v2 = async () => route(await plugin.request({ headers: { "x-model": "llama@v2" } })).version;
      expect(await v2()).toBe("v2");
      setHealth(host, "llama", "v2", "failing");
      expect(await v2()).toBe("v1");
    });

    it("reads the records the AssemblyScript encoder writes (health-writer fixture, same vm_id)", async () => {
      await buildHealthWriter();
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0 }));
      const writerVm = await host.loadVm(HEALTH_WRITER_WASM, { vmId: VM_ID });
      const writer = writerVm.startPlugin({ rootId: "model-router-health-writer" });
      const put = await writer.request({ method: "PUT", path: "/__health/llama/v2", headers: { "x-health-state": "warming", "x-health-since-ms": "1700000000000", "x-health-reason": "warmup 1/3" } });
      expect(put.status, put.localResponse?.body).toBe(200);
      const stored = host.sharedData.get(healthKey("llama", "v2"), VM_ID)!;
      expect(Buffer.from(stored.bytes).toString("hex")).toBe(
        Buffer.from(encodeHealthRecord({ state: "warming", sinceMs: 1_700_000_000_000n, rampPermyriad: 10_000, reason: "warmup 1/3" })).toString("hex"),
      );
      expect(route(await plugin.request({ headers: { "x-model": "llama@v2" } })).version).toBe("v1");
      const get = await writer.request({ path: "/__health/llama/v2" });
      expect(JSON.parse(get.localResponse!.body)).toEqual({ state: "warming", since_ms: "1700000000000", ramp_permyriad: 10000, reason: "warmup 1/3" });
    });
  });

  describe("GET /v1/models", () => {
    it("answers another method on the list 405 with allow: GET, HEAD, and passes OPTIONS on", async () => {
      const { plugin } = await setup(withConfig({}));
      const post = await plugin.request({ method: "POST", path: "/v1/models", headers: { "content-type": "application/json" }, body: "{}" });
      expect([post.localResponse?.status, post.localResponse?.headers["allow"]]).toEqual([405, "GET, HEAD"]);
      const options = await plugin.request({ method: "OPTIONS", path: "/v1/models", headers: { "x-model": "iris" } });
      expect(options.localResponse).toBeUndefined();
      expect(options.upstreamRequest).toBeDefined();
    });

    it("lists models, versions with readiness and aliases in OpenAI's list format", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0 }));
      setHealth(host, "llama", "v2", "ready", 2500);
      setHealth(host, "llama", "v3", "loading");
      const res = await plugin.request({ path: "/v1/models?limit=5" });
      expect(res.upstreamRequest).toBeUndefined();
      expect(res.status).toBe(200);
      expect(res.localResponse?.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(res.localResponse!.body)).toEqual({
        object: "list",
        data: [
          {
            id: "llama",
            object: "model",
            created: 1735689600,
            owned_by: "ai-gateway",
            ready: true,
            versions: [
              { id: "v1", state: "ready", ready: true, weight: 90, ramp: 1 },
              { id: "v2", state: "ready", ready: true, weight: 10, ramp: 0.25 },
              { id: "v3", state: "loading", ready: false, weight: 0, ramp: 0 },
            ],
            aliases: { stable: "v1", canary: "v2", latest: "v3" },
          },
          { id: "iris", object: "model", created: 0, owned_by: "ai-gateway", ready: true, versions: [{ id: "1", state: "ready", ready: true, weight: 100, ramp: 1 }, { id: "2", state: "ready", ready: true, weight: 0, ramp: 1 }], aliases: {} },
          { id: "org/model", object: "model", created: 0, owned_by: "org", ready: true, versions: [{ id: "a", state: "ready", ready: true, weight: 100, ramp: 1 }], aliases: {} },
        ],
      });
      expect(host.metric("model_router.model_lists")).toBe(1);
    });

    it("answers GET and HEAD of one model (OpenAI's retrieve) with the list's object, a name with '/' too, and 404 for others", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0, list_models_hide_not_ready: true }));
      setHealth(host, "llama", "v2", "ready", 2500);
      setHealth(host, "llama", "v3", "loading");
      const list = JSON.parse((await plugin.request({ path: "/v1/models" })).localResponse!.body);
      for (const [i, id] of [[0, "llama"], [1, "iris"], [2, "org/model"]] as const) {
        const res = await plugin.request({ path: `/v1/models/${id}?x=1` });
        expect(res.upstreamRequest).toBeUndefined();
        expect([res.status, res.localResponse?.headers["content-type"]]).toEqual([200, "application/json"]);
        expect(JSON.parse(res.localResponse!.body)).toEqual(list.data[i]);
      }
      expect((await plugin.request({ path: "/v1/models/iris", method: "HEAD" })).localResponse?.status).toBe(200);
      expect(JSON.parse((await plugin.request({ path: "/v1/models/iris/" })).localResponse!.body)).toEqual(list.data[1]);
      // The list's path with a trailing '/' is the list.
      expect(JSON.parse((await plugin.request({ path: "/v1/models/" })).localResponse!.body)).toEqual(list);
      expect(host.metric("model_router.model_lists")).toBe(7);
      setHealth(host, "iris", "1", "failing");
      setHealth(host, "iris", "2", "failing");
      for (const [path, message] of [["/v1/models/iris", "The model 'iris' has no version that is ready"], ["/v1/models/gpt-9", "The model 'gpt-9' does not exist"]]) {
        const res = await plugin.request({ path });
        const error = JSON.parse(res.localResponse!.body).error;
        expect([res.localResponse?.status, error.code, error.message]).toEqual([404, "model_not_found", message]);
      }
      // Other methods on one model are requests like any other (OpenAI's DELETE of a fine-tune).
      expect(route(await plugin.request({ path: "/v1/models/iris", method: "DELETE", headers: { "x-model": "llama" } })).model).toBe("llama");
    });

    it("hides versions that are not ready (and their aliases, and models left empty) when configured", async () => {
      const { host, plugin } = await setup(withConfig({ health_refresh_ms: 0, list_models_hide_not_ready: true }));
      setHealth(host, "llama", "v3", "failing");
      setHealth(host, "org/model", "a", "loading");
      const list = JSON.parse((await plugin.request({ path: "/v1/models" })).localResponse!.body);
      expect(list.data.map((m: { id: string }) => m.id)).toEqual(["llama", "iris"]);
      expect(list.data[0].versions.map((v: { id: string }) => v.id)).toEqual(["v1", "v2"]);
      expect(list.data[0].aliases).toEqual({ stable: "v1", canary: "v2" });
    });

    it("answers GET and HEAD on the configured path, refuses other methods there, and can be turned off", async () => {
      const { plugin } = await setup(withConfig({ default_model: "iris", list_models_path: "/models" }));
      expect((await plugin.request({ path: "/models", method: "HEAD" })).localResponse?.status).toBe(200);
      expect(route(await plugin.request({ path: "/v1/models" })).model).toBe("iris");
      expect((await plugin.request({ path: "/models", method: "POST", body: "{}" })).localResponse?.status).toBe(405);
      expect(route(await plugin.request({ path: "/v1/models", method: "POST", body: "{}" })).model).toBe("iris");
      const off = await setup(withConfig({ default_model: "iris", list_models_path: "" }));
      expect(route(await off.plugin.request({ path: "/v1/models" })).model).toBe("iris");
    });
  });

  describe("README", () => {
    const root = path.resolve(__dirname, "..");
    const example = JSON.parse(readFileSync(path.join(root, "plugins/model-router/config.example.json"), "utf8")) as Config;
    const readme = readFileSync(path.join(root, "plugins/model-router/README.md"), "utf8");
    let s: Setup;
    beforeAll(async () => {
      s = await setup(example);
    });

    it("behaves as the behaviour table says, with the full example", async () => {
      const r1 = await s.plugin.request({ path: "/v1/chat/completions", headers: JSON_CT, body: chat("llama@v2") });
      expect(route(r1)).toEqual({ cluster: "llama-v2", model: "llama", version: "v2", tenant: "anonymous" });
      expect(JSON.parse(r1.upstreamRequest!.body).model).toBe("llama-v2");
      expect(r1.upstreamRequest!.headers["content-length"]).toBe(String(r1.upstreamRequest!.bodyBytes.length));

      const tenant = "c3e9a1c985d603e4";
      expect(tenantHash("Bearer sk-1")).toBe(tenant);
      const sticky = stickyVersion("llama", { kind: "tenant", identity: "Bearer sk-1" }, [["v1", 90], ["v2", 10]]);
      for (let i = 0; i < 5; i++) {
        const r2 = await s.plugin.request({ path: "/v1/chat/completions", headers: { authorization: "Bearer sk-1" }, body: chat("llama") });
        expect(route(r2)).toMatchObject({ model: "llama", version: sticky, tenant });
      }
      expect(route(await s.plugin.request({ body: chat("llama@canary") })).version).toBe("v2");
      const r4 = await s.plugin.request({ headers: { "x-model": "llama", "x-model-version": "stable" } });
      expect(route(r4)).toMatchObject({ cluster: "llama-v1" });
      expect(r4.actions.find((a) => a.callback === "onRequestHeaders")?.status).toBe("Continue");
      expect(route(await s.plugin.request({ path: "/v2/models/iris/versions/v1/infer", body: "{}" }))).toMatchObject({ cluster: "iris-v1", model: "iris", version: "v1" });
      expect(route(await s.plugin.request({ path: "/predictions/iris", body: "x" }))).toMatchObject({ cluster: "iris-v1" });
      expect(route(await s.plugin.request({ path: "/v1/models/iris:predict", body: "{}" }))).toMatchObject({ cluster: "iris-v1" });
      expect(route(await s.plugin.request({ path: "/v1/completions", body: '{"prompt":"hi"}' })).model).toBe("llama");
      expect((await s.plugin.request({ path: "/v1/models" })).status).toBe(200);
      const spoofed = await s.plugin.request({ headers: { "x-ai-cluster": "llama-v2" }, body: chat("llama@v1") });
      expect(route(spoofed).cluster).toBe("llama-v1");
      expect(errorOf(await s.plugin.request({ body: chat("gpt-4o") })).error).toEqual({
        message: "The model 'gpt-4o' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found",
      });

      setHealth(s.host, "llama", "v2", "loading");
      s.host.advance(1000);
      expect(route(await s.plugin.request({ body: chat("llama@v2") })).version).toBe("v1");
      expect(s.host.metric("model_router.fallbacks.model=llama.version=v2")).toBe(1);
      setHealth(s.host, "llama", "v1", "failing");
      s.host.advance(1000);
      const down = await s.plugin.request({ body: chat("llama") });
      expect([down.status, down.localResponse?.headers["retry-after"]]).toEqual([503, "5"]);
    });

    it("lists the models as its GET /v1/models example shows: a version that is not ready has ramp 0", async () => {
      const start = readme.indexOf("### `GET /v1/models`");
      const block = readme.slice(readme.indexOf("```json", start) + 7, readme.indexOf("```", readme.indexOf("```json", start) + 7));
      const documented = JSON.parse(block);
      const { host, plugin } = await setup({ ...example, health_refresh_ms: 0 });
      setHealth(host, "llama", "v1", "ready");
      // A record may carry a ramp whatever its state; only a ready version takes a share.
      setHealth(host, "llama", "v2", "warming", 10_000);
      setHealth(host, "iris", "v1", "ready");
      const list = JSON.parse((await plugin.request({ path: "/v1/models" })).localResponse!.body);
      expect(list).toEqual(documented);
      // No record, with absent_state_ready false: not ready, so no ramp either.
      const strict = await setup({ ...example, health_refresh_ms: 0, absent_state_ready: false });
      const versions = JSON.parse((await strict.plugin.request({ path: "/v1/models" })).localResponse!.body).data[0].versions;
      expect(versions.map((v: { state: string; ready: boolean; ramp: number }) => [v.state, v.ready, v.ramp])).toEqual([["unknown", false, 0], ["unknown", false, 0]]);
    });

    it("documents every stat the filter defines", async () => {
      const rows = [...readme.slice(readme.indexOf("## Metrics")).matchAll(/^\| `(model_router\.[^`]+)` \| counter \|/gm)].map((m) => m[1]);
      const patterns = rows.map((r) => new RegExp("^" + r.replace(/\./g, "\\.").replace(/<[a-z]+>/g, "[A-Za-z0-9_-]+").replace(/<([a-z_|\\]+)>/g, "(?:$1)").replace(/\\\|/g, "|") + "$"));
      expect(rows).toHaveLength(4);
      const names = Object.keys(s.host.metrics()).map((n) => n.replace(/^wasmcustom\./, "")).filter((n) => n.startsWith("model_router."));
      expect(names.length).toBe(5 * 3 + 9 + 1);
      for (const name of names) expect([name, patterns.some((p) => p.test(name))]).toEqual([name, true]);
    });
  });

  describe("per-request cost", () => {
    it("prints the median time of a body-routed chat request against the noop filter", async () => {
      const host = new Host();
      const { plugin } = await setup(withConfig({ rewrite_body_model: true }), host);
      const noopVm = await host.loadVm("build/noop.wasm", { vmId: VM_ID });
      const noop = noopVm.startPlugin({ rootId: "noop", configuration: "{}" });
      const body = chat("llama", { temperature: 0.2, max_tokens: 64, messages: [{ role: "system", content: "You are helpful." }, { role: "user", content: "Summarise the plot of Hamlet in two sentences." }] });
      const init: RequestInit = { path: "/v1/chat/completions", headers: { ...JSON_CT, authorization: "Bearer sk-test", "x-session-id": "s1" }, body };
      const median = async (p: Plugin, n: number) => {
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          const res = await p.request(init);
          times.push(performance.now() - t0);
          expect(res.status).toBe(200);
        }
        times.sort((a, b) => a - b);
        return times[n >> 1] * 1000;
      };
      await median(plugin, 300);
      await median(noop, 300);
      const router = await median(plugin, 2000);
      const base = await median(noop, 2000);
      console.log(
        `model-router per-request cost (emulator, ${body.length}-byte chat body, rewrite on): median ${router.toFixed(1)} µs ` +
          `vs noop ${base.toFixed(1)} µs, difference ${(router - base).toFixed(1)} µs`,
      );
      expect(router).toBeGreaterThan(0);
    });
  });
});
