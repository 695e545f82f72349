// Body and configuration buffers. After StopIterationAndBuffer Envoy reports the cumulative
// body size, so `getBuffer(type, 0, size)` returns everything received so far.

import { proxy_get_buffer_bytes, proxy_get_buffer_status, proxy_set_buffer_bytes } from "../abi/imports";
import { BufferType, WasmResult } from "../abi/types";
import { clearOut, lendToHost, OUT_PTR, OUT_SIZE, OUT_U32, OUT_U64, takeOut } from "../runtime/memory";
import { setLastStatus } from "./status";

/**
 * Bytes [start, start+maxSize) of a buffer; an empty ArrayBuffer when the buffer exists but holds
 * nothing there. Null when the buffer is not available in this callback (NotFound, e.g. an
 * http_call body outside its callback) or on another host error; `lastStatus` says which.
 * `lend`: a buffer of the caller's the host copies into when it fits (the result is then that
 * buffer, overwritten: the caller must be done with what it held).
 */
export function getBuffer(type: BufferType, start: u32, maxSize: u32, lend: ArrayBuffer | null = null): ArrayBuffer | null {
  clearOut();
  lendToHost(lend);
  const status = proxy_get_buffer_bytes(type, start, maxSize, OUT_PTR, OUT_SIZE);
  setLastStatus(status);
  const buf = takeOut();
  if (status == WasmResult.Empty) return new ArrayBuffer(0);
  if (status != WasmResult.Ok) return null;
  if (buf === null) return new ArrayBuffer(0);
  return buf;
}

/**
 * Writes into a buffer with Envoy's `copyFrom` rules: start 0 and length > 0 replaces the first
 * `length` bytes; start 0 and length 0 prepends; start >= buffer size appends.
 */
export function setBuffer(type: BufferType, start: u32, length: u32, data: ArrayBuffer): WasmResult {
  return <WasmResult>proxy_set_buffer_bytes(type, start, length, changetype<usize>(data), data.byteLength);
}

/** Current length of a buffer, or -1 on a host error. */
export function bufferLength(type: BufferType): i64 {
  store<u32>(OUT_U32, 0);
  const status = proxy_get_buffer_status(type, OUT_U32, OUT_U64);
  setLastStatus(status);
  return status == WasmResult.Ok ? <i64>load<u32>(OUT_U32) : -1;
}
