// model-router in a real Envoy (envoy.template.yaml), in front of demo model servers: demo-a
// serves llama v1 and iris v1, demo-b serves llama v2 and iris v2, one cluster per version. The
// answering server's `x-demo-server` proves which cluster Envoy picked, `x-demo-seen-ai-headers`
// what the filter set. warmup-health, loaded with the same vm_id, probes each version's KServe V2
// ready endpoint on the demo servers and publishes the records the router reads; a test marks a
// version not ready on its demo server (`/_demo/state`), so readiness is exercised end to end. Both runners, both modules. What fits
// one request and one answer is in the case table (cases.test.ts); here is what needs model
// servers, a second configuration, many requests or shared data.
import { afterAll, describe, expect, it } from "vitest";
import { buildHealthWriter } from "../../../host-tests/model-router/build";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, http1Request, printEnvoyLogsOnFailure, sumStats, validateConfig, type Envoy, type HttpRequest, type Runner } from "../../harness";
import { startDemoServer, type DemoServer } from "../../demo-server/server.mjs";
import { TEMPLATE, routerVars, startRouterEnvoy } from "./envoy";

const CASES: { runner: Runner; module: string }[] = [
  { runner: "process", module: "model-router.wasm" },
  { runner: "container", module: "ai-gateway.wasm" },
];

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
          v1: { cluster: "llama-v1", upstream_model: "llama-v1", weight: 100 - canaryWeight },
          v2: { cluster: "llama-v2", upstream_model: "llama-v2", weight: canaryWeight },
        },
        aliases: { stable: "v1", canary: "v2" },
      },
      iris: { versions: { v1: { cluster: "iris-1", weight: 100 }, v2: { cluster: "iris-2", weight: 0 } } },
    },
  };
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** x-demo-seen-ai-headers, parsed ({} when absent). */
  seen: Record<string, string>;
  json(): any;
}

type Send = Omit<HttpRequest, "path">;

async function send(base: string, path: string, opts: Send = {}): Promise<Reply> {
  const res = await http1Request(base, { ...opts, path });
  const seenHeader = res.headers["x-demo-seen-ai-headers"];
  return { ...res, seen: seenHeader === undefined ? {} : JSON.parse(seenHeader), json: () => JSON.parse(res.text) };
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

printEnvoyLogsOnFailure();

let demoA: DemoServer;
let demoB: DemoServer;

beforeAllOrFailEach(async () => {
  demoA = await startDemoServer({ name: "demo-a", models: "llama:v1,iris:v1" });
  demoB = await startDemoServer({ name: "demo-b", models: "llama:v2,iris:v2" });
});

afterAll(async () => {
  closeHttp1Connections();
  await demoA?.close();
  await demoB?.close();
});

/** Each cluster of the template on the demo server that serves its version (llama-v3 and org-a are not used here). */
function clusterPorts(): Record<string, number> {
  return { "llama-v1": demoA.port, "iris-1": demoA.port, "llama-v2": demoB.port, "iris-2": demoB.port, "llama-v3": demoA.port, "org-a": demoA.port };
}

/** warmup-health probing every version quickly: a change on a demo server shows within a few ticks. */
const WARMUP_HEALTH = {
  tick_ms: 100, lease_ms: 1000, interval_ms: 100, timeout_ms: 1000, unhealthy_threshold: 3, healthy_threshold: 1, ramp_ms: 0,
  targets: [
    { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "kserve-v2" } },
    { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "kserve-v2" } },
    { model: "iris", version: "v1", cluster: "iris-1", probe: { kind: "kserve-v2" } },
    { model: "iris", version: "v2", cluster: "iris-2", probe: { kind: "kserve-v2" } },
  ],
};

function start(runner: Runner, module: string, config: object, name: string): Promise<Envoy> {
  // root_id model-router from either module: the plugin's own, or the one that holds all four.
  return startRouterEnvoy({ runner, form: "separate", routerConfig: config, clusterPorts: clusterPorts(), name, wasm: `build/${module}`, warmupHealth: WARMUP_HEALTH });
}

/** Waits until warmup-health answers `status` for model/version (200 ready, 503 not). */
async function waitHealth(url: string, model: string, version: string, status: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await send(url, `/ai-gateway/health/${model}/${version}`)).status;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/ai-gateway/health/${model}/${version}: ${last}, expected ${status} within 10 s`);
}

/** Marks a version ready or not on the demo server that serves it. */
async function setReady(server: DemoServer, model: string, version: string, ready: boolean): Promise<void> {
  const res = await send(`http://127.0.0.1:${server.port}`, "/_demo/state", { method: "POST", headers: JSON_CT, body: JSON.stringify({ model, version, ready }) });
  expect(res.status, res.text).toBe(200);
}

describe.each(CASES)("model-router through Envoy ($runner, $module)", ({ runner, module }) => {
  let envoy: Envoy;
  let url: string;

  beforeAllOrFailEach(async () => {
    envoy = await start(runner, module, routerConfig(10), `model-router-${runner}`);
    url = envoy.listenerUrl;
    for (const [m, v] of [["llama", "v1"], ["llama", "v2"], ["iris", "v1"], ["iris", "v2"]]) await waitHealth(url, m, v, 200);
  });

  afterAll(async () => {
    await envoy?.stop();
  });



  describe("sources", () => {
    it("routes a KServe V2 path with a version", async () => {
      const body = JSON.stringify({ inputs: [{ name: "x", shape: [2], datatype: "FP32", data: [1, 2] }] });
      const res = await send(url, "/v2/models/iris/versions/v2/infer", { headers: JSON_CT, body });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-b");
      expect([res.headers["x-demo-model"], res.headers["x-demo-version"]]).toEqual(["iris", "v2"]);
      expect(res.seen).toMatchObject({ "x-ai-model": "iris", "x-ai-model-version": "v2", "x-ai-cluster": "iris-2" });
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

    it("answers one model (OpenAI's retrieve) with the list's object, and 404 for a model it does not route", async () => {
      const list = (await send(url, "/v1/models")).json();
      const one = await send(url, "/v1/models/iris");
      expect([one.status, one.headers["content-type"], one.headers["x-demo-server"]]).toEqual([200, "application/json", undefined]);
      expect(one.json()).toEqual(list.data[1]);
      const missing = await send(url, "/v1/models/gpt-9");
      expect([missing.status, missing.json().error.code]).toEqual([404, "model_not_found"]);
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
        for (const v of ["v1", "v2"]) await waitHealth(raised.listenerUrl, "llama", v, 200);
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
      await setReady(demoA, "llama", "v1", true);
      await setReady(demoB, "llama", "v2", true);
    });

    it("skips a version that is not ready for its fallback", async () => {
      await setReady(demoB, "llama", "v2", false);
      await waitHealth(url, "llama", "v2", 503);
      const before = (await envoy.stat("wasmcustom.model_router.fallbacks.model=llama.version=v2")) ?? 0;
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama@v2") });
      expect(res.status, res.text).toBe(200);
      expect(res.headers["x-demo-server"]).toBe("demo-a");
      expect(res.seen["x-ai-model-version"]).toBe("v1");
      expect(res.headers["x-demo-body-model"]).toBe("llama-v1");
      await envoy.waitForStat("wasmcustom.model_router.fallbacks.model=llama.version=v2", before + 1);
      const list = (await send(url, "/v1/models")).json();
      expect(list.data[0].versions[1]).toMatchObject({ id: "v2", ready: false });
    });

    it("answers 503 with retry-after when no version is ready", async () => {
      await setReady(demoA, "llama", "v1", false);
      await waitHealth(url, "llama", "v1", 503);
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama") });
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("7");
      expect(res.json().error).toMatchObject({ type: "server_error", code: "model_not_ready", param: "model" });
    });

    it("serves again once the records say ready", async () => {
      await setReady(demoA, "llama", "v1", true);
      await setReady(demoB, "llama", "v2", true);
      await waitHealth(url, "llama", "v1", 200);
      await waitHealth(url, "llama", "v2", 200);
      const res = await send(url, "/v1/chat/completions", { headers: JSON_CT, body: chat("llama@v2") });
      expect([res.status, res.headers["x-demo-server"]]).toEqual([200, "demo-b"]);
    });
  });

  describe("metrics", () => {
    it("counts requests by model, version and source", async () => {
      const stats = await envoy.stats("^wasmcustom\\.model_router\\.");
      expect(sumStats(stats, "wasmcustom.model_router.requests.model=llama.version=v1")).toBeGreaterThan(0);
      expect(sumStats(stats, "wasmcustom.model_router.requests.model=iris.version=v2")).toBeGreaterThan(0);
      const bySource = (source: string) => [...stats].filter(([name]) => name.startsWith("wasmcustom.model_router.requests.") && name.endsWith(`.source=${source}`)).reduce((a, [, v]) => a + v, 0);
      for (const source of ["header", "path", "body"]) expect(bySource(source), source).toBeGreaterThan(0);
      expect(stats.get("wasmcustom.model_router.model_lists")).toBeGreaterThan(0);
    });

    it("never trapped: no Wasm runtime error in Envoy's log", () => {
      expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed/);
    });

    it("turns the labels into tags through stats_tags", async () => {
      const res = await fetch(`${envoy.adminUrl}/stats/prometheus`);
      const text = await res.text();
      expect(text).toMatch(/^model_router_requests\{model="llama",version="v1",source="(header|path|body|default)"\} \d+$/m);
      expect(text).toMatch(/^model_router_errors\{kind="model_not_found"\} \d+$/m);
    });
  });
});

describe.each(["process", "container"] as Runner[])("model-router configuration errors (%s)", (runner) => {
  it("refuses a bad configuration with one line naming the field, the value and the expectation", async () => {
    const bad = routerConfig(10) as { models: { llama: { versions: { v2: { weight: unknown } } } } };
    bad.models.llama.versions.v2.weight = "x";
    const ports = Object.fromEntries(["llama-v1", "llama-v2", "llama-v3", "iris-1", "iris-2", "org-a"].map((c) => [c, 9]));
    await buildHealthWriter(); // the template loads the fixture (no warmupHealth given)
    const result = await validateConfig({ runner, config: TEMPLATE, ...routerVars({ form: "separate", routerConfig: bad, clusterPorts: ports }) });
    expect(result.ok).toBe(false);
    const lines = result.output.split("\n").filter((l) => l.includes("model-router: "));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(new Set(lines.map((l) => l.slice(l.indexOf("model-router: "))))).toEqual(
      new Set(['model-router: models.llama.versions.v2.weight: expected an integer 0..100, got "x"']),
    );
    expect(lines.every((l) => l.includes("[critical]"))).toBe(true);
  });
});
