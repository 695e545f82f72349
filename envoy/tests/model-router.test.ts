// model-router in a real Envoy, in front of demo model servers: demo-a serves llama v1 and iris
// v1, demo-b serves llama v2 and iris v2, one cluster per version. The answering server's
// `x-demo-server` proves which cluster Envoy picked, `x-demo-seen-ai-headers` what the filter
// set, `x-demo-body-model` the (rewritten) body. A test-only filter loaded with the same vm_id
// (host-tests/model-router/health-writer) writes warmup-health records into shared data the way
// warmup-health will, so readiness is exercised end to end. Both runners, both modules.
import http from "node:http";
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { printEnvoyLogsOnFailure, startEnvoy, validateConfig, yamlString, type Envoy, type Runner } from "../harness";
import { beforeAllOrFailEach } from "../harness/hooks";
import { startDemoServer, type DemoServer } from "../demo-server/server.mjs";
import { buildHealthWriter } from "../../host-tests/model-router/build";

const CASES: { runner: Runner; module: string }[] = [
  { runner: "process", module: "model-router.wasm" },
  { runner: "container", module: "ai-gateway.wasm" },
];

const TEMPLATE = `
admin: {address: {socket_address: {address: 127.0.0.1, port_value: \${ADMIN_PORT}}}}
stats_config:
  stats_tags:
  - {tag_name: model, regex: '^wasmcustom\\.model_router\\..*(\\.model=([^.]+))'}
  - {tag_name: version, regex: '^wasmcustom\\.model_router\\..*(\\.version=([^.]+))'}
  - {tag_name: source, regex: '^wasmcustom\\.model_router\\..*(\\.source=([^.]+))'}
  - {tag_name: kind, regex: '^wasmcustom\\.model_router\\..*(\\.kind=([^.]+))'}
static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: \${LISTENER_PORT}}}
    per_connection_buffer_limit_bytes: 1048576
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          http_protocol_options: {enable_trailers: true}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster_header: x-ai-cluster, timeout: 30s}
          http_filters:
          - name: model-router-health-writer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: model-router-health-writer
                root_id: model-router-health-writer
                failure_policy: FAIL_CLOSED
                vm_config:
                  vm_id: ai-gateway
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: \${WASM_DIR}/model-router-health-writer.wasm}}
          - name: model-router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: model-router
                root_id: model-router
                allow_on_headers_stop_iteration: true
                failure_policy: FAIL_CLOSED
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: \${ROUTER_CONFIG}
                vm_config:
                  vm_id: ai-gateway
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: \${WASM_DIR}/\${WASM_FILE}}}
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - {name: llama_v1, type: STATIC, connect_timeout: 1s, load_assignment: {cluster_name: llama_v1, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \${DEMO_A_PORT}}}}}]}]}}
  - {name: iris_v1, type: STATIC, connect_timeout: 1s, load_assignment: {cluster_name: iris_v1, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \${DEMO_A_PORT}}}}}]}]}}
  - {name: llama_v2, type: STATIC, connect_timeout: 1s, load_assignment: {cluster_name: llama_v2, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \${DEMO_B_PORT}}}}}]}]}}
  - {name: iris_v2, type: STATIC, connect_timeout: 1s, load_assignment: {cluster_name: iris_v2, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \${DEMO_B_PORT}}}}}]}]}}
`;

const MAX_BODY = 65536;

function routerConfig(canaryWeight: number): object {
  return {
    sticky_key: "header",
    sticky_header: "x-session-id",
    rewrite_body_model: true,
    // Read shared data on every request, so a record a test writes applies to the next request.
    health_refresh_ms: 0,
    max_body_bytes: MAX_BODY,
    retry_after_s: 7,
    models: {
      llama: {
        versions: {
          v1: { cluster: "llama_v1", upstream_model: "llama-v1", weight: 100 - canaryWeight },
          v2: { cluster: "llama_v2", upstream_model: "llama-v2", weight: canaryWeight },
        },
        aliases: { stable: "v1", canary: "v2" },
      },
      iris: { versions: { v1: { cluster: "iris_v1", weight: 100 }, v2: { cluster: "iris_v2", weight: 0 } } },
    },
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** x-demo-seen-ai-headers, parsed ({} when absent). */
  seen: Record<string, string>;
  json(): any;
}

interface Send {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Written one by one, 2 ms apart, with chunked transfer encoding. */
  chunks?: Buffer[];
  trailers?: Record<string, string>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function send(base: string, path: string, opts: Send = {}): Promise<Reply> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    if (opts.trailers) headers.trailer = Object.keys(opts.trailers).join(", ");
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: opts.method ?? (opts.body || opts.chunks ? "POST" : "GET"), headers, agent },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => {
          const body = Buffer.concat(parts);
          const seenHeader = res.headers["x-demo-seen-ai-headers"];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString("utf8"),
            seen: typeof seenHeader === "string" ? JSON.parse(seenHeader) : {},
            json: () => JSON.parse(body.toString("utf8")),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    (async () => {
      if (opts.body !== undefined) req.write(opts.body);
      for (const chunk of opts.chunks ?? []) {
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 2));
      }
      if (opts.trailers) req.addTrailers(opts.trailers);
      req.end();
    })().catch(reject);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

const chat = (model: unknown, extra: object = {}) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 4, ...extra });
const JSON_CT = { "content-type": "application/json" };
const sha256Hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

printEnvoyLogsOnFailure();

let demoA: DemoServer;
let demoB: DemoServer;

beforeAllOrFailEach(async () => {
  await buildHealthWriter();
  demoA = await startDemoServer({ name: "demo-a", models: "llama:v1,iris:v1" });
  demoB = await startDemoServer({ name: "demo-b", models: "llama:v2,iris:v2" });
});

afterAll(async () => {
  agent.destroy();
  await demoA?.close();
  await demoB?.close();
});

function start(runner: Runner, module: string, config: object, name: string): Promise<Envoy> {
  return startEnvoy({
    runner,
    name,
    config: TEMPLATE,
    vars: { ROUTER_CONFIG: yamlString(JSON.stringify(config)), WASM_FILE: module, DEMO_A_PORT: demoA.port, DEMO_B_PORT: demoB.port },
    wasm: [`build/${module}`, "build/fixtures/model-router-health-writer.wasm"],
  });
}

describe.each(CASES)("model-router through Envoy ($runner, $module)", ({ runner, module }) => {
  let envoy: Envoy;
  let url: string;

  beforeAllOrFailEach(async () => {
    envoy = await start(runner, module, routerConfig(10), `model-router-${runner}`);
    url = envoy.listenerUrl;
  });

  afterAll(async () => {
    await envoy?.stop();
  });

  /** Publishes a warmup-health record (or, with state null, removes it). */
  async function setHealth(model: string, version: string, state: string | null, rampPermyriad = 10_000): Promise<void> {
    const res = state === null
      ? await send(url, `/__health/${model}/${version}`, { method: "DELETE" })
      : await send(url, `/__health/${model}/${version}`, {
          method: "PUT",
          headers: { "x-health-state": state, "x-health-ramp-permyriad": String(rampPermyriad), "x-health-reason": "test" },
        });
    expect(res.status, res.text).toBe(200);
  }

  describe("sources", () => {
    it("routes by the x-model and x-model-version headers", async () => {
      const res = await send(url, "/v1/chat/completions", { headers: { ...JSON_CT, "x-model": "llama", "x-model-version": "v2" }, body: chat("llama-v2") });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect(res.seen).toMatchObject({ "x-ai-cluster": "llama_v2", "x-ai-model": "llama", "x-ai-model-version": "v2" });
    });

    it("routes a KServe V2 path with a version", async () => {
      const body = JSON.stringify({ inputs: [{ name: "x", shape: [2], datatype: "FP32", data: [1, 2] }] });
      const res = await send(url, "/v2/models/iris/versions/v2/infer", { headers: JSON_CT, body });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect([res.headers["x-demo-model"], res.headers["x-demo-version"]]).toEqual(["iris", "v2"]);
      expect(res.seen).toMatchObject({ "x-ai-model": "iris", "x-ai-model-version": "v2", "x-ai-cluster": "iris_v2" });
    });

    it("routes a KServe V2 path without a version by the split, and its /ready path", async () => {
      const infer = await send(url, "/v2/models/iris/infer", { headers: JSON_CT, body: JSON.stringify({ inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] }) });
      expect(infer.headers["x-demo-server"]).toBe("demo-a");
      expect(infer.seen["x-ai-model-version"]).toBe("v1");
      const ready = await send(url, "/v2/models/iris/versions/v2/ready");
      expect(ready.status).toBe(200);
      expect(ready.headers["x-demo-server"]).toBe("demo-b");
    });

    it("routes a TorchServe prediction path", async () => {
      const res = await send(url, "/predictions/iris/v2", { body: Buffer.from([0xff, 0x00, 0x01]), headers: { "content-type": "application/octet-stream" } });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect(res.json()).toMatchObject({ model: "iris", version: "v2", input_bytes: 3 });
    });

    it("routes by the body's model, rewrites it to the upstream name and keeps content-length right", async () => {
      const body = chat("llama@v2", { note: "é ✓" });
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect(res.headers["x-demo-body-model"]).toBe("llama-v2");
      const rewritten = body.replace('"llama@v2"', '"llama-v2"');
      expect(res.headers["x-demo-body-sha256"]).toBe(sha256Hex(rewritten));
      expect(res.json().model).toBe("llama-v2");
    });

    it("routes a body that arrives in many small chunks", async () => {
      const body = Buffer.from(chat("llama@v2", { filler: "x".repeat(3000) }));
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += 97) chunks.push(body.subarray(i, i + 97));
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, chunks });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect(res.headers["x-demo-body-sha256"]).toBe(sha256Hex(body.toString().replace('"llama@v2"', '"llama-v2"')));
    });

    it("finishes in the trailers when the body ends with trailers", async () => {
      const body = Buffer.from(chat("llama@v2"));
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, chunks: [body.subarray(0, 10), body.subarray(10)], trailers: { "x-checksum": "abc" } });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect(res.headers["x-demo-body-model"]).toBe("llama-v2");
    });

    it("resolves aliases from the body and from the version header", async () => {
      const canary = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama@canary") });
      expect([canary.status, canary.headers["x-demo-server"], canary.seen["x-ai-model-version"]]).toEqual([200, "demo-b", "v2"]);
      const stable = await send(url, "/v1/chat/completions", { headers: { ...JSON_CT, "x-model-version": "stable" }, body: chat("llama") });
      expect([stable.status, stable.headers["x-demo-server"], stable.seen["x-ai-model-version"]]).toEqual([200, "demo-a", "v1"]);
    });

    it("lets an explicit version win over the sticky split", async () => {
      const key = await keyOn("v1");
      const res = await send(url, "/v1/chat/completions", { headers: { ...JSON_CT, "x-session-id": key }, body: chat("llama@v2") });
      expect(res.headers["x-demo-server"]).toBe("demo-b");
    });

    it("removes client-sent x-ai-* headers and sets x-ai-tenant from a hash of the identity", async () => {
      const res = await send(url, "/v1/chat/completions", {
        headers: { ...JSON_CT, "x-ai-cluster": "llama_v2", "x-ai-model": "evil", "x-ai-model-version": "v9", "x-ai-tenant": "someone-else", authorization: "Bearer sk-secret" },
        body: chat("llama@v1"),
      });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-a");
      expect(res.seen).toEqual({
        "x-ai-cluster": "llama_v1",
        "x-ai-model": "llama",
        "x-ai-model-version": "v1",
        "x-ai-tenant": sha256Hex("Bearer sk-secret").slice(0, 16),
      });
      const anonymous = await send(url, "/v1/chat/completions", { headers: { ...JSON_CT, "x-ai-tenant": "spoof" }, body: chat("llama@v1") });
      expect(anonymous.seen["x-ai-tenant"]).toBe("anonymous");
    });
  });

  /** A sticky key that the 90/10 split puts on `version`. */
  async function keyOn(version: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const key = `probe-${version}-${i}`;
      const res = await send(url, "/v1/chat/completions", { headers: { ...JSON_CT, "x-session-id": key }, body: chat("llama") });
      if (res.seen["x-ai-model-version"] === version) return key;
    }
    throw new Error(`no key lands on ${version}`);
  }

  describe("errors", () => {
    const ERRORS: Array<{ name: string; path: string; send: Send; status: number; code: string; param: string | null }> = [
      { name: "unknown model in the body", path: "/v1/chat/completions", send: { headers: JSON_CT, body: chat("gpt-9") }, status: 404, code: "model_not_found", param: "model" },
      { name: "unknown model in the header", path: "/v1/chat/completions", send: { headers: { ...JSON_CT, "x-model": "gpt-9" }, body: chat("x") }, status: 404, code: "model_not_found", param: "model" },
      { name: "unknown model in a KServe path", path: "/v2/models/nope/infer", send: { headers: JSON_CT, body: "{}" }, status: 404, code: "model_not_found", param: "model" },
      { name: "unknown version", path: "/v1/chat/completions", send: { headers: JSON_CT, body: chat("llama@v9") }, status: 404, code: "model_version_not_found", param: "model" },
      { name: "malformed body", path: "/v1/chat/completions", send: { headers: JSON_CT, body: '{"model": "llama",' }, status: 400, code: "invalid_json", param: null },
      { name: "a body that is not an object", path: "/v1/chat/completions", send: { headers: JSON_CT, body: '["llama"]' }, status: 400, code: "invalid_json", param: null },
      { name: "a model that is not a string", path: "/v1/chat/completions", send: { headers: JSON_CT, body: '{"model": 7}' }, status: 400, code: "invalid_model", param: "model" },
      { name: "a body without model", path: "/v1/chat/completions", send: { headers: JSON_CT, body: '{"messages": []}' }, status: 400, code: "model_required", param: "model" },
      { name: "an empty body", path: "/v1/chat/completions", send: { headers: JSON_CT, body: "" }, status: 400, code: "model_required", param: "model" },
      { name: "a GET without a model", path: "/v1/anything", send: {}, status: 400, code: "model_required", param: "model" },
      { name: "deep nesting", path: "/v1/chat/completions", send: { headers: JSON_CT, body: `{"model":"llama","x":${"[".repeat(100)}${"]".repeat(100)}}` }, status: 400, code: "invalid_json", param: null },
      { name: "invalid UTF-8", path: "/v1/chat/completions", send: { headers: JSON_CT, body: Buffer.concat([Buffer.from('{"model":"llama","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]) }, status: 400, code: "invalid_json", param: null },
      { name: "a body over max_body_bytes (content-length)", path: "/v1/chat/completions", send: { headers: JSON_CT, body: chat("llama", { pad: "x".repeat(MAX_BODY) }) }, status: 413, code: "request_too_large", param: null },
      { name: "a body over max_body_bytes (chunked)", path: "/v1/chat/completions", send: { headers: JSON_CT, chunks: [Buffer.from(chat("llama", { pad: "x".repeat(MAX_BODY / 2) })), Buffer.alloc(MAX_BODY / 2 + 10, 0x20)] }, status: 413, code: "request_too_large", param: null },
    ];

    it.each(ERRORS)("answers $name with $status $code in OpenAI's shape", async ({ path, send: opts, status, code, param }) => {
      const res = await send(url, path, opts);
      expect(res.status, res.text).toBe(status);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.headers["x-demo-server"]).toBeUndefined();
      const body = res.json();
      expect(Object.keys(body)).toEqual(["error"]);
      expect(body.error).toMatchObject({ type: "invalid_request_error", param, code });
      expect(typeof body.error.message).toBe("string");
    });

    it("counts errors by kind", async () => {
      expect(await envoy.waitForStat("wasmcustom.model_router.errors.kind=model_not_found", 3)).toBeGreaterThanOrEqual(3);
      expect(await envoy.waitForStat("wasmcustom.model_router.errors.kind=invalid_body", 4)).toBeGreaterThanOrEqual(4);
      expect(await envoy.waitForStat("wasmcustom.model_router.errors.kind=body_too_large", 2)).toBeGreaterThanOrEqual(2);
    });
  });

  describe("GET /v1/models", () => {
    it("lists models and versions with readiness in OpenAI's list format", async () => {
      const res = await send(url, "/v1/models");
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.headers["x-demo-server"]).toBeUndefined();
      const list = res.json();
      expect(list.object).toBe("list");
      expect(list.data.map((m: { id: string }) => m.id)).toEqual(["llama", "iris"]);
      expect(list.data[0]).toMatchObject({
        id: "llama",
        object: "model",
        created: 0,
        owned_by: "ai-gateway",
        ready: true,
        versions: [
          { id: "v1", state: "ready", ready: true, weight: 90, ramp: 1 },
          { id: "v2", state: "ready", ready: true, weight: 10, ramp: 1 },
        ],
        aliases: { stable: "v1", canary: "v2" },
      });
    });
  });

  describe("sticky split", () => {
    it("puts 10% of 10,000 distinct keys on v2 (within 1 point), always the same version per key", async () => {
      const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
      const first = await assign(url, keys);
      const share = first.filter((v) => v === "v2").length / keys.length;
      expect(Math.abs(share - 0.1)).toBeLessThan(0.01);
      const again = await assign(url, keys.slice(0, 1000));
      expect(again).toEqual(first.slice(0, 1000));
    });

    it("moves only keys that were on v1 when v2's weight goes from 10 to 20", async () => {
      const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
      const before = await assign(url, keys);
      const raised = await start(runner, module, routerConfig(20), `model-router-${runner}-20`);
      try {
        const after = await assign(raised.listenerUrl, keys);
        let moved = 0;
        for (let i = 0; i < keys.length; i++) {
          if (before[i] === after[i]) continue;
          moved++;
          expect([keys[i], before[i], after[i]]).toEqual([keys[i], "v1", "v2"]);
        }
        expect(moved).toBeGreaterThan(0);
        const share = after.filter((v) => v === "v2").length / keys.length;
        expect(Math.abs(share - 0.2)).toBeLessThan(0.01);
      } finally {
        await raised.stop();
      }
    });
  });

  /** The version each sticky key is routed to (the answering server proves the cluster). */
  async function assign(base: string, keys: string[]): Promise<string[]> {
    return pool(keys, 32, async (key) => {
      const res = await send(base, "/split", { headers: { "x-model": "llama", "x-session-id": key } });
      const version = res.seen["x-ai-model-version"];
      expect(res.headers["x-demo-server"]).toBe(version === "v1" ? "demo-a" : "demo-b");
      return version;
    });
  }

  describe("warmup-health", () => {
    afterAll(async () => {
      await setHealth("llama", "v1", null);
      await setHealth("llama", "v2", null);
    });

    it("skips a version that is not ready for its fallback", async () => {
      await setHealth("llama", "v2", "loading");
      const before = (await envoy.stat("wasmcustom.model_router.fallbacks.model=llama.version=v2")) ?? 0;
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama@v2") });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-a");
      expect(res.seen["x-ai-model-version"]).toBe("v1");
      expect(res.headers["x-demo-body-model"]).toBe("llama-v1");
      await envoy.waitForStat("wasmcustom.model_router.fallbacks.model=llama.version=v2", before + 1);
      const list = (await send(url, "/v1/models")).json();
      expect(list.data[0].versions[1]).toMatchObject({ id: "v2", state: "loading", ready: false });
    });

    it("answers 503 with retry-after when no version is ready", async () => {
      await setHealth("llama", "v1", "failing");
      await setHealth("llama", "v2", "warming");
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama") });
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("7");
      expect(res.json().error).toMatchObject({ type: "server_error", code: "model_not_ready", param: "model" });
    });

    it("serves again once the records say ready", async () => {
      await setHealth("llama", "v1", "ready");
      await setHealth("llama", "v2", null);
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama@v2") });
      expect([res.status, res.headers["x-demo-server"]]).toEqual([200, "demo-b"]);
    });
  });

  describe("metrics", () => {
    it("counts requests by model and version, and by source", async () => {
      const stats = await envoy.stats("^wasmcustom\\.model_router\\.");
      expect(stats.get("wasmcustom.model_router.requests.model=llama.version=v1")).toBeGreaterThan(0);
      expect(stats.get("wasmcustom.model_router.requests.model=iris.version=v2")).toBeGreaterThan(0);
      for (const source of ["header", "path", "body"]) expect(stats.get(`wasmcustom.model_router.source.source=${source}`)).toBeGreaterThan(0);
      expect(stats.get("wasmcustom.model_router.model_lists")).toBeGreaterThan(0);
    });

    it("never trapped: no Wasm runtime error in Envoy's log", () => {
      expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed/);
    });

    it("turns the labels into tags through stats_tags", async () => {
      const res = await fetch(`${envoy.adminUrl}/stats/prometheus`);
      const text = await res.text();
      expect(text).toMatch(/^model_router_requests\{model="llama",version="v1"\} \d+$/m);
      expect(text).toMatch(/^model_router_errors\{kind="model_not_found"\} \d+$/m);
    });
  });
});

describe.each(["process", "container"] as Runner[])("model-router configuration errors (%s)", (runner) => {
  it("refuses a bad configuration with one line naming the field, the value and the expectation", async () => {
    const bad = routerConfig(10) as { models: { llama: { versions: { v2: { weight: unknown } } } } };
    bad.models.llama.versions.v2.weight = "x";
    const result = await validateConfig({
      runner,
      config: TEMPLATE,
      vars: { ROUTER_CONFIG: yamlString(JSON.stringify(bad)), WASM_FILE: "model-router.wasm", DEMO_A_PORT: 9, DEMO_B_PORT: 9 },
      wasm: ["build/model-router.wasm", "build/fixtures/model-router-health-writer.wasm"],
    });
    expect(result.ok).toBe(false);
    const lines = result.output.split("\n").filter((l) => l.includes("model-router: "));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(new Set(lines.map((l) => l.slice(l.indexOf("model-router: "))))).toEqual(
      new Set(['model-router: models.llama.versions.v2.weight: expected an integer 0..100, got "x"']),
    );
    expect(lines.every((l) => l.includes("[critical]"))).toBe(true);
  });
});
