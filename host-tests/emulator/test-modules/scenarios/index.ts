// Test filters for the emulator's own tests: one module, one root_id per behaviour under test.
// Filters report what they observed as local-response bodies, request headers (which reach the
// echo upstream) or response headers, as `name=value` pairs. Built by
// host-tests/emulator/test-modules/build.ts into build/emulator-test-modules/scenarios.wasm.
export * from "../../../../assembly/abi/exports";
import {
  BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, HeaderPair, HttpCallHandler,
  HttpCallResponse, HttpContext, Metric, MetricType, RootContext, serializePairs, WasmResult, bufferLength, callForeignFunction,
  clearRouteCache, closeRequest, continueRequest, continueResponse, defineCounter, defineGauge, defineHistogram,
  dequeueSharedQueue, enqueueSharedQueue, getBuffer, getProperty, getPropertyString, getSharedData,
  httpCallResponseHeaders, lastStatus, logCritical, logDebug, logInfo, logWarn, nowMillis, registerRootContext,
  registerSharedQueue, requestHeaders, resolveSharedQueue, responseHeaders, sendLocalResponse, setBuffer,
  setProperty, setSharedData, setTickPeriod,
} from "../../../../assembly/index";
import { proxy_define_metric, proxy_done, proxy_http_call, proxy_set_effective_context } from "../../../../assembly/abi/imports";
import { wasmResultName } from "../../../../assembly/abi/types";
import { Report } from "../../../fixtures/abi-probe/report";

/** The scenarios' streams keep their root for what they report (the layer's streams have none). */
class RootedStream extends HttpContext {
  constructor(id: u32, public readonly root: RootContext) {
    super(id);
  }
}

// ---- host functions our layer does not import ----

// @ts-ignore: decorator
@external("env", "proxy_get_status")
declare function proxy_get_status(code_ptr: usize, value_ptr_ptr: usize, value_size_ptr: usize): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovs_len: usize, nwritten: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, time: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_sizes_get")
declare function environ_sizes_get(count: usize, size: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_get")
declare function environ_get(environ: usize, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_sizes_get")
declare function args_sizes_get(argc: usize, size: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "sched_yield")
declare function sched_yield(): u16;

const SCRATCH: usize = memory.data(64, 8);

/** Environment variables as "KEY=VALUE" strings (WASI environ_get). */
function environment(): string[] {
  const out = new Array<string>();
  if (environ_sizes_get(SCRATCH, SCRATCH + 4) != 0) return out;
  const count = load<u32>(SCRATCH);
  const size = load<u32>(SCRATCH + 4);
  if (count == 0) return out;
  const pointers = new ArrayBuffer(<i32>count * 4);
  const buf = new ArrayBuffer(<i32>size);
  environ_get(changetype<usize>(pointers), changetype<usize>(buf));
  const base = changetype<usize>(buf);
  for (let i: u32 = 0; i < count; i++) {
    const start = load<u32>(changetype<usize>(pointers) + i * 4) as usize;
    let end = start;
    while (end < base + size && load<u8>(end) != 0) end++;
    out.push(String.UTF8.decodeUnsafe(start, end - start));
  }
  return out;
}

// Started with EMU_RESTRICTED=1, the module defines a metric while it starts, which Envoy forbids.
if (environment().includes("EMU_RESTRICTED=1")) {
  const name = String.UTF8.encode("too.early");
  proxy_define_metric(0, changetype<usize>(name), name.byteLength, SCRATCH);
}

// ---- helpers ----


function reply(status: u32, body: string): FilterHeadersStatus {
  sendLocalResponse(status, "report", String.UTF8.encode(body), [new HeaderPair("content-type", "text/plain")]);
  return FilterHeadersStatus.StopIteration;
}

function header(name: string, fallback: string): string {
  const v = requestHeaders.get(name);
  return v === null ? fallback : v;
}

function text(buf: ArrayBuffer | null): string {
  return buf === null ? "<null>" : String.UTF8.decode(buf);
}

function configText(configuration: ArrayBuffer): string {
  return String.UTF8.decode(configuration);
}

// ---- lifecycle: logs every callback ----

class LifecycleRoot extends RootContext {
  config: string = "";
  onVmStart(vmConfiguration: ArrayBuffer): bool {
    logInfo("vm_start " + this.rootId + " " + String.UTF8.decode(vmConfiguration));
    return true;
  }
  onConfigure(configuration: ArrayBuffer): bool {
    this.config = configText(configuration);
    logInfo("configure " + this.rootId + " '" + this.config + "' root=" + this.id.toString());
    if (this.config == "fail") {
      logCritical("lifecycle: configuration: refused on purpose");
      return false;
    }
    if (this.config == "shared") setSharedData("lifecycle/configured", String.UTF8.encode(this.rootId));
    return true;
  }
  newHttpContext(id: u32): HttpContext {
    logInfo("context_create " + this.rootId + " stream=" + id.toString());
    return new LifecycleStream(id, this);
  }
  onDone(): bool {
    logInfo("root_done " + this.rootId);
    return true;
  }
  onDelete(): void {
    logInfo("root_delete " + this.rootId);
  }
}

class LifecycleStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    logDebug("debug line " + this.id.toString());
    requestHeaders.add("x-seen-by", this.root.rootId);
    return FilterHeadersStatus.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.add("x-seen-by", this.root.rootId);
    return FilterHeadersStatus.Continue;
  }
  onLog(): void {
    const path = getPropertyString(["request", "path"]);
    const seen = requestHeaders.get("x-seen-by");
    logInfo("log " + this.root.rootId + " path=" + (path === null ? "<null>" : path) + " seen=" + (seen === null ? "<null>" : seen));
  }
  onDone(): void {
    logInfo("done " + this.root.rootId + " " + this.id.toString());
  }
  onDelete(): void {
    logInfo("delete " + this.root.rootId + " " + this.id.toString());
  }
}

// ---- hold: StopIteration on headers, buffer the body, then edit headers ----

class HoldStream extends RootedStream {
  sizes: string[] = [];
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if (endOfStream) return FilterHeadersStatus.Continue;
    return FilterHeadersStatus.StopIteration;
  }
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    this.sizes.push(bodySize.toString());
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    const body = getBuffer(BufferType.HttpRequestBody, 0, bodySize);
    requestHeaders.replace("x-body-sizes", this.sizes.join(","));
    requestHeaders.replace("x-body", text(body));
    requestHeaders.replace("x-buffer-length", bufferLength(BufferType.HttpRequestBody).toString());
    return FilterDataStatus.Continue;
  }
  onRequestTrailers(numTrailers: u32): FilterTrailersStatus {
    requestHeaders.replace("x-body-sizes", this.sizes.join(","));
    return FilterTrailersStatus.Continue;
  }
}

// ---- body-edit: set_buffer_bytes with Envoy's copyFrom rules ----

class BodyEditStream extends RootedStream {
  op: string = "";
  result: string = "";
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    this.op = header("x-op", "replace");
    requestHeaders.remove("content-length");
    return FilterHeadersStatus.Continue;
  }
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    const data = String.UTF8.encode("<new>");
    let status = WasmResult.Ok;
    if (this.op == "replace") status = setBuffer(BufferType.HttpRequestBody, 0, bodySize, data);
    else if (this.op == "replace-front") status = setBuffer(BufferType.HttpRequestBody, 0, 2, data);
    else if (this.op == "prepend") status = setBuffer(BufferType.HttpRequestBody, 0, 0, data);
    else if (this.op == "append") status = setBuffer(BufferType.HttpRequestBody, bodySize, 0, data);
    else if (this.op == "middle") status = setBuffer(BufferType.HttpRequestBody, 1, 0, data);
    else if (this.op == "config") status = setBuffer(BufferType.PluginConfiguration, 0, 0, data);
    this.result = wasmResultName(status);
    return FilterDataStatus.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.replace("x-set-status", this.result);
    return FilterHeadersStatus.Continue;
  }
}

// ---- deny: local responses, and seeing them on the response path ----

class DenyRoot extends RootContext {
  where: string = "";
  onConfigure(configuration: ArrayBuffer): bool {
    this.where = configText(configuration);
    return true;
  }
  newHttpContext(id: u32): HttpContext {
    return new DenyStream(id, this);
  }
}

class DenyStream extends RootedStream {
  deny(): void {
    const headers = [new HeaderPair("x-local", "1"), new HeaderPair("content-type", "application/json")];
    sendLocalResponse(403, "denied by policy", String.UTF8.encode("{\"error\":\"forbidden\"}"), headers);
  }
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if ((this.root as DenyRoot).where == "headers") this.deny();
    // Returning Continue after a local response: Envoy must stop anyway.
    return FilterHeadersStatus.Continue;
  }
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if ((this.root as DenyRoot).where == "body" && endOfStream) this.deny();
    return FilterDataStatus.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if (responseHeaders.get("x-local") !== null) responseHeaders.replace("x-saw-local", "1");
    if ((this.root as DenyRoot).where == "response") {
      sendLocalResponse(502, "replaced", String.UTF8.encode("replaced"), []);
    }
    return FilterHeadersStatus.Continue;
  }
  onLog(): void {
    logInfo("deny log " + this.id.toString());
  }
}

// ---- caller: HTTP calls that hold the request until they answer ----

class CallReporter extends HttpCallHandler {
  constructor(public stream: CallerStream) {
    super();
  }
  onHttpCallResponse(response: HttpCallResponse): void {
    const r = new Report();
    r.add("failed", response.failed ? "true" : "false");
    if (response.failed) {
      const code = proxy_get_status(SCRATCH, SCRATCH + 8, SCRATCH + 12);
      const ptr = load<u32>(SCRATCH + 8) as usize;
      const len = load<u32>(SCRATCH + 12) as usize;
      r.add("get_status", wasmResultName(<WasmResult>code));
      r.add("code", wasmResultName(<WasmResult>load<u32>(SCRATCH)));
      r.add("message", len == 0 ? "" : String.UTF8.decodeUnsafe(ptr, len));
    } else {
      r.add("status", response.status().toString());
      r.add("body", String.UTF8.decode(response.body()));
      const echo = response.header("x-echo");
      r.add("x-echo", echo === null ? "<none>" : echo);
      r.add("headers", response.numHeaders.toString());
      r.add("trailers", response.numTrailers.toString());
    }
    r.add("stream", this.stream.id.toString());
    r.status("set", requestHeaders.replace("x-call", r.lines.join(";")));
    r.status("continue", continueRequest());
    logInfo("call answered: " + r.lines.join(";"));
  }
}

class CallerStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const cluster = header("x-cluster", "auth");
    const timeout = <u32>I64.parseInt(header("x-timeout-ms", "1000"));
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair(":method", "POST"));
    headers.push(new HeaderPair(":path", "/check"));
    if (header("x-bad", "") != "no-authority") headers.push(new HeaderPair(":authority", "auth.local"));
    headers.push(new HeaderPair("x-echo", "ping"));
    if (header("x-raw-zero-timeout", "") != "") {
      // Our layer refuses a 0 timeout itself; go around it to see what the host does.
      const up = String.UTF8.encode(cluster);
      const h = serializePairs(headers);
      const empty = serializePairs(new Array<HeaderPair>());
      const status = proxy_http_call(
        changetype<usize>(up), up.byteLength, changetype<usize>(h), h.byteLength, 0, 0,
        changetype<usize>(empty), empty.byteLength, 0, SCRATCH,
      );
      requestHeaders.replace("x-raw-call", wasmResultName(<WasmResult>status) + " token=" + load<u32>(SCRATCH).toString());
      return FilterHeadersStatus.Continue;
    }
    const token = this.httpCall(cluster, headers, String.UTF8.encode("payload"), timeout, new CallReporter(this));
    if (token == 0) return reply(502, "refused=" + wasmResultName(lastStatus()));
    logInfo("call started token=" + token.toString());
    if (header("x-stop", "") == "all") return FilterHeadersStatus.StopAllIterationAndWatermark;
    return FilterHeadersStatus.StopIteration;
  }
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    const write = requestHeaders.replace("x-late-write", "1");
    logInfo("caller body " + bodySize.toString() + " eos=" + (endOfStream ? "1" : "0") + " write=" + wasmResultName(write));
    return FilterDataStatus.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const late = httpCallResponseHeaders.get(":status");
    responseHeaders.replace("x-late-call-read", late === null ? wasmResultName(lastStatus()) : late);
    // Our layer's getBuffer turns NotFound into an empty buffer; the status tells them apart.
    getBuffer(BufferType.HttpCallResponseBody, 0, 100);
    responseHeaders.replace("x-late-call-body", wasmResultName(lastStatus()));
    return FilterHeadersStatus.Continue;
  }
}

class CallerRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new CallerStream(id, this);
  }
}

// ---- ticker ----

class TickerRoot extends RootContext {
  ticks: Metric | null = null;
  onConfigure(configuration: ArrayBuffer): bool {
    this.ticks = defineCounter("ticker.ticks");
    const period = <u32>I64.parseInt(configText(configuration));
    setTickPeriod(period);
    return true;
  }
  onTick(): void {
    (this.ticks as Metric).increment(1);
    logDebug("tick at " + nowMillis().toString());
  }
}

// ---- metrics ----

class MetricsRoot extends RootContext {
  c: Metric | null = null;
  g: Metric | null = null;
  h: Metric | null = null;
  onConfigure(configuration: ArrayBuffer): bool {
    this.c = defineCounter("m.c");
    this.g = defineGauge("m.g");
    this.h = defineHistogram("m.h");
    return true;
  }
  newHttpContext(id: u32): HttpContext {
    return new MetricsStream(id, this);
  }
}

class MetricsStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const root = this.root as MetricsRoot;
    const c = root.c as Metric;
    const g = root.g as Metric;
    const h = root.h as Metric;
    const r = new Report();
    r.add("ids", c.id.toString() + "," + g.id.toString() + "," + h.id.toString());
    r.status("c+1", c.increment(1));
    r.status("c+0", c.increment(0));
    r.status("c-1", c.increment(-1));
    r.status("c.record5", c.record(5));
    r.add("c.get", c.get().toString());
    r.status("g.record42", g.record(42));
    r.status("g-2", g.increment(-2));
    r.add("g.get", g.get().toString());
    r.status("h.record7", h.record(7));
    r.status("h.record9", h.record(9));
    r.status("h+1", h.increment(1));
    h.get();
    r.status("h.get", lastStatus());
    const again = defineCounter("m.c");
    r.add("again.id", again.id.toString());
    r.status("again+1", again.increment(1));
    const bogus = new Metric(MetricType.Counter, "bogus", 400, true);
    r.status("unknown+1", bogus.increment(1));
    return reply(200, r.text());
  }
}

// ---- shared data ----

class SharedStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const r = new Report();
    const key = header("x-key", "k");
    const op = header("x-op", "get");
    if (op == "get") {
      const v = getSharedData(key);
      r.status("status", v.status);
      r.add("value", String.UTF8.decode(v.value));
      r.add("cas", v.cas.toString());
    } else {
      const cas = <u32>I64.parseInt(header("x-cas", "0"));
      r.status("status", setSharedData(key, String.UTF8.encode(header("x-value", "")), cas));
    }
    return reply(200, r.text());
  }
}

// ---- shared queues ----

class QueueConsumerRoot extends RootContext {
  items: Metric | null = null;
  onConfigure(configuration: ArrayBuffer): bool {
    this.items = defineCounter("queue.items");
    const id = registerSharedQueue(configText(configuration));
    logInfo("registered " + configText(configuration) + " id=" + id.toString() + " root=" + this.id.toString());
    return true;
  }
  onQueueReady(queueId: u32): void {
    let item = dequeueSharedQueue(queueId);
    while (item !== null) {
      (this.items as Metric).increment(1);
      logInfo("got " + String.UTF8.decode(item) + " on root " + this.id.toString());
      item = dequeueSharedQueue(queueId);
    }
    logInfo("drained " + wasmResultName(lastStatus()));
  }
}

class QueueProducerStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const r = new Report();
    const id = resolveSharedQueue(header("x-vm", ""), header("x-queue", "jobs"));
    r.status("resolve", lastStatus());
    r.add("id", id.toString());
    if (id != 0) {
      r.status("enqueue", enqueueSharedQueue(id, String.UTF8.encode(header("x-item", "item"))));
      logInfo("enqueued");
    }
    dequeueSharedQueue(123456);
    r.status("dequeue-unknown", lastStatus());
    return reply(200, r.text());
  }
}

// ---- properties ----

class PropsStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const r = new Report();
    const names = ["plugin_root_id", "plugin_name", "plugin_vm_id", "vm_id"];
    for (let i = 0; i < names.length; i++) {
      const v = getPropertyString([names[i]]);
      r.add(names[i], v === null ? wasmResultName(lastStatus()) : v);
    }
    const reqPaths = ["path", "method", "host", "url_path", "query", "id"];
    for (let i = 0; i < reqPaths.length; i++) {
      const v = getPropertyString(["request", reqPaths[i]]);
      r.add("request." + reqPaths[i], v === null ? wasmResultName(lastStatus()) : v);
    }
    const hv = getPropertyString(["request", "headers", "x-custom"]);
    r.add("request.headers.x-custom", hv === null ? wasmResultName(lastStatus()) : hv);
    const custom = getPropertyString(["custom", "key"]);
    r.add("custom.key", custom === null ? wasmResultName(lastStatus()) : custom);
    r.status("set", setProperty(["my_prop"], String.UTF8.encode("v1")));
    const mine = getPropertyString(["my_prop"]);
    r.add("my_prop", mine === null ? wasmResultName(lastStatus()) : mine);
    requestHeaders.replace("x-props", r.lines.join(";"));
    return FilterHeadersStatus.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const path = getPropertyString(["request", "path"]);
    responseHeaders.replace("x-late-path", path === null ? wasmResultName(lastStatus()) : path);
    const code = getProperty(["response", "code"]);
    responseHeaders.replace("x-response-code", code === null ? wasmResultName(lastStatus()) : load<i64>(changetype<usize>(code)).toString());
    const reqHeader = requestHeaders.get(":path");
    responseHeaders.replace("x-late-request-header", reqHeader === null ? wasmResultName(lastStatus()) : reqHeader);
    return FilterHeadersStatus.Continue;
  }
}

class PropsRoot extends RootContext {
  onConfigure(configuration: ArrayBuffer): bool {
    const path = getPropertyString(["request", "path"]);
    logInfo("root request.path " + (path === null ? wasmResultName(lastStatus()) : path));
    logInfo("root set_property " + wasmResultName(setProperty(["x"], String.UTF8.encode("y"))));
    return true;
  }
  newHttpContext(id: u32): HttpContext {
    return new PropsStream(id, this);
  }
}

// ---- misc host calls ----

class MiscStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const r = new Report();
    r.status("clear_route_cache", clearRouteCache());
    const unknown = callForeignFunction("no_such_function", new ArrayBuffer(0));
    r.add("foreign-unknown", unknown === null ? wasmResultName(lastStatus()) : "value");
    const echoed = callForeignFunction("echo_fn", String.UTF8.encode("abc"));
    r.add("foreign-echo", echoed === null ? wasmResultName(lastStatus()) : String.UTF8.decode(echoed));
    r.add("set_effective_context-bad", wasmResultName(<WasmResult>proxy_set_effective_context(9999)));
    r.add("set_effective_context-root", wasmResultName(<WasmResult>proxy_set_effective_context(this.root.id)));
    // A local response needs the stream to be the effective context again.
    proxy_set_effective_context(this.id);
    r.add("proxy_done", wasmResultName(<WasmResult>proxy_done()));
    r.add("now", nowMillis().toString());
    r.add("header-size", requestHeaders.byteSize().toString());
    const multi = requestHeaders.get("x-multi");
    r.add("x-multi", multi === null ? "<null>" : multi);
    r.add("x-multi-all", requestHeaders.getAll("x-multi").join(","));
    return reply(200, r.text());
  }
}

// ---- lingering: finishes teardown later with proxy_done ----

class LingeringRoot extends RootContext {
  closing: bool = false;
  onConfigure(configuration: ArrayBuffer): bool {
    setTickPeriod(1000);
    return true;
  }
  onDone(): bool {
    logInfo("lingering on_done");
    this.closing = true;
    return false;
  }
  onTick(): void {
    if (this.closing) logInfo("lingering done() " + wasmResultName(this.done()));
  }
  onDelete(): void {
    logInfo("lingering deleted");
  }
}

// ---- trap ----

class TrapStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if (requestHeaders.get("x-trap") !== null) {
      const a = new Uint8Array(1);
      const i = <i32>I64.parseInt(header("x-trap", "5"));
      a[i] = 1;
    }
    requestHeaders.replace("x-passed", "1");
    return FilterHeadersStatus.Continue;
  }
}

// ---- wasi ----

function writeFd(fd: u32, message: string): u16 {
  const data = String.UTF8.encode(message);
  store<u32>(SCRATCH + 16, changetype<usize>(data) as u32);
  store<u32>(SCRATCH + 20, data.byteLength);
  return fd_write(fd, SCRATCH + 16, 1, SCRATCH + 24);
}

class WasiStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const r = new Report();
    r.add("stdout", writeFd(1, "hello stdout\n").toString());
    r.add("written", load<u32>(SCRATCH + 24).toString());
    r.add("stderr", writeFd(2, "hello stderr").toString());
    r.add("fd3", writeFd(3, "nope").toString());
    clock_time_get(0, 1, SCRATCH + 32);
    r.add("realtime_ms", (load<u64>(SCRATCH + 32) / 1000000).toString());
    clock_time_get(1, 1, SCRATCH + 40);
    r.add("monotonic", load<u64>(SCRATCH + 40).toString());
    r.add("cputime", clock_time_get(2, 1, SCRATCH + 40).toString());
    r.add("env", environment().join(","));
    args_sizes_get(SCRATCH, SCRATCH + 4);
    r.add("argc", load<u32>(SCRATCH).toString());
    store<u64>(SCRATCH + 48, 0);
    r.add("random", random_get(SCRATCH + 48, 8).toString());
    r.add("random_nonzero", load<u64>(SCRATCH + 48) != 0 ? "true" : "false");
    r.add("random_big", random_get(SCRATCH, 70000).toString());
    r.add("sched_yield", sched_yield().toString());
    return reply(200, r.text());
  }
}

// ---- respbuf: buffer and rewrite the response ----

class RespBufStream extends RootedStream {
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if (endOfStream) return FilterHeadersStatus.Continue;
    return FilterHeadersStatus.StopIteration;
  }
  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    const body = getBuffer(BufferType.HttpResponseBody, 0, bodySize);
    const upper = text(body).toUpperCase();
    setBuffer(BufferType.HttpResponseBody, 0, bodySize, String.UTF8.encode(upper));
    responseHeaders.replace("x-resp-size", bodySize.toString());
    responseHeaders.remove("content-length");
    return FilterDataStatus.Continue;
  }
}

// ---- pauser: holds the response until a tick resumes it ----

class PauserRoot extends RootContext {
  waiting: u32 = 0;
  onConfigure(configuration: ArrayBuffer): bool {
    setTickPeriod(500);
    return true;
  }
  onTick(): void {
    if (this.waiting == 0) return;
    const stream = this.waiting;
    this.waiting = 0;
    proxy_set_effective_context(stream);
    logInfo("resuming response " + wasmResultName(continueResponse()));
  }
  newHttpContext(id: u32): HttpContext {
    return new PauserStream(id, this);
  }
}

class PauserStream extends RootedStream {
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    (this.root as PauserRoot).waiting = this.id;
    return FilterHeadersStatus.StopAllIterationAndBuffer;
  }
  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    logInfo("pauser body " + bodySize.toString() + " eos=" + (endOfStream ? "1" : "0"));
    return FilterDataStatus.Continue;
  }
}

// ---- closer ----

class CloserStream extends RootedStream {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    logWarn("closing " + wasmResultName(closeRequest()));
    return FilterHeadersStatus.StopIteration;
  }
}

registerRootContext("lifecycle", (id: u32, rootId: string): RootContext => new LifecycleRoot(id, rootId));
registerRootContext("lifecycle-b", (id: u32, rootId: string): RootContext => new LifecycleRoot(id, rootId));
registerRootContext("hold", (id: u32, rootId: string): RootContext => new HoldRoot(id, rootId));
registerRootContext("body-edit", (id: u32, rootId: string): RootContext => new BodyEditRoot(id, rootId));
registerRootContext("deny", (id: u32, rootId: string): RootContext => new DenyRoot(id, rootId));
registerRootContext("caller", (id: u32, rootId: string): RootContext => new CallerRoot(id, rootId));
registerRootContext("ticker", (id: u32, rootId: string): RootContext => new TickerRoot(id, rootId));
registerRootContext("metrics", (id: u32, rootId: string): RootContext => new MetricsRoot(id, rootId));
registerRootContext("shared", (id: u32, rootId: string): RootContext => new SharedRoot(id, rootId));
registerRootContext("queue-consumer", (id: u32, rootId: string): RootContext => new QueueConsumerRoot(id, rootId));
registerRootContext("queue-producer", (id: u32, rootId: string): RootContext => new QueueProducerRoot(id, rootId));
registerRootContext("props", (id: u32, rootId: string): RootContext => new PropsRoot(id, rootId));
registerRootContext("misc", (id: u32, rootId: string): RootContext => new MiscRoot(id, rootId));
registerRootContext("lingering", (id: u32, rootId: string): RootContext => new LingeringRoot(id, rootId));
registerRootContext("trap", (id: u32, rootId: string): RootContext => new TrapRoot(id, rootId));
registerRootContext("wasi", (id: u32, rootId: string): RootContext => new WasiRoot(id, rootId));
registerRootContext("respbuf", (id: u32, rootId: string): RootContext => new RespBufRoot(id, rootId));
registerRootContext("pauser", (id: u32, rootId: string): RootContext => new PauserRoot(id, rootId));
registerRootContext("closer", (id: u32, rootId: string): RootContext => new CloserRoot(id, rootId));

// Root classes that only pick the stream class.
class HoldRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new HoldStream(id, this);
  }
}
class BodyEditRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new BodyEditStream(id, this);
  }
}
class SharedRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new SharedStream(id, this);
  }
}
class QueueProducerRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new QueueProducerStream(id, this);
  }
}
class MiscRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new MiscStream(id, this);
  }
}
class TrapRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new TrapStream(id, this);
  }
}
class WasiRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new WasiStream(id, this);
  }
}
class RespBufRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new RespBufStream(id, this);
  }
}
class CloserRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new CloserStream(id, this);
  }
}
