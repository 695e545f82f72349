// Outgoing HTTP calls to an Envoy cluster. Envoy runs every call on the root context (cpp-host
// `http_call` uses `root_context()`), answers through `proxy_on_http_call_response(root, token)`
// and cancels calls only when the root goes away. The layer therefore keeps token -> (context,
// handler), makes the calling stream effective again before running the handler, and forgets a
// stream's calls when the stream is deleted (a late answer is then ignored), unless a handler
// names a context to take its answer instead (`adoptiveContext`). An unknown cluster
// or a missing `:method`/`:path`/`:authority` fails synchronously (BadArgument), no callback.

import { proxy_http_call } from "../abi/imports";
import { BufferType, WasmResult } from "../abi/types";
import { OUT_U32 } from "../runtime/memory";
import { getBuffer } from "./buffers";
import { httpCallResponseHeaders, httpCallResponseTrailers } from "./headers";
import { HeaderPair, serializePairs } from "./pairs";
import { setLastStatus } from "./status";

/** What a call returned; readable only while `onHttpCallResponse` runs. */
export class HttpCallResponse {
  constructor(
    public readonly token: u32,
    public readonly numHeaders: u32,
    public readonly bodySize: u32,
    public readonly numTrailers: u32,
  ) {}

  /** Envoy reports a reset, a connection failure or an oversized response as no headers, no body. */
  get failed(): bool {
    return this.numHeaders == 0 && this.bodySize == 0 && this.numTrailers == 0;
  }

  /** `:status` as a number, or 0 when absent or not numeric. */
  status(): u32 {
    const value = httpCallResponseHeaders.get(":status");
    if (value === null || value.length == 0 || value.length > 3) return 0;
    let code: u32 = 0;
    for (let i = 0; i < value.length; i++) {
      const c = <u32>value.charCodeAt(i) - 48;
      if (c > 9) return 0;
      code = code * 10 + c;
    }
    return code;
  }

  header(name: string): string | null {
    return httpCallResponseHeaders.get(name);
  }

  headers(): HeaderPair[] {
    return httpCallResponseHeaders.pairs();
  }

  trailers(): HeaderPair[] {
    return httpCallResponseTrailers.pairs();
  }

  body(): ArrayBuffer {
    if (this.bodySize == 0) return new ArrayBuffer(0);
    const buf = getBuffer(BufferType.HttpCallResponseBody, 0, this.bodySize);
    return buf === null ? new ArrayBuffer(0) : buf;
  }
}

/** Receives the response of one call. Subclass it and keep whatever state the answer needs. */
export abstract class HttpCallHandler {
  abstract onHttpCallResponse(response: HttpCallResponse): void;

  /**
   * Called when the context that made the call is deleted before its answer: the id of a context
   * that outlives it (a root's) to run `onHttpCallResponse` in, or 0 to forget the call. A
   * handler that adopts must no longer touch the stream's state (it may be reused by then).
   */
  adoptiveContext(): u32 {
    return 0;
  }
}

class PendingCall {
  constructor(public contextId: u32, public handler: HttpCallHandler) {}
}

const pending = new Map<u32, PendingCall>();

/**
 * Starts a call; returns its token, or 0 when the host refused it (see `lastStatus`). A timeout of
 * 0 would mean "none" to Envoy, so the layer requires a positive one.
 */
export function httpCall(
  contextId: u32,
  cluster: string,
  headers: HeaderPair[],
  body: ArrayBuffer | null,
  trailers: HeaderPair[] | null,
  timeoutMs: u32,
  handler: HttpCallHandler,
): u32 {
  if (timeoutMs == 0) {
    setLastStatus(WasmResult.BadArgument);
    return 0;
  }
  const up = String.UTF8.encode(cluster);
  const h = serializePairs(headers);
  const b = body === null ? new ArrayBuffer(0) : body;
  const t = serializePairs(trailers === null ? new Array<HeaderPair>() : trailers);
  store<u32>(OUT_U32, 0);
  const status = proxy_http_call(
    changetype<usize>(up), up.byteLength, changetype<usize>(h), h.byteLength,
    changetype<usize>(b), b.byteLength, changetype<usize>(t), t.byteLength, timeoutMs, OUT_U32,
  );
  setLastStatus(status);
  if (status != WasmResult.Ok) return 0;
  const token = load<u32>(OUT_U32);
  pending.set(token, new PendingCall(contextId, handler));
  return token;
}

/** Number of calls still waiting for an answer. */
export function pendingHttpCalls(): i32 {
  return pending.size;
}

/** Removes and returns the handler for `token`, with the id of the context that made the call. */
export function takePendingCall(token: u32): PendingCall | null {
  if (!pending.has(token)) return null;
  const call = pending.get(token);
  pending.delete(token);
  return call;
}

/**
 * Forgets the calls of a stream that is going away, or hands them to the context their handler
 * names. Envoy does not cancel them (they run on the root context): their answers still come.
 */
export function dropPendingCalls(contextId: u32, isLive: (id: u32) => bool): void {
  if (pending.size == 0) return;
  const tokens = pending.keys();
  for (let i = 0; i < tokens.length; i++) {
    const token = unchecked(tokens[i]);
    const call = pending.get(token);
    if (call.contextId != contextId) continue;
    const adopter = call.handler.adoptiveContext();
    // A root deleted before its stream took its own calls with it (Envoy cancels them): none to adopt.
    if (adopter != 0 && adopter != contextId && isLive(adopter)) call.contextId = adopter;
    else pending.delete(token);
  }
}

export { PendingCall };
