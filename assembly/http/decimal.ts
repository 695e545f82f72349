// Header values that are decimal integers (content-length, retry-after, age).

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
