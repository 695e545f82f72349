// warmup-health in the host emulator, on a fake clock with fake model servers
// (host-tests/warmup-health/server.ts), every test in both forms (its own filter entry and the
// ai-gateway pipeline): configuration and the canary, every transition, hysteresis, warmup, the
// ramp, probe timeouts and bad answers, the lease across several workers of one Envoy (one
// prober, handover when it stops, late answers of an old holder dropped), the health endpoints on
// every worker, and model-router routing by what warmup-health publishes. Tests assert on what the
// servers, the client, shared data, the stats and the logs see.
import { beforeEach, describe, expect, it } from "vitest";
import { Host, type Plugin, type RequestResult, type Vm } from "./emulator";
import { decodeHealthRecord, encodeHealthRecord, healthKey } from "./model-router/health-record";
import { stickyBucket } from "./model-router/bucket";
import { decodeLease, decodeTarget, encodeLease, LEASE_KEY_PREFIX, targetKey } from "./warmup-health/records";
import { FakeServer } from "./warmup-health/server";

const VM_ID = "ai-gateway";
type Form = "separate" | "pipeline";
const FORMS: Form[] = ["separate", "pipeline"];
type Json = Record<string, any>;

/** Short timings so that a test covers many intervals in little fake time. */
const TIMING = { tick_ms: 100, lease_ms: 300, interval_ms: 1000, timeout_ms: 500, unhealthy_threshold: 3, healthy_threshold: 2, ramp_ms: 10_000 };
const WARMUP = { requests: [{ path: "/v1/completions", body: { model: "llama", prompt: "hi", max_tokens: 1 }, count: 3 }], max_latency_ms: 200, timeout_ms: 1000 };

function healthEntry(form: Form, config: Json): { wasm: string; rootId: string; configuration: string } {
  if (form === "separate") return { wasm: "build/warmup-health.wasm", rootId: "warmup-health", configuration: JSON.stringify(config) };
  return { wasm: "build/ai-gateway.wasm", rootId: "ai-gateway", configuration: JSON.stringify({ warmup_health: config }) };
}

interface Setup {
  host: Host;
  vms: Vm[];
  plugins: Plugin[];
  start: number;
}

/** `workers` VMs of one vm_id (one Envoy with that many workers), each running the filter. */
async function setup(form: Form, config: Json, workers = 1, host = new Host()): Promise<Setup> {
  const entry = healthEntry(form, config);
  const vms: Vm[] = [];
  const plugins: Plugin[] = [];
  for (let i = 0; i < workers; i++) {
    const vm = await host.loadVm(entry.wasm, { vmId: VM_ID, name: `worker${i + 1}` });
    const plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, allowOnHeadersStopIteration: true, canary: true });
    expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
    vms.push(vm);
    plugins.push(plugin);
  }
  return { host, vms, plugins, start: host.now };
}

const target = (host: Host, model: string, version: string, cluster: string) => {
  const v = host.sharedData.get(targetKey(model, version, cluster), VM_ID);
  return v === undefined ? null : decodeTarget(v.bytes);
};
const version = (host: Host, model: string, v: string) => {
  const value = host.sharedData.get(healthKey(model, v), VM_ID);
  return value === undefined ? null : decodeHealthRecord(value.bytes);
};
const at = (s: Setup, ms: number) => s.host.advanceTo(s.start + ms);
const leaseOf = (host: Host) => {
  const key = host.sharedData.keys(VM_ID).find((k) => k.startsWith(LEASE_KEY_PREFIX))!;
  return { key, lease: decodeLease(host.sharedData.get(key, VM_ID)!.bytes) };
};
const errors = (host: Host) => host.logs({ minLevel: "warn" }).filter((l) => l.source !== "emulator");

for (const form of FORMS) {
  describe(`warmup-health (${form} form)`, () => {
    describe("configure", () => {
      it.each([
        [{ targets: [{ model: "llama", version: "v1", cluster: "c", probe: { kind: "sglang" } }] },
          'targets[0].probe.kind: expected one of kserve-v2, triton, mlserver, vllm, tgi, llama-cpp, torchserve, ollama, openai, custom, got "sglang"'],
        [{ ...TIMING, tick_ms: 150, lease_ms: 250 }, "lease_ms: expected at least twice tick_ms (300), got 250"],
        [{}, "targets: expected a list of 1 to 256 targets, got nothing"],
      ])("refuses %j with one critical line, also in Envoy's canary", async (config, message) => {
        const entry = healthEntry(form, config);
        for (const canary of [false, true]) {
          const host = new Host();
          const vm = await host.loadVm(entry.wasm, { vmId: VM_ID });
          const plugin = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, canary });
          expect(plugin.configured).toBe(false);
          const lines = errors(host);
          expect(lines).toHaveLength(1);
          expect(lines[0].level).toBe("critical");
          expect(lines[0].message).toBe(form === "separate" ? `warmup-health: ${message}` : `ai-gateway: warmup_health.${message}`);
          // Nothing is published or armed for a configuration that is refused.
          expect(host.sharedData.keys(VM_ID)).toEqual([]);
          host.advance(5000);
          expect(host.httpCallLog).toEqual([]);
          expect(host.traps).toEqual([]);
        }
      });

      it("publishes unknown at once and probes only from ticks, never in the configuration canary", async () => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1");
        const s = await setup(form, { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] }, 1, host);
        expect(s.plugins[0].canaryConfigured).toBe(true);
        expect(host.httpCallLog).toEqual([]);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "unknown", ramp: 0, since: 0n, reason: "not probed yet" });
        // Published at configure, the record stands a lease and a tick (a configuration Envoy
        // rejects after configure never renews it); the first tick renews it for the full window,
        // three leases and ticks.
        expect(version(host, "llama", "v1")).toEqual({ state: "unknown", sinceMs: 0n, rampPermyriad: 0, reason: "not probed yet", freshUntilMs: BigInt(host.now + TIMING.lease_ms + TIMING.tick_ms) });
        expect(host.metric("warmup_health.target_state.model=llama.version=v1.cluster=llama-v1.state=unknown")).toBe(1);
        at(s, 99);
        expect(server.calls).toEqual([]);
        at(s, 100);
        expect(server.paths()).toEqual(["GET /health"]);
        expect(version(host, "llama", "v1")!.freshUntilMs).toBe(BigInt(host.now + 3 * (TIMING.lease_ms + TIMING.tick_ms)));
        expect(host.httpCallLog[0].request).toMatchObject({ cluster: "llama-v1", method: "GET", path: "/health", authority: "llama-v1", timeoutMs: 500 });
        expect(errors(host)).toEqual([]);
      });

      it("keeps records another worker or an earlier configuration published", async () => {
        const host = new Host();
        new FakeServer(host, "llama-v1").mode = "ready";
        const config = { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] };
        const s = await setup(form, config, 1, host);
        at(s, 100);
        expect(target(host, "llama", "v1", "llama-v1")!.state).toBe("ready");
        const later = await host.loadVm(healthEntry(form, config).wasm, { vmId: VM_ID });
        later.startPlugin({ rootId: healthEntry(form, config).rootId, configuration: healthEntry(form, config).configuration });
        expect(target(host, "llama", "v1", "llama-v1")!.state).toBe("ready");
        expect(version(host, "llama", "v1")!.state).toBe("ready");
      });
    });

    describe("transitions", () => {
      let s: Setup;
      let server: FakeServer;
      beforeEach(async () => {
        const host = new Host();
        server = new FakeServer(host, "llama-v2");
        s = await setup(form, {
          ...TIMING,
          targets: [
            { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "tgi" }, warmup: WARMUP },
          ],
        }, 1, host);
      });

      it("goes unknown → loading → warming → ready, warming up back to back under the bound", () => {
        const { host } = s;
        at(s, 100);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "loading", since: BigInt(s.start + 100), reason: "GET /health: status 503" });
        expect(version(host, "llama", "v2")).toMatchObject({ state: "loading", rampPermyriad: 0, reason: "GET /health: status 503" });
        at(s, 1099);
        expect(server.calls).toHaveLength(1);

        server.mode = "ready";
        server.warmupDelayMs = 50;
        at(s, 1100);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "warming", since: BigInt(s.start + 1100), warmupDone: 0, reason: "ready, warming up: GET /health: status 200" });
        expect(version(host, "llama", "v2")!.state).toBe("warming");
        at(s, 1150);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "warming", warmupDone: 1, latencyMs: 50, reason: "warmup 1 of 3: warmup POST /v1/completions: status 200 in 50 ms" });
        at(s, 1250);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "ready", since: BigInt(s.start + 1250), ramp: 0, reason: "warmed up: 3 of 3 requests within 200 ms" });
        expect(version(host, "llama", "v2")).toMatchObject({ state: "ready", sinceMs: BigInt(s.start + 1250), rampPermyriad: 0 });

        expect(server.paths()).toEqual(["GET /health", "GET /health", "POST /v1/completions", "POST /v1/completions", "POST /v1/completions"]);
        const warmup = server.calls[2];
        expect(JSON.parse(warmup.body)).toEqual(WARMUP.requests[0].body);
        expect(warmup.headers["content-type"]).toBe("application/json");
        expect(host.histogram("warmup_health.warmup_ms")).toEqual([150]);
        expect(host.metric("warmup_health.transitions.to=loading")).toBe(1);
        expect(host.metric("warmup_health.transitions.to=warming")).toBe(1);
        expect(host.metric("warmup_health.transitions.to=ready")).toBe(1);
        expect(host.metric("warmup_health.warmup_requests.result=ok")).toBe(3);
        expect(host.metric("warmup_health.probe_failures.reason=status")).toBe(1);
        expect(host.metric("warmup_health.probe_successes")).toBe(1);
        expect(host.metric("warmup_health.target_state.model=llama.version=v2.cluster=llama-v2.state=ready")).toBe(1);
        expect(host.metric("warmup_health.target_state.model=llama.version=v2.cluster=llama-v2.state=loading")).toBe(0);
        expect(host.logs({ contains: "llama/v2@llama-v2 warming -> ready" })).toHaveLength(1);
        // Probed every interval after that, at the first tick it is due.
        at(s, 2299);
        expect(server.paths(s.start + 1251)).toEqual([]);
        at(s, 2300);
        expect(server.paths(s.start + 1251)).toEqual(["GET /health"]);
      });

      it("ramps the version in over ramp_ms, published at each tick", () => {
        const { host } = s;
        at(s, 100);
        server.mode = "ready";
        at(s, 1100);
        // The warmup answers at once: ready at 1100.
        expect(target(host, "llama", "v2", "llama-v2")!.state).toBe("ready");
        const ramps: number[] = [];
        for (const t of [1100, 1200, 3600, 6100, 11_000, 11_100, 20_000]) {
          at(s, t);
          ramps.push(version(host, "llama", "v2")!.rampPermyriad);
        }
        expect(ramps).toEqual([0, 100, 2500, 5000, 9900, 10_000, 10_000]);
        expect(host.metric("warmup_health.ramp.model=llama.version=v2.cluster=llama-v2")).toBe(10_000);
      });

      it("stays warming while warmup requests are slow, and restarts the round after interval_ms", () => {
        const { host } = s;
        server.mode = "ready";
        server.warmupDelayMs = 300;
        at(s, 400);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "warming", warmupDone: 0, failures: 0, reason: "warmup POST /v1/completions: 300 ms, over max_latency_ms 200" });
        expect(server.paths()).toEqual(["GET /health", "POST /v1/completions"]);
        server.warmupDelayMs = 20;
        at(s, 1399);
        expect(server.calls).toHaveLength(2);
        at(s, 1460);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "ready", since: BigInt(s.start + 1460) });
        expect(host.metric("warmup_health.warmup_requests.result=slow")).toBe(1);
        expect(host.histogram("warmup_health.warmup_ms")).toEqual([1360]);
      });

      it("goes back to loading after unhealthy_threshold failed warmup requests", () => {
        const { host } = s;
        server.mode = "ready";
        server.warmupStatus = 500;
        at(s, 100);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "warming", failures: 1, reason: "failure 1 of 3: warmup POST /v1/completions: status 500" });
        at(s, 2100);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "loading", since: BigInt(s.start + 2100), reason: "warmup POST /v1/completions: status 500" });
        expect(host.metric("warmup_health.warmup_requests.result=status")).toBe(3);
        // Loading again: a readiness probe first, then (it passes) a new warmup round.
        at(s, 3100);
        expect(server.paths(s.start + 2101)).toEqual(["GET /health", "POST /v1/completions"]);
      });
    });

    describe("hysteresis", () => {
      let s: Setup;
      let server: FakeServer;
      beforeEach(async () => {
        const host = new Host();
        server = new FakeServer(host, "iris-1");
        server.mode = "ready";
        s = await setup(form, { ...TIMING, targets: [{ model: "iris", version: "1", cluster: "iris-1", probe: { kind: "kserve-v2", upstream_version: "1" } }] }, 1, host);
        at(s, 100);
      });

      it("is ready at once, fully ramped, when the first probe passes (the server was already serving)", () => {
        expect(target(s.host, "iris", "1", "iris-1")).toMatchObject({ state: "ready", ramp: 10_000, reason: "GET /v2/models/iris/versions/1/ready: status 200" });
        expect(version(s.host, "iris", "1")).toMatchObject({ state: "ready", rampPermyriad: 10_000 });
        expect(server.paths()).toEqual(["GET /v2/models/iris/versions/1/ready"]);
      });

      it("leaves ready after unhealthy_threshold failures in a row, and comes back after healthy_threshold passes with a new ramp", () => {
        const { host } = s;
        server.mode = "failing";
        at(s, 1100);
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "ready", failures: 1, reason: "failure 1 of 3: GET /v2/models/iris/versions/1/ready: status 500" });
        expect(version(host, "iris", "1")!.state).toBe("ready");
        at(s, 2100);
        expect(target(host, "iris", "1", "iris-1")!.state).toBe("ready");
        at(s, 3100);
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "failing", since: BigInt(s.start + 3100), ramp: 0 });
        expect(version(host, "iris", "1")).toMatchObject({ state: "failing", rampPermyriad: 0 });

        server.mode = "ready";
        at(s, 4100);
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "failing", successes: 1, reason: "pass 1 of 2: GET /v2/models/iris/versions/1/ready: status 200" });
        server.mode = "loading";
        at(s, 5100);
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "failing", successes: 0 });
        server.mode = "ready";
        at(s, 7100);
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "ready", since: BigInt(s.start + 7100), ramp: 0 });
        at(s, 12_100);
        expect(version(host, "iris", "1")!.rampPermyriad).toBe(5000);
        expect(host.metric("warmup_health.transitions.to=failing")).toBe(1);
        expect(host.metric("warmup_health.transitions.to=ready")).toBe(2);
        expect(host.metric("warmup_health.probe_failures.reason=status")).toBe(4);
      });

      it("a pass resets the failure count", () => {
        const { host } = s;
        for (const [t, mode] of [[1100, "failing"], [2100, "failing"], [3100, "ready"], [4100, "failing"], [5100, "failing"]] as const) {
          server.mode = mode;
          at(s, t);
        }
        expect(target(host, "iris", "1", "iris-1")).toMatchObject({ state: "ready", failures: 2 });
      });
    });

    describe("timeouts and bad answers", () => {
      it("gives every probe a timeout and never has two in flight for a target", async () => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1");
        server.mode = "hang";
        const s = await setup(form, { ...TIMING, timeout_ms: 2500, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] }, 1, host);
        at(s, 2599);
        expect(server.calls).toHaveLength(1);
        expect(target(host, "llama", "v1", "llama-v1")!.state).toBe("unknown");
        at(s, 2600);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", latencyMs: 2500, reason: "GET /health: no answer within 2500 ms" });
        expect(host.httpCallLog.map((c) => c.outcome)).toEqual(["timeout"]);
        at(s, 3599);
        expect(server.calls).toHaveLength(1);
        at(s, 3600);
        expect(server.calls).toHaveLength(2);
        expect(host.metric("warmup_health.probe_failures.reason=timeout")).toBe(1);
      });

      // Envoy's own replies to a call are told from a server's answers by their bodies.
      const ANSWERS: Array<[string, { status: number; body: string; delayMs?: number }, number, string, string, string | null]> = [
        // Envoy's timers fire against its event loop's cached time: its timeout reply can come early.
        ["counts Envoy's own 504 as a timeout when it comes a little before the timeout by the module's clock",
          { status: 504, body: "upstream request timeout", delayMs: 497 }, 600, "GET /health: no answer within 500 ms", "timeout", "status"],
        // What Envoy 1.40 answers a call whose upstream sent bytes its codec cannot parse.
        ["counts Envoy's own 502 for an answer that is not HTTP as a reset, not as the server's status",
          { status: 502, body: "upstream connect error or disconnect/reset before headers. reset reason: protocol error" }, 100,
          "GET /health: connection failed or reset", "reset", "status"],
        ["keeps a server's own 502 a status", { status: 502, body: '{"error":"bad gateway"}' }, 100, "GET /health: status 502", "status", null],
      ];
      it.each(ANSWERS)("%s", async (_name, answer, ms, reason, counted, notCounted) => {
        const host = new Host();
        host.addCluster("llama-v1", () => answer);
        const s = await setup(form, { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] }, 1, host);
        at(s, ms);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", reason });
        expect(host.metric("warmup_health.probe_failures.reason=" + counted)).toBe(1);
        if (notCounted !== null) expect(host.metric("warmup_health.probe_failures.reason=" + notCounted)).toBe(0);
      });

      it("fails a probe on a reset and on a cluster Envoy does not know", async () => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1");
        server.mode = "reset";
        const s = await setup(form, { ...TIMING, targets: [
          { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } },
          { model: "llama", version: "v2", cluster: "nowhere", probe: { kind: "tgi" } },
        ] }, 1, host);
        at(s, 100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", reason: "GET /health: connection failed or reset" });
        expect(target(host, "llama", "v2", "nowhere")).toMatchObject({ state: "loading", reason: "GET /health: refused by Envoy (unknown cluster or no healthy host)" });
        expect(host.metric("warmup_health.probe_failures.reason=reset")).toBe(1);
        expect(host.metric("warmup_health.probe_failures.reason=refused")).toBe(1);
        // A refused call is retried at the next interval, not at every tick.
        at(s, 1099);
        expect(host.metric("warmup_health.probe_failures.reason=refused")).toBe(1);
      });

      it("fails a probe whose second request Envoy refuses, and probes again at the next interval", async () => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1");
        server.mode = "ready";
        const s = await setup(form, { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "vllm" } }] }, 1, host);
        // The cluster goes away while its first request is answered (e.g. a CDS update).
        host.addCluster("llama-v1", () => {
          host.removeCluster("llama-v1");
          return { status: 200 };
        });
        at(s, 100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", reason: "GET /v1/models: refused by Envoy (unknown cluster or no healthy host)" });
        const back = new FakeServer(host, "llama-v1");
        back.mode = "ready";
        at(s, 1100);
        expect(back.paths()).toEqual(["GET /health", "GET /v1/models"]);
        expect(target(host, "llama", "v1", "llama-v1")!.state).toBe("ready");
      });

      it.each([
        ["garbage", "bad-body", "GET /v1/models: body is not JSON (unexpected end of input at byte 24)"],
        ["huge", "body-too-large", "GET /v1/models: body of 4194304 bytes, over max_response_bytes 1048576"],
      ] as const)("fails a probe on a %s model list without trapping", async (mode, reason, detail) => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1");
        server.mode = mode;
        const s = await setup(form, { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "vllm" } }] }, 1, host);
        at(s, 100);
        expect(server.paths()).toEqual(["GET /health", "GET /v1/models"]);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", reason: detail });
        expect(host.metric(`warmup_health.probe_failures.reason=${reason}`)).toBe(1);
        expect(host.traps).toEqual([]);
        server.mode = "ready";
        at(s, 1100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "ready", reason: 'GET /v1/models: lists "llama"' });
      });

      it("fails a probe whose model list lacks the model", async () => {
        const host = new Host();
        const server = new FakeServer(host, "llama-v1", ["other"]);
        server.mode = "ready";
        const s = await setup(form, { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "openai", headers: { authorization: "Bearer k" } } }] }, 1, host);
        at(s, 100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "loading", reason: 'GET /v1/models: "llama" is not listed' });
        expect(server.calls[0].headers.authorization).toBe("Bearer k");
      });
    });

    describe("one prober per Envoy", () => {
      const CONFIG = { ...TIMING, targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] };
      let s: Setup;
      let server: FakeServer;
      beforeEach(async () => {
        const host = new Host();
        server = new FakeServer(host, "llama-v1");
        server.mode = "ready";
        s = await setup(form, CONFIG, 3, host);
      });

      it("probes from one worker only, every worker ticking", () => {
        at(s, 10_100);
        expect(server.calls).toHaveLength(11);
        expect(new Set(server.calls.map((c) => c.vm))).toEqual(new Set(["worker1"]));
        const { lease } = leaseOf(s.host);
        expect(lease!.expires).toBe(BigInt(s.start + 10_100 + 300));
        expect(s.host.metric("warmup_health.lease_takeovers")).toBe(0);
        expect(s.host.metric("warmup_health.probe_successes")).toBe(11);
      });

      it.each([
        ["its VM closes", (x: Setup) => x.vms[0].close()],
        ["its root is torn down (its ticks stop)", (x: Setup) => void x.plugins[0].teardown()],
      ])("hands over when the prober stops: %s", (_name, stop) => {
        const { host } = s;
        at(s, 1100);
        server.mode = "failing";
        at(s, 2100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "ready", failures: 1 });
        stop(s);
        // The lease was renewed at 2100 and lasts 300 ms: worker2 takes it at its tick at 2400.
        at(s, 2399);
        expect(server.calls).toHaveLength(3);
        at(s, 3100);
        // The new prober goes on from the record: the second failure in a row, not a new start.
        expect(server.calls.slice(3).map((c) => c.vm)).toEqual(["worker2"]);
        expect(server.calls[3].at).toBe(s.start + 3100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "ready", failures: 2, since: BigInt(s.start + 100) });
        expect(leaseOf(host).lease!.expires).toBe(BigInt(s.start + 3100 + 300));
        at(s, 4100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "failing", since: BigInt(s.start + 4100) });
        expect(host.metric("warmup_health.lease_takeovers")).toBe(1);
        expect(host.logs({ contains: "this worker probes now", vm: "worker2" })).toHaveLength(1);
        expect(errors(host)).toEqual([]);
      });

      /** A host whose llama-v2 server is ready, and a configuration probing it (`one`). */
      function oneTarget() {
        const host = new Host();
        const srv = new FakeServer(host, "llama-v2");
        srv.mode = "ready";
        const one = { ...TIMING, targets: [{ model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "tgi" } }] };
        return { host, srv, one };
      }

      it("probes a target that two configurations list from one of them only, and the other takes it over once that one stops", async () => {
        const { host, srv, one } = oneTarget();
        // Two listeners' entries with other probing settings (so two leases): one interval each.
        const first = await setup(form, one, 1, host);
        await setup(form, { ...one, interval_ms: 700 }, 1, host);
        at(first, 5_100);
        // The first configuration ticked first and took the target: its 1000 ms interval alone.
        expect(srv.calls.map((c) => c.at - first.start)).toEqual([100, 1100, 2100, 3100, 4100, 5100]);
        expect(host.logs({ contains: "is probed by another configuration" })).toHaveLength(1);
        void first.plugins[0].teardown();
        // Its lease (renewed at 5100, 300 ms) lapses; the second takes the target at its next tick,
        // probes at once, and goes on from the record at its own interval.
        at(first, 8_000);
        expect(srv.calls.map((c) => c.at - first.start)).toEqual([100, 1100, 2100, 3100, 4100, 5100, 5400, 6100, 6800, 7500]);
        expect(host.logs({ contains: "is probed by this configuration now" })).toHaveLength(1);
        expect(target(host, "llama", "v2", "llama-v2")).toMatchObject({ state: "ready", failures: 0 });
        expect(errors(host)).toEqual([]);
      });

      it("lets a configuration configured later (an update's new one) take a target over at once, and the older leave it", async () => {
        const { host, srv, one } = oneTarget();
        const old = await setup(form, one, 1, host);
        at(old, 2_150);
        // The update: a new configuration (another interval) while the old one is still draining.
        await setup(form, { ...one, interval_ms: 700 }, 1, host);
        at(old, 5_000);
        // The old one probed at 100, 1100 and 2100; the new one took over at its first tick (2250,
        // a tick after it was configured), probed at once, then every 700 ms; the old one sent
        // nothing more, though its lease lives.
        expect(srv.calls.map((c) => c.at - old.start)).toEqual([100, 1100, 2100, 2250, 2950, 3650, 4350]);
        expect(host.logs({ contains: "is probed by another configuration" })).toHaveLength(1);
        expect(leaseOf(host).lease).not.toBeNull();
        expect(errors(host)).toEqual([]);
      });

      it("keeps a version's record written when the configuration holding it lost its targets to one it ties with (same configured ms) in a handover race", async () => {
        const { host, srv, one } = oneTarget();
        // Two entries configured in the same millisecond (one Envoy starting both listeners):
        // neither is newer. The second ticks at 150, 450, 750, ... alone.
        const h = await setup(form, one, 1, host);
        await setup(form, { ...one, tick_ms: 150 }, 1, host);
        const ownerKey = "aigw/warmup-health/owner/llama/v2@llama-v2";
        const versionOwnerKey = "aigw/warmup-health/version-owner/llama/v2";
        at(h, 1_000);
        const first = host.sharedData.get(versionOwnerKey, VM_ID)!.value;
        expect(host.sharedData.get(ownerKey, VM_ID)!.value).toBe(first);
        const firstLease = "aigw/warmup-health/lease/" + first;
        // The first configuration's holder stalls (its lease lapses at 1050, when only the second
        // ticks); its other worker renews it while the second's tick is between the target and
        // the version (Envoy's workers are threads: a tick is no transaction).
        host.sharedData.set(firstLease, encodeLease({ holder: 42n, expires: BigInt(h.start + 1_050) }), { vmId: VM_ID });
        const remove = host.sharedData.onGuestSet((set) => {
          if (set.key !== ownerKey || new TextDecoder().decode(set.value) === first) return;
          host.sharedData.set(firstLease, encodeLease({ holder: 42n, expires: BigInt(h.start + 1_400) }), { vmId: VM_ID });
          remove();
        });
        at(h, 6_000);
        // Both configurations live, the target probed all along, and its version's record must
        // still stand: the router would read it as absent (absent_state_ready) otherwise.
        expect(srv.calls.filter((c) => c.at - h.start > 1_400).length).toBeGreaterThan(3);
        const v = version(host, "llama", "v2")!;
        expect(v.state).toBe("ready");
        expect(v.freshUntilMs! > BigInt(host.now)).toBe(true);
        expect(host.sharedData.get(versionOwnerKey, VM_ID)!.value).toBe(host.sharedData.get(ownerKey, VM_ID)!.value);
      });

      it("names the configuration that won an owner key when this one loses the compare-and-swap of its claim", async () => {
        const { host, one } = oneTarget();
        const other = "0123456789abcdef";
        // Another configuration's prober writes the key between this one's read and its write.
        host.sharedData.injectCasConflict({ key: "aigw/warmup-health/owner/llama/v2@llama-v2", value: other });
        const s2 = await setup(form, one, 1, host);
        at(s2, 100);
        const probed = host.logs({ contains: "is probed by another configuration" }).map((l) => l.message);
        expect.soft(probed).toHaveLength(1);
        expect.soft(probed[0]).toContain(`(lease ${other})`);
        // That one has no lease: this one takes the target at its next tick, and the version then.
        host.sharedData.injectCasConflict({ key: "aigw/warmup-health/version-owner/llama/v2", value: other });
        at(s2, 200);
        const written = host.logs({ contains: "record is written by another configuration" }).map((l) => l.message);
        expect.soft(written).toHaveLength(1);
        expect.soft(written[0]).toContain(`(lease ${other})`);
        expect(errors(host)).toEqual([]);
      });

      it("drops an answer that arrives after the lease moved, and stops probing", () => {
        const { host } = s;
        at(s, 100);
        server.probeDelayMs = 50;
        server.mode = "failing";
        at(s, 1100);
        // Another Envoy-side holder (as a worker whose tick came first) takes the lease meanwhile.
        const { key } = leaseOf(host);
        host.sharedData.set(key, encodeLease({ holder: 42n, expires: BigInt(s.start + 5000) }), { vmId: VM_ID });
        at(s, 1150);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "ready", failures: 0, checked: BigInt(s.start + 100) });
        expect(host.metric("warmup_health.probe_failures.reason=status")).toBe(0);
        at(s, 4999);
        expect(server.calls).toHaveLength(2);
        // Expired: one of the workers takes over and probes at once (the probe is overdue).
        at(s, 5000);
        expect(server.calls).toHaveLength(3);
        expect(host.metric("warmup_health.lease_takeovers")).toBe(1);
      });

      it("applies an answer onto the record as stored when another writer raced it", () => {
        const { host } = s;
        at(s, 100);
        server.mode = "failing";
        host.sharedData.injectCasConflict({ key: targetKey("llama", "v1", "llama-v1"), times: 2 });
        at(s, 1100);
        expect(target(host, "llama", "v1", "llama-v1")).toMatchObject({ state: "ready", failures: 1, checked: BigInt(s.start + 1100) });
      });

      it("lets every worker answer the endpoints from shared data", async () => {
        at(s, 100);
        const answers = await Promise.all(s.plugins.map((p) => p.request({ path: "/ai-gateway/health/llama/v1" })));
        expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
        expect(new Set(answers.map((r) => r.response!.body)).size).toBe(1);
      });
    });

    describe("endpoints", () => {
      let s: Setup;
      beforeEach(async () => {
        const host = new Host();
        new FakeServer(host, "llama-v1").mode = "ready";
        new FakeServer(host, "llama-v2");
        s = await setup(form, { ...TIMING, targets: [
          { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } },
          { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "vllm" }, warmup: WARMUP },
          { model: "org/m", version: "a", cluster: "llama-v1", probe: { kind: "tgi" } },
        ] }, 2, host);
        at(s, 100);
      });
      const get = (path: string, method = "GET", worker = 1): Promise<RequestResult> => s.plugins[worker].request({ method, path });

      it("answers GET /ai-gateway/health with every version and target", async () => {
        const r = await get("/ai-gateway/health");
        expect(r.status).toBe(200);
        expect(r.localResponse).toMatchObject({ sentBy: form === "separate" ? "warmup-health" : "ai-gateway", details: "warmup_health.health" });
        expect(r.response!.headers["content-type"]).toBe("application/json");
        expect(r.response!.headers["cache-control"]).toBe("no-store");
        expect(r.upstreamRequest).toBeUndefined();
        const t = s.start + 100;
        const iso = new Date(t).toISOString();
        expect(JSON.parse(r.response!.body)).toEqual({
          versions: [
            { model: "llama", version: "v1", state: "ready", ready: true, ramp: 1, since: iso, since_ms: t, reason: "GET /health: status 200" },
            { model: "llama", version: "v2", state: "loading", ready: false, ramp: 0, since: iso, since_ms: t, reason: "GET /health: status 503" },
            { model: "org/m", version: "a", state: "ready", ready: true, ramp: 1, since: iso, since_ms: t, reason: "GET /health: status 200" },
          ],
          targets: [
            { model: "llama", version: "v1", cluster: "llama-v1", probe: "tgi", state: "ready", ready: true, ramp: 1, since: iso, since_ms: t, reason: "GET /health: status 200", latency_ms: 0, checked: iso, checked_ms: t },
            { model: "llama", version: "v2", cluster: "llama-v2", probe: "vllm", state: "loading", ready: false, ramp: 0, since: iso, since_ms: t, reason: "GET /health: status 503", latency_ms: 0, checked: iso, checked_ms: t, warmup: { done: 0, of: 3 } },
            { model: "org/m", version: "a", cluster: "llama-v1", probe: "tgi", state: "ready", ready: true, ramp: 1, since: iso, since_ms: t, reason: "GET /health: status 200", latency_ms: 0, checked: iso, checked_ms: t },
          ],
          ready: false,
        });
        expect(s.host.metric("warmup_health.endpoint_requests.status=200")).toBe(1);
      });

      it.each([
        ["/ai-gateway/health/llama", 200, true],
        ["/ai-gateway/health/llama/v1", 200, true],
        ["/ai-gateway/health/llama/v2", 503, false],
        ["/ai-gateway/health/org/m", 200, true],
        ["/ai-gateway/health/org/m/a?probe=k8s", 200, true],
      ])("answers %s with %d", async (path, status, ready) => {
        const r = await get(path);
        expect(r.status).toBe(status);
        expect(JSON.parse(r.response!.body).ready).toBe(ready);
      });

      it("answers 404 for what no target names, 405 for other methods, and HEAD like GET", async () => {
        const missing = await get("/ai-gateway/health/gpt-4o");
        expect(missing.status).toBe(404);
        expect(JSON.parse(missing.response!.body).error.code).toBe("model_not_found");
        expect((await get("/ai-gateway/health/llama/v3")).status).toBe(404);
        const post = await get("/ai-gateway/health", "POST");
        expect(post.status).toBe(405);
        expect(post.response!.headers.allow).toBe("GET, HEAD");
        expect((await get("/ai-gateway/health/llama/v1", "HEAD")).status).toBe(200);
        expect(s.host.metric("warmup_health.endpoint_requests.status=404")).toBe(2);
        expect(s.host.metric("warmup_health.endpoint_requests.status=405")).toBe(1);
      });

      it("passes every other request through untouched", async () => {
        for (const path of ["/ai-gateway/healthz", "/v1/models", "/"]) {
          const r = await s.plugins[0].request({ method: "POST", path, headers: { "content-type": "application/json" }, body: "{}" });
          expect(r.status).toBe(200);
          expect(r.upstreamRequest).toMatchObject({ path, body: "{}" });
          expect(r.localResponse).toBeUndefined();
        }
      });

      it("answers no endpoint with path_prefix \"\"", async () => {
        const host = new Host();
        const quiet = await setup(form, { ...TIMING, path_prefix: "", targets: [{ model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "tgi" } }] }, 1, host);
        const r = await quiet.plugins[0].request({ path: "/ai-gateway/health" });
        expect(r.upstreamRequest?.path).toBe("/ai-gateway/health");
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// model-router and warmup-health together: one VM, both forms (the pipeline with both sections,
// and two entries: warmup-health first, then the router).

describe("model-router with warmup-health", () => {
  const ROUTER = {
    sticky_key: "header",
    sticky_header: "x-session-id",
    health_refresh_ms: 0,
    models: { llama: { versions: { v1: { cluster: "llama-v1", weight: 60 }, v2: { cluster: "llama-v2", weight: 40, fallback: ["v1"] } } } },
  };
  const HEALTH = {
    ...TIMING,
    ramp_ms: 20_000,
    targets: [
      { model: "llama", version: "v1", cluster: "llama-v1", probe: { kind: "vllm" } },
      { model: "llama", version: "v2", cluster: "llama-v2", probe: { kind: "vllm" }, warmup: WARMUP },
    ],
  };
  const KEYS = Array.from({ length: 2000 }, (_, i) => `session-${i}`);

  /**
   * One ai-gateway entry, both servers ready, the router refreshing every 1000 ms; `solo` is a
   * model of the router's own that no warmup-health target writes (the test writes its record),
   * and `soloStatus` sends it a request.
   */
  async function startWithSolo(): Promise<{ host: Host; p: Plugin; soloStatus: () => Promise<number | undefined> }> {
    const host = new Host();
    new FakeServer(host, "llama-v1").mode = "ready";
    new FakeServer(host, "llama-v2").mode = "ready";
    const vm = await host.loadVm("build/ai-gateway.wasm", { vmId: VM_ID });
    const router = { ...ROUTER, health_refresh_ms: 1000, models: { ...ROUTER.models, solo: { versions: { a: { cluster: "solo-a" } } } } };
    const p = vm.startPlugin({ rootId: "ai-gateway", configuration: JSON.stringify({ model_router: router, warmup_health: HEALTH }), allowOnHeadersStopIteration: true, canary: true });
    expect(p.configured).toBe(true);
    const soloStatus = async () => (await p.request({ headers: { "x-model": "solo" } }, { upstream: () => ({ status: 200, body: "{}" }) })).status;
    return { host, p, soloStatus };
  }

  it("arms one tick in one entry: warmup-health's tick_ms, the router's health refresh counted out on it", async () => {
    const { host, p, soloStatus: solo } = await startWithSolo();
    expect(p.root!.tickPeriod).toBe(TIMING.tick_ms);
    const start = host.now;
    expect(await solo()).toBe(200);
    host.sharedData.set(healthKey("solo", "a"), encodeHealthRecord({ state: "failing", sinceMs: BigInt(host.now), rampPermyriad: 0, reason: "test" }), { vmId: VM_ID });
    // warmup-health keeps probing every tick_ms meanwhile; the router's cache waits its 1000 ms.
    host.advanceTo(start + 900);
    expect(version(host, "llama", "v1")!.state).toBe("ready");
    expect(await solo()).toBe(200);
    host.advanceTo(start + 1000);
    expect(await solo()).toBe(503);
    expect(host.traps).toEqual([]);
  });

  it("renews each version record before its deadline, and the router stops obeying a record nobody renews once its deadline passes", async () => {
    const { host, soloStatus: solo } = await startWithSolo();
    const start = host.now;
    const window = 3 * (TIMING.lease_ms + TIMING.tick_ms);
    // The prober renews: long after the first deadline the record still stands, ahead of now.
    host.advanceTo(start + 5 * window);
    const renewed = version(host, "llama", "v1")!;
    expect(renewed.state).toBe("ready");
    expect(renewed.freshUntilMs! > BigInt(host.now)).toBe(true);
    expect(renewed.freshUntilMs! <= BigInt(host.now + window)).toBe(true);
    // A record of a target no configuration probes any more (removed by a reload): failing, and
    // standing 1.5 s.
    const written = host.now;
    host.sharedData.set(healthKey("solo", "a"), encodeHealthRecord({ state: "failing", sinceMs: BigInt(written), rampPermyriad: 0, reason: "test", freshUntilMs: BigInt(written + 1500) }), { vmId: VM_ID });
    host.advanceTo(written + 1000);
    expect(await solo()).toBe(503);
    // Past its deadline, at the router's next refresh: as if there were no record (absent_state_ready).
    host.advanceTo(written + 2000);
    expect(await solo()).toBe(200);
    expect(host.traps).toEqual([]);
  });

  /**
   * The running configuration of the rejected-update tests: the router alone, re-reading health
   * records at every request, with solo/a, which no record names yet (ready: absent_state_ready);
   * `solo` sends it a request, `startHealth` configures warmup-health for solo/a (`form`), its
   * server not up.
   */
  async function soloRouter(form: Form): Promise<{ host: Host; solo: () => Promise<number | undefined>; startHealth: () => Plugin }> {
    const host = new Host();
    const vm = await host.loadVm("build/ai-gateway.wasm", { vmId: VM_ID });
    const router = vm.startPlugin({ rootId: "model-router", configuration: JSON.stringify({ ...ROUTER, models: { solo: { versions: { a: { cluster: "solo-a" } } } } }), allowOnHeadersStopIteration: true, canary: true });
    expect(router.configured).toBe(true);
    const solo = async () => (await router.request({ headers: { "x-model": "solo" } }, { upstream: () => ({ status: 200, body: "{}" }) })).status;
    const entry = healthEntry(form, { ...TIMING, targets: [{ model: "solo", version: "a", cluster: "solo-a", probe: { kind: "tgi" } }] });
    const startHealth = () => {
      const p = vm.startPlugin({ rootId: entry.rootId, configuration: entry.configuration, allowOnHeadersStopIteration: true, canary: true });
      expect(p.configured).toBe(true);
      return p;
    };
    return { host, solo, startHealth };
  }

  for (const form of FORMS) {
    it(`lets a version go within a lease and a tick when the configuration that published it unknown never ticks (Envoy rejected its listener after configure; ${form} form)`, async () => {
      const { host, solo, startHealth } = await soloRouter(form);
      expect(await solo()).toBe(200);
      // An update adds warmup-health for solo/a; Envoy configures it (canary and VM), then rejects
      // the listener for another filter's configuration and tears it down before any tick.
      const published = host.now;
      expect(startHealth().teardown()).toBe(true);
      expect(version(host, "solo", "a")).toMatchObject({ state: "unknown", freshUntilMs: BigInt(published + TIMING.lease_ms + TIMING.tick_ms) });
      // Its unknown holds the running router back only until then (three leases and ticks before).
      expect(await solo()).toBe(503);
      host.advanceTo(published + TIMING.lease_ms + TIMING.tick_ms);
      expect(await solo()).toBe(503);
      host.advanceTo(published + TIMING.lease_ms + TIMING.tick_ms + 1);
      expect(await solo()).toBe(200);
      expect(host.httpCallLog).toEqual([]);
      expect(host.traps).toEqual([]);
    });
  }

  for (const form of FORMS) {
    it(`keeps a never-probed version unknown until the first tick of the configuration that probes it, when a rejected configuration's unknown was standing at its configure (${form} form)`, async () => {
      const { host, solo, startHealth } = await soloRouter(form);
      // An update adding warmup-health for solo/a is rejected after configure (never ticks) ...
      const rejected = host.now;
      expect(startHealth().teardown()).toBe(true);
      // ... and the corrected update (the same warmup-health settings) is accepted a lease and half
      // a tick later, while the rejected one's unknown still stands: solo/a has never been probed,
      // and its server is not up.
      host.advanceTo(rejected + TIMING.lease_ms + TIMING.tick_ms / 2);
      startHealth();
      const configured = host.now;
      // Until the accepted configuration's first tick, and after, solo/a is not ready: it takes
      // no traffic, at any millisecond.
      const seen: string[] = [];
      for (let t = configured; t <= configured + 2 * TIMING.tick_ms; t += 10) {
        host.advanceTo(t);
        const status = await solo();
        const v = version(host, "solo", "a");
        if (status !== 503) seen.push(`${t - configured} ms after configure: ${status} (record ${v?.state}, standing until ${v === null ? "-" : Number(v.freshUntilMs) - configured} ms after configure)`);
      }
      expect(seen).toEqual([]);
      expect(host.traps).toEqual([]);
    });
  }

  for (const form of FORMS) {
    it(`routes by what warmup-health publishes (${form} form)`, async () => {
      const host = new Host();
      const v1 = new FakeServer(host, "llama-v1");
      const v2 = new FakeServer(host, "llama-v2");
      v1.mode = "ready";
      const vm = await host.loadVm("build/ai-gateway.wasm", { vmId: VM_ID });
      let send: (init: Json) => Promise<RequestResult>;
      if (form === "pipeline") {
        const p = vm.startPlugin({ rootId: "ai-gateway", configuration: JSON.stringify({ model_router: ROUTER, warmup_health: HEALTH }), allowOnHeadersStopIteration: true, canary: true });
        expect(p.configured).toBe(true);
        send = (init) => p.request(init, { upstream });
      } else {
        const health = vm.startPlugin({ rootId: "warmup-health", configuration: JSON.stringify(HEALTH), allowOnHeadersStopIteration: true, canary: true });
        const router = vm.startPlugin({ rootId: "model-router", configuration: JSON.stringify(ROUTER), allowOnHeadersStopIteration: true, canary: true });
        expect([health.configured, router.configured]).toEqual([true, true]);
        const chain = host.chain(health, router);
        send = (init) => chain.request(init, { upstream });
      }
      const start = host.now;
      const servers: Record<string, FakeServer> = { "llama-v1": v1, "llama-v2": v2 };
      // The model servers as the router's upstream: a server that is not ready answers 503.
      function upstream(req: { headers: Record<string, string> }) {
        const server = servers[req.headers["x-ai-cluster"]];
        return server.mode === "ready" ? { status: 200, body: "{}" } : { status: 503, body: "Loading model" };
      }
      /** Sends one chat request per key; returns the share of v2 in percent, and every status seen. */
      async function split(): Promise<{ v2: number; statuses: Set<number | undefined> }> {
        let onV2 = 0;
        const statuses = new Set<number | undefined>();
        for (const key of KEYS) {
          const r = await send({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", "x-session-id": key }, body: '{"model":"llama","messages":[]}' });
          statuses.add(r.status);
          if (r.upstreamRequest?.headers["x-ai-model-version"] === "v2") onV2++;
        }
        return { v2: (100 * onV2) / KEYS.length, statuses };
      }
      // Expected share of v2 at a ramp: its 4,000 buckets [6000, 10000) keep the first ramp part.
      const expected = (ramp: number) => (100 * KEYS.filter((k) => { const b = stickyBucket("llama", k); return b >= 6000 && b < 6000 + 4000 * ramp; }).length) / KEYS.length;

      // Before the first probe both versions are unknown: 503 from the router, never a server.
      const before = await send({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", "x-session-id": "a" }, body: '{"model":"llama"}' });
      expect(before.status).toBe(503);
      expect(before.upstreamRequest).toBeUndefined();

      // v1 ready at its first probe; v2 loading: every request goes to v1, none fails.
      host.advanceTo(start + 100);
      expect(version(host, "llama", "v2")!.state).toBe("loading");
      const loading = await split();
      expect(loading).toEqual({ v2: 0, statuses: new Set([200]) });
      const health = await send({ path: "/ai-gateway/health/llama/v2" });
      expect(health.status).toBe(503);
      expect(health.upstreamRequest).toBeUndefined();

      // v2 comes up: warmup (the three requests), then ready with ramp 0, growing over 20 s.
      v2.mode = "ready";
      host.advanceTo(start + 1100);
      expect(v2.paths(start + 1100)).toEqual(["GET /health", "GET /v1/models", "POST /v1/completions", "POST /v1/completions", "POST /v1/completions"]);
      expect(version(host, "llama", "v2")).toMatchObject({ state: "ready", rampPermyriad: 0 });
      expect((await split()).v2).toBe(0);
      host.advanceTo(start + 1100 + 10_000);
      expect(version(host, "llama", "v2")!.rampPermyriad).toBe(5000);
      const half = await split();
      expect(half.statuses).toEqual(new Set([200]));
      expect(half.v2).toBe(expected(0.5));
      expect(Math.abs(half.v2 - 20)).toBeLessThanOrEqual(3);
      host.advanceTo(start + 1100 + 20_000);
      const full = await split();
      expect(full.v2).toBe(expected(1));
      expect(Math.abs(full.v2 - 40)).toBeLessThanOrEqual(3);
      expect((await send({ path: "/ai-gateway/health/llama/v2" })).status).toBe(200);

      // v2 fails: after three failed probes it is failing and its traffic goes to v1.
      v2.mode = "failing";
      host.advanceTo(start + 24_100);
      expect(version(host, "llama", "v2")!.state).toBe("failing");
      expect(await split()).toEqual({ v2: 0, statuses: new Set([200]) });
      expect(host.traps).toEqual([]);
      expect(errors(host)).toEqual([]);
    });
  }
});
