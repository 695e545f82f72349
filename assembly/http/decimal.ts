// Header values that are decimal integers (content-length, retry-after, age).

/** A decimal integer of up to 18 digits, or -1 for anything else (absent, empty, signs, spaces). */
export function parseDecimal(value: string | null): i64 {
  if (value === null || value.length == 0 || value.length > 18) return -1;
  let n: i64 = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + <i64>d;
  }
  return n;
}
