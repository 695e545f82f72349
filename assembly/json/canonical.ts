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

import { DIGITS, writeDecimal, writeNumber } from "./dtoa";
import { writeEscapedCodePoint } from "./escape";
import { analyseNumber, copyDigits, leadingExponent, numberNegative, numberToF64, significantDigits } from "./number";
import { compareStringNodes, F_ESCAPED, JsonKind, JsonTree, JsonValue } from "./reader";
import { ByteSink } from "./sink";
import { nextPos, readCodePoint } from "./utf8";

/** The canonical (RFC 8785) UTF-8 serialisation of `value`. */
export function canonicalJson(value: JsonValue): ArrayBuffer {
  const sink = new ByteSink(value.end - value.start + 16);
  writeCanonical(sink, value);
  return sink.toArrayBuffer();
}

/** An open array or object during serialisation. */
class Frame {
  constructor(
    public count: i32,
    /** Objects: key nodes in canonical order; null for arrays. */
    public keys: StaticArray<i32> | null,
    /** Arrays: node of the next item. */
    public cursor: i32,
  ) {}
  pos: i32 = 0;
}

/** Appends the canonical form of `value` to `sink`. */
export function writeCanonical(sink: ByteSink, value: JsonValue): void {
  const tree = value.tree;
  const frames = new Array<Frame>();
  openValue(sink, tree, value.node, frames);
  while (frames.length > 0) {
    const f = frames[frames.length - 1];
    const keys = f.keys;
    if (f.pos == f.count) {
      sink.byte(keys !== null ? 0x7D : 0x5D);
      frames.pop();
      continue;
    }
    if (f.pos > 0) sink.byte(0x2C);
    let child: i32;
    if (keys !== null) {
      const key = unchecked(keys[f.pos]);
      writeString(sink, tree, key);
      sink.byte(0x3A);
      child = key + 1;
    } else {
      child = f.cursor;
      f.cursor = tree.skip(child);
    }
    f.pos++;
    openValue(sink, tree, child, frames);
  }
}

// Writes a scalar, or the opening bracket of a container (pushing a frame unless it is empty).
function openValue(sink: ByteSink, tree: JsonTree, node: i32, frames: Array<Frame>): void {
  const kind = tree.kindOf(node);
  const count = tree.word(node, 0) >>> 8;
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
      writeString(sink, tree, node);
      break;
    }
    case JsonKind.Array: {
      sink.byte(0x5B);
      if (count == 0) sink.byte(0x5D);
      else frames.push(new Frame(count, null, node + 1));
      break;
    }
    default: {
      sink.byte(0x7B);
      if (count == 0) sink.byte(0x7D);
      else frames.push(new Frame(count, sortedKeys(tree, node, count), 0));
    }
  }
}

function writeString(sink: ByteSink, tree: JsonTree, node: i32): void {
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

/** Key nodes of an object's members, stably sorted by name in UTF-16 code unit order. */
function sortedKeys(tree: JsonTree, node: i32, count: i32): StaticArray<i32> {
  const keys = new StaticArray<i32>(count);
  let n = node + 1;
  for (let i = 0; i < count; i++) {
    unchecked(keys[i] = n);
    n = tree.skip(n + 1);
  }
  sortKeyNodes(tree, keys, count);
  return keys;
}

/** Sorts key nodes [0, n) of `keys` in place by name (UTF-16 code units), stably. */
export function sortKeyNodes(tree: JsonTree, keys: StaticArray<i32>, n: i32): void {
  if (n <= 16) {
    for (let i = 1; i < n; i++) {
      const k = unchecked(keys[i]);
      let j = i - 1;
      while (j >= 0 && compareStringNodes(tree, unchecked(keys[j]), k) > 0) {
        unchecked(keys[j + 1] = keys[j]);
        j--;
      }
      unchecked(keys[j + 1] = k);
    }
    return;
  }
  // Bottom-up merge sort, taking from the left run on ties (stable).
  let src = keys;
  let dst = new StaticArray<i32>(n);
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += width << 1) {
      const mid = min(lo + width, n);
      const hi = min(lo + (width << 1), n);
      let a = lo;
      let b = mid;
      for (let k = lo; k < hi; k++) {
        if (a < mid && (b >= hi || compareStringNodes(tree, unchecked(src[a]), unchecked(src[b])) <= 0)) {
          unchecked(dst[k] = src[a++]);
        } else {
          unchecked(dst[k] = src[b++]);
        }
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== keys) memory.copy(changetype<usize>(keys), changetype<usize>(src), <usize>n << 2);
}
