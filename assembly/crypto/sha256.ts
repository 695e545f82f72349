// SHA-256 (FIPS 180-4). Streaming: `new Sha256().update(a).update(b).final()`, or one-shot
// `sha256(bytes)`. Whole blocks are compressed straight from the caller's buffer; only a partial
// block is copied. Checked against the NIST vectors and node:crypto (host-tests/sha256.test.ts).

import { compressBlock } from "./sha256-compress";

/** Digest size in bytes. */
export const SHA256_BYTES = 32;
const BLOCK = 64;

export class Sha256 {
  private state: StaticArray<u32> = new StaticArray<u32>(8);
  private block: ArrayBuffer = new ArrayBuffer(BLOCK);
  private blockLen: i32 = 0;
  private total: u64 = 0;

  constructor() {
    this.reset();
  }

  /** Starts a new message. */
  reset(): Sha256 {
    const h = changetype<usize>(this.state);
    store<u32>(h, 0x6a09e667, 0);
    store<u32>(h, 0xbb67ae85, 4);
    store<u32>(h, 0x3c6ef372, 8);
    store<u32>(h, 0xa54ff53a, 12);
    store<u32>(h, 0x510e527f, 16);
    store<u32>(h, 0x9b05688c, 20);
    store<u32>(h, 0x1f83d9ab, 24);
    store<u32>(h, 0x5be0cd19, 28);
    this.blockLen = 0;
    this.total = 0;
    return this;
  }

  update(data: ArrayBuffer): Sha256 {
    this.updateRaw(changetype<usize>(data), data.byteLength);
    return this;
  }

  /**
   * Hashes bytes [offset, offset + length) of `data`. A range reaching outside `data` is clamped
   * to it (never read out of bounds).
   */
  updateRange(data: ArrayBuffer, offset: i32, length: i32): Sha256 {
    const size = data.byteLength;
    if (offset < 0) {
      length += offset;
      offset = 0;
    }
    if (offset > size) offset = size;
    if (length > size - offset) length = size - offset;
    if (length > 0) this.updateRaw(changetype<usize>(data) + <usize>offset, length);
    return this;
  }

  /** Hashes the `len` bytes at `ptr`. */
  updatePtr(ptr: usize, len: i32): Sha256 {
    if (len > 0) this.updateRaw(ptr, len);
    return this;
  }

  /**
   * Copies the chaining state (32 bytes) to `ptr`: after whole 64-byte blocks, what `resume`
   * needs to go on from there.
   */
  saveState(ptr: usize): void {
    copy32(ptr, changetype<usize>(this.state));
  }

  /**
   * Starts a message whose first `bytes` bytes (a multiple of 64) are already hashed into the
   * state `saveState` wrote at `ptr`.
   */
  resume(ptr: usize, bytes: u64): Sha256 {
    copy32(changetype<usize>(this.state), ptr);
    this.blockLen = 0;
    this.total = bytes;
    return this;
  }

  /** Hashes the UTF-8 encoding of `s`. */
  updateString(s: string): Sha256 {
    return this.update(String.UTF8.encode(s));
  }

  private updateRaw(ptr: usize, len: i32): void {
    this.total += <u64>len;
    const block = changetype<usize>(this.block);
    const h = changetype<usize>(this.state);
    if (this.blockLen > 0) {
      const take = min(BLOCK - this.blockLen, len);
      memory.copy(block + <usize>this.blockLen, ptr, <usize>take);
      this.blockLen += take;
      ptr += <usize>take;
      len -= take;
      if (this.blockLen < BLOCK) return;
      compressBlock(h, block);
      this.blockLen = 0;
    }
    while (len >= BLOCK) {
      compressBlock(h, ptr);
      ptr += BLOCK;
      len -= BLOCK;
    }
    if (len > 0) {
      memory.copy(block, ptr, <usize>len);
      this.blockLen = len;
    }
  }

  /** The digest of everything hashed since the last reset; then resets for a new message. */
  final(): ArrayBuffer {
    const out = new ArrayBuffer(SHA256_BYTES);
    this.finalInto(changetype<usize>(out));
    return out;
  }

  /** `final` with the 32-byte digest written at `out` (e.g. a buffer reused from call to call). */
  finalInto(out: usize): void {
    const block = changetype<usize>(this.block);
    const h = changetype<usize>(this.state);
    const bits = this.total << 3;
    let n = this.blockLen;
    store<u8>(block + <usize>n, 0x80);
    n++;
    if (n > BLOCK - 8) {
      zeroTo(block, n, BLOCK);
      compressBlock(h, block);
      n = 0;
    }
    zeroTo(block, n, BLOCK - 8);
    store<u64>(block + BLOCK - 8, bswap<u64>(bits));
    compressBlock(h, block);
    for (let i: usize = 0; i < 8; i++) store<u32>(out + (i << 2), swapBytes32(load<u32>(h + (i << 2))));
    this.reset();
  }
}

/** `x` with its bytes reversed (big- to little-endian), inline: bswap<u32> is left a call. */
// @ts-ignore: decorator
@inline
export function swapBytes32(x: u32): u32 {
  return rotl<u32>(x & 0xFF00FF00, 8) | rotr<u32>(x & 0x00FF00FF, 8);
}

// Zeroes bytes [from, to) of the block at `block` (to a multiple of 8) inline: memory.fill is a
// call out of the module.
// @ts-ignore: decorator
@inline
function zeroTo(block: usize, from: i32, to: i32): void {
  let i = from;
  for (; (i & 7) != 0 && i < to; i++) store<u8>(block + <usize>i, 0);
  for (; i < to; i += 8) store<u64>(block + <usize>i, 0);
}

// 32 bytes from `src` to `dst` inline (memory.copy is a call out of the module).
// @ts-ignore: decorator
@inline
function copy32(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
  store<u64>(dst, load<u64>(src, 16), 16);
  store<u64>(dst, load<u64>(src, 24), 24);
}

/** SHA-256 of `data`. */
export function sha256(data: ArrayBuffer): ArrayBuffer {
  return new Sha256().update(data).final();
}

// The two lower-case hex digits of each byte value, as they lie in memory (a u16 each).
const HEX_PAIRS = hexPairs();

function hexPairs(): StaticArray<u16> {
  const t = new StaticArray<u16>(256);
  for (let b = 0; b < 256; b++) {
    const hi = b >> 4;
    const lo = b & 15;
    unchecked((t[b] = <u16>((hi < 10 ? 0x30 + hi : 0x57 + hi) | ((lo < 10 ? 0x30 + lo : 0x57 + lo) << 8))));
  }
  return t;
}

/** Lower-case hex of `bytes` as ASCII into `out` (at least twice as long), e.g. for a header value. */
export function hexInto(bytes: ArrayBuffer, out: ArrayBuffer): void {
  const n = bytes.byteLength;
  if (out.byteLength < n << 1) return;
  const src = changetype<usize>(bytes);
  const dst = changetype<usize>(out);
  const table = changetype<usize>(HEX_PAIRS);
  for (let i = 0; i < n; i++) {
    store<u16>(dst + (<usize>i << 1), load<u16>(table + (<usize>load<u8>(src + <usize>i) << 1)));
  }
}

/** Lower-case hex of `bytes` (e.g. a digest). */
export function toHex(bytes: ArrayBuffer): string {
  const out = new ArrayBuffer(bytes.byteLength << 1);
  hexInto(bytes, out);
  return String.UTF8.decode(out);
}

