// Header and trailer maps. Envoy lower-cases names on lookup; values are UTF-8. Once a map has
// been forwarded (request headers after the filter continued them) Envoy answers reads and writes
// with BadArgument: reads give null or an empty list, writes return the status.

import {
  proxy_add_header_map_value, proxy_get_header_map_pairs, proxy_get_header_map_size,
  proxy_get_header_map_value, proxy_remove_header_map_value, proxy_replace_header_map_value,
  proxy_set_header_map_pairs,
} from "../abi/imports";
import { HeaderMapType, WasmResult } from "../abi/types";
import { clearOut, OUT_PTR, OUT_SIZE, OUT_U32, takeOut } from "../runtime/memory";
import { scratchA, scratchB, scratchLengthA, scratchLengthB } from "../runtime/scratch";
import { HeaderPair, parsePairs, serializePairs } from "./pairs";
import { setLastStatus } from "./status";

export class HeaderMap {
  constructor(public readonly type: HeaderMapType) {}

  /** First value of `name` ("" when empty), or null when absent (NotFound) or on a host error. */
  get(name: string): string | null {
    const key = scratchA(name);
    clearOut();
    const status = proxy_get_header_map_value(this.type, key, scratchLengthA(), OUT_PTR, OUT_SIZE);
    setLastStatus(status);
    const buf = takeOut();
    if (status != WasmResult.Ok) return null;
    // An empty value comes back Ok with no buffer: the host allocates nothing for 0 bytes.
    return buf === null ? "" : String.UTF8.decode(buf);
  }

  /** Every value of `name` in order (Envoy's single-value getter returns only the first). */
  getAll(name: string): string[] {
    const out = new Array<string>();
    const wanted = name.toLowerCase();
    const pairs = this.pairs();
    for (let i = 0; i < pairs.length; i++) {
      const pair = unchecked(pairs[i]);
      if (pair.name == wanted) out.push(pair.value);
    }
    return out;
  }

  /** Whole map; empty on a host error, and for a map Envoy no longer holds (status Ok then). */
  pairs(): HeaderPair[] {
    clearOut();
    const status = proxy_get_header_map_pairs(this.type, OUT_PTR, OUT_SIZE);
    setLastStatus(status);
    const buf = takeOut();
    if (status != WasmResult.Ok) return new Array<HeaderPair>();
    return parsePairs(buf);
  }

  /** Replaces the whole map. */
  setPairs(pairs: HeaderPair[]): WasmResult {
    const buf = serializePairs(pairs);
    return <WasmResult>proxy_set_header_map_pairs(this.type, changetype<usize>(buf), buf.byteLength);
  }

  /**
   * Envoy's `byteSize()` of the map: the bytes of all names and values (not the number of
   * entries), or -1 on a host error (BadArgument once request headers were forwarded).
   */
  byteSize(): i32 {
    store<u32>(OUT_U32, 0);
    const status = proxy_get_header_map_size(this.type, OUT_U32);
    setLastStatus(status);
    return status == WasmResult.Ok ? <i32>load<u32>(OUT_U32) : -1;
  }

  /** Appends a value. The value's UTF-8 stays in scratch slot B after the call (`scratchPtrB`). */
  add(name: string, value: string): WasmResult {
    const key = scratchA(name);
    const val = scratchB(value);
    return <WasmResult>proxy_add_header_map_value(this.type, key, scratchLengthA(), val, scratchLengthB());
  }

  /** `add` with the value as UTF-8 bytes. */
  addBytes(name: string, value: ArrayBuffer): WasmResult {
    const key = scratchA(name);
    return <WasmResult>proxy_add_header_map_value(this.type, key, scratchLengthA(), changetype<usize>(value), value.byteLength);
  }

  /** `replace` with the value as UTF-8 bytes. */
  replaceBytes(name: string, value: ArrayBuffer): WasmResult {
    const key = scratchA(name);
    return <WasmResult>proxy_replace_header_map_value(this.type, key, scratchLengthA(), changetype<usize>(value), value.byteLength);
  }

  /**
   * Sets `name` to `value`: Envoy's setCopy removes every value and appends one at the end. The
   * value's UTF-8 stays in scratch slot B after the call (`scratchPtrB`).
   */
  replace(name: string, value: string): WasmResult {
    const key = scratchA(name);
    const val = scratchB(value);
    return <WasmResult>proxy_replace_header_map_value(this.type, key, scratchLengthA(), val, scratchLengthB());
  }

  /** `add` with the name and value as UTF-8 bytes (no strings on the request path). */
  addRaw(name: ArrayBuffer, value: ArrayBuffer): WasmResult {
    return <WasmResult>proxy_add_header_map_value(this.type, changetype<usize>(name), name.byteLength, changetype<usize>(value), value.byteLength);
  }

  /** `add` with the name and value as UTF-8 bytes in place. */
  addAt(namePtr: usize, nameLen: usize, valuePtr: usize, valueLen: usize): WasmResult {
    return <WasmResult>proxy_add_header_map_value(this.type, namePtr, nameLen, valuePtr, valueLen);
  }

  /** `replace` with the name and value as UTF-8 bytes in place (no strings on the request path). */
  replaceRaw(namePtr: usize, nameLen: usize, valuePtr: usize, valueLen: usize): WasmResult {
    return <WasmResult>proxy_replace_header_map_value(this.type, namePtr, nameLen, valuePtr, valueLen);
  }

  /** Removes every value of `name`; removing an absent header is Ok. */
  remove(name: string): WasmResult {
    const key = scratchA(name);
    return <WasmResult>proxy_remove_header_map_value(this.type, key, scratchLengthA());
  }
}

export const requestHeaders = new HeaderMap(HeaderMapType.RequestHeaders);
export const requestTrailers = new HeaderMap(HeaderMapType.RequestTrailers);
export const responseHeaders = new HeaderMap(HeaderMapType.ResponseHeaders);
export const responseTrailers = new HeaderMap(HeaderMapType.ResponseTrailers);
export const httpCallResponseHeaders = new HeaderMap(HeaderMapType.HttpCallResponseHeaders);
export const httpCallResponseTrailers = new HeaderMap(HeaderMapType.HttpCallResponseTrailers);
