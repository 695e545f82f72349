// A read-only view of a header map as the host serialises it (pairs.ts's layout), for lookups
// without a host call each: one `get_header_map_pairs` brings every header, and a lookup
// compares bytes in place. Names are compared as Envoy keys them, lower-case ASCII, so a name
// given as a string is matched code unit against byte without encoding it. Values become strings
// only when asked for.

import { HeaderMapType, WasmResult } from "../abi/types";
import { proxy_get_header_map_pairs } from "../abi/imports";
import { clearOut, lendToHost, OUT_PTR, OUT_SIZE, takeOut } from "../runtime/memory";
import { wellFormedPairs } from "./pairs";
import { setLastStatus } from "./status";

/** Largest buffer a cleared view keeps for its next load (headers beyond it are rare). */
const KEEP_BYTES: i32 = 4096;

export class PairsView {
  private buf: ArrayBuffer | null = null;
  private count: i32 = 0;
  // Where the last successful `find` found its value.
  private foundAt: usize = 0;
  private foundLength: i32 = 0;

  /** Reads map `type` from the host; false (and an empty view) on a host error or a malformed map. */
  load(type: HeaderMapType): bool {
    clearOut();
    // The host writes the map into the last one's buffer when it fits (values found before are
    // gone then, as the doc of `find` says).
    lendToHost(this.buf);
    const status = proxy_get_header_map_pairs(type, OUT_PTR, OUT_SIZE);
    setLastStatus(status);
    const buf = takeOut();
    this.count = 0;
    this.foundAt = 0;
    this.foundLength = 0;
    if (status != WasmResult.Ok || buf === null) return status == WasmResult.Ok;
    if (!wellFormedPairs(buf)) return false;
    this.buf = buf;
    this.count = <i32>load<u32>(changetype<usize>(buf));
    return true;
  }

  /** Forgets the map; keeps a small buffer for the next load, lets a large one go. */
  clear(): void {
    const buf = this.buf;
    if (buf !== null && buf.byteLength > KEEP_BYTES) this.buf = null;
    this.count = 0;
    this.foundAt = 0;
    this.foundLength = 0;
  }

  get size(): i32 {
    return this.count;
  }

  /** Address of the value the last successful `find` found. */
  get valuePtr(): usize {
    return this.foundAt;
  }

  /** True when the value the last successful `find` found starts with ASCII `prefix`. */
  valueStartsWith(prefix: string): bool {
    if (prefix.length > this.foundLength) return false;
    return sameAscii(this.foundAt, prefix);
  }

  /** Length in bytes of the value the last successful `find` found. */
  get valueLength(): i32 {
    return this.foundLength;
  }

  /** True when the map has `name` (lower-case ASCII). */
  has(name: string): bool {
    return this.find(name);
  }

  /** The first value of `name` ("" when empty), or null when absent. */
  get(name: string): string | null {
    if (!this.find(name)) return null;
    return String.UTF8.decodeUnsafe(this.foundAt, <usize>this.foundLength);
  }

  /**
   * Finds `name`; on success `valuePtr`/`valueLength` give its first value's bytes, valid until
   * the view is loaded again.
   */
  find(name: string): bool {
    const n = this.count;
    if (n == 0) return false;
    const base = changetype<usize>(this.buf);
    const want = name.length;
    let lengths = base + 4;
    let data = base + 4 + (<usize>n << 3);
    for (let i = 0; i < n; i++) {
      const nameLen = <i32>load<u32>(lengths);
      const valueLen = <i32>load<u32>(lengths + 4);
      lengths += 8;
      if (nameLen == want && sameAscii(data, name)) {
        this.foundAt = data + <usize>nameLen + 1;
        this.foundLength = valueLen;
        return true;
      }
      data += <usize>(nameLen + valueLen + 2);
    }
    return false;
  }
}

// @ts-ignore: decorator
@inline
function sameAscii(bytes: usize, s: string): bool {
  const p = changetype<usize>(s);
  for (let i = 0, n = s.length; i < n; i++) {
    if (<u32>load<u8>(bytes + <usize>i) != <u32>load<u16>(p + (<usize>i << 1))) return false;
  }
  return true;
}
