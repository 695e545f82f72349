// Just enough arbitrary-precision unsigned arithmetic for exact decimal <-> binary conversion of
// doubles (the rare cases the fast paths in number.ts and dtoa.ts cannot settle). Little-endian
// u32 limbs; every operation grows the storage it needs, so nothing can write out of bounds.

const POW5_SMALL: StaticArray<u32> = [1, 5, 25, 125, 625, 3125, 15625, 78125, 390625, 1953125, 9765625, 48828125, 244140625, 1220703125];

export class Big {
  limbs: StaticArray<u32>;
  /** Limbs in use; the top one is non-zero unless the value is zero (size 0). */
  size: i32 = 0;

  constructor(capacity: i32 = 8) {
    this.limbs = new StaticArray<u32>(capacity < 4 ? 4 : capacity);
  }

  private reserve(n: i32): void {
    const old = this.limbs;
    if (n <= old.length) return;
    let cap = old.length << 1;
    if (cap < n) cap = n;
    const next = new StaticArray<u32>(cap);
    memory.copy(changetype<usize>(next), changetype<usize>(old), <usize>this.size << 2);
    this.limbs = next;
  }

  // @ts-ignore: decorator
  @inline
  private get ptr(): usize {
    return changetype<usize>(this.limbs);
  }

  isZero(): bool {
    return this.size == 0;
  }

  setU64(v: u64): Big {
    this.reserve(2);
    store<u32>(this.ptr, <u32>v);
    store<u32>(this.ptr, <u32>(v >> 32), 4);
    this.size = (v >> 32) != 0 ? 2 : v != 0 ? 1 : 0;
    return this;
  }

  copyFrom(b: Big): Big {
    this.reserve(b.size);
    memory.copy(this.ptr, b.ptr, <usize>b.size << 2);
    this.size = b.size;
    return this;
  }

  /** this = this * m + add */
  mulAdd(m: u32, add: u32): Big {
    if (m == 0) return this.setU64(add);
    let carry: u64 = add;
    const p = this.ptr;
    const n = this.size;
    for (let i = 0; i < n; i++) {
      const q = p + (<usize>i << 2);
      const t = <u64>load<u32>(q) * <u64>m + carry;
      store<u32>(q, <u32>t);
      carry = t >> 32;
    }
    if (carry != 0) {
      this.reserve(n + 1);
      store<u32>(this.ptr + (<usize>n << 2), <u32>carry);
      this.size = n + 1;
    }
    return this;
  }

  mulSmall(m: u32): Big {
    return this.mulAdd(m, 0);
  }

  mulPow5(n: i32): Big {
    while (n >= 13) {
      this.mulAdd(1220703125, 0);
      n -= 13;
    }
    if (n > 0) this.mulAdd(unchecked(POW5_SMALL[n]), 0);
    return this;
  }

  mulPow10(n: i32): Big {
    return this.mulPow5(n).shl(n);
  }

  shl(bits: i32): Big {
    if (this.size == 0 || bits <= 0) return this;
    const limbShift = bits >> 5;
    const bitShift = bits & 31;
    const n = this.size;
    this.reserve(n + limbShift + 1);
    const p = this.ptr;
    store<u32>(p + (<usize>(n + limbShift) << 2), 0);
    for (let i = n - 1; i >= 0; i--) {
      const v = load<u32>(p + (<usize>i << 2));
      const dst = p + (<usize>(i + limbShift) << 2);
      if (bitShift == 0) {
        store<u32>(dst, v);
      } else {
        store<u32>(dst, v << bitShift);
        store<u32>(dst + 4, load<u32>(dst + 4) | (v >> (32 - bitShift)));
      }
    }
    for (let i = 0; i < limbShift; i++) store<u32>(p + (<usize>i << 2), 0);
    let size = n + limbShift + 1;
    while (size > 0 && load<u32>(p + (<usize>(size - 1) << 2)) == 0) size--;
    this.size = size;
    return this;
  }

  /** this += b */
  add(b: Big): Big {
    const n = this.size > b.size ? this.size : b.size;
    this.reserve(n + 1);
    const p = this.ptr;
    const q = b.ptr;
    let carry: u64 = 0;
    for (let i = 0; i < n; i++) {
      const a = i < this.size ? <u64>load<u32>(p + (<usize>i << 2)) : 0;
      const c = i < b.size ? <u64>load<u32>(q + (<usize>i << 2)) : 0;
      const t = a + c + carry;
      store<u32>(p + (<usize>i << 2), <u32>t);
      carry = t >> 32;
    }
    if (carry != 0) {
      store<u32>(p + (<usize>n << 2), <u32>carry);
      this.size = n + 1;
    } else {
      this.size = n;
    }
    return this;
  }

  /** this -= b; requires this >= b. */
  sub(b: Big): Big {
    const p = this.ptr;
    const q = b.ptr;
    let borrow: i64 = 0;
    for (let i = 0; i < this.size; i++) {
      const c = i < b.size ? <i64>load<u32>(q + (<usize>i << 2)) : 0;
      let t = <i64>load<u32>(p + (<usize>i << 2)) - c - borrow;
      borrow = 0;
      if (t < 0) {
        t += <i64>1 << 32;
        borrow = 1;
      }
      store<u32>(p + (<usize>i << 2), <u32>t);
    }
    let size = this.size;
    while (size > 0 && load<u32>(p + (<usize>(size - 1) << 2)) == 0) size--;
    this.size = size;
    return this;
  }

  /** this *= m for a 64-bit m. */
  mulU64(m: u64): Big {
    const mHi = m >> 32;
    if (mHi == 0) return this.mulAdd(<u32>m, 0);
    const mLo = m & 0xFFFFFFFF;
    const n = this.size;
    const p = this.ptr;
    let carry: u64 = 0; // stays below 2^64: limb × m + carry < 2^96
    for (let i = 0; i < n; i++) {
      const q = p + (<usize>i << 2);
      const x = <u64>load<u32>(q);
      const a = x * mLo + (carry & 0xFFFFFFFF);
      store<u32>(q, <u32>a);
      carry = (a >> 32) + x * mHi + (carry >> 32);
    }
    if (carry != 0) {
      this.reserve(n + 2);
      const q = this.ptr + (<usize>n << 2);
      store<u32>(q, <u32>carry);
      store<u32>(q, <u32>(carry >> 32), 4);
      this.size = (carry >> 32) != 0 ? n + 2 : n + 1;
    }
    return this;
  }

  /** Approximates this / 2^(32 × (top - 2)) from the limbs at top, top - 1 and top - 2. */
  approxTop(top: i32): f64 {
    let v = 0.0;
    for (let i = top; i >= top - 2; i--) {
      v *= 4294967296.0;
      if (i >= 0 && i < this.size) v += <f64>load<u32>(this.ptr + (<usize>i << 2));
    }
    return v;
  }
}

/** Sign of a - b. */
export function compareBig(a: Big, b: Big): i32 {
  if (a.size != b.size) return a.size > b.size ? 1 : -1;
  const p = changetype<usize>(a.limbs);
  const q = changetype<usize>(b.limbs);
  for (let i = a.size - 1; i >= 0; i--) {
    const x = load<u32>(p + (<usize>i << 2));
    const y = load<u32>(q + (<usize>i << 2));
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}
