// warmup-health and model-router (the ai-gateway pipeline entry) in a real Envoy (process runner,
// --concurrency 2) in front of two real llama-servers (envoy/model-servers/README.md): llama v1 is
// the tiny model, already serving; llama v2 is the 1 GB "slow" model, started while the test runs
// on the port its cluster names, so it answers 503 "Loading model" for seconds, then is warmed up
// with a chat completion and ramps in over ramp_ms. Then its server is killed. Which server
// answered a request is read from the model name it answers with (its --alias): `GET /models`
// (cheap, the alias in `data[0].id`) and chat completions (`model`). Loopback only; every wait has
// a deadline.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { addLogSource, closeHttp1Connections, freePort, http1Request, printEnvoyLogsOnFailure, startLlamaServer, type Envoy, type LlamaServer } from "../../harness";
import { stickyVersion } from "../../../host-tests/model-router/bucket";
import { health, pool, startHealthEnvoy, versionState, watchVersion } from "./envoy";

const WEIGHTS = [["v1", 70], ["v2", 30]] as const;
const ROUTER = {
  sticky_key: "header",
  sticky_header: "x-session-id",
  // Read the records on every request: the router acts on a transition at the next request.
  health_refresh_ms: 0,
  models: { llama: { versions: { v1: { cluster: "llama-v1", weight: 70 }, v2: { cluster: "llama-v2", weight: 30, fallback: ["v1"] } } } },
};
/** Short timings for test time: a probe every 200 ms, failing after 2 failures, a 2 s ramp. */
const TIMING = { tick_ms: 100, lease_ms: 400, interval_ms: 200, timeout_ms: 1000, unhealthy_threshold: 2, healthy_threshold: 1, ramp_ms: 2000 };
const WARMUP = {
  requests: [{ path: "/v1/chat/completions", body: { model: "llama", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, count: 2 }],
  max_latency_ms: 5000,
  timeout_ms: 10_000,
};
const HEALTH = {
  ...TIMING,
  targets: [
    { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "llama-cpp" } },
    { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "llama-cpp" }, warmup: WARMUP },
  ],
};
/** What each version's server calls itself (its --alias). */
const ALIAS: Record<string, string> = { v1: "tiny-v1", v2: "slow" };
const SERVER_OF: Record<string, string> = { "tiny-v1": "v1", slow: "v2" };

const KEYS = Array.from({ length: 2000 }, (_, i) => `session-${i}`);
const expectedVersion = (key: string) => stickyVersion("llama", { kind: "header", value: key }, WEIGHTS);
const V2_KEYS = KEYS.filter((k) => expectedVersion(k) === "v2");
const V1_KEYS = KEYS.filter((k) => expectedVersion(k) === "v1");

interface Sent {
  key: string;
  startMs: number;
  endMs: number;
  status: number | null;
  /** The version whose server answered (by its alias), or undefined. */
  server?: string;
  error?: string;
  text?: string;
}

/** GET /models for `key` through Envoy: the answering server lists its alias. */
async function ask(base: string, key: string): Promise<Sent> {
  const startMs = Date.now();
  try {
    const res = await http1Request(base, { path: "/models", headers: { "x-model": "llama", "x-session-id": key }, timeoutMs: 10_000 });
    let server: string | undefined;
    if (res.status === 200) server = SERVER_OF[JSON.parse(res.text).data?.[0]?.id];
    return { key, startMs, endMs: Date.now(), status: res.status, server, text: res.status === 200 ? undefined : res.text };
  } catch (err) {
    return { key, startMs, endMs: Date.now(), status: null, error: (err as Error).message };
  }
}

/** Sends requests for `keys` in turn (4 in flight) until `stop(completed so far)` says so; returns them all. */
async function loadUntil(base: string, keys: string[], stop: (sent: Sent[]) => boolean): Promise<Sent[]> {
  const out: Sent[] = [];
  let i = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stop(out)) out.push(await ask(base, keys[i++ % keys.length]));
    }),
  );
  return out;
}

const failed = (sent: Sent[]) => sent.filter((s) => s.status !== 200);

printEnvoyLogsOnFailure();

describe("warmup-health with llama-server through Envoy (pipeline form)", () => {
  let v1: LlamaServer;
  let v2: LlamaServer | undefined;
  let v2Port: number;
  let envoy: Envoy;
  let url: string;
  const removeLogs: (() => void)[] = [];

  beforeAllOrFailEach(async () => {
    v1 = await startLlamaServer({ model: "tiny-v1", alias: ALIAS.v1, name: "wh-llama-v1" });
    removeLogs.push(addLogSource(`llama v1 ${v1.url}`, v1.logs));
    // v2's port is named in Envoy's config now; its server starts in the first test.
    v2Port = await freePort();
    envoy = await startHealthEnvoy({ form: "pipeline", health: HEALTH, router: ROUTER, ports: { "llama-v1": v1.port, "llama-v2": v2Port }, closedPort: v2Port, name: "warmup-health-llama" });
    url = envoy.listenerUrl;
  });

  afterAll(async () => {
    closeHttp1Connections();
    removeLogs.forEach((r) => r());
    await envoy?.stop();
    await v1?.close();
    await v2?.close();
  });

  it("sends a loading version nothing: its share goes to its fallback, no request fails, until it is warmed up", async () => {
    // v1 was serving when Envoy started: ready at its first probe, fully ramped. v2's port refuses.
    const v1Seen = await watchVersion(url, "llama", "v1", (e) => e.state === "ready");
    expect(v1Seen.at(-1)!.ramp).toBe(1);
    const refused = await watchVersion(url, "llama", "v2", (e) => e.state === "loading");
    expect(refused.at(-1)!.entry.reason).toMatch(/^GET \/health: /);

    v2 = await startLlamaServer({ loadSlowly: true, alias: ALIAS.v2, port: v2Port, wait: "listening", name: "wh-llama-v2" });
    removeLogs.push(addLogSource(`llama v2 ${v2.url}`, v2.logs));
    const startedAt = Date.now();
    const warmingBefore = (await envoy.stat("wasmcustom.warmup_health.transitions.to=warming")) ?? 0;
    let done = false;
    // Traffic on every key while v2 loads and warms up, and the health endpoints meanwhile.
    const traffic = loadUntil(url, KEYS.slice(0, 400), () => done);
    const loadingAnswer = await watchVersion(url, "llama", "v2", (e) => e.state === "loading" && e.reason === "GET /health: status 503");
    const endpointWhileLoading = await health(url, "/llama/v2");
    const modelWhileLoading = await health(url, "/llama");
    let seen;
    try {
      seen = await watchVersion(url, "llama", "v2", (e) => e.state === "ready", 40_000);
    } finally {
      done = true;
    }
    const readyAfterMs = Date.now() - startedAt;
    const warmingTransitions = ((await envoy.stat("wasmcustom.warmup_health.transitions.to=warming")) ?? 0) - warmingBefore;
    const sent = await traffic;

    expect(loadingAnswer.at(-1)!.entry.ready).toBe(false);
    expect(endpointWhileLoading.status).toBe(503);
    expect(endpointWhileLoading.body.versions).toMatchObject([{ model: "llama", version: "v2", state: "loading", ready: false, ramp: 0 }]);
    expect(endpointWhileLoading.body.targets[0]).toMatchObject({ cluster: "llama-v2", probe: "llama-cpp", state: "loading", warmup: { done: 0, of: 2 } });
    expect(modelWhileLoading.status).toBe(200);
    expect(modelWhileLoading.body.ready).toBe(true);
    // loading → warming (two chat completions) → ready with ramp 0. Warming can be shorter than a
    // poll: Envoy's counter says v2 (the only version with a warmup) went into it once, before the
    // poll that saw it ready; the polls saw the rest in order.
    expect(warmingTransitions).toBe(1);
    expect(seen.map((s) => s.state).filter((s) => s !== "warming")).toEqual(["loading", "ready"]);
    expect(seen.at(-1)!.entry.reason).toMatch(/^warmed up: 2 of 2 requests within 5000 ms/);
    expect(seen.at(-1)!.ramp).toBeLessThan(1);
    // No failed request; while v2 was not ready every answer came from v1, v2's keys included.
    // Routed before v2 was ready: ended before the last poll that saw it not ready (warming or loading).
    const whileNotReady = sent.filter((s) => s.endMs < seen.at(-2)!.lastPolledAt);
    expect(failed(sent)).toEqual([]);
    expect(whileNotReady.filter((s) => V2_KEYS.includes(s.key)).length).toBeGreaterThan(20);
    expect(new Set(whileNotReady.map((s) => s.server))).toEqual(new Set(["v1"]));
    console.log(`llama v2: ready ${readyAfterMs} ms after its server started; ${sent.length} requests meanwhile (${whileNotReady.length} before ready), 0 failed`);
    expect(await envoy.stat("wasmcustom.warmup_health.warmup_requests.result=ok")).toBeGreaterThanOrEqual(2);
    expect(await envoy.stat("wasmcustom.warmup_health.transitions.to=warming")).toBeGreaterThanOrEqual(1);
  });

  it("ramps v2 in: after ramp_ms its share over 2,000 keys is its weight (±3 points), each key on its sticky version", async () => {
    const ramped = await watchVersion(url, "llama", "v2", (e) => e.state === "ready" && e.ramp === 1, 10_000);
    expect(ramped.at(-1)!.entry.ready).toBe(true);
    const sent = await pool(KEYS, 16, (key) => ask(url, key));
    expect(failed(sent)).toEqual([]);
    const wrong = sent.filter((s) => s.server !== expectedVersion(s.key));
    expect(wrong).toEqual([]);
    const share = (100 * sent.filter((s) => s.server === "v2").length) / KEYS.length;
    expect(Math.abs(share - 30)).toBeLessThanOrEqual(3);
    console.log(`llama v2 share after ramp: ${share.toFixed(2)}% of ${KEYS.length} keys (weight 30)`);
    // Real inference too: a chat completion on each version answers with that server's model.
    for (const [key, version] of [[V1_KEYS[0], "v1"], [V2_KEYS[0], "v2"]]) {
      const res = await http1Request(url, {
        path: "/v1/chat/completions",
        headers: { "content-type": "application/json", "x-session-id": key },
        body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
        timeoutMs: 20_000,
      });
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(res.text).model).toBe(ALIAS[version]);
    }
    const endpoint = await health(url, "/llama/v2");
    expect([endpoint.status, endpoint.body.ready, endpoint.body.versions[0].ramp]).toEqual([200, true, 1]);
  });

  it("moves a killed version to failing within the thresholds and its traffic to the fallback", async () => {
    // A long chat completion in flight on v2 when its server dies.
    const inFlight = http1Request(url, {
      path: "/v1/chat/completions",
      headers: { "content-type": "application/json", "x-session-id": V2_KEYS[1] },
      body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 400 }),
      timeoutMs: 30_000,
    }).then((r) => r.status, (e: Error) => e.message);
    let done = false;
    let failingAt = 0;
    // Traffic until 60 requests started after the transition have completed (or `done`).
    const AFTER = 60;
    const traffic = loadUntil(url, KEYS.slice(0, 400), (out) => done || (failingAt > 0 && out.filter((s) => s.startMs > failingAt).length >= AFTER));
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await v2!.kill();
    let sent: Sent[];
    try {
      const seen = await watchVersion(url, "llama", "v2", (e) => e.state === "failing", 10_000);
      failingAt = Date.now();
      expect(seen.at(-1)!.entry.reason).toMatch(/^GET \/health: /);
    } catch (err) {
      done = true;
      throw err;
    } finally {
      // The traffic stops itself once AFTER requests after the transition are done; 20 s at most.
      const deadline = setTimeout(() => (done = true), 20_000);
      sent = await traffic;
      clearTimeout(deadline);
    }
    const detectionMs = failingAt - killedAt;
    // unhealthy_threshold (2) probes, one per interval (200 ms) from the next tick (100 ms): about
    // 500 ms; allow for a loaded machine, well under the second a default setup would need.
    expect(detectionMs).toBeLessThan(2500);
    const after = sent.filter((s) => s.startMs > failingAt);
    expect(after.length).toBeGreaterThanOrEqual(AFTER);
    expect(failed(after)).toEqual([]);
    expect(new Set(after.map((s) => s.server))).toEqual(new Set(["v1"]));
    // During the detection window requests on v2's keys get Envoy's 503 (connection refused); v1's never fail.
    const inWindow = sent.filter((s) => s.endMs >= killedAt && s.startMs <= failingAt);
    const window = failed(sent);
    expect(window.every((s) => V2_KEYS.includes(s.key) && s.status === 503 && inWindow.includes(s))).toBe(true);
    const inFlightStatus = await inFlight;
    console.log(
      `llama v2 killed: failing after ${detectionMs} ms; ${window.length} of ${inWindow.length} requests in the window failed (503, all on v2's keys), ` +
        `0 of ${after.length} after; the chat completion in flight at the kill: ${inFlightStatus}`,
    );
    expect(inFlightStatus).toBe(503);
    const endpoint = await health(url, "/llama/v2");
    expect([endpoint.status, endpoint.body.versions[0].state]).toEqual([503, "failing"]);
    expect((await health(url, "/llama")).status).toBe(200);
    expect((await versionState(url, "llama", "v1")).state).toBe("ready");
  });

  it("never trapped: no Wasm error in Envoy's log", () => {
    expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed|\[critical\]\[wasm\]/);
  });
});
