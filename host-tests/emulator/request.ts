// plugin.request(): one whole request as Envoy's connection manager, filter chain and router
// would run it. The client sends headers, body (in chunks, optionally spaced in time) and
// trailers at once; then the event loop runs. While the stream waits (a filter paused it, an
// HTTP call or the upstream is pending), fake time moves to the next timer, firing everything due
// on the way (ticks included), until the response is complete or the client gives up
// (`clientTimeoutMs`, default 60 s of fake time): then the stream is reset and the result says
// where it was stuck (`stalled`).
//
// Like Envoy's connection manager, the emulator adds `x-request-id` and `x-forwarded-proto` to the
// request headers when the client did not send them, and `content-length` for a body sent whole.

import { FilterManager, type Action, type DownstreamResponse, type LocalReply } from "./filter-manager";
import type { Host } from "./host";
import type { Plugin } from "./plugin";
import { headerPairs, toBytes, type BodyInit, type HeaderInit, type HeaderPairs } from "./types";
import type { UpstreamHandler, UpstreamRequest } from "./upstream";

export interface RequestInit {
  method?: string;
  path?: string;
  authority?: string;
  scheme?: string;
  headers?: HeaderInit;
  /** The whole body in one frame. */
  body?: BodyInit;
  /** The body as separate frames (no content-length is added). */
  bodyChunks?: BodyInit[];
  trailers?: HeaderInit;
}

export interface RequestOptions {
  /** Answers what reaches the router; default: 200 echoing the request body and content-type. */
  upstream?: UpstreamHandler;
  /** Fake time between the client's frames (body chunks, trailers). Default 0. */
  chunkIntervalMs?: number;
  /** How much fake time the client waits for a complete response. Default the host's. */
  clientTimeoutMs?: number;
  bufferLimitBytes?: number;
  routeTimeoutMs?: number;
}

export interface RequestResult {
  /** What the client received; undefined when no response headers reached it. */
  response?: DownstreamResponse;
  /** Shortcut for response.status. */
  status?: number;
  /** A local reply (from a filter's proxy_send_local_response or from Envoy: 413, 503, 504...). */
  localResponse?: LocalReply;
  /** What the router sent upstream; undefined when the request never got there. */
  upstreamRequest?: UpstreamRequest;
  /** Every filter callback, in order, with what it returned and what Envoy made of it. */
  actions: Action[];
  /** Set when the stream was reset (details such as "wasm_close_stream"). */
  reset?: string;
  /** Set when the client gave up waiting; says where the stream was paused. */
  stalled?: string;
  /** The stream context id of each filter in the chain. */
  contextIds: number[];
  /** Request-header writes and clear_route_cache calls (each clears Envoy's route cache). */
  routeCacheClears: number;
  /** A watermark buffer went over the limit (Envoy would have paused reading). */
  flowControlPaused: boolean;
  /** Fake time from the first request byte to the end of the stream. */
  durationMs: number;
}

export function echoUpstream(request: UpstreamRequest): { status: number; headers: Record<string, string>; body: Uint8Array } {
  return {
    status: 200,
    headers: { "content-type": request.headers["content-type"] ?? "text/plain" },
    body: request.bodyBytes,
  };
}

/** Request headers as Envoy's connection manager hands them to the first filter. */
export function requestHeaders(host: Host, init: RequestInit): HeaderPairs {
  const extra = headerPairs(init.headers);
  const has = (name: string) => extra.some(([n]) => n === name);
  const scheme = init.scheme ?? "http";
  const pairs: HeaderPairs = [];
  const hasBody = init.body !== undefined || init.bodyChunks !== undefined;
  if (!has(":method")) pairs.push([":method", init.method ?? (hasBody ? "POST" : "GET")]);
  if (!has(":scheme")) pairs.push([":scheme", scheme]);
  if (!has(":authority")) pairs.push([":authority", init.authority ?? "localhost"]);
  if (!has(":path")) pairs.push([":path", init.path ?? "/"]);
  pairs.push(...extra);
  if (init.body !== undefined && init.bodyChunks === undefined && !has("content-length")) {
    pairs.push(["content-length", String(toBytes(init.body).length)]);
  }
  if (!has("x-forwarded-proto")) pairs.push(["x-forwarded-proto", scheme]);
  if (!has("x-request-id")) pairs.push(["x-request-id", host.random.uuid()]);
  return pairs;
}

export async function runRequest(host: Host, plugins: readonly Plugin[], init: RequestInit, options: RequestOptions): Promise<RequestResult> {
  const fm = new FilterManager(host, plugins, {
    bufferLimitBytes: options.bufferLimitBytes ?? host.options.bufferLimitBytes,
    routeTimeoutMs: options.routeTimeoutMs ?? host.options.routeTimeoutMs,
    upstream: options.upstream ?? echoUpstream,
  });
  const startMs = host.clock.nowMs();
  const chunks = (init.bodyChunks ?? (init.body === undefined ? [] : [init.body])).map(toBytes);
  const trailers = init.trailers === undefined ? null : headerPairs(init.trailers);
  const interval = options.chunkIntervalMs ?? 0;

  fm.downstreamRequestHeaders(requestHeaders(host, init), chunks.length === 0 && trailers === null);
  chunks.forEach((chunk, i) => {
    if (interval > 0) host.advance(interval);
    fm.downstreamRequestData(chunk, i === chunks.length - 1 && trailers === null);
  });
  if (trailers !== null) {
    if (interval > 0) host.advance(interval);
    fm.downstreamRequestTrailers(trailers);
  }
  host.settle();

  const clientTimeoutMs = options.clientTimeoutMs ?? host.options.clientTimeoutMs;
  const upstream = fm.upstream!;
  while (!fm.finished && upstream.error === null) {
    if (upstream.pending !== null) {
      await upstream.pending;
      host.settle();
      continue;
    }
    const next = host.clock.nextDueMs();
    if (next === undefined || next - startMs > clientTimeoutMs) break;
    host.advanceTo(next);
  }
  if (upstream.error !== null) throw upstream.error;
  let stalled: string | undefined;
  if (!fm.finished) {
    stalled = fm.describeWait();
    fm.downstreamReset("client_gave_up");
    host.settle();
  }
  return resultOf(fm, startMs, host.clock.nowMs(), stalled);
}

export function resultOf(fm: FilterManager, startMs: number, endMs: number, stalled?: string): RequestResult {
  const response = fm.downstreamResponse();
  const result: RequestResult = {
    actions: fm.actions,
    contextIds: fm.slots.map((s) => s.ctx.id),
    routeCacheClears: fm.routeCacheClears,
    flowControlPaused: fm.flowControlPaused,
    durationMs: endMs - startMs,
  };
  if (response !== undefined) {
    result.response = response;
    result.status = response.status;
  }
  if (fm.localReply !== null) result.localResponse = fm.localReply;
  const upstream = fm.upstreamRequest();
  if (upstream !== undefined) result.upstreamRequest = upstream;
  if (fm.resetReason !== null && stalled === undefined) result.reset = fm.resetReason;
  if (stalled !== undefined) result.stalled = stalled;
  return result;
}
