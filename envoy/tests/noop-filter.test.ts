// The noop filter in a real Envoy: traffic crosses the module to an upstream untouched, the
// module counts it in wasmcustom.noop.requests_total, and it runs on V8. Both modules that carry
// the noop root context (build/noop.wasm and build/ai-gateway.wasm) and both runners.
import { afterAll, describe, expect, it } from "vitest";
import { printEnvoyLogsOnFailure, readTemplate, startEnvoy, startUpstream, type Envoy, type Runner, type Upstream } from "../harness";
import { beforeAllOrFailEach } from "../harness/hooks";

const CASES: { runner: Runner; module: string }[] = [
  { runner: "container", module: "noop.wasm" },
  { runner: "container", module: "ai-gateway.wasm" },
  { runner: "process", module: "noop.wasm" },
  { runner: "process", module: "ai-gateway.wasm" },
];
const COUNTER = "wasmcustom.noop.requests_total";

printEnvoyLogsOnFailure();

describe.each(CASES)("noop filter ($runner, $module)", ({ runner, module }) => {
  let upstream: Upstream;
  let envoy: Envoy;

  beforeAllOrFailEach(async () => {
    upstream = await startUpstream("echo");
    envoy = await startEnvoy({
      runner,
      name: `noop-${runner}-${module}`,
      config: readTemplate("envoy/tests/configs/wasm-filter.yaml"),
      vars: { UPSTREAM_PORT: upstream.port, WASM_FILE: module },
      wasm: [`build/${module}`],
    });
  });

  afterAll(async () => {
    await envoy?.stop();
    await upstream?.close();
  });

  describe("start", () => {
    it("loads the module into V8 VMs", async () => {
      const stats = await envoy.stats("^wasm\\.");
      expect(stats.get("wasm.envoy.wasm.runtime.v8.created")).toBeGreaterThanOrEqual(2);
      // One VM per worker (--concurrency 2) at least.
      expect(stats.get("wasm.envoy.wasm.runtime.v8.active")).toBeGreaterThanOrEqual(2);
      expect(stats.get("wasm.noop.vm_reload_failure") ?? 0).toBe(0);
    });

    it("defines its counter at configure time", async () => {
      expect(await envoy.stat(COUNTER)).toBe(0);
    });

    it("runs with the wasm component logging at debug", () => {
      expect(envoy.logs()).toMatch(/\[debug\]\[wasm\].*Thread-Local Wasm created/);
    });
  });

  describe("request path", () => {
    it("passes a request and its body to the upstream untouched", async () => {
      const before = upstream.requests.length;
      const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-test": "kept" },
        body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-upstream")).toBe("echo");
      const echo = (await res.json()) as { url: string; method: string; headers: Record<string, string>; body: string };
      expect(echo.method).toBe("POST");
      expect(echo.url).toBe("/v1/chat/completions?x=1");
      expect(echo.headers["x-test"]).toBe("kept");
      expect(JSON.parse(echo.body)).toEqual({ model: "llama", messages: [{ role: "user", content: "hi" }] });
      expect(upstream.requests.length).toBe(before + 1);
    });

    it("counts every request in wasmcustom.noop.requests_total", async () => {
      const before = (await envoy.stat(COUNTER)) ?? 0;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${envoy.listenerUrl}/count/${i}`);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(await envoy.waitForStat(COUNTER, before + 5)).toBe(before + 5);
    });

    it("is skipped on a route whose FilterConfig disables it", async () => {
      const before = (await envoy.stat(COUNTER)) ?? 0;
      const res = await fetch(`${envoy.listenerUrl}/bypass/health`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      // The request reached the upstream, and the counter did not move.
      expect(upstream.requests.at(-1)?.url).toBe("/bypass/health");
      const routed = await envoy.waitForStat("cluster.upstream.upstream_rq_total", 1);
      expect(routed).toBeGreaterThan(0);
      expect(await envoy.stat(COUNTER)).toBe(before);
    });
  });
});
