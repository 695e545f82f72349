// One HTTP stream through a chain of wasm filters and the router, with the iteration rules of
// Envoy's FilterManager (source/common/http/filter_manager.cc). This is what decides which
// callbacks a filter sees and with what, so it mirrors Envoy closely:
//
// - Per filter and direction, an iteration state: Continue, StopSingleIteration (headers stopped
//   with StopIteration, or any data stop), StopAllBuffer / StopAllWatermark (headers stopped with
//   StopAllIterationAnd*). Encoders run in reverse order.
// - Headers: Continue passes them on; any stop ends the walk. Data: a filter stopped "all" does not
//   see data; the frame is buffered for it. Data Continue after a stopped header resumes the chain
//   (commonContinue); data StopIterationAndBuffer/Watermark moves the frame into the stream's one
//   buffer; StopIterationNoBuffer drops it (the filter keeps what it needs).
// - Resuming (proxy_continue_stream -> continueDecoding) sends the held headers to the next
//   filter, then the buffered data (to the same filter first if it had stopped "all"), then
//   trailers.
// - The buffer limit (the listener's per_connection_buffer_limit_bytes, 1 MiB by default) counts
//   the stream's buffered bytes; going over while buffering (not streaming) is a local 413 on the
//   request path ("request_payload_too_large"), and a 500 or a reset on the response path
//   ("response_payload_too_large"). Watermark buffering only pauses reading, which the emulator
//   records as `flowControlPaused`.
// - Local replies (FilterManager::sendLocalReply): before any response headers exist they go
//   through the whole encoder chain, including the filter that sent them; once the response
//   has started but its headers have not reached the client they replace it directly (no
//   filters); after that the stream is reset.
// - The router takes the request when it reaches the end of the chain, asks the upstream
//   (./upstream.ts) once the request is complete, and starts the route timeout then (15 s by
//   default, 504 "upstream request timeout"). An upstream reset before response headers is a 503.
// - When the response is complete (or the stream is reset) the stream ends: every filter's
//   proxy_on_log, then proxy_on_done and proxy_on_delete (ConnectionManagerImpl::
//   doDeferredStreamDestroy: log, then destroyFilters).

import { BodyBuffer } from "./buffer";
import type { Timer } from "./clock";
import { HeaderMap } from "./header-map";
import type { Host } from "./host";
import type { Plugin } from "./plugin";
import type { StreamInfoView } from "./properties";
import type { StreamContext } from "./stream-context";
import { fromUtf8, pairsToRecord, toBytes, type HeaderPairs } from "./types";
import { Upstream, type UpstreamHandler, type UpstreamRequest } from "./upstream";

type Iteration = "Continue" | "StopSingleIteration" | "StopAllBuffer" | "StopAllWatermark";

interface Side {
  state: Iteration;
  headersContinued: boolean;
  endStream: boolean;
  fromCurrent: boolean;
}

interface Slot {
  ctx: StreamContext;
  dec: Side;
  enc: Side;
}

const HEADERS_CONTINUE = 0;
const HEADERS_STOP_ITERATION = 1;
const HEADERS_STOP_ALL_BUFFER = 3;
const DATA_CONTINUE = 0;
const DATA_STOP_AND_BUFFER = 1;
const DATA_STOP_AND_WATERMARK = 2;

export interface AccessLogView {
  requestHeaders: HeaderMap | null;
  responseHeaders: HeaderMap | null;
  responseTrailers: HeaderMap | null;
}

/** One call into a filter, in the order they happened. */
export interface Action {
  /** root_id of the filter's plugin. */
  filter: string;
  contextId: number;
  callback: string;
  args: Record<string, number | boolean>;
  /** What the guest returned. */
  returned?: number;
  /** What Envoy made of it (after StopIteration translation, forced stops, ...). */
  status?: string;
  /** True for a response callback that shows a local reply (not the upstream's response). */
  localReply: boolean;
}

export interface LocalReply {
  status: number;
  headers: Record<string, string>;
  headerPairs: HeaderPairs;
  body: string;
  bodyBytes: Uint8Array;
  details: string;
  grpcStatus: number;
  /** root_id of the filter that asked for it, or "envoy". */
  sentBy: string;
  /** "filter-chain", "direct" (replaced a response already underway) or "reset". */
  delivery: "filter-chain" | "direct" | "reset";
}

export interface DownstreamResponse {
  status: number;
  headers: Record<string, string>;
  headerPairs: HeaderPairs;
  body: string;
  bodyBytes: Uint8Array;
  trailers: Record<string, string> | undefined;
  complete: boolean;
}

export interface FilterManagerOptions {
  bufferLimitBytes: number;
  routeTimeoutMs: number;
  /** Answers the request once it is complete at the router; without one the test answers. */
  upstream?: UpstreamHandler;
}

export class FilterManager {
  readonly slots: Slot[] = [];
  readonly actions: Action[] = [];
  readonly startMs: number;
  readonly connectionId: number;
  routeCacheClears = 0;
  flowControlPaused = false;

  // Request side.
  requestHeaders: HeaderMap | null = null;
  requestTrailers: HeaderMap | null = null;
  private bufferedRequest: BodyBuffer | null = null;
  private remoteComplete = false;
  private decoderStreaming = true;
  private requestOverLimit = false;
  private decodeAborted = false;
  bytesReceived = 0;

  // Router.
  upstreamHeaders: HeaderMap | null = null;
  readonly upstreamBody = new BodyBuffer();
  upstreamTrailers: HeaderMap | null = null;
  /** The whole request (end of stream) reached the router. */
  upstreamComplete = false;
  private routeTimer: Timer | null = null;
  /** The other end of the router's connection, when a handler plays it. */
  readonly upstream: Upstream | null;

  // Response side.
  private responseHeaders: HeaderMap | null = null;
  private responseTrailers: HeaderMap | null = null;
  private bufferedResponse: BodyBuffer | null = null;
  private encoderStreaming = true;
  private responseOverLimit = false;
  private encodeAborted = false;
  /** The response (from upstream or a local reply) has ended on the encoder side's input. */
  private responseComplete = false;
  downstreamHeaders: HeaderMap | null = null;
  readonly downstreamBody = new BodyBuffer();
  downstreamTrailers: HeaderMap | null = null;
  responseCode: number | undefined;
  responseCodeDetails: string | undefined;
  localReply: LocalReply | null = null;

  finished = false;
  resetReason: string | null = null;
  private finishedAtMs: number | undefined;

  constructor(
    private readonly host: Host,
    plugins: readonly Plugin[],
    private readonly options: FilterManagerOptions,
  ) {
    this.startMs = host.clock.nowMs();
    this.connectionId = host.nextConnectionId();
    this.upstream = options.upstream === undefined ? null : new Upstream(host.clock, this, options.upstream);
    plugins.forEach((plugin, slot) => {
      const ctx = plugin.vm.createStreamContext(plugin, this, slot);
      const side = (): Side => ({ state: "Continue", headersContinued: false, endStream: false, fromCurrent: false });
      this.slots.push({ ctx, dec: side(), enc: side() });
    });
  }

  record(ctx: StreamContext, callback: string, args: Record<string, number | boolean>, returned?: number, status?: string): void {
    this.actions.push({
      filter: ctx.rootId,
      contextId: ctx.id,
      callback,
      args,
      returned,
      status,
      localReply: this.localReply?.delivery === "filter-chain" && callback.startsWith("onResponse"),
    });
  }

  // ---- downstream (the client) ----

  downstreamRequestHeaders(pairs: HeaderPairs, endStream: boolean): void {
    if (this.finished || this.requestHeaders !== null) throw new Error("request headers were already sent on this stream");
    this.requestHeaders = new HeaderMap(pairs);
    this.remoteComplete = endStream;
    this.decodeHeaders(0, this.requestHeaders, endStream);
  }

  downstreamRequestData(bytes: Uint8Array, endStream: boolean): void {
    if (this.finished) return;
    if (this.requestHeaders === null) throw new Error("send request headers before the body");
    this.bytesReceived += bytes.length;
    if (endStream) this.remoteComplete = true;
    this.decodeData(0, new BodyBuffer(bytes), endStream);
  }

  downstreamRequestTrailers(pairs: HeaderPairs): void {
    if (this.finished) return;
    if (this.requestHeaders === null) throw new Error("send request headers before trailers");
    this.requestTrailers = new HeaderMap(pairs);
    this.remoteComplete = true;
    this.decodeTrailers(0, this.requestTrailers);
  }

  /** The client went away (or gave up): the stream ends with a reset. */
  downstreamReset(reason = "downstream_remote_disconnect"): void {
    this.resetStream(reason);
  }

  // ---- decoder chain ----

  private decodeHeaders(start: number, headers: HeaderMap, endStream: boolean): void {
    for (let i = start; i < this.slots.length; i++) {
      if (this.finished || this.decodeAborted) return;
      const side = this.slots[i].dec;
      side.endStream = endStream;
      const status = this.slots[i].ctx.decodeHeaders(headers, endStream);
      if (this.finished || this.decodeAborted) return;
      if (status === HEADERS_CONTINUE) {
        side.headersContinued = true;
        continue;
      }
      side.state = headersStop(status);
      return;
    }
    this.routerHeaders(headers, endStream);
  }

  private decodeData(start: number, data: BodyBuffer, endStream: boolean): void {
    if (this.finished || this.decodeAborted) return;
    const trailersAtStart = this.requestTrailers !== null;
    let trailersAddedAt = -1;
    for (let i = start; i < this.slots.length; i++) {
      const side = this.slots[i].dec;
      if (stoppedAll(side)) {
        this.decoderStreaming = side.state === "StopAllWatermark";
        this.bufferRequest(data);
        return;
      }
      if (side.endStream) return;
      side.endStream = endStream && this.requestTrailers === null;
      const status = this.slots[i].ctx.decodeData(data, side.endStream);
      if (this.finished || this.decodeAborted) return;
      if (!trailersAtStart && this.requestTrailers !== null && trailersAddedAt < 0) {
        endStream = false;
        trailersAddedAt = i;
      }
      if (!this.afterDecodeData(i, status, data)) return;
    }
    this.routerData(data, endStream);
    if (trailersAddedAt >= 0 && this.requestTrailers !== null) this.decodeTrailers(trailersAddedAt + 1, this.requestTrailers);
  }

  /** ActiveStreamFilterBase::commonHandleAfterDataCallback (decoder side); true = go on. */
  private afterDecodeData(i: number, status: number, data: BodyBuffer): boolean {
    const side = this.slots[i].dec;
    if (status === DATA_CONTINUE) {
      if (side.state === "StopSingleIteration") {
        this.bufferRequest(data);
        this.continueDecoding(i);
        return false;
      }
      return true;
    }
    side.state = "StopSingleIteration";
    if (status === DATA_STOP_AND_BUFFER || status === DATA_STOP_AND_WATERMARK) {
      this.decoderStreaming = status === DATA_STOP_AND_WATERMARK;
      this.bufferRequest(data);
    } else if (this.remoteComplete && this.requestTrailers === null && this.bufferedRequest === null) {
      // StopIterationNoBuffer on the last frame: keep an empty buffer so resuming sends end_stream.
      this.bufferedRequest = new BodyBuffer();
    }
    return false;
  }

  private decodeTrailers(start: number, trailers: HeaderMap): void {
    if (this.finished || this.decodeAborted) return;
    for (let i = start; i < this.slots.length; i++) {
      const side = this.slots[i].dec;
      if (stoppedAll(side)) return;
      const status = this.slots[i].ctx.decodeTrailers(trailers);
      side.endStream = true;
      if (this.finished || this.decodeAborted) return;
      if (status === HEADERS_CONTINUE) {
        if (side.state === "StopSingleIteration") {
          this.continueDecoding(i);
          return;
        }
        continue;
      }
      if (side.state === "Continue") side.state = "StopSingleIteration";
      return;
    }
    this.routerTrailers(trailers);
  }

  /** ActiveStreamFilterBase::commonContinue for decoder filter `i`. */
  continueDecoding(i: number): void {
    if (this.finished || this.decodeAborted) return;
    const side = this.slots[i].dec;
    if (side.state === "Continue") {
      this.host.warn(
        `proxy_continue_stream(Request) from ${this.slots[i].ctx.describe()} while its request is not paused; ` +
          "Envoy asserts on this (and in release builds resumes a filter that is still running)",
        this.slots[i].ctx,
      );
      return;
    }
    if (stoppedAll(side)) side.fromCurrent = true;
    side.state = "Continue";
    if (!side.headersContinued) {
      side.headersContinued = true;
      const endStream = this.remoteComplete && this.bufferedRequest === null && this.requestTrailers === null;
      this.decodeHeaders(i + 1, this.requestHeaders!, endStream);
    }
    const hadTrailers = this.requestTrailers !== null;
    if (this.bufferedRequest !== null) {
      this.decodeData(side.fromCurrent ? i : i + 1, this.bufferedRequest, this.remoteComplete && !hadTrailers);
    }
    if (hadTrailers) this.decodeTrailers(side.fromCurrent ? i : i + 1, this.requestTrailers!);
    side.fromCurrent = false;
  }

  /** FilterManager::addDecodedData from a filter's own decodeData (wasm buffering): not streaming. */
  addDecodedData(data: BodyBuffer): void {
    this.decoderStreaming = false;
    this.bufferRequest(data);
  }

  decodingBuffer(): BodyBuffer {
    if (this.bufferedRequest === null) this.bufferedRequest = new BodyBuffer();
    return this.bufferedRequest;
  }

  addDecodedTrailers(): HeaderMap {
    if (this.requestTrailers === null) this.requestTrailers = new HeaderMap();
    return this.requestTrailers;
  }

  private bufferRequest(data: BodyBuffer): void {
    if (data === this.bufferedRequest) return;
    if (this.bufferedRequest === null) this.bufferedRequest = new BodyBuffer();
    this.bufferedRequest.moveFrom(data);
    if (this.requestOverLimit || this.bufferedRequest.length <= this.options.bufferLimitBytes) return;
    this.requestOverLimit = true;
    if (this.decoderStreaming) this.flowControlPaused = true;
    else this.sendLocalReply(null, 413, toBytes("Payload Too Large"), [], -1, "request_payload_too_large");
  }

  // ---- router and upstream ----

  private routerHeaders(headers: HeaderMap, endStream: boolean): void {
    this.upstreamHeaders = headers.clone();
    if (endStream) this.routerComplete();
  }

  private routerData(data: BodyBuffer, endStream: boolean): void {
    if (this.upstreamComplete) return;
    this.upstreamBody.append(data.bytes());
    data.drain(data.length);
    if (endStream) this.routerComplete();
  }

  private routerTrailers(trailers: HeaderMap): void {
    if (this.upstreamComplete) return;
    this.upstreamTrailers = trailers.clone();
    this.routerComplete();
  }

  private routerComplete(): void {
    this.upstreamComplete = true;
    if (this.options.routeTimeoutMs > 0) {
      this.routeTimer = this.host.clock.schedule(this.options.routeTimeoutMs, "route timeout", () => {
        if (this.responseHeaders === null) {
          this.sendLocalReply(null, 504, toBytes("upstream request timeout"), [], -1, "upstream_response_timeout");
        }
      });
    }
    this.upstream?.ask();
  }

  /** What reached the router, in the shape upstream handlers receive. */
  upstreamRequest(): UpstreamRequest | undefined {
    const h = this.upstreamHeaders;
    if (h === null) return undefined;
    const bytes = this.upstreamBody.bytes().slice();
    return {
      method: h.get(":method") ?? "",
      path: h.get(":path") ?? "",
      authority: h.get(":authority") ?? "",
      headers: pairsToRecord(h.pairs()),
      headerPairs: h.pairs(),
      body: fromUtf8(bytes),
      bodyBytes: bytes,
      trailers: this.upstreamTrailers === null ? undefined : pairsToRecord(this.upstreamTrailers.pairs()),
    };
  }

  /** Whether the response can still come from upstream (no local reply took its place). */
  get awaitingUpstreamResponse(): boolean {
    return !this.finished && this.responseHeaders === null;
  }

  upstreamResponseHeaders(pairs: HeaderPairs, endStream: boolean): void {
    if (!this.awaitingUpstreamResponse) return;
    this.routeTimer?.cancel();
    // The router records the upstream status before the encoder filters run (response.code).
    const status = Number(pairs.find(([n]) => n === ":status")?.[1]);
    if (Number.isFinite(status)) this.responseCode = status;
    this.responseCodeDetails = "via_upstream";
    this.responseHeaders = new HeaderMap(pairs);
    this.responseComplete = endStream;
    this.encodeHeaders(0, this.responseHeaders, endStream);
  }

  upstreamResponseData(bytes: Uint8Array, endStream: boolean): void {
    if (this.finished || this.encodingLocalReplyDone()) return;
    if (endStream) this.responseComplete = true;
    this.encodeData(0, new BodyBuffer(bytes), endStream);
  }

  upstreamResponseTrailers(pairs: HeaderPairs): void {
    if (this.finished || this.encodingLocalReplyDone()) return;
    this.responseTrailers = new HeaderMap(pairs);
    this.responseComplete = true;
    this.encodeTrailers(0, this.responseTrailers);
  }

  /** The upstream connection reset: 503 before response headers, a downstream reset after. */
  upstreamReset(): void {
    if (this.finished) return;
    if (this.responseHeaders === null) {
      const body = "upstream connect error or disconnect/reset before headers. reset reason: remote reset";
      this.sendLocalReply(null, 503, toBytes(body), [], -1, "upstream_reset_before_response_started{remote_reset}");
    } else {
      this.resetStream("upstream_reset_after_response_started{remote_reset}");
    }
  }

  private encodingLocalReplyDone(): boolean {
    return this.localReply !== null || this.encodeAborted;
  }

  // ---- encoder chain (slots in reverse) ----

  private encodeHeaders(start: number, headers: HeaderMap, endStream: boolean): void {
    const n = this.slots.length;
    for (let k = start; k < n; k++) {
      if (this.finished || this.encodeAborted) return;
      const side = this.slots[n - 1 - k].enc;
      side.endStream = endStream;
      const status = this.slots[n - 1 - k].ctx.encodeHeaders(headers, endStream);
      if (this.finished || this.encodeAborted) return;
      if (status === HEADERS_CONTINUE) {
        side.headersContinued = true;
        continue;
      }
      side.state = headersStop(status);
      return;
    }
    this.sendDownstreamHeaders(headers, endStream);
  }

  private encodeData(start: number, data: BodyBuffer, endStream: boolean): void {
    if (this.finished || this.encodeAborted) return;
    const n = this.slots.length;
    const trailersAtStart = this.responseTrailers !== null;
    let trailersAddedAt = -1;
    for (let k = start; k < n; k++) {
      const side = this.slots[n - 1 - k].enc;
      if (stoppedAll(side)) {
        this.encoderStreaming = side.state === "StopAllWatermark";
        this.bufferResponse(data);
        return;
      }
      if (side.endStream) return;
      side.endStream = endStream && this.responseTrailers === null;
      const status = this.slots[n - 1 - k].ctx.encodeData(data, side.endStream);
      if (this.finished || this.encodeAborted) return;
      if (!trailersAtStart && this.responseTrailers !== null && trailersAddedAt < 0) {
        endStream = false;
        trailersAddedAt = k;
      }
      if (!this.afterEncodeData(k, status, data)) return;
    }
    this.sendDownstreamData(data, endStream);
    if (trailersAddedAt >= 0 && this.responseTrailers !== null) this.encodeTrailers(trailersAddedAt + 1, this.responseTrailers);
  }

  private afterEncodeData(k: number, status: number, data: BodyBuffer): boolean {
    const side = this.slots[this.slots.length - 1 - k].enc;
    if (status === DATA_CONTINUE) {
      if (side.state === "StopSingleIteration") {
        this.bufferResponse(data);
        this.continueEncoding(this.slots.length - 1 - k);
        return false;
      }
      return true;
    }
    side.state = "StopSingleIteration";
    if (status === DATA_STOP_AND_BUFFER || status === DATA_STOP_AND_WATERMARK) {
      this.encoderStreaming = status === DATA_STOP_AND_WATERMARK;
      this.bufferResponse(data);
    } else if (this.responseComplete && this.responseTrailers === null && this.bufferedResponse === null) {
      this.bufferedResponse = new BodyBuffer();
    }
    return false;
  }

  private encodeTrailers(start: number, trailers: HeaderMap): void {
    if (this.finished || this.encodeAborted) return;
    const n = this.slots.length;
    for (let k = start; k < n; k++) {
      const side = this.slots[n - 1 - k].enc;
      if (stoppedAll(side)) return;
      const status = this.slots[n - 1 - k].ctx.encodeTrailers(trailers);
      side.endStream = true;
      if (this.finished || this.encodeAborted) return;
      if (status === HEADERS_CONTINUE) {
        if (side.state === "StopSingleIteration") {
          this.continueEncoding(n - 1 - k);
          return;
        }
        continue;
      }
      if (side.state === "Continue") side.state = "StopSingleIteration";
      return;
    }
    this.sendDownstreamTrailers(trailers);
  }

  /** commonContinue for the encoder side of filter `slot` (decode order index). */
  continueEncoding(slot: number): void {
    if (this.finished || this.encodeAborted || this.responseHeaders === null) return;
    const side = this.slots[slot].enc;
    const k = this.slots.length - 1 - slot;
    if (side.state === "Continue") {
      this.host.warn(
        `proxy_continue_stream(Response) from ${this.slots[slot].ctx.describe()} while its response is not paused`,
        this.slots[slot].ctx,
      );
      return;
    }
    if (stoppedAll(side)) side.fromCurrent = true;
    side.state = "Continue";
    const complete = this.responseComplete;
    if (!side.headersContinued) {
      side.headersContinued = true;
      this.encodeHeaders(k + 1, this.responseHeaders, complete && this.bufferedResponse === null && this.responseTrailers === null);
    }
    const hadTrailers = this.responseTrailers !== null;
    if (this.bufferedResponse !== null) this.encodeData(side.fromCurrent ? k : k + 1, this.bufferedResponse, complete && !hadTrailers);
    if (hadTrailers) this.encodeTrailers(side.fromCurrent ? k : k + 1, this.responseTrailers!);
    side.fromCurrent = false;
  }

  addEncodedData(data: BodyBuffer): void {
    this.encoderStreaming = false;
    this.bufferResponse(data);
  }

  encodingBuffer(): BodyBuffer {
    if (this.bufferedResponse === null) this.bufferedResponse = new BodyBuffer();
    return this.bufferedResponse;
  }

  addEncodedTrailers(): HeaderMap {
    if (this.responseTrailers === null) this.responseTrailers = new HeaderMap();
    return this.responseTrailers;
  }

  private bufferResponse(data: BodyBuffer): void {
    if (data === this.bufferedResponse) return;
    if (this.bufferedResponse === null) this.bufferedResponse = new BodyBuffer();
    this.bufferedResponse.moveFrom(data);
    if (this.responseOverLimit || this.bufferedResponse.length <= this.options.bufferLimitBytes) return;
    this.responseOverLimit = true;
    if (this.encoderStreaming) this.flowControlPaused = true;
    else this.sendLocalReply(null, 500, toBytes("Internal Server Error"), [], -1, "response_payload_too_large");
  }

  // ---- downstream codec (the client receives) ----

  private sendDownstreamHeaders(headers: HeaderMap, endStream: boolean): void {
    this.downstreamHeaders = headers.clone();
    if (endStream) this.finish();
  }

  private sendDownstreamData(data: BodyBuffer, endStream: boolean): void {
    this.downstreamBody.append(data.bytes());
    data.drain(data.length);
    if (endStream) this.finish();
  }

  private sendDownstreamTrailers(trailers: HeaderMap): void {
    this.downstreamTrailers = trailers.clone();
    this.finish();
  }

  // ---- local replies, resets, end of stream ----

  /**
   * FilterManager::sendLocalReply with Utility::sendLocalReply's headers: `:status`, the extra
   * headers, then content-length and (if the extras did not set one) content-type text/plain for
   * a non-empty body.
   */
  sendLocalReply(fromSlot: number | null, status: number, body: Uint8Array, extra: HeaderPairs, grpcStatus: number, details: string): void {
    const sentBy = fromSlot === null ? "envoy" : this.slots[fromSlot].ctx.rootId;
    if (this.finished) {
      this.host.warn(`local reply ${status} from ${sentBy} after the stream ended is dropped`, null);
      return;
    }
    this.decodeAborted = true;
    this.routeTimer?.cancel();
    const headers = new HeaderMap([[":status", String(status)]]);
    for (const [name, value] of extra) headers.add(name, value);
    if (body.length > 0) {
      headers.set("content-length", String(body.length));
      if (!headers.has("content-type")) headers.set("content-type", "text/plain");
    } else {
      headers.remove("content-length");
      headers.remove("content-type");
    }
    const delivery = this.responseHeaders === null ? "filter-chain" : this.downstreamHeaders === null ? "direct" : "reset";
    const pairs = headers.pairs();
    this.localReply = {
      status,
      headers: pairsToRecord(pairs),
      headerPairs: pairs,
      body: fromUtf8(body),
      bodyBytes: body.slice(),
      details,
      grpcStatus,
      sentBy,
      delivery,
    };
    this.responseCode = status;
    this.responseCodeDetails = details;
    if (delivery === "reset") {
      this.resetStream(details);
      return;
    }
    if (delivery === "direct") {
      // The response underway is replaced without passing through the filters again.
      this.encodeAborted = true;
      this.downstreamHeaders = headers;
      this.downstreamBody.drain(this.downstreamBody.length);
      this.downstreamBody.append(body);
      this.finish();
      return;
    }
    this.responseHeaders = headers;
    this.responseComplete = true;
    this.encodeHeaders(0, headers, body.length === 0);
    if (body.length > 0 && !this.finished && !this.encodeAborted) this.encodeData(0, new BodyBuffer(body), true);
  }

  resetStream(reason: string): void {
    if (this.finished) return;
    this.resetReason = reason;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.finishedAtMs = this.host.clock.nowMs();
    this.routeTimer?.cancel();
    this.upstream?.cancel();
    const view: AccessLogView = {
      requestHeaders: this.requestHeaders,
      responseHeaders: this.downstreamHeaders,
      responseTrailers: this.downstreamTrailers,
    };
    for (const slot of this.slots) slot.ctx.log(view);
    for (const slot of this.slots) slot.ctx.onDestroy();
  }

  // ---- observation ----

  streamInfo(requestHeaders: HeaderMap | null, responseHeaders: HeaderMap | null, responseTrailers: HeaderMap | null): StreamInfoView {
    return {
      requestHeaders,
      responseHeaders,
      responseTrailers,
      startTimeMs: this.startMs,
      durationMs: this.finishedAtMs === undefined ? undefined : this.finishedAtMs - this.startMs,
      protocol: "HTTP/1.1",
      connectionId: this.connectionId,
      responseCode: this.responseCode,
      responseCodeDetails: this.responseCodeDetails,
      bytesReceived: this.bytesReceived,
      bytesSent: this.downstreamBody.length,
    };
  }

  downstreamResponse(): DownstreamResponse | undefined {
    const h = this.downstreamHeaders;
    if (h === null) return undefined;
    const pairs = h.pairs();
    const bytes = this.downstreamBody.bytes().slice();
    return {
      status: Number(h.get(":status") ?? 0),
      headers: pairsToRecord(pairs),
      headerPairs: pairs,
      body: fromUtf8(bytes),
      bodyBytes: bytes,
      trailers: this.downstreamTrailers === null ? undefined : pairsToRecord(this.downstreamTrailers.pairs()),
      complete: this.finished && this.resetReason === null,
    };
  }

  /** A short description of where the stream waits, for stall reports. */
  describeWait(): string {
    const paused = this.slots
      .map((s, i) => {
        const parts: string[] = [];
        if (s.dec.state !== "Continue") parts.push(`request ${s.dec.state}`);
        if (s.enc.state !== "Continue") parts.push(`response ${s.enc.state}`);
        return parts.length === 0 ? "" : `filter ${i} (${s.ctx.rootId}): ${parts.join(", ")}`;
      })
      .filter((s) => s !== "");
    if (paused.length > 0) return paused.join("; ");
    if (!this.upstreamComplete) return "the request has not reached the upstream";
    return "waiting for the upstream response";
  }
}

function stoppedAll(side: Side): boolean {
  return side.state === "StopAllBuffer" || side.state === "StopAllWatermark";
}

function headersStop(status: number): Iteration {
  if (status === HEADERS_STOP_ITERATION) return "StopSingleIteration";
  if (status === HEADERS_STOP_ALL_BUFFER) return "StopAllBuffer";
  return "StopAllWatermark";
}
