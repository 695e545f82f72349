// The pipeline's one filter entry (root_id ai-gateway) in a real Envoy, in front of demo model
// servers: it routes as the separate model-router entry does, and its per-route settings follow
// Envoy's route name (attribute xds.route_name): a stage turned off on one route, a setting
// overridden on another. The configuration is in envoy.template.yaml. The answering server's x-demo-* headers show what reached it.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
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

// The template's router and routes, with the cache and the token bucket behind it: a tunnel passes
// all three.
const TUNNEL_CONFIG = {
  model_router: { models: { llama: { versions: { v1: { cluster: "llama_v1", upstream_model: "llama-v1", weight: 100 }, v2: { cluster: "llama_v2", upstream_model: "llama-v2", weight: 0 } } } } },
  inference_cache: {},
  token_bucket: { default_max_tokens: 1024, models: { llama: { tenant: { tokens_per_minute: 100000 } } } },
  routes: { passthrough: { model_router: false }, rewrite: { model_router: { rewrite_body_model: true } } },
};

let demoA: DemoServer;
let demoB: DemoServer;
let envoy: Envoy;
let unrouted: Envoy;
let noStop: Envoy;
let tunnel: Envoy;
let echo: http.Server;

beforeAllOrFailEach(async () => {
  demoA = await startDemoServer({ name: "demo-a", models: "llama:v1" });
  demoB = await startDemoServer({ name: "demo-b", models: "llama:v2" });
  // One Envoy per configuration (the template's, and UNROUTED), the same demo servers.
  const start = (name: string, config?: object, extra: Record<string, string> = {}, concurrency?: number) => startEnvoy({
    runner: "process",
    name,
    concurrency,
    config: TEMPLATE,
    wasm: ["build/ai-gateway.wasm"],
    vars: { DEMO_A_PORT: demoA.port, DEMO_B_PORT: demoB.port, ...(config !== undefined ? { PIPELINE_CONFIG: JSON.stringify(config) } : {}), ...extra },
  });
  envoy = await start("pipeline");
  unrouted = await start("pipeline-unrouted", UNROUTED);
  // One worker: the warning is once per worker (VM).
  noStop = await start("pipeline-no-stop", undefined, { ALLOW_STOP: "false" }, 1);
  // An upstream that takes WebSocket upgrades and echoes the tunnel's bytes, as llama_v1.
  echo = http.createServer((_, res) => res.writeHead(404).end());
  echo.on("upgrade", (req, socket: Socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\nx-echo-saw-model: ${req.headers["x-ai-model"] ?? ""}\r\n\r\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  tunnel = await startEnvoy({ runner: "process", name: "pipeline-tunnel", config: TEMPLATE, wasm: ["build/ai-gateway.wasm"], vars: { DEMO_A_PORT: (echo.address() as AddressInfo).port, DEMO_B_PORT: demoB.port, PIPELINE_CONFIG: JSON.stringify(TUNNEL_CONFIG) } });
});

afterAll(async () => {
  await tunnel?.stop();
  echo?.closeAllConnections();
  await new Promise((resolve) => (echo ? echo.close(resolve) : resolve(undefined)));
  await noStop?.stop();
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

  describe("an entry without allow_on_headers_stop_iteration", () => {
    const WARNING = /ai-gateway: a request ended while the filter waited for its body, and Envoy passed it no body at all\. If every request with a body hangs, the filter entry lacks allow_on_headers_stop_iteration: true/;
    const warnings = () => noStop.logs().split("\n").filter((line) => WARNING.test(line)).length;

    it("hangs a request with a body, as Envoy withholds it, and says why in the log once", async () => {
      for (let i = 0; i < 2; i++) {
        const hung = fetch(noStop.listenerUrl + "/v1/chat/completions", { method: "POST", headers: JSON_CT, body: chat("llama"), signal: AbortSignal.timeout(1000) });
        await expect(hung).rejects.toThrow(/abort|timeout/i);
      }
      // The client's reset ends the stream; Envoy deletes its context soon after.
      const deadline = Date.now() + 5000;
      while (warnings() == 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(warnings()).toBe(1);
    });

    it("still answers a request without a body", async () => {
      const res = await fetch(noStop.listenerUrl + "/v1/models");
      expect(res.status).toBe(200);
      expect((await res.json()).data.map((m: { id: string }) => m.id)).toContain("llama");
    });
  });

  it("routes a WebSocket upgrade at its headers and carries its tunnel through router, cache and token-bucket (no wait for a body that never ends)", async () => {
    const url = new URL(tunnel.listenerUrl);
    const { headers, socket } = await new Promise<{ headers: http.IncomingHttpHeaders; socket: Socket }>((resolve, reject) => {
      // The `rewrite` route rewrites the body's model: before the fix the router waited for a body.
      const req = http.request({ host: url.hostname, port: url.port, path: "/rewrite/v1/realtime", headers: { connection: "Upgrade", upgrade: "websocket", "x-model": "llama@v1" } });
      req.setTimeout(5000, () => req.destroy(new Error("no 101 in 5 s: the upgrade waited")));
      req.on("upgrade", (res, s: Socket) => resolve({ headers: res.headers, socket: s }));
      req.on("response", (res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
      req.on("error", reject);
      req.end();
    });
    expect(headers["x-echo-saw-model"]).toBe("llama");
    // token-bucket reserved default_max_tokens for the session (its 101 keeps them).
    expect(headers["x-ratelimit-remaining-tokens"]).toBe(String(100000 - 1024));
    const echoed = await new Promise<string>((resolve) => {
      socket.once("data", (d: Buffer) => resolve(d.toString()));
      socket.write("ping");
    });
    socket.destroy();
    expect(echoed).toBe("ping");
  });

  it("counts into the model_router stats and logs no trap", async () => {
    expect(sumStats(await envoy.stats("^wasmcustom\\.model_router\\.requests\\."), "wasmcustom.model_router.requests.model=llama.version=v2")).toBeGreaterThanOrEqual(1);
    expect(envoy.logs()).not.toMatch(/RuntimeError|unreachable/);
    expect(unrouted.logs()).not.toMatch(/RuntimeError|unreachable/);
    expect(noStop.logs()).not.toMatch(/RuntimeError|unreachable/);
    expect(tunnel.logs()).not.toMatch(/RuntimeError|unreachable/);
  });
});
