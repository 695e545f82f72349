// Header values that are decimal integers (content-length, retry-after, age): read from a string
// or bytes in place, written as bytes.

/** A decimal integer of up to 18 digits, or -1 for anything else (absent, empty, signs, spaces). */
export function parseDecimal(value: string | null): i64 {
  if (value === null) return -1;
  const len = value.length;
  if (len == 0 || len > 18) return -1;
  let n: i64 = 0;
  for (let i = 0; i < len; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + <i64>d;
  }
  return n;
}

/** `parseDecimal` of the `len` ASCII bytes at `ptr` (a header value in place). */
export function parseDecimalAt(ptr: usize, len: i32): i64 {
  if (len <= 0 || len > 18) return -1;
  let n: i64 = 0;
  for (let i = 0; i < len; i++) {
    const d = <i32>load<u8>(ptr + <usize>i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + <i64>d;
  }
  return n;
}

/** Writes the decimal digits of `v` (clamped at 0) at `p`; returns the length. */
export function writeDecimal(v: i64, p: usize): i32 {
  if (v <= 0) {
    store<u8>(p, 0x30);
    return 1;
  }
  let digits = 0;
  for (let t = v; t > 0; t /= 10) digits++;
  let t = v;
  for (let i = digits - 1; i >= 0; i--) {
    store<u8>(p + <usize>i, <u8>(0x30 + t % 10));
    t /= 10;
  }
  return digits;
}
