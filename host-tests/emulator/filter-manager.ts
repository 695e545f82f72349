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
//   filters); after that the stream is reset. One raised while a decoder filter's callback runs
//   (the 413 of the wasm filter's own addDecodedData, a proxy_send_local_response) is only
//   prepared, and sent once that callback returns (prepareLocalReplyViaFilterChain,
//   executeLocalReplyIfPrepared): the filter finishes its callback first.
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

/** What differs between the two directions; the iteration rules themselves are shared. */
interface DirectionOps {
  /** The proxy-wasm stream type, as Envoy names it in warnings. */
  stream: "Request" | "Response";
  /** Encoders run in reverse chain order. */
  reversed: boolean;
  side(slot: Slot): Side;
  headers(ctx: StreamContext, headers: HeaderMap, endStream: boolean): number;
  data(ctx: StreamContext, data: BodyBuffer, endStream: boolean): number;
  trailers(ctx: StreamContext, trailers: HeaderMap): number;
  /** The end of the chain: the router for the request, the downstream codec for the response. */
  sinkHeaders(headers: HeaderMap, endStream: boolean): void;
  sinkData(data: BodyBuffer, endStream: boolean): void;
  sinkTrailers(trailers: HeaderMap): void;
  /** Going over the buffer limit while buffering the whole body (not streaming). */
  overLimit(): void;
  /** Appended to the warning for continuing a direction that is not paused. */
  notPausedNote: string;
}

/** One direction of the stream: its input, its one buffer and where its iteration stands. */
class Direction {
  headers: HeaderMap | null = null;
  trailers: HeaderMap | null = null;
  buffered: BodyBuffer | null = null;
  /** The input has ended (the client's end of stream; the whole response, or a local reply). */
  complete = false;
  /** Buffering only pauses reading (watermarks) rather than holding the whole body. */
  streaming = true;
  overLimit = false;
  /** A local reply ended this direction's iteration. */
  aborted = false;

  constructor(readonly ops: DirectionOps) {}
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
  /**
   * Values the stream's filters stored with proxy_set_property: Envoy keeps them in the stream's
   * filter state (`wasm.<path>`), so every filter entry of the stream finds what another set.
   */
  readonly filterState = new Map<string, Uint8Array>();

  /** The request through the decoders to the router. */
  private readonly request: Direction;
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

  /** The response (from upstream or a local reply) through the encoders to the client. */
  private readonly response: Direction;
  downstreamHeaders: HeaderMap | null = null;
  readonly downstreamBody = new BodyBuffer();
  downstreamTrailers: HeaderMap | null = null;
  responseCode: number | undefined;
  responseCodeDetails: string | undefined;
  localReply: LocalReply | null = null;

  finished = false;
  resetReason: string | null = null;
  private finishedAtMs: number | undefined;
  /** A decoder filter's callback is running (Envoy's filter_call_state_ IsDecodingMask). */
  private inDecoderCallback = false;
  /** The local reply raised during that callback, sent once it returns. */
  private preparedReply: (() => void) | null = null;

  constructor(
    private readonly host: Host,
    plugins: readonly Plugin[],
    private readonly options: FilterManagerOptions,
  ) {
    this.startMs = host.clock.nowMs();
    this.connectionId = host.nextConnectionId();
    this.upstream = options.upstream === undefined ? null : new Upstream(host.clock, this, options.upstream);
    this.request = new Direction({
      stream: "Request",
      reversed: false,
      side: (s) => s.dec,
      headers: (ctx, h, end) => this.decoding(() => ctx.decodeHeaders(h, end)),
      data: (ctx, d, end) => this.decoding(() => ctx.decodeData(d, end)),
      trailers: (ctx, t) => this.decoding(() => ctx.decodeTrailers(t)),
      sinkHeaders: (h, end) => this.routerHeaders(h, end),
      sinkData: (d, end) => this.routerData(d, end),
      sinkTrailers: (t) => this.routerTrailers(t),
      overLimit: () => this.sendLocalReply(null, 413, toBytes("Payload Too Large"), [], -1, "request_payload_too_large"),
      notPausedNote: "; Envoy asserts on this (and in release builds resumes a filter that is still running)",
    });
    this.response = new Direction({
      stream: "Response",
      reversed: true,
      side: (s) => s.enc,
      headers: (ctx, h, end) => ctx.encodeHeaders(h, end),
      data: (ctx, d, end) => ctx.encodeData(d, end),
      trailers: (ctx, t) => ctx.encodeTrailers(t),
      sinkHeaders: (h, end) => this.sendDownstreamHeaders(h, end),
      sinkData: (d, end) => this.sendDownstreamData(d, end),
      sinkTrailers: (t) => this.sendDownstreamTrailers(t),
      overLimit: () => this.sendLocalReply(null, 500, toBytes("Internal Server Error"), [], -1, "response_payload_too_large"),
      notPausedNote: "",
    });
    plugins.forEach((plugin, slot) => {
      const ctx = plugin.vm.createStreamContext(plugin, this, slot);
      const side = (): Side => ({ state: "Continue", headersContinued: false, endStream: false, fromCurrent: false });
      this.slots.push({ ctx, dec: side(), enc: side() });
    });
  }

  /** The request headers as the client sent them (filters may have changed them since). */
  get requestHeaders(): HeaderMap | null {
    return this.request.headers;
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
    if (this.finished || this.request.headers !== null) throw new Error("request headers were already sent on this stream");
    this.request.headers = new HeaderMap(pairs);
    this.request.complete = endStream;
    this.iterateHeaders(this.request, 0, this.request.headers, endStream);
  }

  downstreamRequestData(bytes: Uint8Array, endStream: boolean): void {
    if (this.finished) return;
    if (this.request.headers === null) throw new Error("send request headers before the body");
    this.bytesReceived += bytes.length;
    if (endStream) this.request.complete = true;
    this.iterateData(this.request, 0, new BodyBuffer(bytes), endStream);
  }

  downstreamRequestTrailers(pairs: HeaderPairs): void {
    if (this.finished) return;
    if (this.request.headers === null) throw new Error("send request headers before trailers");
    this.request.trailers = new HeaderMap(pairs);
    this.request.complete = true;
    this.iterateTrailers(this.request, 0, this.request.trailers);
  }

  /** The client went away (or gave up): the stream ends with a reset. */
  downstreamReset(reason = "downstream_remote_disconnect"): void {
    this.resetStream(reason);
  }

  // ---- the filter chain, in either direction ----

  /** The filter (decode-order slot index) at position `k` of the direction's walk. */
  private slotAt(d: Direction, k: number): number {
    return d.ops.reversed ? this.slots.length - 1 - k : k;
  }

  private iterateHeaders(d: Direction, start: number, headers: HeaderMap, endStream: boolean): void {
    for (let k = start; k < this.slots.length; k++) {
      if (this.finished || d.aborted) return;
      const slot = this.slots[this.slotAt(d, k)];
      const side = d.ops.side(slot);
      side.endStream = endStream;
      const status = d.ops.headers(slot.ctx, headers, endStream);
      if (this.finished || d.aborted) return;
      if (status === HEADERS_CONTINUE) {
        side.headersContinued = true;
        continue;
      }
      side.state = headersStop(status);
      return;
    }
    d.ops.sinkHeaders(headers, endStream);
  }

  private iterateData(d: Direction, start: number, data: BodyBuffer, endStream: boolean): void {
    if (this.finished || d.aborted) return;
    const trailersAtStart = d.trailers !== null;
    let trailersAddedAt = -1;
    for (let k = start; k < this.slots.length; k++) {
      const slot = this.slots[this.slotAt(d, k)];
      const side = d.ops.side(slot);
      if (stoppedAll(side)) {
        d.streaming = side.state === "StopAllWatermark";
        this.buffer(d, data);
        return;
      }
      if (side.endStream) return;
      side.endStream = endStream && d.trailers === null;
      const status = d.ops.data(slot.ctx, data, side.endStream);
      if (this.finished || d.aborted) return;
      if (!trailersAtStart && d.trailers !== null && trailersAddedAt < 0) {
        endStream = false;
        trailersAddedAt = k;
      }
      if (!this.afterData(d, k, status, data)) return;
    }
    d.ops.sinkData(data, endStream);
    if (trailersAddedAt >= 0 && d.trailers !== null) this.iterateTrailers(d, trailersAddedAt + 1, d.trailers);
  }

  /** ActiveStreamFilterBase::commonHandleAfterDataCallback for position `k`; true = go on. */
  private afterData(d: Direction, k: number, status: number, data: BodyBuffer): boolean {
    const slot = this.slotAt(d, k);
    const side = d.ops.side(this.slots[slot]);
    if (status === DATA_CONTINUE) {
      if (side.state === "StopSingleIteration") {
        this.buffer(d, data);
        this.continueAt(d, slot);
        return false;
      }
      return true;
    }
    side.state = "StopSingleIteration";
    if (status === DATA_STOP_AND_BUFFER || status === DATA_STOP_AND_WATERMARK) {
      d.streaming = status === DATA_STOP_AND_WATERMARK;
      this.buffer(d, data);
    } else if (d.complete && d.trailers === null && d.buffered === null) {
      // StopIterationNoBuffer on the last frame: keep an empty buffer so resuming sends end_stream.
      d.buffered = new BodyBuffer();
    }
    return false;
  }

  private iterateTrailers(d: Direction, start: number, trailers: HeaderMap): void {
    if (this.finished || d.aborted) return;
    for (let k = start; k < this.slots.length; k++) {
      const slot = this.slotAt(d, k);
      const side = d.ops.side(this.slots[slot]);
      if (stoppedAll(side)) return;
      const status = d.ops.trailers(this.slots[slot].ctx, trailers);
      side.endStream = true;
      if (this.finished || d.aborted) return;
      if (status === HEADERS_CONTINUE) {
        if (side.state === "StopSingleIteration") {
          this.continueAt(d, slot);
          return;
        }
        continue;
      }
      if (side.state === "Continue") side.state = "StopSingleIteration";
      return;
    }
    d.ops.sinkTrailers(trailers);
  }

  /** ActiveStreamFilterBase::commonContinue for filter `slot` (decode-order index). */
  private continueAt(d: Direction, slot: number): void {
    // No headers yet: nothing in this direction has been stopped, so there is nothing to resume.
    if (this.finished || d.aborted || d.headers === null) return;
    const side = d.ops.side(this.slots[slot]);
    const k = this.slotAt(d, slot);
    if (side.state === "Continue") {
      this.host.warn(
        `proxy_continue_stream(${d.ops.stream}) from ${this.slots[slot].ctx.describe()} while its ${d.ops.stream.toLowerCase()} is not paused` +
          d.ops.notPausedNote,
        this.slots[slot].ctx,
      );
      return;
    }
    if (stoppedAll(side)) side.fromCurrent = true;
    side.state = "Continue";
    if (!side.headersContinued) {
      side.headersContinued = true;
      this.iterateHeaders(d, k + 1, d.headers, d.complete && d.buffered === null && d.trailers === null);
    }
    const hadTrailers = d.trailers !== null;
    if (d.buffered !== null) this.iterateData(d, side.fromCurrent ? k : k + 1, d.buffered, d.complete && !hadTrailers);
    if (hadTrailers) this.iterateTrailers(d, side.fromCurrent ? k : k + 1, d.trailers!);
    side.fromCurrent = false;
  }

  /** FilterManager::addDecodedData/addEncodedData from a filter's own data callback (wasm buffering): not streaming. */
  private addData(d: Direction, data: BodyBuffer): void {
    d.streaming = false;
    this.buffer(d, data);
  }

  private bodyBuffer(d: Direction): BodyBuffer {
    if (d.buffered === null) d.buffered = new BodyBuffer();
    return d.buffered;
  }

  private addTrailers(d: Direction): HeaderMap {
    if (d.trailers === null) d.trailers = new HeaderMap();
    return d.trailers;
  }

  private buffer(d: Direction, data: BodyBuffer): void {
    if (data === d.buffered) return;
    if (d.buffered === null) d.buffered = new BodyBuffer();
    d.buffered.moveFrom(data);
    if (d.overLimit || d.buffered.length <= this.options.bufferLimitBytes) return;
    d.overLimit = true;
    if (d.streaming) this.flowControlPaused = true;
    else d.ops.overLimit();
  }

  // What a stream context asks of its filter manager, per direction.

  continueDecoding(slot: number): void {
    this.continueAt(this.request, slot);
  }

  continueEncoding(slot: number): void {
    this.continueAt(this.response, slot);
  }

  addDecodedData(data: BodyBuffer): void {
    this.addData(this.request, data);
  }

  addEncodedData(data: BodyBuffer): void {
    this.addData(this.response, data);
  }

  decodingBuffer(): BodyBuffer {
    return this.bodyBuffer(this.request);
  }

  encodingBuffer(): BodyBuffer {
    return this.bodyBuffer(this.response);
  }

  addDecodedTrailers(): HeaderMap {
    return this.addTrailers(this.request);
  }

  addEncodedTrailers(): HeaderMap {
    return this.addTrailers(this.response);
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
        if (this.response.headers === null) {
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
    return !this.finished && this.response.headers === null;
  }

  upstreamResponseHeaders(pairs: HeaderPairs, endStream: boolean): void {
    if (!this.awaitingUpstreamResponse) return;
    this.routeTimer?.cancel();
    // The router records the upstream status before the encoder filters run (response.code).
    const status = Number(pairs.find(([n]) => n === ":status")?.[1]);
    if (Number.isFinite(status)) this.responseCode = status;
    this.responseCodeDetails = "via_upstream";
    this.response.headers = new HeaderMap(pairs);
    this.response.complete = endStream;
    this.iterateHeaders(this.response, 0, this.response.headers, endStream);
  }

  upstreamResponseData(bytes: Uint8Array, endStream: boolean): void {
    if (this.finished || this.encodingLocalReplyDone()) return;
    if (endStream) this.response.complete = true;
    this.iterateData(this.response, 0, new BodyBuffer(bytes), endStream);
  }

  upstreamResponseTrailers(pairs: HeaderPairs): void {
    if (this.finished || this.encodingLocalReplyDone()) return;
    this.response.trailers = new HeaderMap(pairs);
    this.response.complete = true;
    this.iterateTrailers(this.response, 0, this.response.trailers);
  }

  /** The upstream connection reset: 503 before response headers, a downstream reset after. */
  upstreamReset(): void {
    if (this.finished) return;
    if (this.response.headers === null) {
      const body = "upstream connect error or disconnect/reset before headers. reset reason: remote reset";
      this.sendLocalReply(null, 503, toBytes(body), [], -1, "upstream_reset_before_response_started{remote_reset}");
    } else {
      this.resetStream("upstream_reset_after_response_started{remote_reset}");
    }
  }

  private encodingLocalReplyDone(): boolean {
    return this.localReply !== null || this.response.aborted;
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
    this.request.aborted = true;
    this.routeTimer?.cancel();
    if (this.inDecoderCallback && this.response.headers === null) {
      // Prepared (the first one wins), sent when the decoder callback returns.
      this.preparedReply ??= () => this.deliverLocalReply(sentBy, status, body, extra, grpcStatus, details);
      return;
    }
    this.deliverLocalReply(sentBy, status, body, extra, grpcStatus, details);
  }

  /** Runs one decoder filter callback, then sends the local reply it prepared, if any. */
  private decoding(call: () => number): number {
    const outer = this.inDecoderCallback;
    this.inDecoderCallback = true;
    let status: number;
    try {
      status = call();
    } finally {
      this.inDecoderCallback = outer;
    }
    const prepared = this.preparedReply;
    if (prepared !== null) {
      this.preparedReply = null;
      prepared();
    }
    return status;
  }

  private deliverLocalReply(sentBy: string, status: number, body: Uint8Array, extra: HeaderPairs, grpcStatus: number, details: string): void {
    if (this.finished) return;
    const headers = new HeaderMap([[":status", String(status)]]);
    for (const [name, value] of extra) headers.add(name, value);
    if (body.length > 0) {
      headers.set("content-length", String(body.length));
      if (!headers.has("content-type")) headers.set("content-type", "text/plain");
    } else {
      headers.remove("content-length");
      headers.remove("content-type");
    }
    const delivery = this.response.headers === null ? "filter-chain" : this.downstreamHeaders === null ? "direct" : "reset";
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
      this.response.aborted = true;
      this.downstreamHeaders = headers;
      this.downstreamBody.drain(this.downstreamBody.length);
      this.downstreamBody.append(body);
      this.finish();
      return;
    }
    this.response.headers = headers;
    this.response.complete = true;
    this.iterateHeaders(this.response, 0, headers, body.length === 0);
    if (body.length > 0 && !this.finished && !this.response.aborted) this.iterateData(this.response, 0, new BodyBuffer(body), true);
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
      requestHeaders: this.request.headers,
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
