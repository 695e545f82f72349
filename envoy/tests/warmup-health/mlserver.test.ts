// warmup-health and model-router (the ai-gateway pipeline entry) in a real Envoy (process runner,
// --concurrency 2) in front of two real MLServers over KServe V2 paths
// (envoy/model-servers/README.md): iris v1 (scikit-learn) on one, and on the other, started while
// the test runs on the port its cluster names, "iris" v2 as the slow model whose load() sleeps, so
// its ready endpoint answers 400 for seconds. Probe kind `mlserver` with `upstream_version`. The
// answer's `model_version` says which server answered. (One MLServer cannot hold both: the router
// does not rewrite the path, and MLServer answers `/v2/models/iris/infer` with its newest version.)
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { addLogSource, closeHttp1Connections, freePort, http1Request, printEnvoyLogsOnFailure, startMlServer, type Envoy, type MlServer } from "../../harness";
import { stickyVersion } from "../../../host-tests/model-router/bucket";
import { health, pool, startHealthEnvoy, watchVersion } from "./envoy";

const WEIGHTS = [["v1", 50], ["v2", 50]] as const;
const ROUTER = {
  sticky_key: "header",
  sticky_header: "x-session-id",
  health_refresh_ms: 0,
  models: { iris: { versions: { v1: { cluster: "iris-1", weight: 50 }, v2: { cluster: "iris-2", weight: 50, fallback: ["v1"] } } } },
};
const HEALTH = {
  tick_ms: 100,
  lease_ms: 400,
  interval_ms: 200,
  timeout_ms: 1000,
  unhealthy_threshold: 2,
  healthy_threshold: 1,
  ramp_ms: 1000,
  targets: [
    { model: "iris", version: "v1", cluster: "iris-1", probe: { kind: "mlserver", upstream_version: "v1" } },
    { model: "iris", version: "v2", cluster: "iris-2", probe: { kind: "mlserver", upstream_version: "v2" } },
  ],
};
const KEYS = Array.from({ length: 600 }, (_, i) => `user-${i}`);
const expectedVersion = (key: string) => stickyVersion("iris", { kind: "header", value: key }, WEIGHTS);
const V2_KEYS = KEYS.filter((k) => expectedVersion(k) === "v2");
const INFER = JSON.stringify({ inputs: [{ name: "x", shape: [1, 4], datatype: "FP64", data: [5.1, 3.5, 1.4, 0.2] }] });

interface Sent {
  key: string;
  startMs: number;
  endMs: number;
  status: number | null;
  version?: string;
  text?: string;
}

/** POST /v2/models/iris/infer for `key` through Envoy; the answer's model_version names the server. */
async function infer(base: string, key: string): Promise<Sent> {
  const startMs = Date.now();
  try {
    const res = await http1Request(base, { path: "/v2/models/iris/infer", headers: { "content-type": "application/json", "x-session-id": key }, body: INFER, timeoutMs: 10_000 });
    return { key, startMs, endMs: Date.now(), status: res.status, version: res.status === 200 ? JSON.parse(res.text).model_version : undefined, text: res.status === 200 ? undefined : res.text };
  } catch (err) {
    return { key, startMs, endMs: Date.now(), status: null, text: (err as Error).message };
  }
}

async function loadUntil(base: string, keys: string[], stop: () => boolean): Promise<Sent[]> {
  const out: Sent[] = [];
  let i = 0;
  await Promise.all(Array.from({ length: 4 }, async () => { while (!stop()) out.push(await infer(base, keys[i++ % keys.length])); }));
  return out;
}

printEnvoyLogsOnFailure();

describe("warmup-health with MLServer over KServe V2 through Envoy (pipeline form)", () => {
  let iris1: MlServer;
  let iris2: MlServer | undefined;
  let iris2Port: number;
  let envoy: Envoy;
  let url: string;
  const removeLogs: (() => void)[] = [];

  beforeAllOrFailEach(async () => {
    iris1 = await startMlServer({ models: [{ kind: "iris", version: "v1" }], name: "wh-mlserver-v1" });
    removeLogs.push(addLogSource(`mlserver v1 ${iris1.url}`, iris1.logs));
    iris2Port = await freePort();
    envoy = await startHealthEnvoy({ form: "pipeline", health: HEALTH, router: ROUTER, ports: { "iris-1": iris1.port, "iris-2": iris2Port }, closedPort: iris2Port, name: "warmup-health-mlserver" });
    url = envoy.listenerUrl;
  });

  afterAll(async () => {
    closeHttp1Connections();
    removeLogs.forEach((r) => r());
    await envoy?.stop();
    await iris1?.close();
    await iris2?.close();
  });

  it("keeps v2 loading while MLServer answers 400 on its ready endpoint; its keys go to v1 and none fails", async () => {
    expect((await watchVersion(url, "iris", "v1", (e) => e.state === "ready")).at(-1)!.ramp).toBe(1);
    await watchVersion(url, "iris", "v2", (e) => e.state === "loading");
    iris2 = await startMlServer({ models: [{ kind: "slow", name: "iris", version: "v2", loadSeconds: 6 }], port: iris2Port, wait: "listening", name: "wh-mlserver-v2" });
    removeLogs.push(addLogSource(`mlserver v2 ${iris2.url}`, iris2.logs));
    let done = false;
    const traffic = loadUntil(url, KEYS, () => done);
    let seen;
    let endpoint;
    try {
      // MLServer is up (live) and the slow model still loads: 400 with an empty body.
      const loading = await watchVersion(url, "iris", "v2", (e) => e.reason === "GET /v2/models/iris/versions/v2/ready: status 400", 20_000);
      expect(loading.at(-1)!.state).toBe("loading");
      endpoint = await health(url, "/iris/v2");
      seen = await watchVersion(url, "iris", "v2", (e) => e.state === "ready", 30_000);
    } finally {
      done = true;
    }
    const sent = await traffic;
    expect(endpoint.status).toBe(503);
    expect(endpoint.body.targets[0]).toMatchObject({ cluster: "iris-2", probe: "mlserver", state: "loading", ready: false });
    expect(seen.map((s) => s.state)).toEqual(["loading", "ready"]);
    expect(sent.filter((s) => s.status !== 200)).toEqual([]);
    // Routed before v2 was ready: ended before the last poll that saw it loading.
    const beforeReady = sent.filter((s) => s.endMs < seen.at(-2)!.lastPolledAt);
    expect(beforeReady.length).toBeGreaterThan(20);
    expect(new Set(beforeReady.map((s) => s.version))).toEqual(new Set(["v1"]));
    expect(beforeReady.filter((s) => V2_KEYS.includes(s.key)).length).toBeGreaterThan(10);
    console.log(`iris v2: ${sent.length} KServe V2 requests while it loaded, all 200 from v1`);
  });

  it("puts each key on its sticky version once v2 has ramped in", async () => {
    await watchVersion(url, "iris", "v2", (e) => e.ramp === 1, 10_000);
    const sent = await pool(KEYS, 8, (key) => infer(url, key));
    expect(sent.filter((s) => s.status !== 200)).toEqual([]);
    expect(sent.filter((s) => s.version !== expectedVersion(s.key))).toEqual([]);
    const share = (100 * sent.filter((s) => s.version === "v2").length) / KEYS.length;
    expect(Math.abs(share - 50)).toBeLessThanOrEqual(5);
    console.log(`iris v2 share after ramp: ${share.toFixed(2)}% of ${KEYS.length} keys (weight 50)`);
    expect((await health(url, "/iris/v2")).status).toBe(200);
  });

  it("moves v2 to failing when its MLServer is killed, and its keys back to v1", async () => {
    const killedAt = Date.now();
    await iris2!.kill();
    await watchVersion(url, "iris", "v2", (e) => e.state === "failing", 10_000);
    const detectionMs = Date.now() - killedAt;
    expect(detectionMs).toBeLessThan(2500);
    const sent = await pool(V2_KEYS.slice(0, 100), 8, (key) => infer(url, key));
    expect(sent.filter((s) => s.status !== 200 || s.version !== "v1")).toEqual([]);
    expect((await health(url, "/iris/v2")).status).toBe(503);
    expect((await health(url, "/iris")).status).toBe(200);
    console.log(`iris v2 killed: failing after ${detectionMs} ms`);
    expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed|\[critical\]\[wasm\]/);
  });
});
