// The ABI layer (assembly/) as a module sees it, driven through the abi-probe fixture
// (host-tests/fixtures/abi-probe, build/fixtures/abi-probe.wasm: root ids `probe-a` and `probe-b`
// in one module) in the host emulator. Each test asserts what a client, the upstream, the stats,
// the logs or the probe's own `name=value` reports show; the emulator throws on any trap, so a
// test that completes also proves the module did not trap.
import { beforeAll, describe, expect, it } from "vitest";
import { EmulatorTrapError, Host, echoUpstream, type HttpCallReply, type Plugin, type RequestResult } from "./emulator";

const PROBE = "build/fixtures/abi-probe.wasm";
const NOOP = "build/noop.wasm";
const VM_ID = "ai-gateway";

/** The `name=value` lines (or `;`-separated pairs) of a probe report as an object. */
function report(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? "").split(/[\n;]/)) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

/** The report a probe exercise answered with as a local response. */
function localReport(res: RequestResult): Record<string, string> {
  expect(res.localResponse, `no local response; status ${res.status}`).toBeDefined();
  return report(res.localResponse!.body);
}

/** Runs the probe exercise `name` (request header x-probe) and returns its report. */
async function exercise(plugin: Plugin, name: string, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  return localReport(await plugin.request({ headers: { "x-probe": name, ...headers } }));
}

interface ProbeSetup {
  host: Host;
  a: Plugin;
  b: Plugin;
}

/** One worker with both root ids started, `probe-a` and `probe-b`, with the given configurations. */
async function probe(configA = "", configB = "", host = new Host(), allowOnHeadersStopIteration = false): Promise<ProbeSetup> {
  const vm = await host.loadVm(PROBE, { vmId: VM_ID });
  const a = vm.startPlugin({ rootId: "probe-a", configuration: configA, allowOnHeadersStopIteration });
  const b = vm.startPlugin({ rootId: "probe-b", configuration: configB, allowOnHeadersStopIteration });
  expect([a.configured, b.configured], JSON.stringify(host.logs({ minLevel: "warn" }))).toEqual([true, true]);
  return { host, a, b };
}

/** Envoy's HeaderMap::byteSize(): the bytes of every name and value. */
function byteSize(pairs: ReadonlyArray<readonly [string, string]>): number {
  return pairs.reduce((n, [name, value]) => n + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
}

describe("root contexts", () => {
  describe("configure", () => {
    it("gives each root id of one module its own configuration, root id and metrics", async () => {
      const { host, a, b } = await probe("alpha", "beta");
      const seen: Array<Record<string, string | undefined>> = [];
      for (const plugin of [a, b, b]) {
        const res = await plugin.request({ path: "/seen" });
        expect(res.status).toBe(200);
        const h = res.upstreamRequest!.headers;
        seen.push({ root: h["x-probe-root"], config: h["x-probe-config"], response: res.response!.headers["x-probe-root"] });
      }
      expect(seen).toEqual([
        { root: "probe-a", config: "alpha", response: "probe-a" },
        { root: "probe-b", config: "beta", response: "probe-b" },
        { root: "probe-b", config: "beta", response: "probe-b" },
      ]);
      expect(host.metric("probe.probe-a.requests")).toBe(1);
      expect(host.metric("probe.probe-b.requests")).toBe(2);
    });

    it.each(["probe-a", "probe-b"])("lets %s read its own plugin_root_id property", async (rootId) => {
      const { a, b } = await probe();
      const res = await (rootId === "probe-a" ? a : b).request({ headers: { "x-probe": "properties" }, path: "/props" });
      expect(localReport(res)).toEqual({ plugin_root_id: rootId, "request.path": "/props" });
    });

    it.each([
      ["an unknown root_id", "probe-c"],
      ["an empty root_id in a module of two filters", ""],
    ])("refuses %s with one critical line naming it and the known root ids", async (_case, rootId) => {
      const host = new Host();
      const plugin = (await host.loadVm(PROBE, { vmId: VM_ID })).startPlugin({ rootId, configuration: "" });
      expect([plugin.started, plugin.configured]).toEqual([true, false]);
      expect(host.logs({ minLevel: "critical" }).map((l) => l.message)).toEqual([
        `root_id: '${rootId}' names no filter in this module; expected one of: probe-a, probe-b`,
      ]);
    });

    it("leaves a root whose configuration fails unconfigured while the other root of the VM serves", async () => {
      const host = new Host();
      const vm = await host.loadVm(PROBE, { vmId: VM_ID });
      const failing = vm.startPlugin({ rootId: "probe-a", configuration: "fail" });
      const working = vm.startPlugin({ rootId: "probe-b", configuration: "ok" });
      expect([failing.configured, working.configured]).toEqual([false, true]);
      expect(host.logs({ minLevel: "critical" }).map((l) => [l.rootId, l.message])).toEqual([
        ["probe-a", "probe: configuration: refused on purpose"],
      ]);
      expect(host.metric("probe.probe-a.requests")).toBeUndefined();
      const res = await working.request();
      expect(res.upstreamRequest!.headers).toMatchObject({ "x-probe-root": "probe-b", "x-probe-config": "ok" });
      expect(host.metric("probe.probe-b.requests")).toBe(1);
    });

    it("selects the only filter of a single-filter module for an empty root_id", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(NOOP)).startPlugin({ rootId: "", configuration: "{}" });
      expect(plugin.configured).toBe(true);
      expect((await plugin.request()).status).toBe(200);
      expect(host.metric("noop.requests_total")).toBe(1);
      expect(host.logs({ minLevel: "warn" })).toEqual([]);
    });
  });

  describe("tick", () => {
    it("ticks only the root whose configuration armed a tick", async () => {
      const { host, a, b } = await probe("tick", "");
      expect([a.tickArmed, b.tickArmed]).toEqual([true, false]);
      host.advance(3_500);
      expect([host.metric("probe.probe-a.ticks"), host.metric("probe.probe-b.ticks")]).toEqual([3, 0]);
      host.advance(500);
      expect([host.metric("probe.probe-a.ticks"), host.metric("probe.probe-b.ticks")]).toEqual([4, 0]);
    });
  });

  describe("teardown", () => {
    it("deletes one root without trapping while the other root of the VM keeps serving", async () => {
      const { host, a, b } = await probe("tick", "");
      host.advance(1_000);
      expect(a.teardown()).toBe(true);
      expect(a.state).toBe("deleted");
      expect(host.logs({ rootId: "probe-a", contains: /^probe: root / }).map((l) => l.message)).toEqual([
        "probe: root probe-a done",
        "probe: root probe-a deleted",
      ]);
      for (let i = 0; i < 3; i++) {
        const res = await b.request();
        expect([res.status, res.upstreamRequest?.headers["x-probe-root"]]).toEqual([200, "probe-b"]);
      }
      // The deleted root's tick is gone with it.
      host.advance(5_000);
      expect(host.metric("probe.probe-a.ticks")).toBe(1);
      expect(b.vm.liveContexts).toBe(1);
      expect(host.traps).toEqual([]);
      expect(host.logs({ minLevel: "error" })).toEqual([]);
    });

    // In Envoy a root's on_done runs only once no stream of its plugin is left (each stream holds
    // the plugin handle), so the stream calling done() belongs to another root of the VM.
    it.each([
      ["its own root, which is not tearing down", false, "probe-b", "NotFound", "active"],
      ["another root whose onDone postponed its teardown", true, "probe-a", "Ok", "deleted"],
    ])(
      "keeps the stream effective when a stream callback calls done() on %s: its local response arrives",
      async (_case, tearDown, root, done, stateOfA) => {
        const { host, a, b } = await probe("delayed-done", "");
        if (tearDown) {
          expect(a.teardown()).toBe(false);
          expect(a.state).toBe("pendingDone");
        }
        const res = await b.request({ headers: { "x-probe": "done" }, body: "finish" });
        expect(res.localResponse).toMatchObject({ status: 200, sentBy: "probe-b", delivery: "filter-chain" });
        expect(report(res.localResponse?.body)).toEqual({ root, done });
        expect(res.response).toMatchObject({ status: 200, complete: true, headers: { "x-probe-root": "probe-b" } });
        expect(a.state).toBe(stateOfA);
        expect(host.warnings).toEqual([]);
        expect(host.logs({ contains: /^probe: root / }).map((l) => l.message)).toEqual(
          tearDown ? ["probe: root probe-a done", "probe: root probe-a deleted"] : [],
        );
      },
    );
  });
});

describe("stream contexts", () => {
  describe("end of stream", () => {
    it("deletes every stream context: after 1,000 requests only the roots are left", async () => {
      const { host, a, b } = await probe("", "", new Host({ logLevel: "debug" }));
      for (let i = 0; i < 1_000; i++) expect((await (i % 2 === 0 ? a : b).request()).status).toBe(200);
      expect(a.vm.liveContexts).toBe(2);
      expect(host.logs({ contains: /^probe: stream \d+ deleted$/ })).toHaveLength(1_000);
      // The module's own count: only the stream asking is alive, and no call is pending.
      expect(await exercise(a, "live")).toMatchObject({ "live-streams": "1", "pending-calls": "0" });
      expect(a.vm.liveContexts).toBe(2);
      expect(host.logs({ minLevel: "error" })).toEqual([]);
    });

    it("keeps the module's memory flat over thousands of requests: no stream or host buffer is kept", async () => {
      const { a, b } = await probe();
      const pages = async () => (await exercise(a, "live"))["memory-pages"];
      for (let i = 0; i < 1_000; i++) await (i % 2 === 0 ? a : b).request({ headers: { "x-probe": "headers" } });
      const settled = await pages();
      for (let i = 0; i < 3_000; i++) await (i % 2 === 0 ? a : b).request({ headers: { "x-probe": "headers" } });
      expect(await pages()).toBe(settled);
    });
  });

  describe("request headers", () => {
    const HEADERS: Array<[string, string]> = [
      ["x-probe", "headers"],
      ["x-multi", "one"],
      ["X-Multi", "two"],
      ["x-empty", ""],
      ["x-remove-me", "gone"],
      ["x-request-id", "req-1"],
    ];
    let lines: Record<string, string> = {};

    beforeAll(async () => {
      const { a } = await probe("cfg");
      lines = localReport(await a.request({ headers: HEADERS }));
    });

    it("reads the first value of a repeated header and all its values, whatever the case of the name", () => {
      expect([lines.get, lines["get-all"]]).toEqual(["one", "one,two"]);
    });

    it("reads a missing header as null with status NotFound", () => {
      expect([lines["get-missing"], lines["get-missing-status"]]).toEqual(["<null>", "NotFound"]);
    });

    it.each(["add", "replace", "remove", "remove-absent"])("answers %s with Ok", (op) => {
      expect(lines[op]).toBe("Ok");
    });

    it("lists the pairs in Envoy's order and reports Envoy's byte size of the map", () => {
      const final: Array<[string, string]> = [
        [":method", "GET"], [":scheme", "http"], [":authority", "localhost"], [":path", "/"],
        ["x-probe", "headers"], ["x-multi", "one"], ["x-multi", "two"], ["x-empty", ""], ["x-request-id", "req-1"],
        ["x-forwarded-proto", "http"], ["x-probe-root", "probe-a"], ["x-probe-config", "cfg"], ["x-added", "a1"], ["x-replaced", "r1"],
      ];
      expect(lines.names).toBe(final.map(([n]) => n).join(","));
      expect(Number(lines["byte-size"])).toBe(byteSize(final));
    });

    // Envoy answers Ok with pointer 0 and size 0 for a header whose value is empty
    // (WasmBase::copyToPointerSize); HeaderMap.get must not report it as absent.
    it("reads a header whose value is empty as an empty string with status Ok", () => {
      expect([lines["get-empty"], lines["get-empty-status"]]).toEqual(["''", "Ok"]);
    });

    it("reports BadArgument for a write after the headers were continued, and the request completes", async () => {
      const { host, a } = await probe();
      const res = await a.request({ headers: { "x-probe": "late-write" }, body: "payload" });
      expect(res.status).toBe(200);
      expect(res.response!.headers["x-probe-late-write"]).toBe("BadArgument");
      expect(res.response!.body).toBe("payload");
      expect(res.upstreamRequest!.headers["x-too-late"]).toBeUndefined();
      expect(host.failedCalls({ function: "proxy_replace_header_map_value" }).map((f) => f.statusName)).toEqual(["BadArgument"]);
    });
  });

  describe("request body", () => {
    const BODY = "the quick brown fox jumps over the lazy dog";
    const CHUNK = 3;
    let res: RequestResult;

    beforeAll(async () => {
      const { a } = await probe("", "", new Host(), true);
      const chunks: string[] = [];
      for (let i = 0; i < BODY.length; i += CHUNK) chunks.push(BODY.slice(i, i + CHUNK));
      res = await a.request({ headers: { "x-probe": "body" }, bodyChunks: chunks });
    });

    it("sees the cumulative size at every small chunk while it buffers", () => {
      const sizes = res.actions.filter((x) => x.callback === "onRequestBody").map((x) => x.args.bodySize);
      const expected: number[] = [];
      for (let n = CHUNK; n < BODY.length; n += CHUNK) expected.push(n);
      expected.push(BODY.length);
      expect(sizes).toEqual(expected);
    });

    it("reads the whole body at the end of the stream", () => {
      expect(res.upstreamRequest!.headers).toMatchObject({
        "x-probe-body": BODY,
        "x-probe-body-size": String(BODY.length),
        "x-probe-buffer-length": String(BODY.length),
      });
    });

    it("sends the replaced body upstream with a matching content-length", () => {
      expect(res.upstreamRequest!.body).toBe(BODY.toUpperCase());
      expect(res.upstreamRequest!.headers["content-length"]).toBe(String(BODY.length));
      expect(res.response).toMatchObject({ status: 200, body: BODY.toUpperCase(), complete: true });
    });

    it("refuses a write that starts inside the body with BadArgument and leaves the body alone", () => {
      expect(res.upstreamRequest!.headers["x-probe-bad-start"]).toBe("BadArgument");
      expect(res.upstreamRequest!.body).not.toContain("x");
    });
  });

  describe("local response", () => {
    it("answers the client, shows the reply to the filter's own response callback and never calls the upstream", async () => {
      const { a } = await probe();
      let upstreamCalls = 0;
      const res = await a.request({ headers: { "x-probe": "local" } }, {
        upstream: (req) => {
          upstreamCalls++;
          return echoUpstream(req);
        },
      });
      expect(res.response).toMatchObject({ status: 418, body: "probe says no", complete: true });
      expect(res.response!.headers).toMatchObject({
        "content-type": "text/plain",
        "content-length": "13",
        "x-probe-local": "true",
        "x-probe-saw-local": "true",
        "x-probe-root": "probe-a",
      });
      expect(res.localResponse).toMatchObject({ sentBy: "probe-a", details: "probe_local", delivery: "filter-chain" });
      expect(res.actions.filter((x) => x.callback === "onResponseHeaders").map((x) => x.localReply)).toEqual([true]);
      expect([res.upstreamRequest, upstreamCalls]).toEqual([undefined, 0]);
    });
  });
});

describe("host calls", () => {
  describe("errors", () => {
    let host: Host;
    let res: RequestResult;
    let lines: Record<string, string> = {};

    beforeAll(async () => {
      const setup = await probe();
      host = setup.host;
      // A known cluster, so that only the layer can refuse the zero timeout.
      host.addCluster("upstream", () => ({ status: 200 }));
      res = await setup.a.request({ headers: { "x-probe": "errors" } });
      lines = localReport(res);
    });

    it.each([
      ["a missing property", { "property-missing": "null", "property-missing-status": "NotFound" }],
      ["missing shared data", { "shared-missing": "NotFound" }],
      ["a dequeue from an unknown queue", { "dequeue-bad": "null", "dequeue-bad-status": "NotFound" }],
      ["resolving a queue nobody registered", { "resolve-missing": "0", "resolve-missing-status": "NotFound" }],
      ["an enqueue to an unknown queue", { "enqueue-bad": "NotFound" }],
      ["an http_call to an unknown cluster", { "call-unknown-cluster": "0", "call-unknown-cluster-status": "BadArgument" }],
      ["an http_call with timeout 0, refused by the layer", { "call-zero-timeout": "0", "call-zero-timeout-status": "BadArgument" }],
      ["an unknown foreign function", { "foreign-unknown": "null", "foreign-unknown-status": "NotFound" }],
      ["a counter increment of -1", { "counter-negative": "BadArgument" }],
      ["a body write from a headers callback, which sees no body", { "set-body-in-headers": "BadArgument" }],
      [
        "reading an http_call body outside its callback",
        { "call-body-outside-callback": "null", "call-body-outside-callback-status": "NotFound" },
      ],
      // Envoy's continueStream answers Ok whatever the state (and asserts in debug builds).
      ["continuing a request that is not paused", { "continue-unpaused": "Ok" }],
    ])("answers %s with a status value, not a trap", (_case, expected) => {
      expect(lines).toMatchObject(expected);
    });

    it("makes exactly the failing host calls expected, with the statuses reported, and never traps", () => {
      const stream = res.contextIds[0];
      expect(host.failedCalls().filter((f) => f.contextId === stream).map((f) => [f.function, f.statusName])).toEqual([
        ["proxy_get_property", "NotFound"],
        ["proxy_get_shared_data", "NotFound"],
        ["proxy_dequeue_shared_queue", "NotFound"],
        ["proxy_resolve_shared_queue", "NotFound"],
        ["proxy_enqueue_shared_queue", "NotFound"],
        ["proxy_http_call", "BadArgument"],
        ["proxy_call_foreign_function", "NotFound"],
        ["proxy_increment_metric", "BadArgument"],
        ["proxy_set_buffer_bytes", "BadArgument"],
        ["proxy_get_buffer_bytes", "NotFound"],
      ]);
      // The zero timeout never reached the host; the unknown cluster never started a call.
      expect(host.httpCallLog).toEqual([]);
      expect(host.traps).toEqual([]);
      expect(res.localResponse).toMatchObject({ status: 200, sentBy: "probe-a" });
    });

    it("gets Envoy's warning for continuing a request that is not paused, and the stream still completes", () => {
      expect(host.warnings).toHaveLength(1);
      expect(host.warnings[0]).toMatch(/^proxy_continue_stream\(Request\) from context \d+ \(probe-a\) in vm1 while its request is not paused/);
      expect(res.response).toMatchObject({ status: 200, complete: true });
    });
  });

  describe("shared data", () => {
    async function workers(): Promise<{ host: Host; a: Plugin; b: Plugin }> {
      const host = new Host();
      const a = (await host.loadVm(PROBE, { vmId: VM_ID })).startPlugin({ rootId: "probe-a" });
      const b = (await host.loadVm(PROBE, { vmId: VM_ID })).startPlugin({ rootId: "probe-a" });
      return { host, a, b };
    }

    const read = (plugin: Plugin, key = "probe/counter") => exercise(plugin, "shared", { "x-step": "read", "x-key": key });
    const write = (plugin: Plugin, value: string, cas: number, key = "probe/counter") =>
      exercise(plugin, "shared", { "x-step": "write", "x-key": key, "x-value": value, "x-cas": String(cas) });

    it("makes a worker that writes with a stale CAS fail with CasMismatch until it reads again", async () => {
      const { host, a, b } = await workers();
      expect(await read(a)).toEqual({ status: "NotFound", value: "", cas: "0" });
      expect(await write(b, "1", 0)).toEqual({ status: "Ok" });
      const created = host.sharedData.get("probe/counter", VM_ID)!.cas;
      expect(await read(a)).toEqual({ status: "Ok", value: "1", cas: String(created) });
      expect(await read(b)).toEqual({ status: "Ok", value: "1", cas: String(created) });
      expect(await write(b, "2", created)).toEqual({ status: "Ok" });
      expect(await write(a, "stale", created)).toEqual({ status: "CasMismatch" });
      expect(host.sharedData.get("probe/counter", VM_ID)!.value).toBe("2");
      const again = await read(a);
      expect(again).toMatchObject({ status: "Ok", value: "2" });
      expect(Number(again.cas)).not.toBe(created);
      expect(await write(a, "3", Number(again.cas))).toEqual({ status: "Ok" });
      expect(host.sharedData.get("probe/counter", VM_ID)!.value).toBe("3");
    });

    it.each([0, 1, 4242])("creates a key whatever CAS the write carries (%i)", async (cas) => {
      const { host, a } = await workers();
      expect(await write(a, "fresh", cas, `probe/new-${cas}`)).toEqual({ status: "Ok" });
      expect(host.sharedData.get(`probe/new-${cas}`, VM_ID)?.value).toBe("fresh");
    });

    it("loses an injected race with CasMismatch and wins after reading again", async () => {
      const { host, a, b } = await workers();
      await write(b, "1", 0);
      const first = await read(a);
      host.sharedData.injectCasConflict({ key: "probe/counter", value: "other worker" });
      expect(await write(a, "mine", Number(first.cas))).toEqual({ status: "CasMismatch" });
      const second = await read(a);
      expect(second).toMatchObject({ status: "Ok", value: "other worker" });
      expect(await write(a, "mine", Number(second.cas))).toEqual({ status: "Ok" });
      expect(host.sharedData.get("probe/counter", VM_ID)!.value).toBe("mine");
    });
  });

  describe("http_call", () => {
    const CALL = { "x-probe": "http-call" };

    it("holds the stream until the answer, hands status, header and body to the handler, then continues", async () => {
      const { host, a } = await probe();
      host.addCluster("upstream", (req) => ({
        status: 201, headers: { "x-echo": req.headers["x-echo"] }, body: "pong", delayMs: 100,
      }));
      const stream = a.newStream({ upstream: echoUpstream });
      expect(stream.requestHeaders(CALL, { endOfStream: true })).toBe("StopAllIterationAndWatermark");
      host.advance(99);
      expect(stream.upstreamRequest).toBeUndefined();
      host.advance(1);
      expect(report(stream.upstreamRequest?.headers["x-probe-call"])).toEqual({
        failed: "false", status: "201", body: "pong", "x-echo": "hello", stream: String(stream.contextIds[0]),
      });
      expect(stream.response).toMatchObject({ status: 200, complete: true });
      const [call] = host.httpCallLog;
      expect(call).toMatchObject({ outcome: "response", status: 201, deliveredTo: a.rootContextId });
      expect(call.request).toMatchObject({ cluster: "upstream", method: "GET", path: "/probe", body: "ping", timeoutMs: 1000 });
    });

    it.each<[string, HttpCallReply, Record<string, string>, Record<string, string>, string]>([
      ["a reset", { reset: true }, {}, { failed: "true", status: "0", body: "", "x-echo": "<none>" }, "reset"],
      [
        "a timeout, as Envoy's 504",
        { hang: true },
        { "x-timeout-ms": "500" },
        { failed: "false", status: "504", body: "upstream request timeout", "x-echo": "<none>" },
        "timeout",
      ],
    ])("hands %s to the handler and the stream continues", async (_case, reply, headers, expected, outcome) => {
      const { host, a } = await probe();
      host.addCluster("upstream", () => reply);
      const res = await a.request({ headers: { ...CALL, ...headers } });
      expect(report(res.upstreamRequest?.headers["x-probe-call"])).toMatchObject(expected);
      expect(res.response).toMatchObject({ status: 200, complete: true });
      expect(host.httpCallLog.map((c) => c.outcome)).toEqual([outcome]);
    });

    it.each([
      ["an unknown cluster", { "x-cluster": "nowhere" }],
      ["a zero timeout", { "x-timeout-ms": "0" }],
    ])("reports a call refused for %s at once, as BadArgument", async (_case, headers) => {
      const { host, a } = await probe();
      host.addCluster("upstream", () => ({ status: 200 }));
      const res = await a.request({ headers: { ...CALL, ...headers } });
      expect(res.localResponse).toMatchObject({ status: 502, body: "call refused: BadArgument" });
      expect(host.httpCallLog).toEqual([]);
    });

    it("ignores the late answer to a call whose stream was deleted", async () => {
      const { host, a } = await probe("", "", new Host({ logLevel: "debug" }));
      host.addCluster("upstream", () => ({ status: 200, body: "late", delayMs: 100 }));
      const stream = a.newStream({ upstream: echoUpstream });
      stream.requestHeaders(CALL, { endOfStream: true });
      expect(stream.finish().reset).toBe("downstream_remote_disconnect");
      host.advance(100);
      // Envoy still answers on the root context; the layer forgot the handler with the stream.
      expect(host.httpCallLog.map((c) => [c.outcome, c.deliveredTo])).toEqual([["response", a.rootContextId]]);
      expect(host.logs({ contains: "response for unknown http_call token 4" })).toHaveLength(1);
      expect(stream.upstreamRequest).toBeUndefined();
      expect(host.logs({ minLevel: "warn" })).toEqual([]);
      expect(await exercise(a, "live")).toMatchObject({ "live-streams": "1", "pending-calls": "0" });
    });
  });

  describe("shared queue", () => {
    it.each([
      ["a stream of the same worker", false],
      ["a stream of another worker", true],
    ])("wakes the registering root, which drains an item enqueued by %s", async (_case, otherWorker) => {
      const { host, b } = await probe("queue", "");
      const producer = otherWorker
        ? (await host.loadVm(PROBE, { vmId: VM_ID })).startPlugin({ rootId: "probe-b", configuration: "" })
        : b;
      for (const item of ["item-1", "item-2"]) {
        expect(await exercise(producer, "queue", { "x-item": item })).toEqual({ resolve: "Ok", enqueue: "Ok" });
      }
      expect(host.metric("probe.probe-a.queue_items")).toBe(2);
      expect(host.metric("probe.probe-b.queue_items")).toBe(0);
      expect(host.logs({ contains: /^probe: dequeued / }).map((l) => [l.vm, l.rootId, l.message])).toEqual([
        ["vm1", "probe-a", "probe: dequeued item-1"],
        ["vm1", "probe-a", "probe: dequeued item-2"],
      ]);
      expect(host.queues.items(VM_ID, "probe-queue")).toEqual([]);
    });
  });

  describe("metrics", () => {
    it("defines every metric with its kind in configure, before any request", async () => {
      const { host } = await probe();
      const probeA = host.metricStore.all().filter((s) => s.name.startsWith("probe.probe-a."));
      expect(Object.fromEntries(probeA.map((s) => [s.name, s.kind]))).toEqual({
        "probe.probe-a.requests": "counter",
        "probe.probe-a.ticks": "counter",
        "probe.probe-a.queue_items": "counter",
        "probe.probe-a.gauge": "gauge",
        "probe.probe-a.latency_ms": "histogram",
      });
      expect(host.metrics()).toMatchObject({ "probe.probe-a.requests": 0, "probe.probe-a.gauge": 0, "probe.probe-a.latency_ms": [] });
    });

    it("records each kind by Envoy's rules: counters add, gauges set and move, histograms take samples", async () => {
      const { host, a } = await probe();
      expect(await exercise(a, "misc")).toMatchObject({
        "gauge-record": "Ok", "gauge-increment": "Ok", gauge: "40",
        "histogram-record": "Ok", "histogram-get-status": "BadArgument",
        "counter-record": "Ok", requests: "3",
      });
      expect(host.metric("probe.probe-a.gauge")).toBe(40);
      expect(host.histogram("probe.probe-a.latency_ms")).toEqual([7]);
      expect(host.metric("probe.probe-a.requests")).toBe(3);
    });
  });

  describe("logs", () => {
    it.each([
      ["info", "false", "true"],
      ["debug", "true", "true"],
      ["warn", "false", "false"],
    ] as const)("gates logEnabled on Envoy's level %s (debug %s, info %s)", async (level, debug, info) => {
      const { a } = await probe("", "", new Host({ logLevel: level }));
      expect(await exercise(a, "misc")).toMatchObject({ "debug-enabled": debug, "info-enabled": info });
    });

    it("re-reads the level at the next tick", async () => {
      const { host, a } = await probe();
      expect((await exercise(a, "misc"))["debug-enabled"]).toBe("false");
      host.logLevel = "debug";
      a.tick();
      expect((await exercise(a, "misc"))["debug-enabled"]).toBe("true");
    });

    it("re-reads the level within 64 streams without a tick", async () => {
      const { host, a } = await probe();
      host.logLevel = "debug";
      const seen: string[] = [];
      for (let i = 0; i < 64; i++) seen.push((await exercise(a, "misc"))["debug-enabled"]);
      expect(seen.at(-1)).toBe("true");
      expect(seen.indexOf("true")).toBeGreaterThan(-1);
      expect(seen.slice(seen.indexOf("true")).every((v) => v === "true")).toBe(true);
    });
  });

  describe("route cache, time and randomness", () => {
    it("clears the route cache through Envoy's foreign function, recorded by the host", async () => {
      const { host, a } = await probe();
      const res = await a.request({ headers: { "x-probe": "misc" } });
      expect(localReport(res)["clear-route-cache"]).toBe("Ok");
      expect(host.foreignCalls.map((c) => [c.name, c.rootId, c.contextId])).toEqual([
        ["clear_route_cache", "probe-a", res.contextIds[0]],
      ]);
      // Two request-header writes (x-probe-root, x-probe-config) clear it too, as in Envoy 1.33+.
      expect(res.routeCacheClears).toBe(3);
    });

    it("reads the time from the host's fake clock", async () => {
      const { host, a } = await probe("", "", new Host({ now: Date.UTC(2026, 4, 17, 12, 30) }));
      host.advance(1_234);
      expect((await exercise(a, "misc"))["now-ms"]).toBe(String(Date.UTC(2026, 4, 17, 12, 30) + 1_234));
    });

    it("draws random numbers below the bound and covers the range", async () => {
      const { a } = await probe();
      expect(await exercise(a, "misc")).toMatchObject({
        "random-in-range": "true", "random-min": "0", "random-max": "9", "random-distinct": "10",
      });
    });
  });
});

describe("runtime", () => {
  describe("abort", () => {
    // x-probe: abort is the fixture's one deliberate trap (an out-of-bounds Array read).
    it("logs the abort at critical level with file:line, then traps", async () => {
      const { host, a } = await probe();
      const error = await a.request({ headers: { "x-probe": "abort" } }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(EmulatorTrapError);
      expect((error as EmulatorTrapError).functionName).toBe("proxy_on_request_headers");
      expect(host.traps).toHaveLength(1);
      expect(a.vm.failed).toBe(true);
      const logs = host.logs();
      const trapAt = logs.findIndex((l) => l.source === "emulator" && l.level === "critical");
      expect(trapAt).toBeGreaterThan(0);
      expect(logs[trapAt - 1]).toMatchObject({ level: "critical", source: "proxy_log", rootId: "probe-a" });
      expect(logs[trapAt - 1].message).toMatch(/^ai-gateway-wasm: abort: Index out of range at ~lib\/array\.ts:\d+:\d+$/);
    });
  });
});
