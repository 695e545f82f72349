// The emulator's host services: HTTP calls, ticks, metrics, shared data, shared queues,
// properties, foreign functions and WASI, checked with the scenario filters in
// host-tests/emulator/test-modules/scenarios.
import { beforeAll, describe, expect, it } from "vitest";
import { Host, WasmResult } from "./emulator";
import { testModule } from "./emulator/test-modules/build";

let scenarios = "";

beforeAll(async () => {
  scenarios = await testModule("scenarios");
}, 120_000);

/** The `name=value` lines of a report body as an object. */
function report(body: string | undefined): Record<string, string> {
  return Object.fromEntries((body ?? "").split(/[\n;]/).filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

async function caller(host: Host, allow = true) {
  return (await host.loadVm(scenarios)).startPlugin({ rootId: "caller", allowOnHeadersStopIteration: allow });
}

describe("emulator services", () => {
  describe("http calls", () => {
    it("answers on the root context; the callback reads the response, and only the callback can", async () => {
      const host = new Host();
      host.addCluster("auth", (req) => ({ status: 201, headers: { "x-echo": req.headers["x-echo"] }, body: `ok:${req.body}` }));
      const plugin = await caller(host);
      const res = await plugin.request({ path: "/r" });
      expect(report(res.upstreamRequest!.headers["x-call"])).toEqual({
        failed: "false", status: "201", body: "ok:payload", "x-echo": "ping", headers: "3", trailers: "0", stream: "2",
      });
      expect(res.response!.headers).toMatchObject({ "x-late-call-read": "BadArgument", "x-late-call-body": "NotFound" });
      const [call] = host.httpCallLog;
      expect(call).toMatchObject({ outcome: "response", status: 201, deliveredTo: plugin.rootContextId });
      expect(call.request).toMatchObject({ cluster: "auth", method: "POST", path: "/check", authority: "auth.local", body: "payload", timeoutMs: 1000 });
      expect(call.request.headers["content-length"]).toBe("7");
    });

    it.each([
      ["an unknown cluster", { "x-cluster": "nope" }, "BadArgument"],
      ["headers without :authority", { "x-bad": "no-authority" }, "BadArgument"],
      ["a cluster without a healthy host", { "x-cluster": "down" }, "InternalFailure"],
    ])("refuses %s synchronously, with no callback", async (_name, headers, status) => {
      const host = new Host();
      host.addCluster("auth", () => ({ status: 200 }));
      host.addCluster("down", () => ({ status: 200 }), { noHealthyUpstream: true });
      const res = await (await caller(host)).request({ headers });
      expect(res.localResponse).toMatchObject({ status: 502, body: `refused=${status}` });
      expect(host.httpCallLog).toEqual([]);
    });

    it("reports a reset as 0 headers, 0 body, 0 trailers, with proxy_get_status BrokenConnection \"reset\"", async () => {
      const host = new Host();
      host.addCluster("auth", () => ({ reset: true }));
      const res = await (await caller(host)).request();
      expect(report(res.upstreamRequest!.headers["x-call"])).toMatchObject({ failed: "true", code: "BrokenConnection", message: "reset" });
    });

    it("delivers Envoy's 504 when the call times out", async () => {
      const host = new Host();
      host.addCluster("auth", () => ({ hang: true }));
      const res = await (await caller(host)).request({ headers: { "x-timeout-ms": "500" } });
      expect(report(res.upstreamRequest!.headers["x-call"])).toMatchObject({ status: "504", body: "upstream request timeout" });
      expect(res.durationMs).toBe(500);
      expect(host.httpCallLog[0].outcome).toBe("timeout");
    });

    it("answers after the reply's delay, as fake time passes", async () => {
      const host = new Host();
      host.addCluster("auth", () => ({ status: 200, delayMs: 100 }));
      const stream = (await caller(host)).newStream();
      expect(stream.requestHeaders({}, { endOfStream: true })).toBe("StopIteration");
      host.advance(99);
      expect(stream.upstreamRequest).toBeUndefined();
      host.advance(1);
      expect(stream.upstreamRequest!.headers["x-call"]).toContain("status=200");
    });

    it("keeps a call alive after its stream ends and cancels it when the root context goes", async () => {
      const host = new Host({ logLevel: "debug" });
      host.addCluster("auth", () => ({ status: 200, delayMs: 50 }));
      const plugin = await caller(host);
      const first = plugin.newStream();
      first.requestHeaders({}, { endOfStream: true });
      const early = plugin.newStream();
      early.requestHeaders({}, { endOfStream: true });
      early.finish();
      host.advance(50);
      // Envoy still answers on the root; our layer dropped the handler with the stream.
      expect(host.httpCallLog.map((c) => c.outcome)).toEqual(["response", "response"]);
      expect(host.logs({ contains: "unknown http_call token" })).toHaveLength(1);
      const last = plugin.newStream();
      last.requestHeaders({}, { endOfStream: true });
      // Streams hold the plugin: its shutdown waits for the last one.
      expect(plugin.teardown()).toBe(false);
      expect(plugin.state).toBe("active");
      first.finish();
      last.finish();
      expect(plugin.state).toBe("deleted");
      host.advance(100);
      expect(host.httpCallLog[2].outcome).toBe("cancelled");
    });

    it("never times out a call made with timeout 0", async () => {
      const host = new Host();
      host.addCluster("auth", () => ({ hang: true }));
      const res = await (await caller(host)).request({ headers: { "x-raw-zero-timeout": "1" } });
      expect(res.upstreamRequest!.headers["x-raw-call"]).toBe("Ok token=4");
      host.advance(3_600_000);
      expect(host.httpCallLog[0]).toMatchObject({ outcome: "pending", request: { timeoutMs: 0 } });
    });
  });

  describe("ticks", () => {
    it("ticks every root in every VM on its own period, into one shared stat", async () => {
      const host = new Host();
      for (let i = 0; i < 2; i++) (await host.loadVm(scenarios)).startPlugin({ rootId: "ticker", configuration: "1000" });
      const idle = (await host.loadVm(scenarios)).startPlugin({ rootId: "ticker", configuration: "0" });
      host.advance(3500);
      expect(host.metric("ticker.ticks")).toBe(6);
      host.tick();
      expect(host.metric("ticker.ticks")).toBe(8);
      expect(idle.tickArmed).toBe(false);
      host.advance(500);
      expect(host.metric("ticker.ticks")).toBe(10);
    });
  });

  describe("metrics", () => {
    it("follows Envoy's rules for ids, counters, gauges and histograms", async () => {
      const host = new Host();
      const res = await (await host.loadVm(scenarios)).startPlugin({ rootId: "metrics" }).request();
      expect(report(res.response!.body)).toEqual({
        ids: "4,5,6",
        "c+1": "Ok",
        "c+0": "BadArgument",
        "c-1": "BadArgument",
        "c.record5": "Ok",
        "c.get": "6",
        "g.record42": "Ok",
        "g-2": "Ok",
        "g.get": "40",
        "h.record7": "Ok",
        "h.record9": "Ok",
        "h+1": "BadArgument",
        "h.get": "BadArgument",
        "again.id": "8",
        "again+1": "Ok",
        "unknown+1": "NotFound",
      });
      expect(host.metrics()).toEqual({ "m.c": 7, "m.g": 40, "m.h": [7, 9] });
      expect([host.metric("wasmcustom.m.g"), host.histogram("m.h")]).toEqual([40, [7, 9]]);
    });
  });

  describe("shared data", () => {
    async function sharedPlugins(host: Host) {
      const a = (await host.loadVm(scenarios, { vmId: "gw" })).startPlugin({ rootId: "shared" });
      const b = (await host.loadVm(scenarios, { vmId: "gw" })).startPlugin({ rootId: "shared" });
      const other = (await host.loadVm(scenarios, { vmId: "other" })).startPlugin({ rootId: "shared" });
      return { a, b, other };
    }
    const op = (headers: Record<string, string>) => ({ headers });

    it("shares values between workers of one vm_id with cpp-host's CAS rules", async () => {
      const host = new Host();
      const { a, b, other } = await sharedPlugins(host);
      expect(report((await a.request(op({ "x-op": "set", "x-value": "1", "x-cas": "4242" }))).response!.body)).toEqual({ status: "Ok" });
      const read = report((await b.request(op({ "x-op": "get" }))).response!.body);
      expect(read).toEqual({ status: "Ok", value: "1", cas: "1" });
      expect(report((await b.request(op({ "x-op": "set", "x-value": "2", "x-cas": "1" }))).response!.body).status).toBe("Ok");
      expect(report((await a.request(op({ "x-op": "set", "x-value": "3", "x-cas": "1" }))).response!.body).status).toBe("CasMismatch");
      expect(report((await a.request(op({ "x-op": "set", "x-value": "4", "x-cas": "0" }))).response!.body).status).toBe("Ok");
      expect(host.sharedData.get("k", "gw")).toMatchObject({ value: "4", cas: 3 });
      expect(report((await other.request(op({ "x-op": "get" }))).response!.body).status).toBe("NotFound");
    });

    it("makes a guest's conditional write lose a race on demand", async () => {
      const host = new Host();
      const { a } = await sharedPlugins(host);
      host.sharedData.set("k", "v", { vmId: "gw" });
      host.sharedData.injectCasConflict({ key: "k" });
      const cas = host.sharedData.get("k", "gw")!.cas;
      const lost = report((await a.request(op({ "x-op": "set", "x-value": "mine", "x-cas": String(cas) }))).response!.body);
      expect(lost.status).toBe("CasMismatch");
      const fresh = host.sharedData.get("k", "gw")!;
      expect(fresh.cas).toBeGreaterThan(cas);
      const won = report((await a.request(op({ "x-op": "set", "x-value": "mine", "x-cas": String(fresh.cas) }))).response!.body);
      expect(won.status).toBe("Ok");
    });
  });

  describe("shared queues", () => {
    it("wakes the registrant's root after the producer's callback returns; dequeue ends with Empty", async () => {
      const host = new Host();
      const consumerVm = await host.loadVm(scenarios, { vmId: "gw" });
      consumerVm.startPlugin({ rootId: "queue-consumer", configuration: "jobs" });
      const producer = (await host.loadVm(scenarios, { vmId: "gw" })).startPlugin({ rootId: "queue-producer" });
      const res = await producer.request({ headers: { "x-item": "job-1" } });
      expect(report(res.response!.body)).toEqual({ resolve: "Ok", id: "1", enqueue: "Ok", "dequeue-unknown": "NotFound" });
      expect(host.logs({ contains: /^(enqueued|got|drained)/ }).map((l) => `${l.vm}: ${l.message}`)).toEqual([
        "vm2: enqueued",
        "vm1: got job-1 on root 1",
        "vm1: drained Empty",
      ]);
      expect(host.metric("queue.items")).toBe(1);
    });

    it("moves a queue to its last registrant and resolves only registered names", async () => {
      const host = new Host();
      for (let i = 0; i < 2; i++) (await host.loadVm(scenarios, { vmId: "gw" })).startPlugin({ rootId: "queue-consumer", configuration: "jobs" });
      expect(host.queues.enqueue("gw", "jobs", "from-test")).toBe(WasmResult.Ok);
      host.settle();
      expect(host.logs({ contains: "got" }).map((l) => `${l.vm}: ${l.message}`)).toEqual(["vm2: got from-test on root 1"]);
      const producer = (await host.loadVm(scenarios, { vmId: "gw" })).startPlugin({ rootId: "queue-producer" });
      const res = await producer.request({ headers: { "x-queue": "nope" } });
      expect(report(res.response!.body)).toMatchObject({ resolve: "NotFound", id: "0" });
    });
  });

  describe("properties", () => {
    it("answers Envoy's plugin and request properties, and only while Envoy has the request headers", async () => {
      const host = new Host();
      host.setProperty(["custom", "key"], "from-test");
      const vm = await host.loadVm(scenarios, { vmId: "gw" });
      const res = await vm.startPlugin({ rootId: "props", name: "props-filter" }).request({
        path: "/v1/x?y=1",
        headers: { "x-custom": "c", "x-request-id": "rid" },
      });
      expect(report(res.upstreamRequest!.headers["x-props"])).toEqual({
        plugin_root_id: "props",
        plugin_name: "props-filter",
        plugin_vm_id: "gw",
        vm_id: "NotFound",
        "request.path": "/v1/x?y=1",
        "request.method": "GET",
        "request.host": "localhost",
        "request.url_path": "/v1/x",
        "request.query": "y=1",
        "request.id": "rid",
        "request.headers.x-custom": "c",
        "custom.key": "from-test",
        set: "Ok",
        my_prop: "v1",
      });
      expect(res.response!.headers).toMatchObject({ "x-late-path": "NotFound", "x-response-code": "200" });
      expect(host.logs({ contains: "root " }).map((l) => l.message)).toEqual(["root request.path NotFound", "root set_property NotFound"]);
    });
  });

  describe("foreign functions and other host calls", () => {
    it("records clear_route_cache, answers NotFound for unknown functions and runs registered ones", async () => {
      const host = new Host({ now: Date.UTC(2026, 5, 1) });
      host.registerForeignFunction("echo_fn", (argument) => Buffer.from(argument).reverse());
      const headers = { "x-multi": ["a", "b"], "x-request-id": "r1" };
      const res = await (await host.loadVm(scenarios)).startPlugin({ rootId: "misc" }).request({ headers });
      // Envoy's HeaderMap::byteSize: every name and value, here of
      // :method GET, :scheme http, :authority localhost, :path /, x-multi a, x-multi b,
      // x-request-id r1, x-forwarded-proto http.
      const byteSize = 10 + 11 + 19 + 6 + 8 + 8 + 14 + 21;
      expect(report(res.response!.body)).toEqual({
        clear_route_cache: "Ok",
        "foreign-unknown": "NotFound",
        "foreign-echo": "cba",
        "set_effective_context-bad": "BadArgument",
        "set_effective_context-root": "Ok",
        proxy_done: "NotFound",
        now: String(Date.UTC(2026, 5, 1)),
        // proxy_get_header_map_size is the map's byte size in Envoy, not its number of entries.
        "header-size": String(byteSize),
        "x-multi": "a",
        "x-multi-all": "a,b",
      });
      expect(host.foreignCalls.map((c) => c.name)).toEqual(["clear_route_cache", "no_such_function", "echo_fn"]);
      expect(res.routeCacheClears).toBe(1);
    });

    it("counts request-header writes as route cache clears", async () => {
      const host = new Host();
      const res = await (await host.loadVm(scenarios)).startPlugin({ rootId: "hold", allowOnHeadersStopIteration: true }).request({ body: "x" });
      expect(res.routeCacheClears).toBe(3);
    });
  });

  describe("wasi", () => {
    it("logs stdout at info and stderr at error, and serves clocks, randomness and the environment", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios, { env: { A: "1", B: "two" } });
      host.advance(250);
      const res = await vm.startPlugin({ rootId: "wasi" }).request();
      expect(report(res.response!.body)).toEqual({
        stdout: "0",
        written: "13",
        stderr: "0",
        fd3: "8",
        realtime_ms: String(Date.UTC(2026, 0, 1) + 250),
        monotonic: "1250000000",
        cputime: "58",
        env: "A=1,B=two",
        argc: "0",
        random: "0",
        random_nonzero: "true",
        random_big: "28",
        sched_yield: "0",
      });
      expect(host.logs({ source: "stdout" }).map((l) => [l.level, l.message])).toEqual([["info", "hello stdout"]]);
      expect(host.logs({ source: "stderr" }).map((l) => [l.level, l.message])).toEqual([["error", "hello stderr"]]);
    });
  });
});
