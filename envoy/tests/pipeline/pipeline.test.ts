// The pipeline's one filter entry (root_id ai-gateway) in a real Envoy, in front of demo model
// servers: it routes as the separate model-router entry does, and its per-route settings follow
// Envoy's route name (attribute xds.route_name): a stage turned off on one route, a setting
// overridden on another. The configuration is in envoy.template.yaml. The answering server's x-demo-* headers show what reached it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { printEnvoyLogsOnFailure, startEnvoy, sumStats, type Envoy } from "../../harness";
import { startDemoServer, type DemoServer } from "../../demo-server/server.mjs";

const TEMPLATE = readFileSync(path.join(__dirname, "envoy.template.yaml"), "utf8");

const JSON_CT = { "content-type": "application/json" };
const chat = (model: string) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });

printEnvoyLogsOnFailure();

// The template's configuration routes (`passthrough` turns the router off, `rewrite` overrides a
// setting). A second Envoy runs this one instead, with no router: token-bucket alone, one request
// a minute for llama and many for "free".
const UNROUTED = { token_bucket: { models: { llama: { tenant: { requests_per_minute: 1 } }, free: { tenant: { requests_per_minute: 1000 } } } } };

let demoA: DemoServer;
let demoB: DemoServer;
let envoy: Envoy;
let unrouted: Envoy;

beforeAllOrFailEach(async () => {
  demoA = await startDemoServer({ name: "demo-a", models: "llama:v1" });
  demoB = await startDemoServer({ name: "demo-b", models: "llama:v2" });
  // One Envoy per configuration (the template's, and UNROUTED), the same demo servers.
  const start = (name: string, config?: object) => startEnvoy({
    runner: "process",
    name,
    config: TEMPLATE,
    wasm: ["build/ai-gateway.wasm"],
    vars: { DEMO_A_PORT: demoA.port, DEMO_B_PORT: demoB.port, ...(config !== undefined ? { PIPELINE_CONFIG: JSON.stringify(config) } : {}) },
  });
  envoy = await start("pipeline");
  unrouted = await start("pipeline-unrouted", UNROUTED);
});

afterAll(async () => {
  await unrouted?.stop();
  await envoy?.stop();
  await demoA?.close();
  await demoB?.close();
});

async function post(pathName: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(envoy.listenerUrl + pathName, { method: "POST", headers: { ...JSON_CT, ...headers }, body });
}

describe("pipeline in Envoy", () => {
  describe("configured chain", () => {
    it("routes by the body and sets the router's headers", async () => {
      const res = await post("/v1/chat/completions", chat("llama@v2"));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-demo-server")).toBe("demo-b");
      expect(JSON.parse(res.headers.get("x-demo-seen-ai-headers") ?? "{}")).toMatchObject({ "x-ai-model": "llama", "x-ai-model-version": "v2" });
      await res.arrayBuffer();
    });

    it("answers an unknown model with the router's 404", async () => {
      const res = await post("/v1/chat/completions", chat("gpt-9"));
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("model_not_found");
    });
  });

  describe("per-route settings", () => {
    it("lets a route with the stage turned off through untouched", async () => {
      const res = await post("/plain/v1/chat/completions", chat("llama-v1"), { "x-ai-model": "client-sent" });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-demo-server")).toBe("demo-a");
      expect(res.headers.get("x-demo-body-model")).toBe("llama-v1");
      expect(JSON.parse(res.headers.get("x-demo-seen-ai-headers") ?? "{}")).toMatchObject({ "x-ai-model": "client-sent" });
      await res.arrayBuffer();
    });

    it("applies a route's override and keeps the rest of the configuration", async () => {
      const rewritten = await post("/rewrite/v1/chat/completions", chat("llama"));
      expect(rewritten.status).toBe(200);
      expect(rewritten.headers.get("x-demo-body-model")).toBe("llama-v1");
      await rewritten.arrayBuffer();
      const plain = await post("/v1/chat/completions", chat("llama"));
      expect(plain.headers.get("x-demo-body-model")).toBe("llama");
      await plain.arrayBuffer();
    });
  });

  describe("without the router", () => {
    it("removes a client's x-ai-model and x-ai-model-version, so token-bucket charges the body's model", async () => {
      const headers = { "x-ai-model": "free", "x-ai-model-version": "v9", authorization: "Bearer pipeline-unrouted" };
      const send = () => fetch(unrouted.listenerUrl + "/plain/v1/chat/completions", { method: "POST", headers: { ...JSON_CT, ...headers }, body: chat("llama") });
      const first = await send();
      expect(first.status).toBe(200);
      const seen = JSON.parse(first.headers.get("x-demo-seen-ai-headers") ?? "{}");
      expect(seen["x-ai-model"]).toBeUndefined();
      expect(seen["x-ai-model-version"]).toBeUndefined();
      await first.arrayBuffer();
      const second = await send();
      expect(second.status).toBe(429);
      expect((await second.json()).error.code).toBe("rate_limit_exceeded");
    });

    it("warns at start that bodies without a readable model have no limits without a default", () => {
      expect(unrouted.logs()).toMatch(/ai-gateway: token_bucket: without model_router, a request whose model the stage cannot read/);
    });
  });

  it("counts into the model_router stats and logs no trap", async () => {
    expect(sumStats(await envoy.stats("^wasmcustom\\.model_router\\.requests\\."), "wasmcustom.model_router.requests.model=llama.version=v2")).toBeGreaterThanOrEqual(1);
    expect(envoy.logs()).not.toMatch(/RuntimeError|unreachable/);
    expect(unrouted.logs()).not.toMatch(/RuntimeError|unreachable/);
  });
});
