// Two warmup-health configurations that list one target, through a real Envoy (process runner,
// --concurrency 2): two filter entries of one vm_id with other probing settings (as two
// listeners' entries, or the old and new configuration while Envoy drains a listener), so two
// leases. The target's owner key (plugins/warmup-health/README.md, "Beyond one entry") lets one
// of them probe it; the model server sees one configuration's interval, never both. And an
// update by LDS: the new configuration takes the target at once, while the old listener drains
// (Envoy's default --drain-time-s, 600 s), and the old one stops probing it.
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, freePort, listenOnLoopback, printEnvoyLogsOnFailure, startEnvoy, type Envoy } from "../../harness";
import { ldsBootstrap, renderConfig, versionState, writeLdsListener } from "./envoy";
import { wasmFailures } from "../inference-cache/envoy";

const TARGET = { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } };
const BASE = { tick_ms: 100, lease_ms: 400, timeout_ms: 1000, ramp_ms: 0, targets: [TARGET] };

printEnvoyLogsOnFailure();

describe("warmup-health through Envoy, one target in two configurations", () => {
  let envoy: Envoy;
  let server: http.Server;
  /** Arrival times (ms) of the server's GET /health. */
  const probes: number[] = [];

  beforeAllOrFailEach(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.url === "/health") probes.push(performance.now());
        // A slow answer, as a loaded server gives: a second prober sharing the record's schedule
        // would send its own probe while the first waits (the record says "due" until an answer).
        setTimeout(() => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end('{"status":"ok"}');
        }, 250);
      });
    });
    const port = await listenOnLoopback(server);
    const entries = [
      { name: "health-a", rootId: "warmup-health", wasm: "build/warmup-health.wasm", config: { ...BASE, interval_ms: 300 } },
      { name: "health-b", rootId: "warmup-health", wasm: "build/warmup-health.wasm", config: { ...BASE, interval_ms: 400, path_prefix: "/other-health" } },
    ];
    const config = renderConfig(entries, { "llama-v1": port }, await freePort());
    envoy = await startEnvoy({ runner: "process", concurrency: 2, name: "warmup-health-owners", config, wasm: ["build/warmup-health.wasm"] });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    await new Promise<void>((resolve) => { server?.closeAllConnections(); server?.close(() => resolve()); });
  });

  it("probes the target from one configuration only, at its interval", async () => {
    const deadline = Date.now() + 10_000;
    while ((await versionState(envoy.listenerUrl, "llama", "v1")).state !== "ready") {
      if (Date.now() > deadline) throw new Error("llama/v1 never became ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    const from = probes.length;
    await new Promise((r) => setTimeout(r, 3_000));
    const seen = probes.slice(from);
    const gaps = seen.slice(1).map((t, i) => t - seen[i]);
    // One prober: an answer after 250 ms, the next probe 300 or 400 ms later, so 4 to 6 probes
    // in 3 s, never closer than 300 ms. Both would send probes in pairs a tick or two apart.
    expect(seen.length, JSON.stringify(gaps)).toBeGreaterThanOrEqual(3);
    expect(seen.length, JSON.stringify(gaps)).toBeLessThanOrEqual(11);
    expect(Math.min(...gaps), JSON.stringify(gaps)).toBeGreaterThan(200);
    expect(envoy.logs()).toMatch(/llama\/v1@llama-v1 is probed by another configuration/);
    expect(wasmFailures(envoy.logs())).toEqual([]);
  });
});

/** A model server whose every answer takes 150 ms; records each request's path and arrival (ms). */
async function slowServer(seen: Array<{ at: number; path: string }>): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ at: performance.now(), path: req.url ?? "" });
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      }, 150);
    });
  });
  return { server, port: await listenOnLoopback(server) };
}

describe("warmup-health through Envoy, a listener updated by LDS", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "aigw-lds-"));
  const ldsFile = path.join(dir, "lds.yaml");
  const seen: Array<{ at: number; path: string }> = [];
  let envoy: Envoy;
  let server: http.Server;
  let serverPort = 0;
  let listenerPort = 0;

  const target = (probePath: string) => ({ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "custom", path: probePath } });
  const settings = (probePath: string) => ({ tick_ms: 100, lease_ms: 400, timeout_ms: 1000, ramp_ms: 0, interval_ms: 300, targets: [target(probePath)] });

  /** The listener, its one warmup-health entry probing `probePath`, written as Envoy's file-based LDS picks it up (a rename). */
  function writeListener(probePath: string): void {
    writeLdsListener(ldsFile, listenerPort, "{cluster: llama-v1}", [{ name: "warmup-health", rootId: "warmup-health", module: "warmup-health", configuration: settings(probePath) }]);
  }

  beforeAllOrFailEach(async () => {
    ({ server, port: serverPort } = await slowServer(seen));
    listenerPort = await freePort();
    writeListener("/probe-old");
    // The harness's listener is a static TCP proxy (it only needs a port); the listener under
    // test comes from LDS.
    const config = ldsBootstrap("aigw-lds", ldsFile, [{ name: "llama-v1", port: serverPort, connectTimeout: "1s" }]);
    envoy = await startEnvoy({ runner: "process", concurrency: 2, name: "warmup-health-lds", config, wasm: ["build/warmup-health.wasm"] });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    await new Promise<void>((resolve) => { server?.closeAllConnections(); server?.close(() => resolve()); });
    rmSync(dir, { recursive: true, force: true });
  });

  it("probes with the new configuration at once, and no longer with the old one, while the old listener drains", async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const deadline = Date.now() + 10_000;
    while (!seen.some((s) => s.path === "/probe-old")) {
      if (Date.now() > deadline) throw new Error("the first configuration never probed");
      await sleep(100);
    }
    await sleep(1_000);
    const updated = performance.now();
    writeListener("/probe-new");
    await sleep(4_000);
    const after = seen.filter((s) => s.at >= updated);
    const firstNew = after.find((s) => s.path === "/probe-new");
    expect(firstNew, JSON.stringify(after)).toBeDefined();
    // LDS picks the file up, the new configuration starts, and probes at its first tick.
    expect(firstNew!.at - updated).toBeLessThan(2_000);
    // The old listener drains for 600 s, its ticks going on: it sends nothing once the new one has the target.
    const oldAfter = after.filter((s) => s.path === "/probe-old" && s.at > firstNew!.at + 200);
    expect(oldAfter, JSON.stringify(after.map((s) => [Math.round(s.at - updated), s.path]))).toEqual([]);
    expect(envoy.logs()).toMatch(/is probed by another configuration/);
    expect(wasmFailures(envoy.logs())).toEqual([]);
  });
});
