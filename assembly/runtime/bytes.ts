// Byte comparisons eight at a time, for the per-request lookups that compare a header value in
// place with a remembered one (AssemblyScript's memory.compare goes byte by byte). Pure.

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
