// One wasm filter's context for one HTTP stream: Envoy's Context (source/extensions/common/wasm/
// context.cc: decodeHeaders ... encodeTrailers, log, onDestroy, getMap/getConstMap/getBuffer,
// continueStream, closeStream, sendLocalResponse) on top of cpp-host's ContextBase
// (src/context.cc: the CHECK_FAIL guard and convertVmCallResultTo*Status). The filter manager
// around it is ./filter-manager.ts.
//
// The rules a filter author trips over, all reproduced:
// - Envoy holds a map only while the filter can still change it: request headers from
//   decodeHeaders until the filter lets them through (Continue, or proxy_continue_stream). After
//   that, reading a value is BadArgument, listing pairs gives an empty list, writing is BadArgument.
// - StopIteration from a headers callback becomes StopAllIterationAndWatermark unless the plugin
//   has allow_on_headers_stop_iteration (cpp-host convertVmCallResultToFilterHeadersStatus); with
//   StopAll, body data is buffered by Envoy and not shown to the filter until it continues.
// - After proxy_send_local_response the callback's own result is replaced by a stop
//   (stopNextIteration), and the reply is sent after the callback returns.
// - After StopIterationAndBuffer the next chunk is added to Envoy's buffer before the call, so
//   the size passed is cumulative and proxy_get_buffer_bytes reads everything buffered.

import { ContextBase } from "./context-base";
import { EMPTY_BUFFER, type BodyBuffer, type HostBuffer } from "./buffer";
import type { FilterManager, AccessLogView } from "./filter-manager";
import type { HeaderMap } from "./header-map";
import type { Plugin } from "./plugin";
import type { StreamInfoView } from "./properties";
import type { RootContext } from "./root-context";
import {
  BufferType, DATA_STATUS_NAMES, HEADERS_STATUS_NAMES, HeaderMapType, StreamType, TRAILERS_STATUS_NAMES,
  WasmResult, type HeaderPairs, type WasmResultCode,
} from "./types";
import type { ExportName, Vm } from "./vm";

const CONTINUE = 0;
const HEADERS_STOP_ALL_WATERMARK = 4;
const DATA_STOP_AND_BUFFER = 1;
const DATA_STOP_NO_BUFFER = 3;
const TRAILERS_STOP = 1;
/** Grpc::Status::WellKnownGrpcStatus::Unavailable, which Envoy passes with its 503. */
const GRPC_UNAVAILABLE = 14;

export class StreamContext extends ContextBase {
  readonly isRoot = false;
  requestHeaders: HeaderMap | null = null;
  requestBody: BodyBuffer | null = null;
  requestTrailers: HeaderMap | null = null;
  responseHeaders: HeaderMap | null = null;
  responseBody: BodyBuffer | null = null;
  responseTrailers: HeaderMap | null = null;
  bufferingRequestBody = false;
  bufferingResponseBody = false;
  endOfStream = false;
  destroyed = false;
  failureLocalReplySent = false;
  private streamFailed = false;
  private accessLog: AccessLogView | null = null;

  constructor(
    vm: Vm,
    id: number,
    plugin: Plugin,
    private readonly rootContext: RootContext,
    private readonly fm: FilterManager,
    /** Position of this filter in the chain (decode order). */
    readonly slot: number,
  ) {
    super(vm, id, plugin);
  }

  get root(): ContextBase {
    return this.rootContext;
  }

  get accessLogPhase(): boolean {
    return this.accessLog !== null;
  }

  // ---- Envoy Context: the filter manager calls these ----

  decodeHeaders(headers: HeaderMap, endStream: boolean): number {
    this.onCreate();
    this.requestHeaders = headers;
    this.endOfStream = endStream;
    const result = this.headersCallback("proxy_on_request_headers", "onRequestHeaders", headers.size, endStream);
    if (result === CONTINUE) this.requestHeaders = null;
    return result;
  }

  decodeData(data: BodyBuffer, endStream: boolean): number {
    if (!this.inVmContextCreated) return CONTINUE;
    if (this.bufferingRequestBody) {
      this.fm.addDecodedData(data);
      if (this.destroyed) return DATA_STOP_AND_BUFFER;
    }
    this.requestBody = data;
    this.endOfStream = endStream;
    const size = this.getBuffer(BufferType.HttpRequestBody)?.length ?? 0;
    const result = this.dataCallback("proxy_on_request_body", "onRequestBody", size, endStream);
    this.bufferingRequestBody = false;
    if (result === CONTINUE) this.requestBody = null;
    else if (result === DATA_STOP_AND_BUFFER) this.bufferingRequestBody = true;
    return result;
  }

  decodeTrailers(trailers: HeaderMap): number {
    if (!this.inVmContextCreated) return CONTINUE;
    this.requestTrailers = trailers;
    const result = this.trailersCallback("proxy_on_request_trailers", "onRequestTrailers", trailers.size);
    if (result === CONTINUE) this.requestTrailers = null;
    return result;
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): number {
    if (!this.inVmContextCreated || this.failureLocalReplySent) return CONTINUE;
    this.responseHeaders = headers;
    this.endOfStream = endStream;
    const result = this.headersCallback("proxy_on_response_headers", "onResponseHeaders", headers.size, endStream);
    if (result === CONTINUE) this.responseHeaders = null;
    return result;
  }

  encodeData(data: BodyBuffer, endStream: boolean): number {
    if (!this.inVmContextCreated || this.failureLocalReplySent) return CONTINUE;
    if (this.bufferingResponseBody) {
      this.fm.addEncodedData(data);
      if (this.destroyed) return DATA_STOP_AND_BUFFER;
    }
    this.responseBody = data;
    this.endOfStream = endStream;
    const size = this.getBuffer(BufferType.HttpResponseBody)?.length ?? 0;
    const result = this.dataCallback("proxy_on_response_body", "onResponseBody", size, endStream);
    this.bufferingResponseBody = false;
    if (result === CONTINUE) this.responseBody = null;
    else if (result === DATA_STOP_AND_BUFFER) this.bufferingResponseBody = true;
    return result;
  }

  encodeTrailers(trailers: HeaderMap): number {
    if (!this.inVmContextCreated || this.failureLocalReplySent) return CONTINUE;
    this.responseTrailers = trailers;
    const result = this.trailersCallback("proxy_on_response_trailers", "onResponseTrailers", trailers.size);
    if (result === CONTINUE) this.responseTrailers = null;
    return result;
  }

  /** Envoy Context::log: creates the context if the stream never reached it, then onLog. */
  log(view: AccessLogView): void {
    if (!this.inVmContextCreated) this.onCreate();
    this.accessLog = view;
    const vm = this.vm;
    if (!vm.failed && vm.has("proxy_on_log")) {
      vm.defer(() => {
        vm.call(this, "proxy_on_log", this.id);
        this.fm.record(this, "onLog", {});
      });
    }
    this.accessLog = null;
  }

  /** Envoy Context::onDestroy: onDone then onDelete; the context is gone afterwards. */
  onDestroy(): void {
    const vm = this.vm;
    if (!this.destroyed && this.inVmContextCreated) {
      this.destroyed = true;
      if (!vm.failed && vm.has("proxy_on_done")) {
        vm.defer(() => {
          vm.call(this, "proxy_on_done", this.id);
          this.fm.record(this, "onDone", {});
        });
      }
      if (!vm.failed && vm.has("proxy_on_delete")) {
        vm.defer(() => {
          vm.call(this, "proxy_on_delete", this.id);
          this.fm.record(this, "onDelete", {});
        });
      }
    }
    this.destroyed = true;
    vm.forgetContext(this.id);
    const plugin = this.plugin;
    if (plugin !== null && plugin.teardownRequested && vm.streamsOf(plugin) === 0) plugin.teardown();
  }

  // ---- cpp-host ContextBase: calls into the guest ----

  private onCreate(): void {
    const vm = this.vm;
    if (!vm.failed && !this.inVmContextCreated && vm.has("proxy_on_context_create")) {
      vm.defer(() => {
        vm.call(this, "proxy_on_context_create", this.id, this.rootContext.id);
        this.fm.record(this, "onContextCreate", { rootContextId: this.rootContext.id });
      });
    }
    this.inVmContextCreated = true;
  }

  private headersCallback(fn: ExportName, label: string, headers: number, endStream: boolean): number {
    return this.callback(fn, label, { headers, endOfStream: endStream }, HEADERS_STOP_ALL_WATERMARK, HEADERS_STATUS_NAMES, (raw) =>
      this.convertHeaders(raw),
    );
  }

  private dataCallback(fn: ExportName, label: string, bodySize: number, endStream: boolean): number {
    return this.callback(fn, label, { bodySize, endOfStream: endStream }, DATA_STOP_NO_BUFFER, DATA_STATUS_NAMES, (raw) =>
      stopOr(this.vm.stopIteration, raw, DATA_STOP_NO_BUFFER),
    );
  }

  private trailersCallback(fn: ExportName, label: string, trailers: number): number {
    return this.callback(fn, label, { trailers }, TRAILERS_STOP, TRAILERS_STATUS_NAMES, (raw) =>
      stopOr(this.vm.stopIteration, raw, TRAILERS_STOP),
    );
  }

  /**
   * cpp-host ContextBase::on{Request,Response}{Headers,Body,Trailers}: CHECK_FAIL, call the guest,
   * CHECK_FAIL again, convert the result; the after-call actions run once the result is known.
   */
  private callback(
    fn: ExportName,
    label: string,
    args: Record<string, number | boolean>,
    closed: number,
    names: readonly string[],
    convert: (raw: number | undefined) => number,
  ): number {
    const vm = this.vm;
    const failed = this.checkFail(CONTINUE, closed);
    if (failed !== null || !vm.has(fn)) return failed ?? CONTINUE;
    return vm.defer(() => {
      const raw = vm.call(this, fn, this.id, ...Object.values(args).map(Number));
      const status = this.checkFail(CONTINUE, closed) ?? convert(raw);
      this.fm.record(this, label, args, raw, names[status]);
      return status;
    });
  }

  /**
   * cpp-host convertVmCallResultToFilterHeadersStatus, then Envoy's convertFilterHeadersStatus
   * (which has no case for ContinueAndEndStream, so 2 becomes Continue).
   */
  private convertHeaders(raw: number | undefined): number {
    if (this.vm.stopIteration || raw === undefined || raw > HEADERS_STOP_ALL_WATERMARK) return HEADERS_STOP_ALL_WATERMARK;
    if (raw === 1 && !this.plugin!.allowOnHeadersStopIteration) return HEADERS_STOP_ALL_WATERMARK;
    return raw === 2 ? CONTINUE : raw;
  }

  /** cpp-host CHECK_FAIL_HTTP: a failed VM fails the stream with 503 once, or lets it through. */
  private checkFail(open: number, closed: number): number | null {
    if (!this.vm.failed) return null;
    if (this.plugin!.failOpen) return open;
    if (!this.streamFailed) {
      this.streamFailed = true;
      if (!this.failureLocalReplySent) {
        this.failureLocalReplySent = true;
        this.fm.sendLocalReply(null, 503, new Uint8Array(0), [], GRPC_UNAVAILABLE, "wasm_fail_stream");
      }
    }
    return closed;
  }

  // ---- host calls ----

  getMap(type: number): HeaderMap | null {
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return this.requestHeaders;
      case HeaderMapType.RequestTrailers:
        if (this.requestTrailers === null && this.requestBody !== null && this.endOfStream) {
          this.requestTrailers = this.fm.addDecodedTrailers();
        }
        return this.requestTrailers;
      case HeaderMapType.ResponseHeaders:
        return this.responseHeaders;
      case HeaderMapType.ResponseTrailers:
        if (this.responseTrailers === null && this.responseBody !== null && this.endOfStream) {
          this.responseTrailers = this.fm.addEncodedTrailers();
        }
        return this.responseTrailers;
      default:
        return null;
    }
  }

  getConstMap(type: number): HeaderMap | null {
    const log = this.accessLog;
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return log !== null ? log.requestHeaders : this.requestHeaders;
      case HeaderMapType.RequestTrailers:
        return log !== null ? null : this.requestTrailers;
      case HeaderMapType.ResponseHeaders:
        return log !== null ? log.responseHeaders : this.responseHeaders;
      case HeaderMapType.ResponseTrailers:
        return log !== null ? log.responseTrailers : this.responseTrailers;
      default:
        return super.getConstMap(type);
    }
  }

  getBuffer(type: number): HostBuffer | null {
    if (type === BufferType.HttpRequestBody) {
      if (this.bufferingRequestBody) return this.fm.decodingBuffer();
      return this.requestBody ?? EMPTY_BUFFER;
    }
    if (type === BufferType.HttpResponseBody) {
      if (this.bufferingResponseBody) return this.fm.encodingBuffer();
      return this.responseBody ?? EMPTY_BUFFER;
    }
    return super.getBuffer(type);
  }

  onHeadersModified(type: number): void {
    // ABI 0.2.1 and older: every request-header write clears the route cache (Envoy 1.33+).
    if (type === HeaderMapType.RequestHeaders) this.clearRouteCache();
  }

  clearRouteCache(): void {
    this.fm.routeCacheClears++;
  }

  /** Envoy continueStream: deferred until the current guest call returns. */
  continueStream(type: number): WasmResultCode {
    switch (type) {
      case StreamType.Request:
        this.vm.addAfterCallAction(() => this.fm.continueDecoding(this.slot));
        break;
      case StreamType.Response:
        this.vm.addAfterCallAction(() => this.fm.continueEncoding(this.slot));
        break;
      case StreamType.Downstream:
        return WasmResult.Ok;
      case StreamType.Upstream:
        return WasmResult.Unimplemented;
      default:
        return WasmResult.BadArgument;
    }
    // Envoy forgets the request maps for either stream type: from here on they are read-only.
    this.requestHeaders = null;
    this.requestBody = null;
    this.requestTrailers = null;
    return WasmResult.Ok;
  }

  closeStream(type: number): WasmResultCode {
    if (type === StreamType.Request || type === StreamType.Response) {
      this.vm.addAfterCallAction(() => this.fm.resetStream("wasm_close_stream"));
      return WasmResult.Ok;
    }
    return type <= StreamType.Upstream ? WasmResult.Ok : WasmResult.BadArgument;
  }

  sendLocalResponse(status: number, body: Uint8Array, headers: HeaderPairs, grpcStatus: number, details: string): void {
    // Envoy replaces white space in the details with '_' (StringUtil::replaceAllEmptySpace).
    const cleaned = details.replace(/\s/g, "_");
    this.vm.addAfterCallAction(() => this.fm.sendLocalReply(this.slot, status, body, headers, grpcStatus, cleaned));
  }

  setProperty(path: string, value: Uint8Array): WasmResultCode {
    this.fm.filterState.set(path, value.slice());
    return WasmResult.Ok;
  }

  filterState(): ReadonlyMap<string, Uint8Array> {
    return this.fm.filterState;
  }

  streamInfo(): StreamInfoView {
    const log = this.accessLog;
    return this.fm.streamInfo(
      log !== null ? log.requestHeaders : this.requestHeaders,
      log !== null ? log.responseHeaders : this.responseHeaders,
      log !== null ? log.responseTrailers : this.responseTrailers,
    );
  }
}

/** cpp-host convertVmCallResultTo{FilterData,FilterTrailers}Status: a forced or unknown result is `stop`. */
function stopOr(forced: boolean, raw: number | undefined, stop: number): number {
  return forced || raw === undefined || raw > stop ? stop : raw;
}
