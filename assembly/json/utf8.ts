// UTF-8 and JSON string primitives over raw bytes. Validation follows RFC 3629 (the well-formed
// byte sequences of Unicode table 3-7): no overlong forms, no encoded surrogates, nothing above
// U+10FFFF. The readers below run only over string content the parser has already validated, so
// they never check bounds or well-formedness again.

import { allAscii, equalsAscii } from "../runtime/bytes";

/**
 * Length of the well-formed UTF-8 sequence of two to four bytes starting at `i` (whose first byte
 * is >= 0x80), or 0 if it is not well-formed or runs past `len`.
 */
export function utf8SequenceLength(base: usize, i: i32, len: i32): i32 {
  const c = <u32>load<u8>(base + <usize>i);
  if (c < 0xC2) return 0; // continuation byte, or C0/C1 (overlong two-byte form)
  if (c < 0xE0) {
    if (i + 1 >= len) return 0;
    return isContinuation(load<u8>(base + <usize>i, 1)) ? 2 : 0;
  }
  if (c < 0xF0) {
    if (i + 2 >= len) return 0;
    const b1 = <u32>load<u8>(base + <usize>i, 1);
    const lo: u32 = c == 0xE0 ? 0xA0 : 0x80; // E0 80..9F would be overlong
    const hi: u32 = c == 0xED ? 0x9F : 0xBF; // ED A0..BF would encode a surrogate
    if (b1 < lo || b1 > hi) return 0;
    return isContinuation(load<u8>(base + <usize>i, 2)) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (i + 3 >= len) return 0;
    const b1 = <u32>load<u8>(base + <usize>i, 1);
    const lo: u32 = c == 0xF0 ? 0x90 : 0x80; // F0 80..8F would be overlong
    const hi: u32 = c == 0xF4 ? 0x8F : 0xBF; // F4 90.. would pass U+10FFFF
    if (b1 < lo || b1 > hi) return 0;
    return isContinuation(load<u8>(base + <usize>i, 2)) && isContinuation(load<u8>(base + <usize>i, 3)) ? 4 : 0;
  }
  return 0;
}

// @ts-ignore: decorator
@inline
function isContinuation(b: u32): bool {
  return (b & 0xC0) == 0x80;
}

/**
 * The `n` bytes at `p` (a header value, an SSE field: text nobody validated) as a string, with
 * one U+FFFD for each maximal ill-formed subpart, as the WHATWG decoder (TextDecoder) does. AssemblyScript's `String.UTF8.decodeUnsafe` trusts
 * its input: it reads an overlong `C1 A7` as "g" and takes an ASCII byte after a lead byte as
 * that byte's continuation, so bytes that a rule in front of us (or the upstream) sees as one
 * text would be another here. Well-formed input (ASCII, nearly always) is decoded as it is.
 */
export function decodeUtf8Lossy(p: usize, n: i32): string {
  if (allAscii(p, n)) return String.UTF8.decodeUnsafe(p, <usize>n);
  let i = 0;
  while (i < n) {
    if (load<u8>(p + <usize>i) < 0x80) {
      i++;
      continue;
    }
    const k = utf8SequenceLength(p, i, n);
    if (k == 0) break;
    i += k;
  }
  if (i >= n) return String.UTF8.decodeUnsafe(p, <usize>n);
  // Never more UTF-16 units than bytes: a replaced byte is one unit, a sequence shrinks.
  const out = __new(<usize>n << 1, idof<String>());
  let w = out;
  i = 0;
  while (i < n) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c < 0x80) {
      store<u16>(w, <u16>c);
      w += 2;
      i++;
      continue;
    }
    if (utf8SequenceLength(p, i, n) == 0) {
      store<u16>(w, 0xFFFD);
      w += 2;
      i += maximalSubpart(p, i, n);
      continue;
    }
    const cp = readCodePoint(p, i);
    i = nextPos;
    w = storeUtf16(w, cp);
  }
  return changetype<string>(__renew(out, w - out));
}

/**
 * Bytes from `i` that a decoder replaces with one U+FFFD, where no well-formed sequence starts
 * (Unicode 15, 3.9 "U+FFFD substitution of maximal subparts"): the lead byte and the
 * continuation bytes after it that could still begin a well-formed sequence, at least one.
 */
function maximalSubpart(p: usize, i: i32, n: i32): i32 {
  const c = <u32>load<u8>(p + <usize>i);
  if (c < 0xC2 || c > 0xF4) return 1;
  const need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
  const lo: u32 = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
  const hi: u32 = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  let k = 1;
  while (k <= need && i + k < n) {
    const b = <u32>load<u8>(p + <usize>(i + k));
    if (k == 1 ? b < lo || b > hi : !isContinuation(b)) break;
    k++;
  }
  return k;
}

/** Value of the four hex digits at `p`, or -1 if any is not a hex digit. */
export function hex4(p: usize): i32 {
  let v = 0;
  for (let k: usize = 0; k < 4; k++) {
    const c = <u32>load<u8>(p + k);
    let d: u32;
    if (c - 0x30 < 10) d = c - 0x30;
    else if ((c | 0x20) - 0x61 < 6) d = (c | 0x20) - 0x61 + 10;
    else return -1;
    v = (v << 4) | <i32>d;
  }
  return v;
}

/** Position after the code point read by the last `readCodePoint`. */
export let nextPos: i32 = 0;

/**
 * Reads one code point of validated string content at `i` (a UTF-8 sequence or an escape; a
 * `\uD83D\uDE00` pair reads as one code point) and sets `nextPos` past it.
 */
export function readCodePoint(base: usize, i: i32): u32 {
  const p = base + <usize>i;
  const c = <u32>load<u8>(p);
  if (c == 0x5C) {
    const e = <u32>load<u8>(p, 1);
    nextPos = i + 2;
    switch (e) {
      case 0x62: return 0x08; // b
      case 0x66: return 0x0C; // f
      case 0x6E: return 0x0A; // n
      case 0x72: return 0x0D; // r
      case 0x74: return 0x09; // t
      case 0x75: { // u
        const hi = <u32>hex4(p + 2);
        if (hi - 0xD800 < 0x400) {
          nextPos = i + 12;
          return 0x10000 + ((hi - 0xD800) << 10) + (<u32>hex4(p + 8) - 0xDC00);
        }
        nextPos = i + 6;
        return hi;
      }
      default: return e; // " \ /
    }
  }
  if (c < 0x80) {
    nextPos = i + 1;
    return c;
  }
  if (c < 0xE0) {
    nextPos = i + 2;
    return ((c & 0x1F) << 6) | (<u32>load<u8>(p, 1) & 0x3F);
  }
  if (c < 0xF0) {
    nextPos = i + 3;
    return ((c & 0x0F) << 12) | ((<u32>load<u8>(p, 1) & 0x3F) << 6) | (<u32>load<u8>(p, 2) & 0x3F);
  }
  nextPos = i + 4;
  return ((c & 0x07) << 18) | ((<u32>load<u8>(p, 1) & 0x3F) << 12) | ((<u32>load<u8>(p, 2) & 0x3F) << 6) | (<u32>load<u8>(p, 3) & 0x3F);
}

/** Writes code point `cp` at `w` as UTF-16 (a surrogate pair above U+FFFF); returns the end. */
// @ts-ignore: decorator
@inline
function storeUtf16(w: usize, cp: u32): usize {
  if (cp < 0x10000) {
    store<u16>(w, <u16>cp);
    return w + 2;
  }
  const v = cp - 0x10000;
  store<u16>(w, <u16>(0xD800 | (v >> 10)));
  store<u16>(w, <u16>(0xDC00 | (v & 0x3FF)), 2);
  return w + 4;
}

/**
 * Decodes validated string content [from, to) (between the quotes) into a string. `plain` means
 * no escapes, which lets the standard UTF-8 decoder do the work.
 */
export function decodeContent(base: usize, from: i32, to: i32, plain: bool): string {
  if (plain) return String.UTF8.decodeUnsafe(base + <usize>from, <usize>(to - from));
  // Never more UTF-16 units than bytes: every escape or multi-byte sequence shrinks or keeps size.
  const out = __new(<usize>(to - from) << 1, idof<String>());
  let w = out;
  let i = from;
  while (i < to) {
    const cp = readCodePoint(base, i);
    i = nextPos;
    w = storeUtf16(w, cp);
  }
  return changetype<string>(__renew(out, w - out));
}

/** True if validated string content [from, to) decodes to exactly `s`, without allocating. */
export function contentEquals(base: usize, from: i32, to: i32, plainAscii: bool, s: string): bool {
  const n = s.length;
  const sp = changetype<usize>(s);
  if (plainAscii) return equalsAscii(base + <usize>from, to - from, s);
  let i = from;
  let k = 0;
  while (i < to) {
    if (k >= n) return false;
    const cp = readCodePoint(base, i);
    i = nextPos;
    if (cp < 0x10000) {
      if (cp != <u32>load<u16>(sp + (<usize>k << 1))) return false;
      k++;
    } else {
      if (k + 1 >= n) return false;
      const v = cp - 0x10000;
      if (<u32>load<u16>(sp + (<usize>k << 1)) != (0xD800 | (v >> 10))) return false;
      if (<u32>load<u16>(sp + (<usize>k << 1), 2) != (0xDC00 | (v & 0x3FF))) return false;
      k += 2;
    }
  }
  return k == n;
}

/**
 * Orders two validated string contents by UTF-16 code units (the order RFC 8785 sorts keys by):
 * negative, zero or positive. Code points compare by their first UTF-16 unit first, so a
 * supplementary character (high surrogate D800..DBFF) sorts before U+E000..U+FFFF.
 */
export function compareContent(base: usize, a0: i32, a1: i32, b0: i32, b1: i32): i32 {
  let i = a0;
  let j = b0;
  while (i < a1 && j < b1) {
    const ca = readCodePoint(base, i);
    i = nextPos;
    const cb = readCodePoint(base, j);
    j = nextPos;
    if (ca == cb) continue;
    const ua = ca < 0x10000 ? ca : 0xD800 + ((ca - 0x10000) >> 10);
    const ub = cb < 0x10000 ? cb : 0xD800 + ((cb - 0x10000) >> 10);
    if (ua != ub) return <i32>ua - <i32>ub;
    return ca < cb ? -1 : 1; // same high surrogate: the low surrogates order as the code points do
  }
  if (i < a1) return 1;
  if (j < b1) return -1;
  return 0;
}
