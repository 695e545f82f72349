// A strict RFC 8259 JSON reader over UTF-8 bytes for untrusted input. It never throws or traps:
// every failure is a JsonResult with a short message and the byte offset it was found at. One
// pass, no recursion; depth, size and value count are bounded by JsonLimits before memory is
// committed.
//
// The tree is one flat array of 16-byte nodes in document order (an object's members are a key
// node followed by its value's nodes); a JsonValue is a small view (tree, node). Strings and
// numbers are decoded only when asked for.
//
// Choices where RFC 8259 leaves room (each tested in host-tests/json.test.ts):
// - Input must be well-formed UTF-8; no byte order mark. Whitespace is space, tab, LF, CR only.
// - A `\u` escape of a lone surrogate (`"\ud800"`, or a low surrogate not preceded by a high one)
//   is rejected, unlike JSON.parse, so every decoded string is valid Unicode and can be
//   re-encoded as UTF-8 (RFC 8259 §8.2 leaves the behaviour undefined; I-JSON forbids them).
//   Noncharacters such as U+FFFF are accepted.
// - Numbers beyond the double range (`1e400`, which JSON.parse reads as Infinity) are rejected as
//   "number out of range" (RFC 8259 §9 allows range limits; RFC 8785 requires an error). Tiny
//   ones round to 0 as in JSON.parse.
// - Duplicate keys are kept, in order: `keyAt`/`valueAt` see every member, `get` returns the
//   last one (as JSON.parse does).
// - Any value may be the top-level value (`"a"`, `1`, `null`).

import {
  E_ARRAY_SEP, E_COLON, E_CONTROL, E_DEPTH, E_DIGIT, E_END, E_ESCAPE, E_KEY, E_LEADING_ZERO,
  E_LITERAL, E_OBJECT_SEP, E_RANGE, E_SIZE, E_SURROGATE, E_TRAILING, E_UNICODE, E_UNTERMINATED,
  E_UTF8, E_VALUE, E_VALUES,
} from "./errors";
import { numberIsFinite, numberIsInteger, numberToF64, numberToI64 } from "./number";
import { compareContent, contentEquals, decodeContent, hex4, utf8SequenceLength } from "./utf8";

export enum JsonKind { Null, Bool, Number, String, Array, Object }

/** Bounds on what one document may cost. Defaults suit a request body. */
export class JsonLimits {
  /** Most arrays/objects nested in one another; deeper input fails with "nesting too deep". */
  maxDepth: i32 = 64;
  /** Largest input in bytes; larger input fails with "input too large" before any work. */
  maxBytes: i32 = 8 << 20;
  /**
   * Most values in the document, object keys included ("too many values"). Each costs a 16-byte
   * node, so the default bounds the tree at 16 MiB. Capped at 16,777,215.
   */
  maxValues: i32 = 1 << 20;
}

// Node layout, four i32 words:
//   0: kind (bits 0-2) | flags (bits 3-7) | count << 8 (arrays: items, objects: members)
//   1: start byte offset   2: end byte offset (exclusive)
//   3: arrays and objects: index of the first node after the subtree
const NODE_SHIFT = 4;
const COUNT_ONE = 1 << 8;
const MAX_NODES = (1 << 24) - 1;
/** String flag: contains a backslash escape. */
export const F_ESCAPED = 1 << 3;
/** String flag: contains a byte >= 0x80. */
export const F_NON_ASCII = 1 << 4;

/** A parsed document: the source bytes and the node array. Shared by every JsonValue of it. */
export class JsonTree {
  // Not readonly: `parseJsonReusing` rebinds a finished document's tree to a new parse.
  source: ArrayBuffer;
  nodes: ArrayBuffer;
  count: i32;

  constructor(source: ArrayBuffer, nodes: ArrayBuffer, count: i32) {
    this.source = source;
    this.nodes = nodes;
    this.count = count;
  }

  // @ts-ignore: decorator
  @inline
  word(node: i32, w: i32): i32 {
    return load<i32>(changetype<usize>(this.nodes) + (<usize>node << NODE_SHIFT) + (<usize>w << 2));
  }

  // @ts-ignore: decorator
  @inline
  kindOf(node: i32): JsonKind {
    return <JsonKind>(this.word(node, 0) & 7);
  }

  /** The node after `node`'s subtree. */
  // @ts-ignore: decorator
  @inline
  skip(node: i32): i32 {
    return this.kindOf(node) >= JsonKind.Array ? this.word(node, 3) : node + 1;
  }
}

/**
 * One value of a parsed document. `start`/`end` are its byte span in the source (for strings,
 * quotes included), so a caller can splice a replacement into the body in place.
 */
export class JsonValue {
  // Not readonly: `bind` points a value object at another node (a caller that reuses one).
  kind: JsonKind;
  start: i32;
  end: i32;
  /** The document this value belongs to. */
  tree: JsonTree;
  /** This value's node index in the tree. */
  node: i32;
  // Sequential child access stays linear: child `cursorIndex` starts at node `cursorNode`.
  private cursorIndex: i32 = 0;
  private cursorNode: i32;
  private matches: i32 = 0;

  constructor(tree: JsonTree, node: i32) {
    this.tree = tree;
    this.node = node;
    this.kind = tree.kindOf(node);
    this.start = tree.word(node, 1);
    this.end = tree.word(node, 2);
    this.cursorNode = node + 1;
  }

  /** Makes this object the value of node `node` of `tree`; returns it. */
  bind(tree: JsonTree, node: i32): JsonValue {
    this.tree = tree;
    this.node = node;
    this.kind = tree.kindOf(node);
    this.start = tree.word(node, 1);
    this.end = tree.word(node, 2);
    this.cursorIndex = 0;
    this.cursorNode = node + 1;
    return this;
  }

  isNull(): bool { return this.kind == JsonKind.Null; }
  isBool(): bool { return this.kind == JsonKind.Bool; }
  isNumber(): bool { return this.kind == JsonKind.Number; }
  isString(): bool { return this.kind == JsonKind.String; }
  isArray(): bool { return this.kind == JsonKind.Array; }
  isObject(): bool { return this.kind == JsonKind.Object; }

  /** Items of an array or members of an object (duplicates included); 0 for anything else. */
  get length(): i32 {
    return this.kind >= JsonKind.Array ? this.tree.word(this.node, 0) >>> 8 : 0;
  }

  /** The boolean; false if this is not a boolean. */
  asBool(): bool {
    return this.kind == JsonKind.Bool && load<u8>(changetype<usize>(this.tree.source) + <usize>this.start) == 0x74;
  }

  /** The number, correctly rounded to f64 as JSON.parse does; NaN if this is not a number. */
  asNumber(): f64 {
    if (this.kind != JsonKind.Number) return NaN;
    return numberToF64(changetype<usize>(this.tree.source), this.start, this.end);
  }

  /** True for a number whose exact value is an integer in i64 range (`3`, `3.0`, `3e2`, `-0`). */
  isInteger(): bool {
    return this.kind == JsonKind.Number && numberIsInteger(changetype<usize>(this.tree.source), this.start, this.end);
  }

  /** The exact integer when `isInteger()`, else 0. */
  asInteger(): i64 {
    if (this.kind != JsonKind.Number) return 0;
    return numberToI64(changetype<usize>(this.tree.source), this.start, this.end);
  }

  /** The decoded string; "" if this is not a string. */
  asString(): string {
    if (this.kind != JsonKind.String) return "";
    return nodeString(this.tree, this.node);
  }

  /** True if this is a string equal to `s` (compared without decoding or allocating). */
  stringEquals(s: string): bool {
    return this.kind == JsonKind.String && nodeStringEquals(this.tree, this.node, s);
  }

  /**
   * True for a string without escapes and with ASCII only: its content bytes (`contentPtr`,
   * `contentLength`) are then its value, byte for code unit, readable in place without decoding.
   */
  isPlainAsciiString(): bool {
    return this.kind == JsonKind.String && (this.tree.word(this.node, 0) & (F_ESCAPED | F_NON_ASCII)) == 0;
  }

  /** Address of a string's content (after its opening quote) in the source. */
  get contentPtr(): usize {
    return changetype<usize>(this.tree.source) + <usize>(this.start + 1);
  }

  /** Bytes of a string's content in the source (between its quotes, escapes undecoded). */
  get contentLength(): i32 {
    return this.end - this.start - 2;
  }

  /** The value's source text, exactly as in the input. */
  raw(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.tree.source) + <usize>this.start, <usize>(this.end - this.start));
  }

  /** Array item `i`; null if out of range or not an array. */
  at(i: i32): JsonValue | null {
    if (this.kind != JsonKind.Array) return null;
    const n = this.childNode(i);
    return n < 0 ? null : new JsonValue(this.tree, n);
  }

  /** Name of object member `i` (decoded); "" if out of range or not an object. */
  keyAt(i: i32): string {
    if (this.kind != JsonKind.Object) return "";
    const n = this.childNode(i);
    return n < 0 ? "" : nodeString(this.tree, n);
  }

  /** True if object member `i`'s name is `key`. */
  keyEquals(i: i32, key: string): bool {
    if (this.kind != JsonKind.Object) return false;
    const n = this.childNode(i);
    return n >= 0 && nodeStringEquals(this.tree, n, key);
  }

  /** Value of object member `i`; null if out of range or not an object. */
  valueAt(i: i32): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    const n = this.childNode(i);
    return n < 0 ? null : new JsonValue(this.tree, n + 1);
  }

  /** The value of member `key`; with duplicate keys, the last one. Null if absent or not an object. */
  get(key: string): JsonValue | null {
    const n = this.memberValueNode(key);
    return n < 0 ? null : new JsonValue(this.tree, n);
  }

  /** `get(key)` bound into `out` instead of a new object; false (out untouched) if absent. */
  getInto(key: string, out: JsonValue): bool {
    const n = this.memberValueNode(key);
    if (n < 0) return false;
    out.bind(this.tree, n);
    return true;
  }

  /**
   * How many members the last `get`/`getInto` found named its key: more than 1 when the key is
   * duplicated, which a caller that acts on the value may refuse (parsers downstream differ on
   * which duplicate counts: the first, the last, or an error).
   */
  get lastMatches(): i32 {
    return this.matches;
  }

  // Node of the value of member `key` (the last one with duplicates), or -1; counts the members
  // named `key` into `matches`.
  private memberValueNode(key: string): i32 {
    this.matches = 0;
    if (this.kind != JsonKind.Object) return -1;
    const tree = this.tree;
    const count = this.length;
    let n = this.node + 1;
    let found = -1;
    let matches = 0;
    for (let i = 0; i < count; i++) {
      if (nodeStringEquals(tree, n, key)) {
        found = n + 1;
        matches++;
      }
      n = tree.skip(n + 1);
    }
    this.matches = matches;
    return found;
  }

  /** True if the object has a member `key`. */
  has(key: string): bool {
    if (this.kind != JsonKind.Object) return false;
    const tree = this.tree;
    const count = this.length;
    let n = this.node + 1;
    for (let i = 0; i < count; i++) {
      if (nodeStringEquals(tree, n, key)) return true;
      n = tree.skip(n + 1);
    }
    return false;
  }

  // Node of item i (arrays) or of member i's key (objects); -1 if out of range.
  private childNode(i: i32): i32 {
    if (i < 0 || i >= this.length) return -1;
    if (i < this.cursorIndex) {
      this.cursorIndex = 0;
      this.cursorNode = this.node + 1;
    }
    const tree = this.tree;
    const isObject = this.kind == JsonKind.Object;
    let n = this.cursorNode;
    for (let k = this.cursorIndex; k < i; k++) n = isObject ? tree.skip(n + 1) : tree.skip(n);
    this.cursorIndex = i;
    this.cursorNode = n;
    return n;
  }
}

/** Decoded text of a string node. */
export function nodeString(tree: JsonTree, node: i32): string {
  const w0 = tree.word(node, 0);
  return decodeContent(changetype<usize>(tree.source), tree.word(node, 1) + 1, tree.word(node, 2) - 1, (w0 & F_ESCAPED) == 0);
}

/** True if string node `node` decodes to `s`. */
export function nodeStringEquals(tree: JsonTree, node: i32, s: string): bool {
  const w0 = tree.word(node, 0);
  return contentEquals(changetype<usize>(tree.source), tree.word(node, 1) + 1, tree.word(node, 2) - 1, (w0 & (F_ESCAPED | F_NON_ASCII)) == 0, s);
}

/** Orders two string nodes by UTF-16 code units. */
export function compareStringNodes(tree: JsonTree, a: i32, b: i32): i32 {
  const base = changetype<usize>(tree.source);
  const a0 = tree.word(a, 1) + 1;
  const a1 = tree.word(a, 2) - 1;
  const b0 = tree.word(b, 1) + 1;
  const b1 = tree.word(b, 2) - 1;
  if (((tree.word(a, 0) | tree.word(b, 0)) & (F_ESCAPED | F_NON_ASCII)) == 0) {
    // Plain ASCII: bytes order as code units do.
    const la = a1 - a0;
    const lb = b1 - b0;
    const c = memory.compare(base + <usize>a0, base + <usize>b0, <usize>(la < lb ? la : lb));
    return c != 0 ? c : la - lb;
  }
  return compareContent(base, a0, a1, b0, b1);
}

/** Outcome of `parseJson`: the root value, or an error message and the byte offset it concerns. */
export class JsonResult {
  ok: bool;
  value: JsonValue | null;
  /** Empty on success. */
  error: string;
  /** Byte offset of the error in the input; -1 on success. */
  offset: i32;

  constructor(ok: bool, value: JsonValue | null, error: string, offset: i32) {
    this.ok = ok;
    this.value = value;
    this.error = error;
    this.offset = offset;
  }

  set(ok: bool, value: JsonValue | null, error: string, offset: i32): JsonResult {
    this.ok = ok;
    this.value = value;
    this.error = error;
    this.offset = offset;
    return this;
  }
}

/**
 * Parses one JSON text (RFC 8259, with the choices listed at the top of this file). `slack`: bytes
 * the input may exceed `limits.maxBytes` by (a body a proxy rewrote after its size was checked).
 */
export function parseJson(bytes: ArrayBuffer, limits: JsonLimits = new JsonLimits(), slack: i32 = 0): JsonResult {
  if (bytes.byteLength - slack > limits.maxBytes) return new JsonResult(false, null, E_SIZE, limits.maxBytes < 0 ? 0 : limits.maxBytes);
  const parser = PARSER.begin(bytes, limits, null);
  const ok = parser.run();
  const nodes = parser.release();
  if (!ok) return new JsonResult(false, null, parser.error, parser.errorAt);
  const tree = new JsonTree(bytes, nodes, parser.count);
  return new JsonResult(true, new JsonValue(tree, 0), "", -1);
}

/**
 * `parseJson`, reusing what `previous` (an earlier result nobody uses any more) allocated: its
 * result, tree and root value objects and its node buffer when large enough. A request parsed
 * this way allocates nothing once its pooled exchange has parsed one like it.
 */
export function parseJsonReusing(bytes: ArrayBuffer, limits: JsonLimits, previous: JsonResult | null, slack: i32 = 0): JsonResult {
  if (previous === null) return parseJson(bytes, limits, slack);
  const root = previous.value;
  if (bytes.byteLength - slack > limits.maxBytes) return previous.set(false, null, E_SIZE, limits.maxBytes < 0 ? 0 : limits.maxBytes);
  const parser = PARSER.begin(bytes, limits, root !== null ? root.tree.nodes : null);
  const ok = parser.run();
  const nodes = parser.release();
  if (!ok) return previous.set(false, null, parser.error, parser.errorAt);
  if (root === null) return previous.set(true, new JsonValue(new JsonTree(bytes, nodes, parser.count), 0), "", -1);
  const tree = root.tree;
  tree.source = bytes;
  tree.nodes = nodes;
  tree.count = parser.count;
  return previous.set(true, root.bind(tree, 0), "", -1);
}

/** Parses JSON held in a string (e.g. a literal in a test or a default configuration). */
// The node buffer `isJsonAt` reuses, up to KEEP_CHECK_NODES bytes.
let checkNodes: ArrayBuffer | null = null;
const KEEP_CHECK_NODES: i32 = 16 << 10;

/**
 * True when the `len` bytes at `ptr` are one JSON document within `limits`, by the rules of
 * `parseJson`; no tree is kept. For a check before a copy is trusted (a response to store).
 */
export function isJsonAt(ptr: usize, len: i32, limits: JsonLimits): bool {
  return checkJsonAt(ptr, len, limits, "") != JsonCheck.NotJson;
}

/** What `checkJsonAt` found. */
export enum JsonCheck {
  NotJson,
  Json,
  /** One JSON document: an object with the member asked for, not null. */
  JsonWithMember,
}

/**
 * `isJsonAt`, and for a document that is an object, whether it has a top-level member `member`
 * whose value is not null (e.g. an answer that is an `error`; "" asks for none).
 */
export function checkJsonAt(ptr: usize, len: i32, limits: JsonLimits, member: string): JsonCheck {
  if (len > limits.maxBytes) return JsonCheck.NotJson;
  const parser = PARSER.beginAt(ptr, len, limits, checkNodes);
  const ok = parser.run();
  const count = parser.count;
  const nodes = parser.release();
  checkNodes = nodes.byteLength <= KEEP_CHECK_NODES ? nodes : null;
  if (!ok) return JsonCheck.NotJson;
  return member.length > 0 && hasTopMember(ptr, changetype<usize>(nodes), count, member) ? JsonCheck.JsonWithMember : JsonCheck.Json;
}

/** Whether the document whose `count` nodes are at `nodes` (source at `ptr`) is an object with a member `key` that is not null. */
function hasTopMember(ptr: usize, nodes: usize, count: i32, key: string): bool {
  const w0 = load<i32>(nodes);
  if ((w0 & 7) != JsonKind.Object) return false;
  const members = w0 >>> 8;
  let n = 1;
  for (let i = 0; i < members && n < count; i++) {
    const k = nodes + (<usize>n << NODE_SHIFT);
    const kw = load<i32>(k);
    const v = nodes + (<usize>(n + 1) << NODE_SHIFT);
    const kind = load<i32>(v) & 7;
    if (kind != JsonKind.Null && contentEquals(ptr, load<i32>(k, 4) + 1, load<i32>(k, 8) - 1, (kw & (F_ESCAPED | F_NON_ASCII)) == 0, key)) return true;
    n = kind >= JsonKind.Array ? load<i32>(v, 12) : n + 2;
  }
  return false;
}

export function parseJsonText(text: string, limits: JsonLimits = new JsonLimits()): JsonResult {
  return parseJson(String.UTF8.encode(text), limits);
}

class Parser {
  nodes: ArrayBuffer = new ArrayBuffer(0);
  count: i32 = 0;
  error: string = "";
  errorAt: i32 = 0;
  private source: ArrayBuffer = new ArrayBuffer(0);
  private base: usize = 0;
  private len: i32 = 0;
  private maxDepth: i32 = 0;
  private maxNodes: i32 = 0;
  /** Nodes that fit before `add` must grow the buffer or fail: min(capacity, maxNodes). */
  private room: i32 = 0;
  private open: StaticArray<i32> = new StaticArray<i32>(16); // node indices of the open containers
  private depth: i32 = 0;

  /**
   * Starts a parse of `source` (the one parser is reused: parsing is never re-entrant, so a parse
   * allocates only what the tree keeps). `reuse`: a node buffer of a finished document, taken
   * when it is large enough.
   */
  begin(source: ArrayBuffer, limits: JsonLimits, reuse: ArrayBuffer | null): Parser {
    this.beginAt(changetype<usize>(source), source.byteLength, limits, reuse);
    this.source = source;
    return this;
  }

  /** `begin` over the `len` bytes at `ptr`, which the caller keeps alive and unchanged. */
  beginAt(ptr: usize, len: i32, limits: JsonLimits, reuse: ArrayBuffer | null): Parser {
    const maxNodes = limits.maxValues > MAX_NODES ? MAX_NODES : limits.maxValues;
    let cap = (len >> 4) + 8;
    if (cap > maxNodes) cap = maxNodes;
    if (cap < 1) cap = 1;
    this.nodes = reuse !== null && reuse.byteLength >= (cap << NODE_SHIFT) ? reuse : new ArrayBuffer(cap << NODE_SHIFT);
    const held = this.nodes.byteLength >> NODE_SHIFT;
    this.room = held < maxNodes ? held : maxNodes;
    this.count = 0;
    this.error = "";
    this.errorAt = 0;
    this.depth = 0;
    this.source = NO_BYTES;
    this.base = ptr;
    this.len = len;
    this.maxDepth = limits.maxDepth;
    this.maxNodes = maxNodes;
    return this;
  }

  /** Ends a parse: returns the node buffer and keeps no reference to it or to the input. */
  release(): ArrayBuffer {
    const nodes = this.nodes;
    this.nodes = NO_BYTES;
    this.room = 0;
    this.source = NO_BYTES;
    this.base = 0;
    return nodes;
  }

  private fail(message: string, at: i32): bool {
    this.error = message;
    this.errorAt = at;
    return false;
  }

  /** Appends a node; -1 (with the error set) past maxValues. Inlined: every value makes one. */
  // @ts-ignore: decorator
  @inline
  private add(kind: JsonKind, flags: i32, start: i32, end: i32): i32 {
    const i = this.count;
    if (i >= this.room && !this.makeRoom(start)) return -1;
    const p = changetype<usize>(this.nodes) + (<usize>i << NODE_SHIFT);
    store<i32>(p, <i32>kind | flags);
    store<i32>(p, start, 4);
    store<i32>(p, end, 8);
    store<i32>(p, 0, 12);
    this.count = i + 1;
    return i;
  }

  /** The node buffer is full: grows it, or fails (false) past maxValues. */
  private makeRoom(start: i32): bool {
    const i = this.count;
    if (i >= this.maxNodes) {
      this.fail(E_VALUES, start);
      return false;
    }
    const cap = this.nodes.byteLength >> NODE_SHIFT;
    let next = cap << 1;
    if (next > this.maxNodes || next < 0) next = this.maxNodes;
    const grown = new ArrayBuffer(next << NODE_SHIFT);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.nodes), <usize>i << NODE_SHIFT);
    this.nodes = grown;
    this.room = next;
    return true;
  }

  private push(node: i32): void {
    let open = this.open;
    if (this.depth >= open.length) {
      const grown = new StaticArray<i32>(open.length << 1);
      memory.copy(changetype<usize>(grown), changetype<usize>(open), <usize>this.depth << 2);
      this.open = open = grown;
    }
    unchecked(open[this.depth] = node);
    this.depth++;
  }

  private skipWs(pos: i32): i32 {
    const base = this.base;
    const len = this.len;
    while (pos < len) {
      const c = load<u8>(base + <usize>pos);
      if (c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09) break;
      pos++;
    }
    return pos;
  }

  run(): bool {
    const base = this.base;
    const len = this.len;
    let pos = this.skipWs(0);
    while (true) {
      // A value starts at pos.
      if (pos >= len) return this.fail(E_END, len);
      const c = <u32>load<u8>(base + <usize>pos);
      if (c == 0x7B || c == 0x5B) { // { [
        if (this.depth >= this.maxDepth) return this.fail(E_DEPTH, pos);
        const node = this.add(c == 0x7B ? JsonKind.Object : JsonKind.Array, 0, pos, 0);
        if (node < 0) return false;
        this.push(node);
        pos = this.skipWs(pos + 1);
        if (pos < len && <u32>load<u8>(base + <usize>pos) == c + 2) { // } or ] right away
          this.close(node, pos + 1);
          pos++;
        } else {
          if (c == 0x7B) {
            pos = this.member(pos);
            if (pos < 0) return false;
          }
          continue;
        }
      } else if (c == 0x22) { // "
        pos = this.string(pos);
        if (pos < 0) return false;
      } else if (c == 0x2D || c - 0x30 < 10) {
        pos = this.number(pos);
        if (pos < 0) return false;
      } else if (c == 0x74 || c == 0x66 || c == 0x6E) { // t f n
        pos = this.literal(pos, c);
        if (pos < 0) return false;
      } else {
        return this.fail(E_VALUE, pos);
      }

      // A value ended at pos: count it in its container, then continue or close containers.
      while (true) {
        if (this.depth == 0) {
          pos = this.skipWs(pos);
          return pos == len ? true : this.fail(E_TRAILING, pos);
        }
        const parent = unchecked(this.open[this.depth - 1]);
        const wp = changetype<usize>(this.nodes) + (<usize>parent << NODE_SHIFT);
        store<i32>(wp, load<i32>(wp) + COUNT_ONE);
        const isObject = (load<i32>(wp) & 7) == JsonKind.Object;
        pos = this.skipWs(pos);
        if (pos >= len) return this.fail(E_END, len);
        const d = <u32>load<u8>(base + <usize>pos);
        if (d == 0x2C) { // ,
          pos = this.skipWs(pos + 1);
          if (isObject) {
            pos = this.member(pos);
            if (pos < 0) return false;
          }
          break;
        }
        if (d != (isObject ? 0x7D : 0x5D)) return this.fail(isObject ? E_OBJECT_SEP : E_ARRAY_SEP, pos);
        this.close(parent, pos + 1);
        pos++;
      }
    }
  }

  private close(node: i32, end: i32): void {
    const p = changetype<usize>(this.nodes) + (<usize>node << NODE_SHIFT);
    store<i32>(p, end, 8);
    store<i32>(p, this.count, 12);
    this.depth--;
  }

  /** An object member's key and colon at pos; returns where its value starts. */
  private member(pos: i32): i32 {
    if (pos >= this.len) {
      this.fail(E_END, this.len);
      return -1;
    }
    if (load<u8>(this.base + <usize>pos) != 0x22) {
      this.fail(E_KEY, pos);
      return -1;
    }
    pos = this.string(pos);
    if (pos < 0) return -1;
    pos = this.skipWs(pos);
    if (pos >= this.len) {
      this.fail(E_END, this.len);
      return -1;
    }
    if (load<u8>(this.base + <usize>pos) != 0x3A) {
      this.fail(E_COLON, pos);
      return -1;
    }
    return this.skipWs(pos + 1);
  }

  /** The string whose opening quote is at pos; returns the position after the closing quote. */
  private string(pos: i32): i32 {
    const base = this.base;
    const len = this.len;
    let flags = 0;
    let i = pos + 1;
    while (true) {
      // Eight plain bytes at a time: none a quote, backslash, control byte or >= 0x80. Else on to
      // the first byte that is one: a flag is wrong only in bytes after a right one (a borrow
      // carries upwards), so the lowest flag is right.
      while (i + 8 <= len) {
        const v = load<u64>(base + <usize>i);
        const quote = v ^ 0x2222222222222222;
        const slash = v ^ 0x5C5C5C5C5C5C5C5C;
        const special = (((quote - 0x0101010101010101) & ~quote) | ((slash - 0x0101010101010101) & ~slash) |
          ((v - 0x2020202020202020) & ~v) | v) & 0x8080808080808080;
        if (special != 0) {
          i += <i32>(ctz(special) >> 3);
          break;
        }
        i += 8;
      }
      if (i >= len) {
        this.fail(E_UNTERMINATED, pos);
        return -1;
      }
      const c = <u32>load<u8>(base + <usize>i);
      if (c == 0x22) break;
      if (c == 0x5C) {
        const at = i;
        if (i + 1 >= len) {
          this.fail(E_UNTERMINATED, pos);
          return -1;
        }
        const e = <u32>load<u8>(base + <usize>i, 1);
        if (e == 0x75) { // u
          if (i + 6 > len) {
            this.fail(E_UNICODE, at);
            return -1;
          }
          const unit = hex4(base + <usize>i + 2);
          if (unit < 0) {
            this.fail(E_UNICODE, at);
            return -1;
          }
          i += 6;
          if (<u32>unit - 0xDC00 < 0x400) {
            this.fail(E_SURROGATE, at);
            return -1;
          }
          if (<u32>unit - 0xD800 < 0x400) {
            // Only a following \u low surrogate completes it.
            if (i + 6 > len || load<u8>(base + <usize>i) != 0x5C || load<u8>(base + <usize>i, 1) != 0x75) {
              this.fail(E_SURROGATE, at);
              return -1;
            }
            const low = hex4(base + <usize>i + 2);
            if (<u32>low - 0xDC00 >= 0x400) { // also when low is -1 (not hex)
              this.fail(E_SURROGATE, at);
              return -1;
            }
            i += 6;
          }
        } else if (e == 0x22 || e == 0x5C || e == 0x2F || e == 0x62 || e == 0x66 || e == 0x6E || e == 0x72 || e == 0x74) {
          i += 2;
        } else {
          this.fail(E_ESCAPE, at);
          return -1;
        }
        flags |= F_ESCAPED;
      } else if (c < 0x20) {
        this.fail(E_CONTROL, i);
        return -1;
      } else if (c < 0x80) {
        i++;
      } else {
        const n = utf8SequenceLength(base, i, len);
        if (n == 0) {
          this.fail(E_UTF8, i);
          return -1;
        }
        i += n;
        flags |= F_NON_ASCII;
      }
    }
    if (this.add(JsonKind.String, flags, pos, i + 1) < 0) return -1;
    return i + 1;
  }

  /** The number starting at pos (a '-' or a digit); returns the position after it. */
  private number(pos: i32): i32 {
    const base = this.base;
    const len = this.len;
    let i = pos;
    if (load<u8>(base + <usize>i) == 0x2D) i++;
    if (i >= len) {
      this.fail(E_END, len);
      return -1;
    }
    const first = <u32>load<u8>(base + <usize>i);
    if (first == 0x30) {
      i++;
      if (i < len && <u32>load<u8>(base + <usize>i) - 0x30 < 10) {
        this.fail(E_LEADING_ZERO, i);
        return -1;
      }
    } else if (first - 0x31 < 9) {
      i++;
      while (i < len && <u32>load<u8>(base + <usize>i) - 0x30 < 10) i++;
    } else {
      this.fail(E_DIGIT, i);
      return -1;
    }
    let plain = i - pos <= 300; // no fraction or exponent, and too short to overflow a double
    if (i < len && load<u8>(base + <usize>i) == 0x2E) {
      i++;
      if (i >= len || <u32>load<u8>(base + <usize>i) - 0x30 >= 10) {
        this.fail(i >= len ? E_END : E_DIGIT, i);
        return -1;
      }
      while (i < len && <u32>load<u8>(base + <usize>i) - 0x30 < 10) i++;
    }
    if (i < len && (load<u8>(base + <usize>i) | 0x20) == 0x65) { // e E
      plain = false;
      i++;
      if (i < len) {
        const s = load<u8>(base + <usize>i);
        if (s == 0x2B || s == 0x2D) i++;
      }
      if (i >= len || <u32>load<u8>(base + <usize>i) - 0x30 >= 10) {
        this.fail(i >= len ? E_END : E_DIGIT, i);
        return -1;
      }
      while (i < len && <u32>load<u8>(base + <usize>i) - 0x30 < 10) i++;
    }
    if (!plain && !numberIsFinite(base, pos, i)) {
      this.fail(E_RANGE, pos);
      return -1;
    }
    if (this.add(JsonKind.Number, 0, pos, i) < 0) return -1;
    return i;
  }

  /** true, false or null at pos (whose first byte is t, f or n). */
  private literal(pos: i32, c: u32): i32 {
    const base = this.base;
    const len = this.len;
    let size = 4;
    let ok = false;
    let kind = JsonKind.Null;
    if (c == 0x74) {
      ok = pos + 4 <= len && load<u32>(base + <usize>pos) == 0x65757274; // "true"
      kind = JsonKind.Bool;
    } else if (c == 0x66) {
      size = 5;
      ok = pos + 5 <= len && load<u32>(base + <usize>pos) == 0x736C6166 && load<u8>(base + <usize>pos, 4) == 0x65; // "false"
      kind = JsonKind.Bool;
    } else {
      ok = pos + 4 <= len && load<u32>(base + <usize>pos) == 0x6C6C756E; // "null"
    }
    if (!ok) {
      this.fail(E_LITERAL, pos);
      return -1;
    }
    if (this.add(kind, 0, pos, pos + size) < 0) return -1;
    return pos + size;
  }
}

const NO_BYTES = new ArrayBuffer(0);
const PARSER = new Parser();
