// RFC 8785 JSON Canonicalization Scheme (JCS) for a parsed value: no whitespace; object members
// sorted by their names' UTF-16 code units; strings with the minimal JSON.stringify escaping;
// numbers as ECMAScript's Number::toString prints the double they denote. Iterative (an explicit
// stack), so any depth the parser admitted is safe.
//
// Duplicate keys, which RFC 8785 leaves out of scope (its input is I-JSON), are all kept: they
// sort by name and keep their source order among themselves. So `{"a":1,"a":2}` and `{"a":2}`
// never share a canonical form, the safe side for a cache key.
//
// Numbers with at most 15 significant digits in the normal double range take their digits from
// the source text: every such decimal is the unique shortest representation of its double (15 <
// DBL_DIG + 1), so no conversion is needed. Others go through f64 and the shortest formatter.
//
// One departure, outside RFC 8785's input (I-JSON, whose integers stay within +-(2^53 - 1)): an
// integer written without fraction or exponent keeps its exact digits at any length, where RFC
// 8785 would print its double. Python servers read such a literal as an exact int (a `seed` of
// 12345678901234567 is not one of 12345678901234568), so a cache key must not merge them, and a
// replayed response must not round its ids. Within +-2^53 the two forms agree.

import { DIGITS, writeDecimal, writeNumber } from "./dtoa";
import { writeEscapedCodePoint } from "./escape";
import { analyseNumber, copyDigits, leadingExponent, numberNegative, numberToF64, significantDigits } from "./number";
import { compareStringNodes, F_ESCAPED, F_NON_ASCII, JsonKind, JsonTree, JsonValue } from "./reader";
import { ByteSink } from "./sink";
import { nextPos, readCodePoint } from "./utf8";

/** The canonical (RFC 8785) UTF-8 serialisation of `value`. */
export function canonicalJson(value: JsonValue): ArrayBuffer {
  const sink = new ByteSink(value.end - value.start + 16);
  writeCanonical(sink, value);
  return sink.toArrayBuffer();
}

// Scratch of every serialisation (one at a time: nothing here re-enters), so writing a value
// allocates nothing once these have grown to the deepest and widest document seen. The open
// containers: FRAME_WORDS words each (members or items, where the object's sorted key nodes
// start in keyNodes or -1 for an array, the array's next item node, members or items written). The
// sorted key nodes of every open object sit in keyNodes, innermost last.
const FRAME_WORDS = 4;
let frames = new StaticArray<i32>(16 * FRAME_WORDS);
let keyNodes = new StaticArray<i32>(64);
let keysTop: i32 = 0;
/** Scratch larger than this (a huge object's keys, a very deep document) is let go after use. */
const KEEP_SCRATCH_ITEMS: i32 = 4096;

/** Appends the canonical form of `value` to `sink`. */
export function writeCanonical(sink: ByteSink, value: JsonValue): void {
  writeCanonicalNode(sink, value.tree, value.node);
}

/** Appends the canonical form of node `node` of `tree` (a value, not a member name) to `sink`. */
export function writeCanonicalNode(sink: ByteSink, tree: JsonTree, node: i32): void {
  const keysBase = keysTop;
  let depth = openValue(sink, tree, node, 0);
  while (depth > 0) {
    const f = changetype<usize>(frames) + (<usize>(depth - 1) * FRAME_WORDS << 2);
    const count = load<i32>(f);
    const keys = load<i32>(f, 4);
    const pos = load<i32>(f, 12);
    if (pos == count) {
      sink.byte(keys >= 0 ? 0x7D : 0x5D);
      if (keys >= 0) keysTop = keys;
      depth--;
      continue;
    }
    if (pos > 0) sink.byte(0x2C);
    store<i32>(f, pos + 1, 12);
    let child: i32;
    if (keys >= 0) {
      const key = unchecked(keyNodes[keys + pos]);
      writeCanonicalName(sink, tree, key);
      child = key + 1;
    } else {
      child = load<i32>(f, 8);
      store<i32>(f, tree.skip(child), 8);
    }
    depth = openValue(sink, tree, child, depth);
  }
  keysTop = keysBase;
  if (keysBase == 0 && keyNodes.length > KEEP_SCRATCH_ITEMS) keyNodes = new StaticArray<i32>(64);
  if (frames.length > KEEP_SCRATCH_ITEMS) frames = new StaticArray<i32>(16 * FRAME_WORDS);
}

// Writes a scalar, or the opening bracket of a container (pushing a frame unless it is empty);
// returns the number of open frames.
function openValue(sink: ByteSink, tree: JsonTree, node: i32, depth: i32): i32 {
  const kind = tree.kindOf(node);
  switch (kind) {
    case JsonKind.Null: {
      sink.ascii("null");
      break;
    }
    case JsonKind.Bool: {
      sink.ascii(load<u8>(changetype<usize>(tree.source) + <usize>tree.word(node, 1)) == 0x74 ? "true" : "false");
      break;
    }
    case JsonKind.Number: {
      writeCanonicalNumber(sink, tree, node);
      break;
    }
    case JsonKind.String: {
      writeCanonicalString(sink, tree, node);
      break;
    }
    default: {
      const count = tree.word(node, 0) >>> 8;
      const isArray = kind == JsonKind.Array;
      sink.byte(isArray ? 0x5B : 0x7B);
      if (count == 0) {
        sink.byte(isArray ? 0x5D : 0x7D);
        break;
      }
      if ((depth + 1) * FRAME_WORDS > frames.length) frames = grownCopy(frames, (depth + 1) * FRAME_WORDS, depth * FRAME_WORDS);
      const f = changetype<usize>(frames) + (<usize>depth * FRAME_WORDS << 2);
      store<i32>(f, count);
      store<i32>(f, 0, 12);
      if (isArray) {
        store<i32>(f, -1, 4);
        store<i32>(f, node + 1, 8);
      } else {
        const base = keysTop;
        // Room for the keys and, above them, the merge sort's scratch.
        if (base + (count << 1) > keyNodes.length) keyNodes = grownCopy(keyNodes, base + (count << 1), base);
        const p = changetype<usize>(keyNodes) + (<usize>base << 2);
        let n = node + 1;
        for (let i = 0; i < count; i++) {
          store<i32>(p + (<usize>i << 2), n);
          n = tree.skip(n + 1);
        }
        sortKeysAt(tree, p, count, p + (<usize>count << 2));
        keysTop = base + count;
        store<i32>(f, base, 4);
      }
      return depth + 1;
    }
  }
  return depth;
}

// A copy of the first `keep` items of `a` in an array of at least `need` items.
function grownCopy(a: StaticArray<i32>, need: i32, keep: i32): StaticArray<i32> {
  let size = a.length << 1;
  while (size < need) size <<= 1;
  const b = new StaticArray<i32>(size);
  memory.copy(changetype<usize>(b), changetype<usize>(a), <usize>keep << 2);
  return b;
}

/** Appends member name node `node` of `tree` in canonical form, and the colon after it. */
export function writeCanonicalName(sink: ByteSink, tree: JsonTree, node: i32): void {
  const base = changetype<usize>(tree.source);
  const start = tree.word(node, 1);
  const end = tree.word(node, 2);
  // A plain name written `"name":` in the source is copied with its colon in one move (a name is
  // always followed by its colon, so the byte at `end` is in the source).
  if ((tree.word(node, 0) & F_ESCAPED) == 0 && load<u8>(base + <usize>end) == 0x3A) {
    sink.bytes(base + <usize>start, end - start + 1);
    return;
  }
  writeCanonicalString(sink, tree, node);
  sink.byte(0x3A);
}

/** Appends string node `node` (a value or a member name) of `tree` in canonical form. */
export function writeCanonicalString(sink: ByteSink, tree: JsonTree, node: i32): void {
  const base = changetype<usize>(tree.source);
  const start = tree.word(node, 1);
  const end = tree.word(node, 2);
  if ((tree.word(node, 0) & F_ESCAPED) == 0) {
    // Unescaped content holds no quote, backslash or control character: it is already canonical.
    sink.bytes(base + <usize>start, end - start);
    return;
  }
  // Runs between escapes are copied as they are; each escape is rewritten in canonical form.
  sink.byte(0x22);
  let i = start + 1;
  let run = i;
  const to = end - 1;
  while (i < to) {
    if (load<u8>(base + <usize>i) != 0x5C) {
      i++;
      continue;
    }
    sink.bytes(base + <usize>run, i - run);
    const cp = readCodePoint(base, i);
    i = nextPos;
    writeEscapedCodePoint(sink, cp);
    run = i;
  }
  sink.bytes(base + <usize>run, to - run);
  sink.byte(0x22);
}

function writeCanonicalNumber(sink: ByteSink, tree: JsonTree, node: i32): void {
  const base = changetype<usize>(tree.source);
  const start = tree.word(node, 1);
  const end = tree.word(node, 2);
  // An integer without a leading zero, fraction or exponent (and not -0) is its own canonical
  // form, exact at any length (see the top of this file).
  const neg = load<u8>(base + <usize>start) == 0x2D ? 1 : 0;
  const digits = end - start - neg;
  if (plainInteger(base + <usize>(start + neg), digits, neg != 0)) {
    sink.bytes(base + <usize>start, end - start);
    return;
  }
  analyseNumber(base, start, end);
  const n = significantDigits();
  if (n == 0) {
    sink.byte(0x30); // 0, -0, 0.0e5 ...
    return;
  }
  const p = leadingExponent();
  if (n <= 15 && p >= -307 && p <= 308) {
    copyDigits(base, DIGITS);
    writeDecimal(sink, numberNegative(), DIGITS, n, <i32>p + 1);
    return;
  }
  writeNumber(sink, numberToF64(base, start, end));
}

// The `n` bytes at `p` are decimal digits with no leading 0: "0" alone, unless `negative` (-0
// is written 0).
function plainInteger(p: usize, n: i32, negative: bool): bool {
  if (n <= 0) return false;
  const first = <u32>load<u8>(p) - 0x30;
  if (first > 9 || (first == 0 && (n > 1 || negative))) return false;
  for (let i = 1; i < n; i++) {
    if (<u32>load<u8>(p + <usize>i) - 0x30 > 9) return false;
  }
  return true;
}

/** Sorts key nodes [0, n) of `keys` in place by name (UTF-16 code units), stably. */
export function sortKeyNodes(tree: JsonTree, keys: StaticArray<i32>, n: i32): void {
  if (n <= 16) {
    sortKeysAt(tree, changetype<usize>(keys), n, 0);
    return;
  }
  const tmp = new StaticArray<i32>(n);
  sortKeysAt(tree, changetype<usize>(keys), n, changetype<usize>(tmp));
}

// Sorts the `n` key nodes at `p` in place, stably; `tmp` has room for `n` more when n > 16.
function sortKeysAt(tree: JsonTree, p: usize, n: i32, tmp: usize): void {
  if (n <= 16) {
    for (let i = 1; i < n; i++) {
      const k = load<i32>(p + (<usize>i << 2));
      let j = i - 1;
      while (j >= 0) {
        const kj = load<i32>(p + (<usize>j << 2));
        if (compareKeys(tree, kj, k) <= 0) break;
        store<i32>(p + (<usize>(j + 1) << 2), kj);
        j--;
      }
      store<i32>(p + (<usize>(j + 1) << 2), k);
    }
    return;
  }
  // Bottom-up merge sort, taking from the left run on ties (stable).
  let src = p;
  let dst = tmp;
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += width << 1) {
      const mid = min(lo + width, n);
      const hi = min(lo + (width << 1), n);
      let a = lo;
      let b = mid;
      for (let k = lo; k < hi; k++) {
        const va = a < mid ? load<i32>(src + (<usize>a << 2)) : 0;
        const vb = b < hi ? load<i32>(src + (<usize>b << 2)) : 0;
        if (a < mid && (b >= hi || compareKeys(tree, va, vb) <= 0)) {
          store<i32>(dst + (<usize>k << 2), va);
          a++;
        } else {
          store<i32>(dst + (<usize>k << 2), vb);
          b++;
        }
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != p) memory.copy(p, src, <usize>n << 2);
}

// Orders two member names as compareStringNodes does (by sign). Two plain ASCII names that differ
// in their first byte, as most do, are ordered by it without the call.
// @ts-ignore: decorator
@inline
function compareKeys(tree: JsonTree, a: i32, b: i32): i32 {
  const a0 = tree.word(a, 1) + 1;
  const b0 = tree.word(b, 1) + 1;
  if (((tree.word(a, 0) | tree.word(b, 0)) & (F_ESCAPED | F_NON_ASCII)) == 0 && a0 < tree.word(a, 2) - 1 && b0 < tree.word(b, 2) - 1) {
    const base = changetype<usize>(tree.source);
    const d = <i32>load<u8>(base + <usize>a0) - <i32>load<u8>(base + <usize>b0);
    if (d != 0) return d;
  }
  return compareStringNodes(tree, a, b);
}
