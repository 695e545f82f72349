// Serialisation of header pairs in the ABI's layout (proxy-wasm-cpp-host `pairs_util.cc`):
// u32 count, then (u32 name length, u32 value length) per pair, then each name and value
// followed by a NUL byte. Parsing checks every length against the buffer and returns an empty
// list for a malformed map instead of reading out of bounds.

import { PairsIndex } from "./pairs-index";
import { decodeUtf8Lossy } from "../json/utf8";

export class HeaderPair {
  constructor(public name: string, public value: string) {}
}


/**
 * Header pairs serialised in the ABI's layout into buffers reused from one use to the next: an
 * answer on the request path (a cache hit's local response) allocates nothing once they have
 * grown; `serializePairs` copies the layout out for callers that keep it. Names and values are
 * written as they come; `finish` lays them out behind the count and lengths.
 */
export class PairsWriter {
  private data: ArrayBuffer = new ArrayBuffer(512);
  private used: i32 = 0;
  private lengths: StaticArray<i32> = new StaticArray<i32>(32);
  private count: i32 = 0;
  private out: ArrayBuffer = new ArrayBuffer(768);
  private outLength: i32 = 0;

  /** Starts a new list. */
  begin(): PairsWriter {
    this.used = 0;
    this.count = 0;
    this.outLength = 0;
    return this;
  }

  /** Adds a pair. */
  add(name: string, value: string): PairsWriter {
    const n = this.text(name);
    const v = this.text(value);
    this.lengthsOf(n, v);
    return this;
  }

  /** Adds a pair whose value is the `len` bytes at `ptr`. */
  addBytes(name: string, ptr: usize, len: i32): PairsWriter {
    const n = this.text(name);
    this.room(len);
    memory.copy(changetype<usize>(this.data) + <usize>this.used, ptr, <usize>len);
    this.used += len;
    this.lengthsOf(n, len);
    return this;
  }

  /** Lays the list out; then `ptr` and `length` give it. */
  finish(): PairsWriter {
    const n = this.count;
    let size = 4 + n * 8 + this.used + n * 2;
    if (size > this.out.byteLength) this.out = new ArrayBuffer(size);
    const base = changetype<usize>(this.out);
    store<u32>(base, n);
    let lengths = base + 4;
    let dst = base + 4 + <usize>n * 8;
    let src = changetype<usize>(this.data);
    for (let i = 0; i < n; i++) {
      const nl = unchecked(this.lengths[i << 1]);
      const vl = unchecked(this.lengths[(i << 1) + 1]);
      store<u32>(lengths, nl);
      store<u32>(lengths, vl, 4);
      lengths += 8;
      memory.copy(dst, src, <usize>nl);
      dst += <usize>nl;
      store<u8>(dst++, 0);
      src += <usize>nl;
      memory.copy(dst, src, <usize>vl);
      dst += <usize>vl;
      store<u8>(dst++, 0);
      src += <usize>vl;
    }
    this.outLength = size;
    return this;
  }

  get ptr(): usize {
    return changetype<usize>(this.out);
  }

  get length(): i32 {
    return this.outLength;
  }

  private lengthsOf(nameLength: i32, valueLength: i32): void {
    const i = this.count << 1;
    if (i + 2 > this.lengths.length) {
      const grown = new StaticArray<i32>(this.lengths.length << 1);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.lengths), <usize>i << 2);
      this.lengths = grown;
    }
    unchecked((this.lengths[i] = nameLength));
    unchecked((this.lengths[i + 1] = valueLength));
    this.count++;
  }

  /** Appends `s` as UTF-8; returns its length in bytes. */
  private text(s: string): i32 {
    const len = String.UTF8.byteLength(s);
    this.room(len);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, changetype<usize>(this.data) + <usize>this.used);
    this.used += len;
    return len;
  }

  private room(extra: i32): void {
    const need = this.used + extra;
    if (need <= this.data.byteLength) return;
    let size = this.data.byteLength << 1;
    while (size < need) size <<= 1;
    const grown = new ArrayBuffer(size);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.data), <usize>this.used);
    this.data = grown;
  }
}

/** The one writer behind `serializePairs` (never re-entered: it returns a copy). */
const SERIALIZER = new PairsWriter();

/** `pairs` in the ABI's layout, in a new buffer the caller keeps. */
export function serializePairs(pairs: HeaderPair[]): ArrayBuffer {
  const w = SERIALIZER.begin();
  for (let i = 0, n = pairs.length; i < n; i++) w.add(unchecked(pairs[i]).name, unchecked(pairs[i]).value);
  w.finish();
  const out = new ArrayBuffer(w.length);
  memory.copy(changetype<usize>(out), w.ptr, <usize>w.length);
  return out;
}

/** The index `wellFormedPairs` checks with (it keeps no reference to a map once cleared). */
const LAYOUT = new PairsIndex();

/**
 * True when every length in a serialised map fits the buffer, so reading it stays in bounds: the
 * check the header views make as they index a map (pairs-index.ts), so that one piece of code
 * decides what is well-formed.
 */
export function wellFormedPairs(buf: ArrayBuffer): bool {
  const ok = LAYOUT.load(changetype<usize>(buf), <usize>buf.byteLength);
  LAYOUT.clear();
  return ok;
}

export function parsePairs(buf: ArrayBuffer | null): HeaderPair[] {
  const out = new Array<HeaderPair>();
  if (buf === null || !wellFormedPairs(buf)) return out;
  const base = changetype<usize>(buf);
  const n = <usize>load<u32>(base);
  let lengths = base + 4;
  let data = base + 4 + n * 8;
  for (let i: usize = 0; i < n; i++) {
    const nameLen = <usize>load<u32>(lengths);
    const valueLen = <usize>load<u32>(lengths + 4);
    lengths += 8;
    const name = decodeUtf8Lossy(data, <i32>nameLen);
    data += nameLen + 1;
    const value = decodeUtf8Lossy(data, <i32>valueLen);
    data += valueLen + 1;
    out.push(new HeaderPair(name, value));
  }
  return out;
}
