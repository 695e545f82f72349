// FNV-1a (64-bit) over UTF-8 bytes, finished with the SplitMix64 mixer. FNV alone spreads short,
// similar keys ("user-1", "user-2") poorly over the low bits; the mixer makes every output bit
// depend on every input bit, so `hash % n` is uniform enough for bucketing. Not for anything an
// attacker must not predict.

export const FNV64_OFFSET: u64 = 0xcbf29ce484222325;
export const FNV64_PRIME: u64 = 0x100000001b3;

/** Folds `len` bytes at `ptr` into an FNV-1a state (start with FNV64_OFFSET). */
export function fnv1a64Update(state: u64, ptr: usize, len: usize): u64 {
  let h = state;
  for (let i: usize = 0; i < len; i++) {
    h ^= <u64>load<u8>(ptr + i);
    h *= FNV64_PRIME;
  }
  return h;
}

/** Folds one byte into an FNV-1a state. */
// @ts-ignore: decorator
@inline
export function fnv1a64Byte(state: u64, byte: u8): u64 {
  return (state ^ <u64>byte) * FNV64_PRIME;
}

/** Folds the UTF-8 encoding of `text` into an FNV-1a state without allocating. */
export function fnv1a64String(state: u64, text: string): u64 {
  let h = state;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>text.charCodeAt(i);
    if (c < 0x80) {
      h = fnv1a64Byte(h, <u8>c);
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      const d = <u32>text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    // A lone surrogate (never in text decoded from UTF-8) hashes as U+FFFD.
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    if (c < 0x800) {
      h = fnv1a64Byte(h, <u8>(0xc0 | (c >> 6)));
    } else if (c < 0x10000) {
      h = fnv1a64Byte(h, <u8>(0xe0 | (c >> 12)));
      h = fnv1a64Byte(h, <u8>(0x80 | ((c >> 6) & 0x3f)));
    } else {
      h = fnv1a64Byte(h, <u8>(0xf0 | (c >> 18)));
      h = fnv1a64Byte(h, <u8>(0x80 | ((c >> 12) & 0x3f)));
      h = fnv1a64Byte(h, <u8>(0x80 | ((c >> 6) & 0x3f)));
    }
    h = fnv1a64Byte(h, <u8>(0x80 | (c & 0x3f)));
  }
  return h;
}

/** SplitMix64's finaliser: a bijection with full avalanche. */
export function mix64(value: u64): u64 {
  let z = value;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
