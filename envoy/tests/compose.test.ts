// envoy/docker-compose.yml as users run it, on the host network with local images (CI's only
// changes): Envoy with the model-router filter from ai-gateway.wasm (envoy/envoy.yaml) in front of
// demo model servers, one cluster per model version, after its own health checks found them ready.
// The router picks the version from the request and names its cluster in x-ai-cluster; the
// answering server's x-demo-* headers say which version served it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { addLogSource, composeCommand, h2cRequest, portVariable, printEnvoyLogsOnFailure, socketAddresses, startComposeStack, type ComposeStack } from "../harness";
import { COMPOSE_DIR } from "../harness/compose";
import { parseStats, sumStats } from "../harness/envoy";
import { beforeAllOrFailEach } from "../harness/hooks";
import { identityBucket } from "../../host-tests/model-router/bucket";

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

function chat(model: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${stack.listenerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
}

/** The version envoy.yaml's 90/10 llama split gives an API key (x-ai-tenant is its hash). */
function llamaVersionOf(authorization: string): string {
  return identityBucket("llama", authorization) < 9000 ? "v1" : "v2";
}

/** The sum of the router's counters. */
async function routerCounters(): Promise<number> {
  return [...(await stats("^wasmcustom\\.model_router\\.")).values()].reduce((a, b) => a + b, 0);
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
  // No docker-compose (or no stack) fails each test below with the reason, never skips them.
  beforeAllOrFailEach(async () => {
    stack = await startComposeStack();
    addLogSource(`compose ${stack.project}`, () => stack.logs());
    // Envoy is up, and its health checks found every model version ready.
    await eventually("every cluster healthy", async () => {
      const s = await stats("membership_healthy$");
      const clusters = Object.keys(stack.upstreams);
      return clusters.every((c) => s.get(`cluster.${c}.membership_healthy`) === 1) ? true : undefined;
    });
    // ...and warmup-health's first probes (and llama v2's warmup) found them ready: until then the
    // router knows no ready version.
    // ...and ramped in: a version whose first probe failed (its container started after Envoy's)
    // takes its share back over ramp_ms, meanwhile sending the rest to its fallback.
    await eventually("warmup-health reports every version ready and ramped in", async () => {
      for (const version of ["llama/v1", "llama/v2", "iris/v1"]) {
        const res = await fetch(`${stack.listenerUrl}/ai-gateway/health/${version}`);
        const body = (await res.json()) as { versions?: Array<{ ramp?: number }> };
        if (res.status !== 200 || !body.versions?.length || !body.versions.every((v) => v.ramp === 1)) return undefined;
      }
      return true;
    });
    // Every worker's router reads the records again within health_refresh_ms (1 s): its own view,
    // GET /v1/models, shows every version ready with ramp 1 in 8 answers in a row, each on a new
    // connection (so on any of Envoy's workers).
    let inRow = 0;
    await eventually("every worker's router sees every version ready and ramped in", async () => {
      const res = await h2cRequest(stack.listenerUrl, { path: "/v1/models" });
      const list = JSON.parse(res.text) as { data?: { versions?: { ready?: boolean; ramp?: number }[] }[] };
      const versions = (list.data ?? []).flatMap((m) => m.versions ?? []);
      const ready = res.status === 200 && versions.length === 3 && versions.every((v) => v.ready === true && v.ramp === 1);
      inRow = ready ? inRow + 1 : 0;
      return inRow >= 8 ? true : undefined;
    }, 15_000);
  });

  afterAll(async () => {
    await stack?.down();
  });

  it("routes a body-named model by the sticky split: the same version for an API key, every time", async () => {
    // scripts/demo.sh shows these two keys: one on each side of the split.
    expect([llamaVersionOf("Bearer sk-alice"), llamaVersionOf("Bearer sk-carol")]).toEqual(["v1", "v2"]);
    for (const [key, version] of [["sk-alice", "v1"], ["sk-carol", "v2"]]) {
      for (let i = 0; i < 3; i++) {
        const res = await chat("llama", { authorization: `Bearer ${key}` });
        expect(res.status).toBe(200);
        expect(res.headers.get("x-demo-server")).toBe(`llama-${version}`);
        expect(res.headers.get("x-demo-model")).toBe("llama");
        expect(res.headers.get("x-demo-version")).toBe(version);
        // The body's model is rewritten to the name the version's server expects.
        expect(res.headers.get("x-demo-body-model")).toBe(`llama-${version}`);
        expect(JSON.parse(res.headers.get("x-demo-seen-ai-headers")!)).toEqual({
          "x-ai-cluster": `llama-${version}`,
          "x-ai-model": "llama",
          "x-ai-model-version": version,
          "x-ai-tenant": createHash("sha256").update(`Bearer ${key}`).digest("hex").slice(0, 16),
        });
        const body = (await res.json()) as { choices: unknown[]; model: string };
        expect(body.choices.length).toBe(1);
        expect(body.model).toBe(`llama-${version}`);
      }
    }
  });

  it("honours an explicit version or alias, and removes a client's own x-ai-cluster", async () => {
    for (const [res, server] of [
      [await chat("llama@v2"), "llama-v2"],
      [await chat("llama", { authorization: "Bearer sk-alice", "x-model-version": "canary" }), "llama-v2"],
      [await chat("llama@stable", { "x-ai-cluster": "llama-v2" }), "llama-v1"],
    ] as const) {
      expect([res.status, res.headers.get("x-demo-server")]).toEqual([200, server]);
      await res.arrayBuffer();
    }
  });

  it("routes a KServe V2 request by its path", async () => {
    const res = await fetch(`${stack.listenerUrl}/v2/models/iris/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "x", shape: [2], datatype: "FP32", data: [1, 2] }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-demo-server")).toBe("iris-v1");
    expect(JSON.parse(res.headers.get("x-demo-seen-ai-headers")!)).toMatchObject({ "x-ai-cluster": "iris-v1", "x-ai-model": "iris", "x-ai-model-version": "v1" });
    const body = (await res.json()) as { outputs: { name: string; data: number[] }[] };
    expect(body.outputs.find((o) => o.name === "sum")?.data).toEqual([3]);
  });

  it("answers GET /v1/models in the router, with versions and readiness", async () => {
    const res = await fetch(`${stack.listenerUrl}/v1/models`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-demo-server")).toBeNull();
    const list = (await res.json()) as { object: string; data: { id: string; ready: boolean; versions: { id: string; ready: boolean; weight: number }[] }[] };
    expect(list.object).toBe("list");
    expect(list.data.map((m) => [m.id, m.ready, m.versions.map((v) => [v.id, v.ready, v.weight])])).toEqual([
      ["llama", true, [["v1", true, 90], ["v2", true, 10]]],
      ["iris", true, [["v1", true, 100]]],
    ]);
  });

  it("answers an unknown model with a 404 in OpenAI's error format", async () => {
    const res = await chat("gpt-4o");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-demo-server")).toBeNull();
    expect(await res.json()).toEqual({ error: { message: "The model 'gpt-4o' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found" } });
  });

  it("counts routed requests in the router's stats, and skips the router on /healthz", async () => {
    const s = await stats("^wasmcustom\\.model_router\\.");
    expect(sumStats(s, "wasmcustom.model_router.requests.model=llama.version=v2")).toBeGreaterThanOrEqual(5);
    expect(sumStats(s, "wasmcustom.model_router.requests.model=iris.version=v1")).toBeGreaterThanOrEqual(1);
    expect(s.get("wasmcustom.model_router.errors.kind=model_not_found")).toBeGreaterThanOrEqual(1);
    const before = await routerCounters();
    const health = await fetch(`${stack.listenerUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("ok\n");
    expect(await routerCounters()).toBe(before);
    expect((await stats("^wasm\\.envoy\\.wasm\\.runtime\\.v8\\.active$")).get("wasm.envoy.wasm.runtime.v8.active")).toBeGreaterThanOrEqual(2);
  });
});
