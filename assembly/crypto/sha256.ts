// SHA-256 (FIPS 180-4). Streaming: `new Sha256().update(a).update(b).final()`, or one-shot
// `sha256(bytes)`. Whole blocks are compressed straight from the caller's buffer; only a partial
// block is copied. Checked against the NIST vectors and node:crypto (host-tests/sha256.test.ts).

const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// Message schedule scratch: the module is single-threaded and compress() does not re-enter.
const W: usize = memory.data(64 * 4);

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
      compress(h, block);
      this.blockLen = 0;
    }
    while (len >= BLOCK) {
      compress(h, ptr);
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
    const block = changetype<usize>(this.block);
    const h = changetype<usize>(this.state);
    const bits = this.total << 3;
    let n = this.blockLen;
    store<u8>(block + <usize>n, 0x80);
    n++;
    if (n > BLOCK - 8) {
      memory.fill(block + <usize>n, 0, <usize>(BLOCK - n));
      compress(h, block);
      n = 0;
    }
    memory.fill(block + <usize>n, 0, <usize>(BLOCK - 8 - n));
    store<u64>(block + BLOCK - 8, bswap<u64>(bits));
    compress(h, block);
    const out = new ArrayBuffer(SHA256_BYTES);
    const o = changetype<usize>(out);
    for (let i: usize = 0; i < 8; i++) store<u32>(o + (i << 2), bswap<u32>(load<u32>(h + (i << 2))));
    this.reset();
    return out;
  }
}

/** SHA-256 of `data`. */
export function sha256(data: ArrayBuffer): ArrayBuffer {
  return new Sha256().update(data).final();
}

/** Lower-case hex of `bytes` (e.g. a digest). */
/** Lower-case hex of `bytes` as ASCII into `out` (at least twice as long), e.g. for a header value. */
export function hexInto(bytes: ArrayBuffer, out: ArrayBuffer): void {
  const n = bytes.byteLength;
  if (out.byteLength < n << 1) return;
  const src = changetype<usize>(bytes);
  const dst = changetype<usize>(out);
  for (let i = 0; i < n; i++) {
    const b = <u32>load<u8>(src + <usize>i);
    const hi = b >> 4;
    const lo = b & 15;
    store<u8>(dst + (<usize>i << 1), <u8>(hi < 10 ? 0x30 + hi : 0x57 + hi));
    store<u8>(dst + (<usize>i << 1), <u8>(lo < 10 ? 0x30 + lo : 0x57 + lo), 1);
  }
}

export function toHex(bytes: ArrayBuffer): string {
  const out = new ArrayBuffer(bytes.byteLength << 1);
  hexInto(bytes, out);
  return String.UTF8.decode(out);
}

// One 64-byte block at `p` into the state at `h`.
function compress(h: usize, p: usize): void {
  for (let i: usize = 0; i < 16; i++) store<u32>(W + (i << 2), bswap<u32>(load<u32>(p + (i << 2))));
  for (let i: usize = 16; i < 64; i++) {
    const w15 = load<u32>(W + ((i - 15) << 2));
    const w2 = load<u32>(W + ((i - 2) << 2));
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (i << 2), load<u32>(W + ((i - 16) << 2)) + s0 + load<u32>(W + ((i - 7) << 2)) + s1);
  }
  let a = load<u32>(h, 0);
  let b = load<u32>(h, 4);
  let c = load<u32>(h, 8);
  let d = load<u32>(h, 12);
  let e = load<u32>(h, 16);
  let f = load<u32>(h, 20);
  let g = load<u32>(h, 24);
  let k = load<u32>(h, 28);
  for (let i: usize = 0; i < 64; i++) {
    const s1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
    const ch = (e & f) ^ (~e & g);
    const t1 = k + s1 + ch + load<u32>(K + (i << 2)) + load<u32>(W + (i << 2));
    const s0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = s0 + maj;
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  store<u32>(h, load<u32>(h, 0) + a, 0);
  store<u32>(h, load<u32>(h, 4) + b, 4);
  store<u32>(h, load<u32>(h, 8) + c, 8);
  store<u32>(h, load<u32>(h, 12) + d, 12);
  store<u32>(h, load<u32>(h, 16) + e, 16);
  store<u32>(h, load<u32>(h, 20) + f, 20);
  store<u32>(h, load<u32>(h, 24) + g, 24);
  store<u32>(h, load<u32>(h, 28) + k, 28);
}
