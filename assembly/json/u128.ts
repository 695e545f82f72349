// Unsigned 128-bit integers as (hi, lo) pairs, mutated in place: the fast paths of number.ts and
// dtoa.ts use them instead of Big when every intermediate value provably fits, which covers the
// numbers real requests carry (roughly 1e-20 to 1e30) without allocating.

const M32: u64 = 0xFFFFFFFF;

export class U128 {
  hi: u64 = 0;
  lo: u64 = 0;

  // @ts-ignore: decorator
  @inline
  set(hi: u64, lo: u64): U128 {
    this.hi = hi;
    this.lo = lo;
    return this;
  }

  // @ts-ignore: decorator
  @inline
  copy(o: U128): U128 {
    this.hi = o.hi;
    this.lo = o.lo;
    return this;
  }

  /** this = x << n, for n < 128. */
  setShl(x: u64, n: i32): U128 {
    if (n == 0) return this.set(0, x);
    if (n < 64) return this.set(x >> <u64>(64 - n), x << <u64>n);
    return this.set(x << <u64>(n - 64), 0);
  }

  /** this = a × b (exact). */
  setMul(a: u64, b: u64): U128 {
    const a0 = a & M32;
    const a1 = a >> 32;
    const b0 = b & M32;
    const b1 = b >> 32;
    const p00 = a0 * b0;
    const p01 = a0 * b1;
    const p10 = a1 * b0;
    const mid = (p00 >> 32) + (p01 & M32) + (p10 & M32);
    this.lo = (mid << 32) | (p00 & M32);
    this.hi = a1 * b1 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return this;
  }

  /** this *= m; the caller guarantees the product fits. */
  mulSmall(m: u32): U128 {
    const p0 = (this.lo & M32) * <u64>m;
    const p1 = (this.lo >> 32) * <u64>m + (p0 >> 32);
    this.lo = (p1 << 32) | (p0 & M32);
    this.hi = this.hi * <u64>m + (p1 >> 32);
    return this;
  }

  // @ts-ignore: decorator
  @inline
  add(o: U128): U128 {
    const lo = this.lo + o.lo;
    this.hi += o.hi + <u64>(lo < this.lo);
    this.lo = lo;
    return this;
  }

  /** this -= o; requires this >= o. */
  // @ts-ignore: decorator
  @inline
  sub(o: U128): U128 {
    const lo = this.lo - o.lo;
    this.hi -= o.hi + <u64>(lo > this.lo);
    this.lo = lo;
    return this;
  }

  // @ts-ignore: decorator
  @inline
  shl1(): U128 {
    this.hi = (this.hi << 1) | (this.lo >> 63);
    this.lo <<= 1;
    return this;
  }

  bitLength(): i32 {
    return this.hi != 0 ? 128 - <i32>clz(this.hi) : 64 - <i32>clz(this.lo);
  }
}

/** Sign of a - b. */
// @ts-ignore: decorator
@inline
export function compare128(a: U128, b: U128): i32 {
  if (a.hi != b.hi) return a.hi > b.hi ? 1 : -1;
  if (a.lo != b.lo) return a.lo > b.lo ? 1 : -1;
  return 0;
}
