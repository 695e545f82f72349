// Process-wide key/value store shared by every VM with the same `vm_id`. Each value carries a CAS
// number; a write with a non-zero CAS fails with CasMismatch when another writer got there first.
// Envoy accepts any CAS when it *creates* a key, so create keys before racing on them.

import { proxy_get_shared_data, proxy_set_shared_data } from "../abi/imports";
import { WasmResult } from "../abi/types";
import { clearOut, keepForLoan, lendToHost, OUT_PTR, OUT_SIZE, OUT_U32, takeOut } from "../runtime/memory";
import { scratchA, scratchLengthA } from "../runtime/scratch";
import { setLastStatus } from "./status";

const NO_VALUE = new ArrayBuffer(0);

export class SharedValue {
  constructor(
    /** Ok, NotFound (no such key) or another host error. */
    public status: WasmResult,
    /** The value, empty when the key is absent. */
    public value: ArrayBuffer,
    /** CAS to pass to `setSharedData` for a conditional write; 0 when the key is absent. */
    public cas: u32,
  ) {}

  get found(): bool {
    return this.status == WasmResult.Ok;
  }
}

/**
 * The value of `key`. `lend`: a buffer of the caller's (one it keeps between requests) for the
 * host to copy the value into when it fits; `value` is then that buffer, overwritten, so the
 * caller must be done with what it held.
 */
export function getSharedData(key: string, lend: ArrayBuffer | null = null): SharedValue {
  const k = scratchA(key);
  return getSharedDataAt(k, scratchLengthA(), lend, new SharedValue(WasmResult.NotFound, NO_VALUE, 0));
}

/**
 * `getSharedData` of the key at `keyPtr` (`keyLen` UTF-8 bytes), filling `out` (a result object
 * the caller reuses): on the request path, no key string to encode and no result to allocate.
 * An absent or empty value is a shared empty buffer.
 */
export function getSharedDataAt(keyPtr: usize, keyLen: usize, lend: ArrayBuffer | null, out: SharedValue): SharedValue {
  clearOut();
  lendToHost(lend);
  store<u32>(OUT_U32, 0);
  const status = <WasmResult>proxy_get_shared_data(keyPtr, keyLen, OUT_PTR, OUT_SIZE, OUT_U32);
  setLastStatus(status);
  const buf = takeOut();
  out.status = status;
  out.value = status == WasmResult.Ok && buf !== null ? buf : NO_VALUE;
  out.cas = status == WasmResult.Ok ? load<u32>(OUT_U32) : 0;
  return out;
}

/** Writes `value`; with `cas` != 0 only if the stored CAS still equals it (else CasMismatch). */
/** `setSharedData` of the `len` bytes at `ptr` (e.g. the filled part of a growing buffer). */
export function setSharedDataBytes(key: string, ptr: usize, len: i32, cas: u32 = 0): WasmResult {
  const k = scratchA(key);
  return <WasmResult>proxy_set_shared_data(k, scratchLengthA(), ptr, len, cas);
}

export function setSharedData(key: string, value: ArrayBuffer, cas: u32 = 0): WasmResult {
  const k = scratchA(key);
  return <WasmResult>proxy_set_shared_data(k, scratchLengthA(), changetype<usize>(value), value.byteLength, cas);
}

/** What `getSharedDataInto` read: the status, the value's CAS and its full length. */
export class SharedRead {
  status: WasmResult = WasmResult.NotFound;
  cas: u32 = 0;
  /** The value's byte length (only the first `room` bytes were copied). */
  length: i32 = 0;
}

// The host's copy of a value `getSharedDataInto` reads lands here when it fits: the bytes are
// copied out at once, so one buffer serves every read.
let readBuffer = new ArrayBuffer(256);
/** Largest host copy kept as the next reads' buffer. */
const KEEP_READ_BYTES: i32 = 4096;

/**
 * Reads the value of the key at `keyPtr` (`keyLen` UTF-8 bytes) and copies at most `room` bytes
 * of it to `into`: for fixed-size records read on the request path, with no key string, no result
 * object and (for values up to the reused buffer's size) no allocation per call.
 */
export function getSharedDataInto(keyPtr: usize, keyLen: usize, into: usize, room: i32, out: SharedRead): SharedRead {
  clearOut();
  lendToHost(readBuffer);
  store<u32>(OUT_U32, 0);
  const status = <WasmResult>proxy_get_shared_data(keyPtr, keyLen, OUT_PTR, OUT_SIZE, OUT_U32);
  setLastStatus(status);
  const buf = takeOut();
  out.status = status;
  out.cas = status == WasmResult.Ok ? load<u32>(OUT_U32) : 0;
  const len = status == WasmResult.Ok && buf !== null ? buf.byteLength : 0;
  out.length = len;
  if (len > 0) memory.copy(into, changetype<usize>(buf), <usize>(len < room ? len : room));
  // A larger value than the buffer held: its copy becomes the buffer, up to a bound.
  readBuffer = changetype<ArrayBuffer>(keepForLoan(buf, readBuffer, KEEP_READ_BYTES));
  return out;
}

/** `setSharedData` with the key and value as bytes in place. */
export function setSharedDataRaw(keyPtr: usize, keyLen: usize, valuePtr: usize, valueLen: usize, cas: u32 = 0): WasmResult {
  return <WasmResult>proxy_set_shared_data(keyPtr, keyLen, valuePtr, valueLen, cas);
}
