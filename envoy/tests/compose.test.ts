// envoy/docker-compose.yml as users run it, on the host network with local images (CI's only
// changes): Envoy with the ai-gateway module routes on x-ai-cluster to demo model servers, one
// cluster per model version, after its own health checks found them ready.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addLogSource, composeCommand, portVariable, printEnvoyLogsOnFailure, socketAddresses, startComposeStack, type ComposeStack } from "../harness";
import { COMPOSE_DIR } from "../harness/compose";
import { parseStats } from "../harness/envoy";

const COUNTER = "wasmcustom.noop.requests_total";
let stack: ComposeStack;

printEnvoyLogsOnFailure();

async function stats(filter: string): Promise<Map<string, number>> {
  const res = await fetch(`${stack.adminUrl}/stats?filter=${encodeURIComponent(filter)}`);
  return parseStats(await res.text());
}

/** Polls until `check` passes or the deadline; integration tests never sleep blindly. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function chat(cluster?: string): Promise<Response> {
  return fetch(`${stack.listenerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(cluster ? { "x-ai-cluster": cluster } : {}) },
    body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }] }),
  });
}

// What users run (`docker compose up`: bridge network, service names, the published port) cannot
// run here (no bridge network, loopback only), so its wiring is checked on the resolved config.
describe("docker compose files as users run them", () => {
  const resolved = () => {
    const cmd = composeCommand();
    const env = { ...process.env };
    for (const v of ["ENVOY_IMAGE", "NODE_IMAGE", "ENVOY_CONFIG", "DEMO_HOST"]) delete env[v];
    return execFileSync(cmd[0], [...cmd.slice(1), "config"], { cwd: COMPOSE_DIR, env, encoding: "utf8" });
  };

  it("use the upstream images and publish Envoy on the host's loopback only", () => {
    const config = resolved();
    expect(config).toContain("image: envoyproxy/envoy:v1.40-latest");
    expect(config).toContain("image: node:20-slim");
    expect(config).toMatch(/127\.0\.0\.1:10000:10000/);
    expect(config).not.toMatch(/network_mode/);
  });

  it("run a demo server for every upstream of envoy.yaml, on the name and port Envoy uses", () => {
    const config = resolved();
    const compose = readFileSync(path.join(COMPOSE_DIR, "docker-compose.yml"), "utf8");
    const upstreams = socketAddresses(readFileSync(path.join(COMPOSE_DIR, "envoy.yaml"), "utf8")).filter((s) => !/^(0\.0\.0\.0|127\.0\.0\.1):/.test(s));
    expect(upstreams.length).toBeGreaterThanOrEqual(3);
    for (const upstream of upstreams) {
      const [service, port] = upstream.split(":");
      expect(config).toMatch(new RegExp(`^  ${service}:$`, "m"));
      expect(compose).toContain(`--port, "\${${portVariable(service)}:-${port}}"`);
      expect(compose).toContain(`--name, ${service},`);
    }
  });
});

describe("docker compose stack", () => {
  beforeAll(async () => {
    stack = await startComposeStack();
    addLogSource(`compose ${stack.project}`, () => stack.logs());
    // Envoy is up, and its health checks found every model version ready.
    await eventually("every cluster healthy", async () => {
      const s = await stats("membership_healthy$");
      const clusters = Object.keys(stack.upstreams);
      return clusters.every((c) => s.get(`cluster.${c}.membership_healthy`) === 1) ? true : undefined;
    });
  });

  afterAll(async () => {
    await stack?.down();
  });

  it("routes on x-ai-cluster to the model version's server", async () => {
    const res = await chat("llama-v2");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-demo-server")).toBe("llama-v2");
    expect(res.headers.get("x-demo-model")).toBe("llama");
    expect(res.headers.get("x-demo-version")).toBe("v2");
    const body = (await res.json()) as { choices: unknown[] };
    expect(body.choices.length).toBe(1);
  });

  it("sends OpenAI requests without the header to the default version", async () => {
    const res = await chat();
    expect(res.status).toBe(200);
    expect(res.headers.get("x-demo-version")).toBe("v1");
    await res.arrayBuffer();
  });

  it("sends KServe V2 requests to the KServe cluster", async () => {
    const res = await fetch(`${stack.listenerUrl}/v2/models/iris/ready`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-demo-server")).toBe("iris-v1");
    await res.arrayBuffer();
  });

  it("runs the noop filter from ai-gateway.wasm on routed requests only", async () => {
    const before = (await stats(`^${COUNTER.replace(/\./g, "\\.")}$`)).get(COUNTER) ?? 0;
    expect(before).toBeGreaterThanOrEqual(3);
    const health = await fetch(`${stack.listenerUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("ok\n");
    const after = (await stats(`^${COUNTER.replace(/\./g, "\\.")}$`)).get(COUNTER);
    expect(after).toBe(before);
    expect((await stats("^wasm\\.envoy\\.wasm\\.runtime\\.v8\\.active$")).get("wasm.envoy.wasm.runtime.v8.active")).toBeGreaterThanOrEqual(2);
  });
});
