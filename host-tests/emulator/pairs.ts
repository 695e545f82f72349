// Header pairs in proxy-wasm-cpp-host's wire layout (src/pairs_util.cc): u32 count, then
// (u32 name length, u32 value length) for every pair, then every name and value followed by a NUL.
// All integers are little-endian. Decoding follows PairsUtil::toPairs: anything malformed (too
// big, too many pairs, a missing NUL, trailing bytes) yields an empty list rather than an error.

import { fromUtf8, utf8, type HeaderPairs } from "./types";

/** PROXY_WASM_HOST_PAIRS_MAX_BYTES and PROXY_WASM_HOST_PAIRS_MAX_COUNT (include/proxy-wasm/limits.h). */
const PAIRS_MAX_BYTES = 1024 * 1024;
const PAIRS_MAX_COUNT = 1024;

export function encodePairs(pairs: ReadonlyArray<readonly [string, string]>): Uint8Array {
  const encoded = pairs.map(([name, value]) => [utf8(name), utf8(value)] as const);
  let size = 4 + 8 * encoded.length;
  for (const [name, value] of encoded) size += name.length + value.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, encoded.length, true);
  let lengths = 4;
  let data = 4 + 8 * encoded.length;
  for (const [name, value] of encoded) {
    view.setUint32(lengths, name.length, true);
    view.setUint32(lengths + 4, value.length, true);
    lengths += 8;
    out.set(name, data);
    data += name.length + 1; // the NUL is already there: the array starts zeroed
    out.set(value, data);
    data += value.length + 1;
  }
  return out;
}

export function decodePairs(bytes: Uint8Array): HeaderPairs {
  if (bytes.length > PAIRS_MAX_BYTES || bytes.length < 4) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (count > PAIRS_MAX_COUNT || 4 + count * 8 > bytes.length) return [];
  const out: HeaderPairs = [];
  let pos = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const nameLen = view.getUint32(4 + i * 8, true);
    const valueLen = view.getUint32(8 + i * 8, true);
    if (pos + nameLen + 1 > bytes.length || bytes[pos + nameLen] !== 0) return [];
    const name = fromUtf8(bytes.subarray(pos, pos + nameLen));
    pos += nameLen + 1;
    if (pos + valueLen + 1 > bytes.length || bytes[pos + valueLen] !== 0) return [];
    const value = fromUtf8(bytes.subarray(pos, pos + valueLen));
    pos += valueLen + 1;
    out.push([name, value]);
  }
  return pos === bytes.length ? out : [];
}
