// An LDS update that Envoy rejects, through a real Envoy (process runner, --concurrency 2). The
// running listener has the router alone; the update adds warmup_health for llama/v1 in the same
// entry, and a second entry whose configuration is bad. Envoy configures the first entry (its
// canary and its VM, which publish `unknown` for v1, not probed yet), then refuses the second and
// keeps the running listener. Nothing of the rejected configuration ever ticks, so nothing
// renews its `unknown`: the running router, to which v1 was ready, answers it 503 until the
// record's deadline passes. A record published at configure stands a lease and a tick (3.5 s
// here, the defaults), not the 10.5 s a prober's renewal gives (plugins/warmup-health/README.md,
// "The prober and its lease").
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, freePort, listenOnLoopback, printEnvoyLogsOnFailure, startEnvoy, type Envoy } from "../../harness";
import { wasmFailures } from "../inference-cache/envoy";
import { ldsBootstrap, writeLdsListener, type LdsWasmEntry } from "./envoy";

printEnvoyLogsOnFailure();

const TICK_MS = 500;
const LEASE_MS = 3000;

describe("warmup-health through Envoy, an LDS update that Envoy rejects after configuring the entry", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "aigw-lds-rejected-"));
  const ldsFile = path.join(dir, "lds.yaml");
  let envoy: Envoy;
  let server: http.Server;
  let listenerPort = 0;
  const fresh = new http.Agent({ keepAlive: false });

  const router = { health_refresh_ms: 100, models: { llama: { versions: { v1: { cluster: "a" } } } } };
  const running: LdsWasmEntry[] = [{ name: "ai-gateway", rootId: "ai-gateway", module: "ai-gateway", configuration: { model_router: router }, bodyReading: true }];
  const rejected: LdsWasmEntry[] = [
    {
      name: "ai-gateway", rootId: "ai-gateway", module: "ai-gateway", bodyReading: true,
      configuration: {
        model_router: router,
        warmup_health: { tick_ms: TICK_MS, lease_ms: LEASE_MS, targets: [{ model: "llama", version: "v1", cluster: "a", probe: { kind: "custom", path: "/health" } }] },
      },
    },
    // Refused at its configure (`models` must be an object): Envoy rejects the whole listener.
    { name: "bad", rootId: "token-bucket", module: "ai-gateway", configuration: { models: "none" }, bodyReading: true },
  ];

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** A chat request for llama on a connection of its own: its status and, on 503, its error code. */
  function send(): Promise<string> {
    return new Promise((resolve, reject) => {
      const body = '{"model":"llama","messages":[]}';
      const req = http.request({ host: "127.0.0.1", port: listenerPort, path: "/v1/chat/completions", method: "POST", agent: fresh, timeout: 5_000,
        headers: { "content-type": "application/json", "content-length": String(body.length) } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          const code = res.statusCode === 200 ? "" : ` ${String((JSON.parse(text) as { error?: { code?: string } }).error?.code)}`;
          resolve(`${res.statusCode}${code}`);
        });
      });
      req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
      req.on("error", reject);
      req.end(body);
    });
  }

  beforeAllOrFailEach(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"status":"ok"}');
      });
    });
    const port = await listenOnLoopback(server);
    listenerPort = await freePort();
    writeLdsListener(ldsFile, listenerPort, "{cluster_header: x-ai-cluster, timeout: 10s}", running);
    const config = ldsBootstrap("aigw-lds-rejected", ldsFile, [{ name: "a", port, connectTimeout: "0.25s" }]);
    envoy = await startEnvoy({ runner: "process", concurrency: 2, name: "warmup-health-lds-rejected", config, wasm: ["build/ai-gateway.wasm"] });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
    rmSync(dir, { recursive: true, force: true });
  });

  it("holds v1 back from the running router for a lease and a tick at most, not for a prober's renewal window", async () => {
    const deadline = Date.now() + 10_000;
    while ((await send()) !== "200") {
      if (Date.now() > deadline) throw new Error("the running listener never served llama/v1");
      await sleep(100);
    }
    const updated = Date.now();
    writeLdsListener(ldsFile, listenerPort, "{cluster_header: x-ai-cluster, timeout: 10s}", rejected);
    await envoy.waitForStat("listener_manager.lds.update_rejected", 1);
    // The rejected configuration's `unknown` holds v1 back at first, once the running router's
    // health cache (refreshed every 100 ms) has read it: the fault this bounds.
    await sleep(300);
    expect(await send()).toBe("503 model_not_ready");
    // Past a lease and a tick from the update (with a second's margin for Envoy's configure and
    // the router's 100 ms refresh), and well before 10.5 s: v1 is served again, every time.
    await sleep(Math.max(0, updated + LEASE_MS + TICK_MS + 1_000 - Date.now()));
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      seen.push(await send());
      await sleep(100);
    }
    expect(Date.now() - updated).toBeLessThan(3 * (LEASE_MS + TICK_MS));
    expect(seen.filter((s) => s !== "200"), JSON.stringify(seen)).toEqual([]);
    // The only failures logged are the bad entry's refusal and Envoy's lines about it.
    const refusal = /token-bucket: models|Failed to configure base Wasm plugin|Plugin bad failed to load|fail closed failed to load/;
    expect(wasmFailures(envoy.logs()).filter((l) => !refusal.test(l))).toEqual([]);
  });
});
