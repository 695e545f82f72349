// A stream driven by hand: the test plays the client (request*) and, unless an `upstream` handler
// is given, the upstream (response*). Each step runs the filter chain exactly as Envoy would for
// that frame, then lets the event loop run whatever became due (e.g. an HTTP call answered at
// once), and returns the status the first filter callback of the step returned, as Envoy's filter
// manager saw it ("NotCalled" when no filter was called, e.g. data buffered for a filter that
// stopped all iteration). `finish()` ends a stream that is still open the way a client
// disconnect does (proxy_on_log, proxy_on_done, proxy_on_delete).

import { FilterManager, type Action, type DownstreamResponse, type LocalReply } from "./filter-manager";
import type { Host } from "./host";
import type { Plugin } from "./plugin";
import { requestHeaders, resultOf, type RequestResult } from "./request";
import { headerPairs, toBytes, type BodyInit, type FilterStatusName, type HeaderInit, type HeaderPairs } from "./types";
import type { UpstreamHandler, UpstreamRequest } from "./upstream";

export interface StreamOptions {
  upstream?: UpstreamHandler;
  bufferLimitBytes?: number;
  routeTimeoutMs?: number;
}

export interface FrameOptions {
  endOfStream?: boolean;
}

export class Stream {
  readonly fm: FilterManager;
  private readonly startMs: number;

  constructor(
    private readonly host: Host,
    plugins: readonly Plugin[],
    options: StreamOptions,
  ) {
    this.fm = new FilterManager(host, plugins, {
      bufferLimitBytes: options.bufferLimitBytes ?? host.options.bufferLimitBytes,
      routeTimeoutMs: options.routeTimeoutMs ?? host.options.routeTimeoutMs,
      upstream: options.upstream,
    });
    this.startMs = host.clock.nowMs();
  }

  /** Missing :method/:scheme/:authority/:path get GET/http/localhost/"/", plus x-request-id. */
  requestHeaders(headers: HeaderInit = {}, options: FrameOptions = {}): FilterStatusName {
    const pairs = requestHeaders(this.host, { headers });
    return this.step(() => this.fm.downstreamRequestHeaders(pairs, options.endOfStream ?? false));
  }

  requestBody(chunk: BodyInit, options: FrameOptions = {}): FilterStatusName {
    return this.step(() => this.fm.downstreamRequestData(toBytes(chunk), options.endOfStream ?? false));
  }

  requestTrailers(trailers: HeaderInit): FilterStatusName {
    return this.step(() => this.fm.downstreamRequestTrailers(headerPairs(trailers)));
  }

  /** Upstream response headers; ":status" defaults to 200. */
  responseHeaders(headers: HeaderInit = {}, options: FrameOptions = {}): FilterStatusName {
    const pairs = headerPairs(headers);
    const full: HeaderPairs = pairs.some(([n]) => n === ":status") ? pairs : [[":status", "200"], ...pairs];
    return this.step(() => this.fm.upstreamResponseHeaders(full, options.endOfStream ?? false));
  }

  responseBody(chunk: BodyInit, options: FrameOptions = {}): FilterStatusName {
    return this.step(() => this.fm.upstreamResponseData(toBytes(chunk), options.endOfStream ?? false));
  }

  responseTrailers(trailers: HeaderInit): FilterStatusName {
    return this.step(() => this.fm.upstreamResponseTrailers(headerPairs(trailers)));
  }

  /** The upstream connection resets (503 before response headers, a downstream reset after). */
  upstreamReset(): void {
    this.step(() => this.fm.upstreamReset());
  }

  /** Ends the stream if it is still open, as a client disconnect would. */
  finish(): RequestResult {
    if (!this.fm.finished) this.step(() => this.fm.downstreamReset());
    return this.result();
  }

  get finished(): boolean {
    return this.fm.finished;
  }

  get actions(): Action[] {
    return this.fm.actions;
  }

  /** The request headers as the connection manager holds them now (filters' writes included). */
  get currentRequestHeaders(): Record<string, string> {
    const h = this.fm.requestHeaders;
    return h === null ? {} : Object.fromEntries(h.pairs().map(([n, v]) => [n, v]));
  }

  /** What reached the router so far. */
  get upstreamRequest(): UpstreamRequest | undefined {
    return this.fm.upstreamRequest();
  }

  /** What reached the client so far. */
  get response(): DownstreamResponse | undefined {
    return this.fm.downstreamResponse();
  }

  get localResponse(): LocalReply | undefined {
    return this.fm.localReply ?? undefined;
  }

  get contextIds(): number[] {
    return this.fm.slots.map((s) => s.ctx.id);
  }

  result(): RequestResult {
    return resultOf(this.fm, this.startMs, this.host.clock.nowMs());
  }

  private step(run: () => void): FilterStatusName {
    const before = this.fm.actions.length;
    run();
    const first = this.fm.actions.slice(before).find((a) => a.status !== undefined);
    this.host.settle();
    return (first?.status as FilterStatusName | undefined) ?? "NotCalled";
  }
}
