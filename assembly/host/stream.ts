// Stream control of the current HTTP context: local responses and resuming or closing a stream
// that a filter paused. Envoy defers these until the current callback returns; after a local
// response the callback's own return value is replaced with a stop.

import { proxy_close_stream, proxy_continue_stream, proxy_send_local_response } from "../abi/imports";
import { StreamType, WasmResult } from "../abi/types";
import { HeaderPair, PairsWriter, serializePairs } from "./pairs";
import { scratchA, scratchLengthA } from "../runtime/scratch";

/** Answers the client from the proxy. `grpcStatus` -1 means "not a gRPC response". */
export function sendLocalResponse(
  status: u32,
  details: string,
  body: ArrayBuffer,
  headers: HeaderPair[],
  grpcStatus: i32 = -1,
): WasmResult {
  const d = String.UTF8.encode(details);
  const h = serializePairs(headers);
  return <WasmResult>proxy_send_local_response(
    status, changetype<usize>(d), d.byteLength, changetype<usize>(body), body.byteLength,
    changetype<usize>(h), h.byteLength, grpcStatus,
  );
}

/** The one writer for the headers of `sendLocalResponseRaw` (replies are sent one at a time). */
export const localReplyHeaders = new PairsWriter();

/**
 * `sendLocalResponse` with the body as `bodyLength` bytes at `bodyPtr` and the headers as laid
 * out by `localReplyHeaders` (`begin`, `add`..., then this call): nothing allocated on the way.
 */
export function sendLocalResponseRaw(status: u32, details: string, bodyPtr: usize, bodyLength: i32, headers: PairsWriter, grpcStatus: i32 = -1): WasmResult {
  headers.finish();
  const d = scratchA(details);
  return <WasmResult>proxy_send_local_response(
    status, d, scratchLengthA(), bodyPtr, bodyLength, headers.ptr, headers.length, grpcStatus,
  );
}

export function continueRequest(): WasmResult {
  return <WasmResult>proxy_continue_stream(StreamType.Request);
}

export function continueResponse(): WasmResult {
  return <WasmResult>proxy_continue_stream(StreamType.Response);
}

export function closeRequest(): WasmResult {
  return <WasmResult>proxy_close_stream(StreamType.Request);
}

export function closeResponse(): WasmResult {
  return <WasmResult>proxy_close_stream(StreamType.Response);
}
