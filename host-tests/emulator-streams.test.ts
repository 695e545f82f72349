// The emulator's filter-chain semantics (Envoy's FilterManager, the wasm Context's header/body
// rules, local replies, limits, the router), checked with the scenario filters in
// host-tests/emulator/test-modules/scenarios.
import { beforeAll, describe, expect, it } from "vitest";
import { Host, type Plugin, type PluginOptions } from "./emulator";
import { testModule } from "./emulator/test-modules/build";

let scenarios = "";

beforeAll(async () => {
  scenarios = await testModule("scenarios");
}, 120_000);

async function start(options: PluginOptions, host = new Host()): Promise<{ host: Host; plugin: Plugin }> {
  const vm = await host.loadVm(scenarios);
  return { host, plugin: vm.startPlugin(options) };
}

function calls(actions: Array<{ callback: string; status?: string; args: Record<string, number | boolean> }>): string[] {
  return actions
    .filter((a) => a.callback.startsWith("onRequest") || a.callback.startsWith("onResponse"))
    .map((a) => `${a.callback}(${Object.values(a.args).join(",")})=${a.status}`);
}

describe("emulator filter chain", () => {
  describe("request headers", () => {
    it("turns StopIteration into StopAllIterationAndWatermark without allow_on_headers_stop_iteration, so the body waits and the request stalls", async () => {
      const { plugin } = await start({ rootId: "hold" });
      const res = await plugin.request({ method: "POST", body: "abcdef" });
      const headers = res.actions.find((a) => a.callback === "onRequestHeaders")!;
      expect([headers.returned, headers.status]).toEqual([1, "StopAllIterationAndWatermark"]);
      // Envoy buffers the body for the stopped filter and never calls onRequestBody.
      expect(calls(res.actions)).toEqual(["onRequestHeaders(7,false)=StopAllIterationAndWatermark"]);
      expect(res.stalled).toBe("filter 0 (hold): request StopAllWatermark");
      expect(res.upstreamRequest).toBeUndefined();
      expect(res.actions.slice(-3).map((a) => a.callback)).toEqual(["onLog", "onDone", "onDelete"]);
    });

    it("honours StopIteration with allow_on_headers_stop_iteration: the body is shown cumulatively and headers can still change", async () => {
      const { plugin } = await start({ rootId: "hold", allowOnHeadersStopIteration: true });
      const res = await plugin.request({ method: "POST", bodyChunks: ["abc", "def", "ghi"] });
      expect(calls(res.actions).slice(0, 4)).toEqual([
        "onRequestHeaders(6,false)=StopIteration",
        "onRequestBody(3,false)=StopIterationAndBuffer",
        "onRequestBody(6,false)=StopIterationAndBuffer",
        "onRequestBody(9,true)=Continue",
      ]);
      expect(res.upstreamRequest).toMatchObject({
        body: "abcdefghi",
        headers: { "x-body-sizes": "3,6,9", "x-body": "abcdefghi", "x-buffer-length": "9" },
      });
      expect(res.status).toBe(200);
    });

    it("finishes with trailers: the last body frame is not end of stream", async () => {
      const { plugin } = await start({ rootId: "hold", allowOnHeadersStopIteration: true });
      const res = await plugin.request({ method: "POST", bodyChunks: ["ab", "cd"], trailers: { "x-t": "1" } });
      expect(calls(res.actions).slice(0, 4)).toEqual([
        "onRequestHeaders(6,false)=StopIteration",
        "onRequestBody(2,false)=StopIterationAndBuffer",
        "onRequestBody(4,false)=StopIterationAndBuffer",
        "onRequestTrailers(1)=Continue",
      ]);
      expect(res.upstreamRequest).toMatchObject({ body: "abcd", trailers: { "x-t": "1" }, headers: { "x-body-sizes": "2,4" } });
    });

    it("shows a filter that stopped all iteration the whole buffered body when it continues", async () => {
      const host = new Host({ logLevel: "info" });
      host.addCluster("auth", () => ({ status: 200, body: "yes", delayMs: 100 }));
      const { plugin } = await start({ rootId: "caller" }, host);
      const res = await plugin.request({ method: "POST", headers: { "x-stop": "all" }, bodyChunks: ["abc", "def"] });
      expect(calls(res.actions).slice(0, 2)).toEqual([
        "onRequestHeaders(7,false)=StopAllIterationAndWatermark",
        "onRequestBody(6,true)=Continue",
      ]);
      expect(res.upstreamRequest).toMatchObject({ body: "abcdef", headers: { "x-call": expect.stringContaining("status=200;body=yes") } });
      // proxy_continue_stream made the request headers read-only for the filter.
      expect(host.logs({ contains: "caller body" }).map((l) => l.message)).toEqual(["caller body 6 eos=1 write=BadArgument"]);
      expect(res.durationMs).toBe(100);
    });

    it("refuses request-header reads and writes once the headers went on", async () => {
      const { host, plugin } = await start({ rootId: "props" });
      const res = await plugin.request({ path: "/p" });
      expect(res.response!.headers["x-late-request-header"]).toBe("BadArgument");
      expect(host.failedCalls({ function: "proxy_get_header_map_value", status: "BadArgument" })).toHaveLength(1);
    });
  });

  describe("bodies", () => {
    it.each([
      ["replace", "<new>", "Ok"],
      ["replace-front", "<new>cdef", "Ok"],
      ["prepend", "<new>abcdef", "Ok"],
      ["append", "abcdef<new>", "Ok"],
      ["middle", "abcdef", "BadArgument"],
      // The plugin configuration is only readable (and never writable) during on_configure.
      ["config", "abcdef", "NotFound"],
    ])("set_buffer_bytes %s follows Envoy's copyFrom rules", async (op, body, status) => {
      const { plugin } = await start({ rootId: "body-edit" });
      const res = await plugin.request({ method: "POST", headers: { "x-op": op }, bodyChunks: ["abc", "def"] });
      expect([res.upstreamRequest!.body, res.response!.headers["x-set-status"]]).toEqual([body, status]);
    });

    it("answers 413 when a buffering filter holds more than the buffer limit, through the filter's own response path", async () => {
      const host = new Host({ bufferLimitBytes: 8 });
      const { plugin } = await start({ rootId: "hold", allowOnHeadersStopIteration: true }, host);
      const res = await plugin.request({ method: "POST", bodyChunks: ["12345", "67890", "x"] });
      expect(res.localResponse).toMatchObject({ status: 413, body: "Payload Too Large", details: "request_payload_too_large", sentBy: "envoy" });
      expect(res.response).toMatchObject({ status: 413, headers: { "content-type": "text/plain", "content-length": "17" } });
      expect(res.upstreamRequest).toBeUndefined();
      // The second chunk went over as the wasm filter added it to its buffer, before calling the
      // guest: Envoy only prepares the 413 there, lets the guest see the body, and sends the reply
      // (through the filter's encoder) once the callback returns ("Preparing local reply", then
      // proxy_on_request_body, then "Executing sending local reply" in Envoy 1.40's debug log).
      expect(calls(res.actions)).toEqual([
        "onRequestHeaders(6,false)=StopIteration",
        "onRequestBody(5,false)=StopIterationAndBuffer",
        "onRequestBody(10,false)=StopIterationAndBuffer",
        "onResponseHeaders(3,false)=Continue",
        "onResponseBody(17,true)=Continue",
      ]);
      expect(res.actions.find((a) => a.callback === "onResponseHeaders")!.localReply).toBe(true);
    });

    it("buffers and rewrites a response body, reporting the cumulative size", async () => {
      const { plugin } = await start({ rootId: "respbuf", allowOnHeadersStopIteration: true });
      const res = await plugin.request({}, { upstream: () => ({ status: 200, bodyChunks: ["ab", "cd"] }) });
      expect(res.response).toMatchObject({ status: 200, body: "ABCD", headers: { "x-resp-size": "4" } });
    });

    it("replaces a response that outgrows the buffer limit with a 500 that skips the filters", async () => {
      const host = new Host({ bufferLimitBytes: 3 });
      const { plugin } = await start({ rootId: "respbuf", allowOnHeadersStopIteration: true }, host);
      const res = await plugin.request({}, { upstream: () => ({ status: 200, bodyChunks: ["ab", "cd"] }) });
      expect(res.localResponse).toMatchObject({ status: 500, details: "response_payload_too_large", delivery: "direct" });
      expect(res.response).toMatchObject({ status: 500, body: "Internal Server Error" });
    });
  });

  describe("local responses", () => {
    it("sends the reply after the callback, forces a stop and runs it through the same filter's response callbacks", async () => {
      const { plugin } = await start({ rootId: "deny", configuration: "headers" });
      const res = await plugin.request({ method: "POST", body: "x" });
      const onHeaders = res.actions.find((a) => a.callback === "onRequestHeaders")!;
      expect([onHeaders.returned, onHeaders.status]).toEqual([0, "StopAllIterationAndWatermark"]);
      expect(res.localResponse).toMatchObject({ status: 403, details: "denied_by_policy", sentBy: "deny", delivery: "filter-chain" });
      expect(res.response).toMatchObject({
        status: 403,
        body: '{"error":"forbidden"}',
        headers: { "x-local": "1", "content-type": "application/json", "content-length": "21", "x-saw-local": "1" },
      });
      expect(res.upstreamRequest).toBeUndefined();
      expect(res.actions.filter((a) => a.localReply).map((a) => a.callback)).toEqual(["onResponseHeaders", "onResponseBody"]);
      expect(res.actions.slice(-3).map((a) => a.callback)).toEqual(["onLog", "onDone", "onDelete"]);
    });

    it("forces StopIterationNoBuffer for a reply sent from a body callback", async () => {
      const { plugin } = await start({ rootId: "deny", configuration: "body" });
      const res = await plugin.request({ method: "POST", bodyChunks: ["a", "b"] });
      expect(calls(res.actions).slice(0, 3)).toEqual([
        "onRequestHeaders(6,false)=Continue",
        "onRequestBody(1,false)=Continue",
        "onRequestBody(1,true)=StopIterationNoBuffer",
      ]);
      expect(res.status).toBe(403);
      // The headers and the first chunk had reached the router already.
      expect(res.upstreamRequest).toMatchObject({ body: "a" });
    });

    it("replaces a response underway without running the filters again", async () => {
      const { plugin } = await start({ rootId: "deny", configuration: "response" });
      const res = await plugin.request();
      expect(res.localResponse).toMatchObject({ status: 502, delivery: "direct" });
      expect(res.response).toMatchObject({ status: 502, body: "replaced" });
      expect(res.response!.headers["x-saw-local"]).toBeUndefined();
    });
  });

  describe("continue and close", () => {
    it("resumes a paused response when the module continues it later (here from a tick)", async () => {
      const { host, plugin } = await start({ rootId: "pauser" });
      const res = await plugin.request({}, { upstream: () => ({ bodyChunks: ["abc", "def"] }) });
      expect(res.response).toMatchObject({ status: 200, body: "abcdef" });
      expect(res.durationMs).toBe(500);
      expect(host.logs({ contains: /^(resuming|pauser)/ }).map((l) => l.message)).toEqual([
        "resuming response Ok",
        "pauser body 6 eos=1",
      ]);
    });

    it("resets the stream on proxy_close_stream", async () => {
      const { plugin } = await start({ rootId: "closer" });
      const res = await plugin.request();
      expect(res.reset).toBe("wasm_close_stream");
      expect(res.response).toBeUndefined();
    });
  });

  describe("router", () => {
    it("answers 504 when the upstream takes longer than the route timeout", async () => {
      const { plugin } = await start({ rootId: "lifecycle" });
      const res = await plugin.request({}, { upstream: () => ({ status: 200, delayMs: 20_000 }) });
      expect(res.localResponse).toMatchObject({ status: 504, body: "upstream request timeout", details: "upstream_response_timeout" });
      expect(res.durationMs).toBe(15_000);
    });

    it("answers 503 when the upstream resets before its headers", async () => {
      const { plugin } = await start({ rootId: "lifecycle" });
      const res = await plugin.request({}, { upstream: () => ({ reset: true }) });
      expect(res.response).toMatchObject({ status: 503 });
      expect(res.localResponse!.details).toBe("upstream_reset_before_response_started{remote_reset}");
    });

    it("waits for an asynchronous upstream", async () => {
      const { plugin } = await start({ rootId: "lifecycle" });
      const res = await plugin.request({ path: "/async" }, {
        upstream: async (req) => ({ status: 202, body: `saw ${req.path}` }),
      });
      expect(res.response).toMatchObject({ status: 202, body: "saw /async" });
    });

    it("streams upstream body chunks spaced in time", async () => {
      const { plugin } = await start({ rootId: "lifecycle" });
      const res = await plugin.request({}, { upstream: () => ({ bodyChunks: ["data: 1\n\n", "data: 2\n\n"], chunkIntervalMs: 10 }) });
      expect(res.response!.body).toBe("data: 1\n\ndata: 2\n\n");
      expect(res.durationMs).toBe(20);
    });
  });
});
