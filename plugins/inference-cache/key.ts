// The inference-cache key: SHA-256 over an unambiguous encoding of what decides a response.
//
//   "aigw-inference-cache-key"   24 ASCII bytes (domain tag)
//   u8   KEY_FORMAT_VERSION      2
//   u8   partition               0 shared (the model is `shared`, or `vary_on_tenant` is off),
//                                1 tenant
//   lp   tenant                  the router's x-ai-tenant ("" when shared, or no tenant)
//   lp   method                  as sent (`POST`)
//   lp   host                    `:authority` without its port, ASCII letters in lower case
//                                (virtual hosts on different backends never share an entry; the
//                                Envoys of one fleet, reached on other ports, do)
//   lp   path                    `:path` as sent, query included
//   lp   model                   resolved model ("" when none was resolved)
//   lp   version                 resolved version ("" when none)
//   u8   body                    0 no body, 1 JSON
//   ...  canonical body          to the end (the last field needs no length)
// where lp = u32 big-endian byte length, then the UTF-8 bytes.
//
// The canonical body of a JSON object: its top-level members minus `stream` (a streamed and a
// whole request share an entry: each is replayed from the other) and minus the configured
// non-semantic fields, plus a member for each configured default the body lacks (so
// `{"temperature":1}` and `{}` agree), sorted by name in UTF-16 code unit order, each value in
// RFC 8785 form (assembly/json/canonical.ts): no whitespace, numbers as their double's shortest
// form (`1.0`, `1`, `1e0` are `1`), strings minimally escaped. Duplicate names are all kept, in
// source order, as canonical.ts does (the safe side: `{"a":1,"a":2}` never equals `{"a":2}`); a
// default is added only when no member has its name. An explicit `null` is a value like any
// other, not the default. Any other top-level JSON value (array, string, number, ...) is keyed by
// its whole RFC 8785 form, with nothing dropped or added.

import { swapBytes32, toHex, Sha256 } from "../../assembly/crypto/sha256";
import { sortKeyNodes, writeCanonicalName, writeCanonicalNode } from "../../assembly/json/canonical";
import { JsonValue } from "../../assembly/json/index";
import { compareStringNodes, F_ESCAPED, F_NON_ASCII, JsonTree, nodeStringEquals } from "../../assembly/json/reader";
import { ByteSink } from "../../assembly/json/sink";
import { nextPos, readCodePoint } from "../../assembly/json/utf8";
import { equalsAscii } from "../../assembly/runtime/bytes";

export const KEY_FORMAT_VERSION: u8 = 2;
export const KEY_BYTES: i32 = 32;
/** Always left out of the key: `stream: true` and `false` share an entry. */
export const STREAM_FIELD = "stream";
const TAG = "aigw-inference-cache-key";
/** Most defaults a configuration may list (a presence bit each). */
export const MAX_DEFAULTS: i32 = 32;

/** What the body part of the key leaves out and fills in (built by config.ts). */
export class KeyRules {
  /** Top-level members left out (besides `stream`). */
  dropFields: string[] = [];
  /** Names of the documented defaults, sorted by UTF-16 code units; ASCII only (config.ts). */
  defaultNames: string[] = [];
  /** RFC 8785 form of each default's value, by index in defaultNames. */
  defaultValues: ArrayBuffer[] = [];

  /** Adds a default, keeping defaultNames sorted. `name` must be ASCII. */
  addDefault(name: string, canonicalValue: ArrayBuffer): void {
    let i = this.defaultNames.length;
    this.defaultNames.push(name);
    this.defaultValues.push(canonicalValue);
    while (i > 0 && this.defaultNames[i - 1] > name) {
      this.defaultNames[i] = this.defaultNames[i - 1];
      this.defaultValues[i] = this.defaultValues[i - 1];
      i--;
    }
    this.defaultNames[i] = name;
    this.defaultValues[i] = canonicalValue;
  }

  /** The canonical value of default `name`, or null. */
  defaultOf(name: string): ArrayBuffer | null {
    const i = this.defaultNames.indexOf(name);
    return i < 0 ? null : this.defaultValues[i];
  }

  // Bit `nameHash` set for every name a plain member may match: each drop field, each default and
  // `stream`. A plain member name whose bit is clear is none of them, so it is kept without a
  // comparison (most members of a request). Made again when the lists change.
  private filter: StaticArray<u64> = new StaticArray<u64>(NAME_FILTER_WORDS);
  private filterOfDrops: string[] | null = null;
  private filterOfDefaults: string[] | null = null;
  private filterCount: i32 = -1;

  // Each default as the member the canonical body gets for it: `"name":value`.
  private members: StaticArray<ArrayBuffer> = new StaticArray<ArrayBuffer>(0);

  /** Makes the name filter and the default members for the lists as they are now, if they changed. */
  prepare(): void {
    const drops = this.dropFields;
    const names = this.defaultNames;
    if (drops === this.filterOfDrops && names === this.filterOfDefaults && drops.length + names.length == this.filterCount) return;
    const filter = new StaticArray<u64>(NAME_FILTER_WORDS);
    addToFilter(filter, STREAM_FIELD);
    for (let i = 0; i < drops.length; i++) addToFilter(filter, unchecked(drops[i]));
    const members = new StaticArray<ArrayBuffer>(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = unchecked(names[i]);
      addToFilter(filter, name);
      const sink = new ByteSink(name.length + 8);
      sink.byte(0x22);
      sink.ascii(name);
      sink.byte2(0x22, 0x3A);
      const value = unchecked(this.defaultValues[i]);
      sink.bytes(changetype<usize>(value), value.byteLength);
      unchecked((members[i] = sink.toArrayBuffer()));
    }
    this.members = members;
    this.filter = filter;
    this.filterOfDrops = drops;
    this.filterOfDefaults = names;
    this.filterCount = drops.length + names.length;
  }

  /** The `len` ASCII bytes at `p` may be a drop field, a default or `stream` (valid after `prepare`). */
  // @ts-ignore: decorator
  @inline
  mayBeNamed(p: usize, len: i32): bool {
    const h = len == 0 ? nameHash(0, 0, 0) : nameHash(len, <u32>load<u8>(p), <u32>load<u8>(p + <usize>(len - 1)));
    return (load<u64>(changetype<usize>(this.filter) + (<usize>(h >> 6) << 3)) & (<u64>1 << <u64>(h & 63))) != 0;
  }

  /** Default `i`'s member, `"name":value` (valid after `prepare`). */
  defaultMember(i: i32): ArrayBuffer {
    return unchecked(this.members[i]);
  }
}

/** Words of the name filter (256 bits). */
const NAME_FILTER_WORDS: i32 = 4;

// A name's bit in the filter, from its length and first and last code units: equal names have
// equal bits, and names of one request rarely share one with a configured name.
// @ts-ignore: decorator
@inline
function nameHash(len: i32, first: u32, last: u32): u32 {
  return (<u32>len * 37 + first * 7 + last) & 255;
}

function addToFilter(filter: StaticArray<u64>, name: string): void {
  const n = name.length;
  const h = n == 0 ? nameHash(0, 0, 0) : nameHash(n, <u32>name.charCodeAt(0), <u32>name.charCodeAt(n - 1));
  unchecked((filter[h >> 6] |= <u64>1 << <u64>(h & 63)));
}

/** The request facts that go into the key besides the body. */
export class KeyRequest {
  method: string = "POST";
  path: string = "";
  model: string = "";
  version: string = "";
  /** The router's x-ai-tenant; "" when there is none. */
  tenant: string = "";
  /** True when entries are shared across tenants (the tenant is then left out). */
  shared: bool = false;
  /**
   * When 0 or more: the path is the `pathLength` ASCII bytes at `pathPtr` instead of `path` (the
   * header's value in place, read while the key is computed). ASCII is its own UTF-8, so the
   * key is the one the string would give.
   */
  pathPtr: usize = 0;
  pathLength: i32 = -1;
  /** `:authority` as sent (the key takes its host: `hostLength`). */
  authority: string = "";
  /** When 0 or more: the authority is the `authorityLength` bytes at `authorityPtr` instead. */
  authorityPtr: usize = 0;
  authorityLength: i32 = -1;
}

// One request at a time per VM: the hasher, the preimage buffer and the member scratch are
// reused, so a key costs no allocation once they have grown (`computeKeyInto`).
const HASHER = new Sha256();
const TAG_BYTES = String.UTF8.encode(TAG);
/** The key's preimage (every field above, in order) of the request being keyed. */
let preimage = new ByteSink(4096);
/** A grown preimage buffer larger than this is dropped after use rather than kept for the next key. */
const KEEP_SINK_BYTES: i32 = 1 << 20;
/** The kept members of the body being keyed (grown for wide bodies, let go above KEEP_KEPT). */
let keptNodes = new StaticArray<i32>(64);
const KEEP_KEPT: i32 = 4096;

/** The 32-byte key of a request; `body` is null for a request without a body. */
export function computeKey(rules: KeyRules, req: KeyRequest, body: JsonValue | null): ArrayBuffer {
  const key = new ArrayBuffer(KEY_BYTES);
  computeKeyInto(rules, req, body, changetype<usize>(key));
  return key;
}

/** `computeKey` with the key written at `out` (KEY_BYTES bytes, e.g. a reused buffer). */
export function computeKeyInto(rules: KeyRules, req: KeyRequest, body: JsonValue | null, out: usize): void {
  const m = preimage;
  m.length = 0;
  m.bytes(changetype<usize>(TAG_BYTES), TAG_BYTES.byteLength);
  m.byte2(KEY_FORMAT_VERSION, req.shared ? 0 : 1);
  putField(m, req.shared ? "" : req.tenant);
  putField(m, req.method);
  if (req.authorityLength >= 0) putHost(m, req.authorityPtr, req.authorityLength);
  else {
    const authority = String.UTF8.encode(req.authority);
    putHost(m, changetype<usize>(authority), authority.byteLength);
  }
  if (req.pathLength >= 0) putBytes(m, req.pathPtr, req.pathLength);
  else putField(m, req.path);
  putField(m, req.model);
  putField(m, req.version);
  if (body === null) {
    m.byte(0);
  } else {
    m.byte(1);
    writeCanonicalBody(m, body, rules);
  }
  REPEATS.digest(HASHER, m.at(0), m.length, out);
  if (m.buffer.byteLength > KEEP_SINK_BYTES) preimage = new ByteSink(4096);
}

// lp of the host of the authority in the `len` bytes at `p`: without a port (`:` and digits at
// the end, after a bracketed IPv6 literal's `]`), ASCII letters in lower case.
function putHost(m: ByteSink, p: usize, len: i32): void {
  const n = hostLength(p, len);
  const q = m.reserve(n + 4);
  store<u32>(q, swapBytes32(<u32>n));
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    store<u8>(q + 4 + <usize>i, <u8>(c - 0x41 < 26 ? c | 0x20 : c));
  }
  m.length += n + 4;
}

/** Bytes of the authority at `p` before its port (all of them when it has none). */
export function hostLength(p: usize, len: i32): i32 {
  let i = len;
  while (i > 0 && <u32>load<u8>(p + <usize>(i - 1)) - 0x30 < 10) i--;
  if (i == 0 || i == len || load<u8>(p + <usize>(i - 1)) != 0x3A) return len; // no ':' and digits at the end
  const colon = i - 1;
  // A bracketed IPv6 literal's port follows its ']'; any other ':' before the digits is one.
  if (load<u8>(p) == 0x5B) return colon > 0 && load<u8>(p + <usize>(colon - 1)) == 0x5D ? colon : len;
  return colon;
}

// lp of the `len` bytes at `p`, taken as they are (UTF-8 already).
function putBytes(m: ByteSink, p: usize, len: i32): void {
  const q = m.reserve(len + 4);
  store<u32>(q, swapBytes32(<u32>len));
  memory.copy(q + 4, p, <usize>len);
  m.length += len + 4;
}

// lp(s): the u32 big-endian byte length of `s` in UTF-8, then the bytes. ASCII (the usual
// method, path, model, version and hex tenant) is copied unit by unit; anything else is encoded
// as String.UTF8 encodes it.
function putField(m: ByteSink, s: string): void {
  const n = s.length;
  const src = changetype<usize>(s);
  let p = m.reserve(n + 4);
  let i = 0;
  // Four ASCII units at a time, packed into four bytes.
  while (i + 4 <= n) {
    const v = load<u64>(src + (<usize>i << 1));
    if ((v & 0xFF80FF80FF80FF80) != 0) break;
    const x = v | (v >> 8);
    store<u32>(p + 4 + <usize>i, <u32>(x & 0xFFFF) | (<u32>(x >> 16) & 0xFFFF0000));
    i += 4;
  }
  while (i < n) {
    const c = <u32>load<u16>(src + (<usize>i << 1));
    if (c >= 0x80) break;
    store<u8>(p + 4 + <usize>i, <u8>c);
    i++;
  }
  let len = n;
  if (i < n) {
    len = String.UTF8.byteLength(s);
    p = m.reserve(len + 4);
    String.UTF8.encodeUnsafe(src, n, p + 4);
  }
  store<u32>(p, swapBytes32(<u32>len));
  m.length += len + 4;
}

/**
 * SHA-256 of preimages whose first blocks repeat. Keys of one partition begin alike: the tag and
 * tenant fill the first block, method, path, model and version most of the second, and the
 * canonical body begins with its sorted parameters and, often, a system prompt that every request
 * shares. So for each of a few partitions (chosen by the first block) the VM keeps the first
 * REPEAT_BLOCKS whole blocks of the last preimage and the state after each, and the next preimage
 * is hashed from after its longest run of identical whole blocks. The digest is the plain
 * SHA-256 of the preimage either way: only whole blocks compared equal byte for byte are skipped.
 * (How long a key takes tells whether it starts like the last key of its slot; the first block
 * holds the tenant, so a client learns that only about its own partition's keys, or about shared
 * ones, whose hits tell more.)
 */
class RepeatTable {
  private prefixes: StaticArray<ArrayBuffer | null> = new StaticArray<ArrayBuffer | null>(REPEAT_SLOTS);
  private states: StaticArray<ArrayBuffer | null> = new StaticArray<ArrayBuffer | null>(REPEAT_SLOTS);
  /** Whole blocks held per slot. */
  private blocks: StaticArray<i32> = new StaticArray<i32>(REPEAT_SLOTS);

  /** Writes the digest of the `len` bytes at `ptr` at `out`. */
  digest(h: Sha256, ptr: usize, len: i32, out: usize): void {
    const whole = len >> 6;
    if (whole == 0) {
      h.reset().updatePtr(ptr, len).finalInto(out);
      return;
    }
    const slot = slotOfBlock(ptr);
    let prefix = unchecked(this.prefixes[slot]);
    let states = unchecked(this.states[slot]);
    if (prefix === null || states === null) {
      prefix = new ArrayBuffer(REPEAT_BLOCKS << 6);
      states = new ArrayBuffer(REPEAT_BLOCKS << 5);
      unchecked((this.prefixes[slot] = prefix));
      unchecked((this.states[slot] = states));
      unchecked((this.blocks[slot] = 0));
    }
    const known = changetype<usize>(prefix);
    const saved = changetype<usize>(states);
    const held = min(unchecked(this.blocks[slot]), whole);
    let same = 0;
    while (same < held && sameBlock(ptr + (<usize>same << 6), known + (<usize>same << 6))) same++;
    if (same > 0) h.resume(saved + (<usize>(same - 1) << 5), <u64>same << 6);
    else h.reset();
    const keep = min(whole, REPEAT_BLOCKS);
    for (let b = same; b < keep; b++) {
      h.updatePtr(ptr + (<usize>b << 6), 64);
      h.saveState(saved + (<usize>b << 5));
    }
    if (keep > same) memory.copy(known + (<usize>same << 6), ptr + (<usize>same << 6), <usize>(keep - same) << 6);
    unchecked((this.blocks[slot] = keep));
    const done = keep << 6;
    h.updatePtr(ptr + <usize>done, len - done).finalInto(out);
  }
}

/** Partitions whose last preimage start is kept. */
const REPEAT_SLOTS: i32 = 8;
/** Whole blocks of it kept (4 KiB, and 2 KiB of states, per slot). */
const REPEAT_BLOCKS: i32 = 64;
const REPEATS = new RepeatTable();

// The slot of a preimage, from its first block (tag, format, partition and the tenant's start).
function slotOfBlock(p: usize): i32 {
  let x: u64 = 0;
  for (let i: usize = 0; i < 64; i += 8) x = (x ^ load<u64>(p + i)) * 0x9E3779B97F4A7C15;
  return <i32>(x >>> 40) & (REPEAT_SLOTS - 1);
}

function sameBlock(a: usize, b: usize): bool {
  for (let i: usize = 0; i < 64; i += 8) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
  }
  return true;
}

/** Lower-case hex of a key (64 characters), for `x-ai-cache-key` and the shared tier. */
export function keyHex(key: ArrayBuffer): string {
  return toHex(key);
}

/** The canonical body of `body` (see the top of this file), for tests and debugging. */
export function canonicalBody(body: JsonValue, rules: KeyRules): ArrayBuffer {
  const sink = new ByteSink(body.end - body.start + 16);
  writeCanonicalBody(sink, body, rules);
  return sink.toArrayBuffer();
}

/** Appends the canonical body of `body` to `sink`. */
export function writeCanonicalBody(sink: ByteSink, body: JsonValue, rules: KeyRules): void {
  const tree = body.tree;
  if (!body.isObject()) {
    writeCanonicalNode(sink, tree, body.node);
    return;
  }
  const count = body.length;
  const drops = rules.dropFields;
  const names = rules.defaultNames;
  const nd = min(names.length, MAX_DEFAULTS);
  if (count > keptNodes.length) keptNodes = new StaticArray<i32>(count);
  const kept = keptNodes;
  rules.prepare();
  const base = changetype<usize>(tree.source);
  let n = 0;
  let present: u64 = 0;
  let node = body.node + 1;
  for (let i = 0; i < count; i++) {
    const keyNode = node;
    node = tree.skip(node + 1);
    const from = tree.word(keyNode, 1) + 1;
    const len = tree.word(keyNode, 2) - 1 - from;
    if ((tree.word(keyNode, 0) & (F_ESCAPED | F_NON_ASCII)) == 0) {
      // Plain ASCII: equal to a name when the bytes are its characters.
      const p = base + <usize>from;
      if (!rules.mayBeNamed(p, len)) {
        unchecked((kept[n++] = keyNode));
        continue;
      }
      for (let d = 0; d < nd; d++) {
        if ((present & (<u64>1 << d)) == 0 && equalsAscii(p, len, nameAt(names, d))) present |= <u64>1 << d;
      }
      let drop = equalsAscii(p, len, STREAM_FIELD);
      for (let d = 0; d < drops.length && !drop; d++) drop = equalsAscii(p, len, nameAt(drops, d));
      if (!drop) unchecked((kept[n++] = keyNode));
      continue;
    }
    for (let d = 0; d < nd; d++) {
      if ((present & (<u64>1 << d)) == 0 && nodeStringEquals(tree, keyNode, nameAt(names, d))) present |= <u64>1 << d;
    }
    let drop = nodeStringEquals(tree, keyNode, STREAM_FIELD);
    for (let d = 0; d < drops.length && !drop; d++) drop = nodeStringEquals(tree, keyNode, nameAt(drops, d));
    if (!drop) unchecked((kept[n++] = keyNode));
  }
  sortKeyNodes(tree, kept, n);

  // Merge the sorted members with the sorted absent defaults. A default is absent, so it never
  // ties with a member.
  sink.byte(0x7B);
  let i = 0;
  let d = 0;
  let first = true;
  while (true) {
    while (d < nd && (present & (<u64>1 << d)) != 0) d++;
    const haveMember = i < n;
    const haveDefault = d < nd;
    if (!haveMember && !haveDefault) break;
    if (!first) sink.byte(0x2C);
    first = false;
    if (haveMember && (!haveDefault || compareKeyToAscii(tree, unchecked(kept[i]), nameAt(names, d)) < 0)) {
      const keyNode = unchecked(kept[i++]);
      writeCanonicalName(sink, tree, keyNode);
      writeCanonicalNode(sink, tree, keyNode + 1);
    } else {
      const member = rules.defaultMember(d);
      sink.bytes(changetype<usize>(member), member.byteLength);
      d++;
    }
  }
  sink.byte(0x7D);
  if (keptNodes.length > KEEP_KEPT) keptNodes = new StaticArray<i32>(64);
}

// names[i], unchecked and inlined (the optimiser leaves Array#__uget a call here).
// @ts-ignore: decorator
@inline
function nameAt(names: string[], i: i32): string {
  return changetype<string>(load<usize>(names.dataStart + (<usize>i << alignof<usize>())));
}

/**
 * Orders a key node and an ASCII name by UTF-16 code units. Every non-ASCII code point (and the
 * high surrogate of a supplementary one) is above every ASCII unit, so code points compare right.
 */
function compareKeyToAscii(tree: JsonTree, node: i32, name: string): i32 {
  const base = changetype<usize>(tree.source);
  let i = tree.word(node, 1) + 1;
  const to = tree.word(node, 2) - 1;
  const plain = (tree.word(node, 0) & (F_ESCAPED | F_NON_ASCII)) == 0;
  const m = name.length;
  if (plain && i < to && m > 0) {
    // Most names differ in their first character.
    const d = <i32>load<u8>(base + <usize>i) - <i32>load<u16>(changetype<usize>(name));
    if (d != 0) return d < 0 ? -1 : 1;
  }
  let k = 0;
  while (i < to && k < m) {
    let cp: u32;
    if (plain) {
      cp = <u32>load<u8>(base + <usize>i);
      i++;
    } else {
      cp = readCodePoint(base, i);
      i = nextPos;
    }
    const c = <u32>load<u16>(changetype<usize>(name) + (<usize>k << 1));
    k++;
    if (cp != c) return cp < c ? -1 : 1;
  }
  if (i < to) return 1;
  return k < m ? -1 : 0;
}

