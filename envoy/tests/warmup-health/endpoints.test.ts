// The health endpoints of warmup-health through a real Envoy (process runner, --concurrency 2), in
// the separate form: build/warmup-health.wasm, then build/model-router.wasm, one vm_id. The model
// servers are small loopback servers whose GET /health status a test sets (probe kind `tgi`), so
// every state is reached on demand. Checks the documented JSON (plugins/warmup-health/README.md,
// Endpoints), the 200/503/404/405 codes and headers, and that the filter answers on both workers
// without reaching an upstream.
import http from "node:http";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, freePort, http1Request, listenOnLoopback, printEnvoyLogsOnFailure, type Envoy } from "../../harness";
import { health, startHealthEnvoy, watchVersion, type HealthEntry } from "./envoy";

/** A model server whose GET /health answers `status`; every other request is answered 200 and counted. */
interface FakeServer {
  port: number;
  status: number;
  paths: string[];
  close(): Promise<void>;
}

async function fakeServer(name: string, status: number): Promise<FakeServer> {
  const fake = { port: 0, status, paths: [] as string[], close: async () => {} };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/health") {
        res.writeHead(fake.status, { "content-type": "application/json" });
        res.end(fake.status === 200 ? '{"status":"ok"}' : '{"error":"Loading model"}');
        return;
      }
      fake.paths.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ server: name }));
    });
  });
  fake.port = await listenOnLoopback(server);
  fake.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return fake;
}

const ROUTER = { health_refresh_ms: 0, models: { llama: { versions: { v1: { cluster: "llama-v1", weight: 100 }, v2: { cluster: "llama-v2", weight: 0 } } }, iris: { versions: { v1: { cluster: "iris-1" } } } } };
const HEALTH = {
  tick_ms: 100,
  lease_ms: 400,
  interval_ms: 200,
  timeout_ms: 1000,
  ramp_ms: 0,
  targets: [
    { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } },
    { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "tgi" } },
    { model: "iris", version: "v1", cluster: "iris-1", probe: { kind: "tgi" } },
  ],
};

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Checks one entry's documented fields: since and checked as ISO text agreeing with their _ms. */
function checkTimes(e: HealthEntry, target: boolean): void {
  expect(e.since).toMatch(ISO);
  expect(new Date(e.since!).getTime()).toBe(e.since_ms);
  if (!target) return;
  expect(e.checked).toMatch(ISO);
  expect(new Date(e.checked!).getTime()).toBe(e.checked_ms);
  expect(typeof e.latency_ms).toBe("number");
}

printEnvoyLogsOnFailure();

describe("warmup-health endpoints through Envoy (separate form)", () => {
  let llama1: FakeServer;
  let llama2: FakeServer;
  let iris1: FakeServer;
  let envoy: Envoy;
  let url: string;

  beforeAllOrFailEach(async () => {
    llama1 = await fakeServer("llama-v1", 200);
    llama2 = await fakeServer("llama-v2", 503);
    iris1 = await fakeServer("iris-1", 200);
    envoy = await startHealthEnvoy({
      form: "separate",
      health: HEALTH,
      router: ROUTER,
      ports: { "llama-v1": llama1.port, "llama-v2": llama2.port, "iris-1": iris1.port },
      closedPort: await freePort(),
      name: "warmup-health-endpoints",
    });
    url = envoy.listenerUrl;
    await watchVersion(url, "llama", "v2", (e) => e.state === "loading");
    await watchVersion(url, "iris", "v1", (e) => e.state === "ready");
    await watchVersion(url, "llama", "v1", (e) => e.state === "ready");
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    for (const s of [llama1, llama2, iris1]) await s?.close();
  });

  it("answers GET /ai-gateway/health with every version and target, 200, as JSON that is not cached", async () => {
    const { status, body, res } = await health(url);
    expect(status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(Object.keys(body)).toEqual(["versions", "targets", "ready"]);
    // Every listed version must be ready for the list to be: v2 is loading.
    expect(body.ready).toBe(false);
    const ok = "GET /health: status 200";
    const loading = "GET /health: status 503";
    expect(body.versions.map((v) => ({ ...v, since: undefined, since_ms: undefined }))).toEqual([
      { model: "llama", version: "v1", state: "ready", ready: true, ramp: 1, since: undefined, since_ms: undefined, reason: ok },
      { model: "llama", version: "v2", state: "loading", ready: false, ramp: 0, since: undefined, since_ms: undefined, reason: loading },
      { model: "iris", version: "v1", state: "ready", ready: true, ramp: 1, since: undefined, since_ms: undefined, reason: ok },
    ]);
    expect(body.targets.map((t) => [t.model, t.version, t.cluster, t.probe, t.state, t.ready, t.ramp, t.reason])).toEqual([
      ["llama", "v1", "llama-v1", "tgi", "ready", true, 1, ok],
      ["llama", "v2", "llama-v2", "tgi", "loading", false, 0, loading],
      ["iris", "v1", "iris-1", "tgi", "ready", true, 1, ok],
    ]);
    for (const v of body.versions) checkTimes(v, false);
    for (const t of body.targets) {
      checkTimes(t, true);
      expect(Object.keys(t)).toEqual(["model", "version", "cluster", "probe", "state", "ready", "ramp", "since", "since_ms", "reason", "latency_ms", "checked", "checked_ms"]);
    }
  });

  it.each([
    ["/llama", 200, true, ["llama/v1", "llama/v2"]],
    ["/llama/v1", 200, true, ["llama/v1"]],
    ["/llama/v2", 503, false, ["llama/v2"]],
    ["/iris", 200, true, ["iris/v1"]],
    ["/iris/v1?verbose=1", 200, true, ["iris/v1"]],
  ])("answers GET /ai-gateway/health%s with %i (ready %s)", async (path, status, ready, versions) => {
    const res = await health(url, path);
    expect(res.status).toBe(status);
    expect(res.body.ready).toBe(ready);
    expect(res.body.versions.map((v) => `${v.model}/${v.version}`)).toEqual(versions);
    expect(res.body.targets.map((v) => `${v.model}/${v.version}`)).toEqual(versions);
  });

  it.each([
    ["/ai-gateway/health/nope", "model_not_found", "No target for model 'nope'"],
    ["/ai-gateway/health/llama/v9", "model_version_not_found", "No target for version 'v9' of model 'llama'"],
  ])("answers %s with 404 %s in the OpenAI error shape", async (path, code, message) => {
    const res = await http1Request(url, { path });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ error: { message, type: "invalid_request_error", param: null, code } });
  });

  it("answers another method with 405 and allow: GET, HEAD, and HEAD like GET without a body", async () => {
    const post = await http1Request(url, { method: "POST", path: "/ai-gateway/health/llama", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    expect(JSON.parse(post.text).error).toMatchObject({ type: "invalid_request_error", code: "method_not_allowed" });
    const head = await http1Request(url, { method: "HEAD", path: "/ai-gateway/health/llama/v2" });
    expect([head.status, head.text]).toEqual([503, ""]);
    // Answered by the filter: no upstream saw an endpoint request.
    expect([...llama1.paths, ...llama2.paths, ...iris1.paths].filter((p) => p.includes("/ai-gateway/"))).toEqual([]);
  });

  it("answers the same on every worker (each a new connection, 20 times)", async () => {
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) {
      statuses.add((await http1Request(url, { path: "/ai-gateway/health/llama/v2", headers: { connection: "close" } })).status);
    }
    expect([...statuses]).toEqual([503]);
  });

  it("turns 503 into 200 when the version's server becomes ready, and routes it then", async () => {
    const before = await http1Request(url, { path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: '{"model":"llama@v2"}' });
    expect(JSON.parse(before.text)).toEqual({ server: "llama-v1" });
    llama2.status = 200;
    await watchVersion(url, "llama", "v2", (e) => e.state === "ready", 10_000);
    expect((await health(url, "/llama/v2")).status).toBe(200);
    expect((await health(url)).body.ready).toBe(true);
    const after = await http1Request(url, { path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: '{"model":"llama@v2"}' });
    expect(JSON.parse(after.text)).toEqual({ server: "llama-v2" });
  });

  it("counts endpoint answers by status", async () => {
    const stats = await envoy.stats("^wasmcustom\\.warmup_health\\.endpoint_requests");
    for (const status of [200, 404, 405, 503]) expect(stats.get(`wasmcustom.warmup_health.endpoint_requests.status=${status}`)).toBeGreaterThan(0);
    expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed|\[critical\]\[wasm\]/);
  });
});

// A server that is down is Envoy's own 503 ("upstream connect error or disconnect/reset before
// headers ..."): reported as the connection failure it is, not as the server's status 503.
describe("warmup-health through Envoy, a target whose server is down", () => {
  let envoy: Envoy;

  beforeAllOrFailEach(async () => {
    envoy = await startHealthEnvoy({
      form: "separate",
      health: { ...HEALTH, targets: [HEALTH.targets[0]] },
      router: ROUTER,
      ports: {},
      closedPort: await freePort(),
      name: "warmup-health-down",
    });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
  });

  it("says connection failed (reason reset), not status 503", async () => {
    await expectProbeReset(envoy);
  });
});

// A server that answers with bytes that are not HTTP gets Envoy's own 502 ("upstream connect error
// or disconnect/reset before headers. reset reason: protocol error"): a failed connection, not a
// status the server sent.
describe("warmup-health through Envoy, a target whose server does not speak HTTP", () => {
  let envoy: Envoy;
  let garbage: net.Server;

  beforeAllOrFailEach(async () => {
    garbage = net.createServer((socket) => {
      socket.once("data", () => socket.end("garbage\r\n\r\n"));
      socket.on("error", () => {});
    });
    const port = await listenOnLoopback(garbage);
    envoy = await startHealthEnvoy({
      form: "separate",
      health: { ...HEALTH, targets: [HEALTH.targets[0]] },
      router: ROUTER,
      ports: { "llama-v1": port },
      closedPort: await freePort(),
      name: "warmup-health-not-http",
    });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    await new Promise<void>((resolve) => (garbage ? garbage.close(() => resolve()) : resolve()));
  });

  it("says connection failed (reason reset), not status 502", async () => {
    await expectProbeReset(envoy);
  });
});

/** llama/v1's probe failed as a failed connection: reason `reset`, never a `status` failure. */
async function expectProbeReset(envoy: Envoy): Promise<void> {
    const seen = await watchVersion(envoy.listenerUrl, "llama", "v1", (e) => typeof e.reason === "string" && e.reason.startsWith("GET"));
    const entry = seen.at(-1)!.entry;
    expect(entry.state).not.toBe("ready");
    expect(entry.reason).toBe("GET /health: connection failed or reset");
    await envoy.waitForStat("wasmcustom.warmup_health.probe_failures.reason=reset", (v) => v >= 1);
    expect((await envoy.stat("wasmcustom.warmup_health.probe_failures.reason=status")) ?? 0).toBe(0);
}
