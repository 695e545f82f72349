// Byte comparisons and copies without a string made: eight bytes at a time for a header value
// compared in place with a remembered one (AssemblyScript's memory.compare goes byte by byte),
// bytes against an ASCII string's code units for names, and an ASCII string's code units
// narrowed to bytes. Pure.

/** The `n` bytes at `a` and at `b` are equal. */
export function sameBytes(a: usize, b: usize, n: i32): bool {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if (load<u64>(a + <usize>i) != load<u64>(b + <usize>i)) return false;
  }
  for (; i < n; i++) {
    if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  }
  return true;
}

/** The `s.length` bytes at `bytes` are the characters of ASCII string `s`, code unit against byte. */
// @ts-ignore: decorator
@inline
export function sameAscii(bytes: usize, s: string): bool {
  const q = changetype<usize>(s);
  const n = s.length;
  let i = 0;
  // Four at a time: four bytes spread into 16-bit lanes are the code units of the same four
  // characters (a code unit above 0xFF matches no byte, as one at a time).
  for (; i + 4 <= n; i += 4) {
    const b = <u64>load<u32>(bytes + <usize>i);
    const units = (b & 0xFF) | ((b & 0xFF00) << 8) | ((b & 0xFF0000) << 16) | ((b & 0xFF000000) << 24);
    if (units != load<u64>(q + (<usize>i << 1))) return false;
  }
  for (; i < n; i++) {
    if (<u32>load<u8>(bytes + <usize>i) != <u32>load<u16>(q + (<usize>i << 1))) return false;
  }
  return true;
}

/** The `len` bytes at `bytes` are exactly the characters of ASCII string `s`. */
// @ts-ignore: decorator
@inline
export function equalsAscii(bytes: usize, len: i32, s: string): bool {
  return s.length == len && sameAscii(bytes, s);
}

/**
 * Writes the `n` code units of ASCII at `units` as `n` bytes at `dst`, four a step (the inverse of
 * `sameAscii`'s spread): header names recorded as edits, literals and digits in JSON, a stored
 * content type.
 */
export function narrowAscii(dst: usize, units: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const v = load<u64>(units + (<usize>k << 1));
    store<u32>(dst + <usize>k, <u32>(v & 0xFF) | <u32>((v >> 8) & 0xFF00) | <u32>((v >> 16) & 0xFF0000) | <u32>((v >> 24) & 0xFF000000));
  }
  for (; k < n; k++) store<u8>(dst + <usize>k, <u8>load<u16>(units + (<usize>k << 1)));
}

/** The `n` bytes at `p` are all ASCII (eight at a time). */
export function allAscii(p: usize, n: i32): bool {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if ((load<u64>(p + <usize>i) & 0x8080808080808080) != 0) return false;
  }
  for (; i < n; i++) {
    if (load<u8>(p + <usize>i) >= 0x80) return false;
  }
  return true;
}

/** The `lower.length` bytes at `bytes` are lower-case ASCII `lower`, ignoring the bytes' ASCII case. */
export function sameAsciiIgnoreCase(bytes: usize, lower: string): bool {
  const q = changetype<usize>(lower);
  for (let k = 0, n = lower.length; k < n; k++) {
    let c = <u32>load<u8>(bytes + <usize>k);
    if (c - 0x41 < 26) c |= 0x20;
    if (c != <u32>load<u16>(q + (<usize>k << 1))) return false;
  }
  return true;
}

/** `s` at `at` starts with `lower` (lower-case ASCII), ignoring ASCII case. */
export function regionEqualsIgnoreCase(s: string, at: i32, lower: string): bool {
  const n = lower.length;
  if (at < 0 || at + n > s.length) return false;
  const p = changetype<usize>(s) + (<usize>at << 1);
  const q = changetype<usize>(lower);
  for (let k = 0; k < n; k++) {
    let ch = <u32>load<u16>(p + (<usize>k << 1));
    if (ch - 0x41 < 26) ch |= 0x20;
    if (ch != <u32>load<u16>(q + (<usize>k << 1))) return false;
  }
  return true;
}
