// A growable UTF-8 byte buffer: the writer and the canonicaliser append to it and copy out once
// at the end, so building output never goes through string concatenation.

import { narrowAscii } from "../runtime/bytes";

export class ByteSink {
  private buf: ArrayBuffer;
  /** Bytes written so far. */
  length: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new ArrayBuffer(capacity < 16 ? 16 : capacity);
  }

  /** Makes room for `extra` more bytes and returns the address to write them at. */
  reserve(extra: i32): usize {
    const need = <i64>this.length + <i64>extra;
    let cap = <i64>this.buf.byteLength;
    if (need > cap) {
      while (cap < need) cap <<= 1;
      const next = new ArrayBuffer(<i32>cap);
      memory.copy(changetype<usize>(next), changetype<usize>(this.buf), <usize>this.length);
      this.buf = next;
    }
    return changetype<usize>(this.buf) + <usize>this.length;
  }

  byte(b: u32): void {
    const n = this.length;
    const p = n < this.buf.byteLength ? changetype<usize>(this.buf) + <usize>n : this.reserve(1);
    store<u8>(p, <u8>b);
    this.length = n + 1;
  }

  /** Appends two bytes, e.g. an escape such as `\n`. */
  byte2(a: u32, b: u32): void {
    const n = this.length;
    const p = n + 2 <= this.buf.byteLength ? changetype<usize>(this.buf) + <usize>n : this.reserve(2);
    store<u8>(p, <u8>a);
    store<u8>(p, <u8>b, 1);
    this.length = n + 2;
  }

  bytes(ptr: usize, len: i32): void {
    if (len <= 0) return;
    const n = this.length;
    const dst = len <= this.buf.byteLength - n ? changetype<usize>(this.buf) + <usize>n : this.reserve(len);
    // Short runs (names, numbers, most strings) inline: memory.copy is a call out of the module.
    if (len <= 32) copyShort(dst, ptr, len);
    else memory.copy(dst, ptr, <usize>len);
    this.length = n + len;
  }

  /** Appends a string known to be ASCII (literals such as `true`, digits). */
  ascii(s: string): void {
    const n = s.length;
    narrowAscii(this.reserve(n), changetype<usize>(s), n);
    this.length += n;
  }

  /** Appends one code point as UTF-8. */
  codePoint(cp: u32): void {
    if (cp < 0x80) {
      this.byte(cp);
    } else if (cp < 0x800) {
      this.byte2(0xC0 | (cp >> 6), 0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      const p = this.reserve(3);
      store<u8>(p, <u8>(0xE0 | (cp >> 12)));
      store<u8>(p, <u8>(0x80 | ((cp >> 6) & 0x3F)), 1);
      store<u8>(p, <u8>(0x80 | (cp & 0x3F)), 2);
      this.length += 3;
    } else {
      const p = this.reserve(4);
      store<u8>(p, <u8>(0xF0 | (cp >> 18)));
      store<u8>(p, <u8>(0x80 | ((cp >> 12) & 0x3F)), 1);
      store<u8>(p, <u8>(0x80 | ((cp >> 6) & 0x3F)), 2);
      store<u8>(p, <u8>(0x80 | (cp & 0x3F)), 3);
      this.length += 4;
    }
  }

  /** Appends the decimal form of an integer. */
  integer(value: i64): void {
    let u: u64 = <u64>value;
    if (value < 0) {
      this.byte(0x2D);
      u = <u64>0 - u; // also right for i64.MIN_VALUE
    }
    const p = this.reserve(20);
    let n = 0;
    do {
      store<u8>(p + <usize>n, <u8>(0x30 + <u32>(u % 10)));
      u /= 10;
      n++;
    } while (u != 0);
    for (let i = 0, j = n - 1; i < j; i++, j--) {
      const t = load<u8>(p + <usize>i);
      store<u8>(p + <usize>i, load<u8>(p + <usize>j));
      store<u8>(p + <usize>j, t);
    }
    this.length += n;
  }

  /** The buffer written into: bytes [0, length) are the output (valid until the next append). */
  get buffer(): ArrayBuffer {
    return this.buf;
  }

  /** Address of byte `i` of what was written (valid until the next append). */
  at(i: i32): usize {
    return changetype<usize>(this.buf) + <usize>i;
  }

  toArrayBuffer(): ArrayBuffer {
    return this.buf.slice(0, this.length);
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buf), <usize>this.length);
  }
}

// Copies 1 to 32 bytes from `src` to `dst` (regions apart) in a few wide moves: whole words, then
// the last word again where it overlaps the ones before, instead of a loop over the tail's bytes.
// @ts-ignore: decorator
@inline
function copyShort(dst: usize, src: usize, len: i32): void {
  const n = <usize>len;
  if (n >= 8) {
    for (let i: usize = 0; i + 8 < n; i += 8) store<u64>(dst + i, load<u64>(src + i));
    store<u64>(dst + n - 8, load<u64>(src + n - 8));
  } else if (n >= 4) {
    store<u32>(dst, load<u32>(src));
    store<u32>(dst + n - 4, load<u32>(src + n - 4));
  } else {
    store<u8>(dst, load<u8>(src));
    if (n >= 2) store<u16>(dst + n - 2, load<u16>(src + n - 2));
  }
}
