// proxy_http_call as Envoy does it (source/extensions/common/wasm/context.cc httpCall,
// onHttpCallSuccess/onHttpCallFailure; cpp-host exports.cc http_call):
// - The call belongs to the root context of the caller, even when a stream makes it; the answer
//   arrives as proxy_on_http_call_response(root_context_id, token, headers, body, trailers), so
//   a module must make the stream effective again itself. Pending calls are cancelled when that
//   root context is deleted (Context::~Context), not when the stream ends.
// - Synchronous BadArgument, with no callback: a timeout that is negative as an int (>= 2^31), an
//   unknown cluster, or request headers without :path, :method or :authority.
// - A non-empty body sets content-length. Timeout 0 means no timeout.
// - Tokens count per VM in steps of 4 from 0 (cpp-host nextHttpCallId): 4, 8, 12, ...
// - The upstream's answer arrives through the event loop, never inside the call. A timeout is
//   what Envoy's async client router produces: a normal response `504` with body
//   "upstream request timeout" (content-type text/plain). A reset (or an oversized response)
//   is a failure: 0 headers, 0 body bytes, 0 trailers, and proxy_get_status reports
//   BrokenConnection "reset" during the callback.
// - A cluster with no healthy upstream makes Envoy's async client answer 503 inline, inside
//   send(); Envoy then returns InternalFailure from proxy_http_call and no callback follows
//   (AsyncClientImpl::send returns null for a request that completed immediately).

import type { Timer } from "./clock";
import type { CallResponse, ContextBase } from "./context-base";
import { HeaderMap } from "./header-map";
import { RootContext } from "./root-context";
import {
  WasmResult, fromUtf8, headerPairs, pairsToRecord, toBytes, utf8, type BodyInit, type HeaderInit, type HeaderPairs,
  type WasmResultCode,
} from "./types";
import type { UpstreamRequest } from "./upstream";
import type { Vm } from "./vm";

/** What a cluster handler receives: the request as an upstream sees it, plus the call's own data. */
export interface HttpCallRequest extends UpstreamRequest {
  cluster: string;
  /** 0 means no timeout. */
  timeoutMs: number;
  token: number;
  vm: string;
  rootId: string;
}

export type HttpCallReply =
  | { status?: number; headers?: HeaderInit; body?: BodyInit; trailers?: HeaderInit; delayMs?: number }
  /** The upstream resets (or the response is too large): the callback gets 0/0/0. */
  | { reset: true; delayMs?: number }
  /** Alias of `reset`. */
  | { fail: true; delayMs?: number }
  /** The upstream never answers: only the call's own timeout (if any) ends it. */
  | { hang: true };

export type ClusterHandler = (request: HttpCallRequest) => HttpCallReply;

export interface ClusterOptions {
  /** Every call fails synchronously with InternalFailure, as with no healthy host in Envoy. */
  noHealthyUpstream?: boolean;
}

export interface HttpCallRecord {
  request: HttpCallRequest;
  outcome: "pending" | "response" | "reset" | "timeout" | "cancelled";
  /** Status delivered to the module, for "response" and "timeout". */
  status?: number;
  /** Context id proxy_on_http_call_response was called with (always the root's). */
  deliveredTo?: number;
}

interface Pending {
  root: RootContext;
  record: HttpCallRecord;
  timers: Timer[];
}

export class Clusters {
  private readonly map = new Map<string, { handler: ClusterHandler; options: ClusterOptions }>();

  add(name: string, handler: ClusterHandler, options: ClusterOptions = {}): void {
    this.map.set(name, { handler, options });
  }

  remove(name: string): void {
    this.map.delete(name);
  }

  get(name: string): { handler: ClusterHandler; options: ClusterOptions } | undefined {
    return this.map.get(name);
  }
}

const TIMEOUT_BODY = utf8("upstream request timeout");
const INT32_MAX = 0x7fffffff;

export class HttpCalls {
  private nextToken = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly vm: Vm) {}

  start(
    root: ContextBase,
    cluster: string,
    headers: HeaderPairs,
    body: Uint8Array,
    trailers: HeaderPairs,
    timeoutMs: number,
  ): { result: WasmResultCode; token: number } {
    const host = this.vm.host;
    const fail = { result: WasmResult.BadArgument, token: 0 };
    if (timeoutMs > INT32_MAX) return fail;
    const target = host.clusters.get(cluster);
    if (target === undefined) return fail;
    const map = new HeaderMap(headers);
    if (!map.has(":path") || !map.has(":method") || !map.has(":authority")) return fail;
    if (body.length > 0) map.set("content-length", String(body.length));
    if (target.options.noHealthyUpstream || !(root instanceof RootContext)) {
      return { result: WasmResult.InternalFailure, token: 0 };
    }
    const token = (this.nextToken += 4) >>> 0;
    const pairs = map.pairs();
    const request: HttpCallRequest = {
      cluster,
      method: map.get(":method")!,
      path: map.get(":path")!,
      authority: map.get(":authority")!,
      headers: pairsToRecord(pairs),
      headerPairs: pairs,
      body: fromUtf8(body),
      bodyBytes: body,
      trailers: trailers.length === 0 ? undefined : pairsToRecord(trailers),
      timeoutMs,
      token,
      vm: this.vm.label,
      rootId: root.rootId,
    };
    const record: HttpCallRecord = { request, outcome: "pending" };
    host.httpCallLog.push(record);
    const entry: Pending = { root, record, timers: [] };
    this.pending.set(token, entry);
    // The upstream works out its answer on the event loop, after the guest call returns.
    entry.timers.push(host.clock.schedule(0, `http_call ${cluster} #${token}`, () => this.dispatch(token, target.handler)));
    if (timeoutMs > 0) {
      entry.timers.push(host.clock.schedule(timeoutMs, `http_call timeout #${token}`, () => this.timeout(token)));
    }
    return { result: WasmResult.Ok, token };
  }

  private dispatch(token: number, handler: ClusterHandler): void {
    const entry = this.pending.get(token);
    if (entry === undefined) return;
    const reply = handler(entry.record.request);
    if ("hang" in reply) return;
    entry.timers.push(
      this.vm.host.clock.schedule(reply.delayMs ?? 0, `http_call response #${token}`, () => this.deliver(token, reply)),
    );
  }

  private timeout(token: number): void {
    const response: CallResponse = {
      headers: new HeaderMap([
        [":status", "504"],
        ["content-length", String(TIMEOUT_BODY.length)],
        ["content-type", "text/plain"],
      ]),
      body: TIMEOUT_BODY,
      trailers: null,
    };
    this.finish(token, "timeout", response);
  }

  private deliver(token: number, reply: Exclude<HttpCallReply, { hang: true }>): void {
    if ("reset" in reply || "fail" in reply) {
      this.finish(token, "reset", null);
      return;
    }
    const body = toBytes(reply.body);
    const headers = new HeaderMap([[":status", String(reply.status ?? 200)], ...headerPairs(reply.headers)]);
    if (body.length > 0 && !headers.has("content-length")) headers.add("content-length", String(body.length));
    const trailers = reply.trailers === undefined ? null : new HeaderMap(headerPairs(reply.trailers));
    this.finish(token, "response", { headers, body, trailers });
  }

  private finish(token: number, outcome: HttpCallRecord["outcome"], response: CallResponse | null): void {
    const entry = this.pending.get(token);
    if (entry === undefined) return;
    this.pending.delete(token);
    for (const t of entry.timers) t.cancel();
    entry.record.outcome = outcome;
    if (response !== null) entry.record.status = Number(response.headers.get(":status"));
    if (this.vm.closed || entry.root.state === "deleted") return;
    entry.record.deliveredTo = entry.root.id;
    entry.root.onHttpCallResponse(token, response);
  }

  /** Calls still waiting for an answer. */
  get size(): number {
    return this.pending.size;
  }

  cancelFor(rootContextId: number): void {
    for (const [token, entry] of this.pending) {
      if (entry.root.id !== rootContextId) continue;
      for (const t of entry.timers) t.cancel();
      entry.record.outcome = "cancelled";
      this.pending.delete(token);
    }
  }

  cancelAll(): void {
    for (const entry of this.pending.values()) {
      for (const t of entry.timers) t.cancel();
      entry.record.outcome = "cancelled";
    }
    this.pending.clear();
  }
}
