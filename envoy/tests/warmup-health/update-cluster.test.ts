// A listener updated by file-based LDS that moves a version to another cluster, through a real
// Envoy (process runner, --concurrency 2), one pipeline entry (warmup_health + model_router):
// llama/v1 is first probed on a cluster nobody listens on (loading: its traffic falls back to
// v2), then the update moves v1 (its target and its router cluster) to a healthy server. The
// README says an update's new settings apply at once, not after Envoy's --drain-time-s; the old
// listener drains for 600 s (Envoy's default) and its configuration still lists v1 on the dead
// cluster: it must not keep writing v1's version record over the new configuration's (the
// version's owner key: the configuration configured last writes it). Connections opened before
// the update are served by the old configuration, which reads the new record as its own (a
// version record names no cluster): the README says so, and this test does not send on them.
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, freePort, listenOnLoopback, printEnvoyLogsOnFailure, startEnvoy, type Envoy } from "../../harness";
import { wasmFailures } from "../inference-cache/envoy";
import { ldsBootstrap, writeLdsListener } from "./envoy";

printEnvoyLogsOnFailure();

/** A model server that answers every request 200, naming itself in `x-upstream`. */
async function namedServer(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end('{"status":"ok"}');
    });
  });
  return { server, port: await listenOnLoopback(server) };
}

describe("warmup-health and model-router through Envoy, an LDS update that moves a version to another cluster", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "aigw-lds-move-"));
  const ldsFile = path.join(dir, "lds.yaml");
  let envoy: Envoy;
  const servers: http.Server[] = [];
  let listenerPort = 0;

  /** The pipeline's configuration with llama/v1 (target and router cluster) on `v1Cluster`. */
  const settings = (v1Cluster: string) => ({
    warmup_health: {
      tick_ms: 100, lease_ms: 400, interval_ms: 200, timeout_ms: 500, ramp_ms: 0,
      targets: [
        { model: "llama", version: "v1", cluster: v1Cluster, probe: { kind: "custom", path: "/health" } },
        { model: "llama", version: "v2", cluster: "b", probe: { kind: "custom", path: "/health" } },
      ],
    },
    model_router: { health_refresh_ms: 100, models: { llama: { versions: { v1: { cluster: v1Cluster, weight: 100 }, v2: { cluster: "b", weight: 0 } } } } },
  });

  function writeListener(v1Cluster: string): void {
    writeLdsListener(ldsFile, listenerPort, "{cluster_header: x-ai-cluster, timeout: 10s}",
      [{ name: "ai-gateway", rootId: "ai-gateway", module: "ai-gateway", configuration: settings(v1Cluster), bodyReading: true }]);
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * The server that answered a chat request for llama (no version named: v1 by its weight), on a
   * connection of its own (`fresh`: the listener's current configuration).
   */
  function answeredBy(agent: http.Agent): Promise<string> {
    return new Promise((resolve, reject) => {
      const body = '{"model":"llama","messages":[]}';
      const req = http.request({ host: "127.0.0.1", port: listenerPort, path: "/v1/chat/completions", method: "POST", agent, timeout: 5_000,
        headers: { "content-type": "application/json", "content-length": String(body.length) } }, (res) => {
        res.resume();
        res.on("end", () => resolve(`${res.statusCode} ${String(res.headers["x-upstream"] ?? "")}`));
      });
      req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
      req.on("error", reject);
      req.end(body);
    });
  }
  /** The health endpoint's status for llama/v1 on a connection of its own. */
  function v1Health(): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: listenerPort, path: "/ai-gateway/health/llama/v1", agent: fresh, timeout: 5_000 }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
  }
  const fresh = new http.Agent({ keepAlive: false });

  beforeAllOrFailEach(async () => {
    const a = await namedServer("a");
    const b = await namedServer("b");
    servers.push(a.server, b.server);
    const closed = await freePort();
    listenerPort = await freePort();
    writeListener("dead");
    const config = ldsBootstrap("aigw-lds-move", ldsFile, [
      { name: "b", port: b.port, connectTimeout: "0.25s" }, { name: "a", port: a.port, connectTimeout: "0.25s" }, { name: "dead", port: closed, connectTimeout: "0.25s" },
    ]);
    envoy = await startEnvoy({ runner: "process", concurrency: 2, name: "warmup-health-lds-move", config, wasm: ["build/ai-gateway.wasm"] });
  });

  afterAll(async () => {
    closeHttp1Connections();
    await envoy?.stop();
    for (const s of servers) await new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); });
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves v1 from its new cluster at once on new connections, its health endpoint steady, while the old listener drains", async () => {
    // Before: v1 on the dead cluster is not ready, its traffic goes to v2 (server b).
    const deadline = Date.now() + 10_000;
    while ((await answeredBy(fresh)) !== "200 b") {
      if (Date.now() > deadline) throw new Error("v1 on the dead cluster never fell back to v2");
      await sleep(100);
    }
    await sleep(1_000);
    writeListener("a");
    // The new configuration probes v1 on `a` at its first tick (owners.test.ts: within 2 s).
    await sleep(2_000);
    const seen: string[] = [];
    const health: number[] = [];
    for (let i = 0; i < 30; i++) {
      seen.push(await answeredBy(fresh));
      health.push(await v1Health());
      await sleep(100);
    }
    // New connections: v1 is ready on `a` and takes all of its traffic.
    expect.soft(health.filter((s) => s !== 200), JSON.stringify(health)).toEqual([]);
    expect.soft(seen.filter((s) => s !== "200 a"), JSON.stringify(seen)).toEqual([]);
    // The dead cluster's probes log "connection failed": leave those out.
    expect(wasmFailures(envoy.logs()).filter((l) => !/llama\/v1@dead/.test(l))).toEqual([]);
  });
});
