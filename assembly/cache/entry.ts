// The inference-cache record: one stored response, written into a slot of the local tier (Envoy
// shared data, key `aigw/inference-cache/<slot>`) and, unchanged, into the shared tier (Redis
// behind Webdis, key `<prefix><tenant or "shared">:<hex key>`).
//
// Binary layout, little-endian, 64 bytes plus the content type and the body:
//   offset 0   4 bytes  magic        "AIGC"
//   offset 4   u8       format       1 (readers accept exactly 1: a record of another format is
//                                    a miss, and the slot is overwritten)
//   offset 5   u8       body kind    1 JSON, 2 SSE (text/event-stream)
//   offset 6   u16      status       HTTP status (100..599; the filter stores only 200)
//   offset 8   32 bytes key          the full SHA-256 cache key, compared on every read
//   offset 40  u64      stored_at    wall-clock ms since the epoch
//   offset 48  u64      expires_at   wall-clock ms since the epoch (>= stored_at)
//   offset 56  u16      ct_len       bytes of content type (<= MAX_CONTENT_TYPE_BYTES)
//   offset 58  u16      reserved     0
//   offset 60  u32      body_len     bytes of body
//   offset 64  ct_len bytes          content type: visible ASCII, space and tab
//   then       body_len bytes        the response body as the upstream sent it (no content-encoding)
// The record's size is exactly 64 + ct_len + body_len. An empty value is an empty slot (shared
// data has no delete). Anything else that breaks a rule above decodes to null, never a trap.

import { writeDecimal } from "../http/decimal";
import { narrowAscii } from "../runtime/bytes";

/** Prefix of the local tier's shared-data keys; the slot number follows in decimal. */
export const SLOT_KEY_PREFIX = "aigw/inference-cache/";
export const ENTRY_FORMAT: u8 = 1;
export const ENTRY_HEADER_BYTES: i32 = 64;
export const ENTRY_KEY_BYTES: i32 = 32;
export const MAX_CONTENT_TYPE_BYTES: i32 = 255;
// "AIGC" read as a little-endian u32.
const MAGIC: u32 = 0x43474941;

/** How the stored body is framed. */
export enum BodyKind {
  /** Not storable (only in decisions; never in a record). */
  None = 0,
  Json = 1,
  Sse = 2,
}

/** One stored response. `body` is the record's body range in `source` (no copy until asked). */
export class CacheEntry {
  constructor(
    /** The 32-byte cache key. */
    public key: ArrayBuffer,
    public storedAtMs: u64,
    public expiresAtMs: u64,
    public status: u16,
    public kind: BodyKind,
    public contentType: string,
    /** The bytes the body is in: the whole record after decoding, or the body itself. */
    public source: ArrayBuffer,
    public bodyOffset: i32 = 0,
    public bodyLength: i32 = -1,
  ) {
    if (bodyLength < 0) this.bodyLength = source.byteLength;
  }

  /** A copy of the body. */
  body(): ArrayBuffer {
    return this.source.slice(this.bodyOffset, this.bodyOffset + this.bodyLength);
  }

  /** Address of the body's first byte (valid while `source` lives), for host calls. */
  get bodyPtr(): usize {
    return changetype<usize>(this.source) + <usize>this.bodyOffset;
  }
}

/** Size of the record of a body of `bodyBytes` with a content type of `contentTypeBytes`. */
export function entrySize(contentTypeBytes: i32, bodyBytes: i32): i64 {
  return <i64>ENTRY_HEADER_BYTES + <i64>contentTypeBytes + <i64>bodyBytes;
}

/**
 * Encodes a record of `body` [bodyOffset, bodyOffset + bodyLength). Null when the fields cannot be
 * stored: a key that is not 32 bytes, a content type longer than MAX_CONTENT_TYPE_BYTES or with
 * other than visible ASCII, space and tab, kind None, a status outside 100..599, expiry before
 * storage, or a body range outside `body`.
 */
export function encodeEntry(
  key: ArrayBuffer, storedAtMs: u64, expiresAtMs: u64, status: i32, kind: BodyKind, contentType: string,
  body: ArrayBuffer, bodyOffset: i32 = 0, bodyLength: i32 = -1,
): ArrayBuffer | null {
  if (bodyLength < 0) bodyLength = body.byteLength - bodyOffset;
  if (bodyOffset < 0 || bodyLength < 0 || <i64>bodyOffset + <i64>bodyLength > <i64>body.byteLength) return null;
  const size = entrySize(contentType.length, bodyLength);
  if (size > <i64>i32.MAX_VALUE) return null;
  const out = new ArrayBuffer(<i32>size);
  const base = changetype<usize>(out);
  if (!writeEntryHead(base, key, storedAtMs, expiresAtMs, status, kind, contentType, bodyLength)) return null;
  memory.copy(base + <usize>(ENTRY_HEADER_BYTES + contentType.length), changetype<usize>(body) + <usize>bodyOffset, <usize>bodyLength);
  return out;
}

/**
 * Writes a record's header and content type at `base` (entrySize(contentType.length, 0) bytes),
 * for a body of `bodyLength` bytes that follows them: so a body can be gathered in place after the
 * room left for its head and the record written with no second copy. False (nothing written) when
 * the fields cannot be stored, as for encodeEntry.
 */
export function writeEntryHead(
  base: usize, key: ArrayBuffer, storedAtMs: u64, expiresAtMs: u64, status: i32, kind: BodyKind, contentType: string, bodyLength: i32,
): bool {
  if (key.byteLength != ENTRY_KEY_BYTES || kind == BodyKind.None || <u32>kind > 2 || bodyLength < 0) return false;
  if (status < 100 || status > 599 || expiresAtMs < storedAtMs) return false;
  const ctLen = contentType.length;
  if (ctLen > MAX_CONTENT_TYPE_BYTES) return false;
  const units = changetype<usize>(contentType);
  if (!validContentType(contentType)) return false;
  store<u32>(base, MAGIC);
  store<u8>(base, ENTRY_FORMAT, 4);
  store<u8>(base, <u8>kind, 5);
  store<u16>(base, <u16>status, 6);
  memory.copy(base + 8, changetype<usize>(key), ENTRY_KEY_BYTES);
  store<u64>(base, storedAtMs, 40);
  store<u64>(base, expiresAtMs, 48);
  store<u16>(base, <u16>ctLen, 56);
  store<u16>(base, 0, 58);
  store<u32>(base, <u32>bodyLength, 60);
  const ct = base + <usize>ENTRY_HEADER_BYTES;
  narrowAscii(ct, units, ctLen);
  return true;
}

// The last content type found valid: a filter hands in the same string for a repeated one
// (RepeatedValue), and it is held here, so no other string can have its address.
let validatedContentType: string | null = null;

// Every unit of `contentType` is visible ASCII, space or tab.
function validContentType(contentType: string): bool {
  if (changetype<usize>(contentType) == changetype<usize>(validatedContentType)) return true;
  const units = changetype<usize>(contentType);
  for (let i = 0, n = contentType.length; i < n; i++) {
    if (!isContentTypeChar(<u32>load<u16>(units + (<usize>i << 1)))) return false;
  }
  validatedContentType = contentType;
  return true;
}

/** Decodes a record; null for an empty slot or anything malformed. The body is not copied. */
export function decodeEntry(bytes: ArrayBuffer): CacheEntry | null {
  const size = bytes.byteLength;
  if (size < ENTRY_HEADER_BYTES) return null;
  const base = changetype<usize>(bytes);
  if (load<u32>(base) != MAGIC || load<u8>(base, 4) != ENTRY_FORMAT) return null;
  const kind = <u32>load<u8>(base, 5);
  const status = <i32>load<u16>(base, 6);
  const storedAt = load<u64>(base, 40);
  const expiresAt = load<u64>(base, 48);
  const ctLen = <i32>load<u16>(base, 56);
  const bodyLen = <i64>load<u32>(base, 60);
  if (kind < 1 || kind > 2 || status < 100 || status > 599 || expiresAt < storedAt) return null;
  if (load<u16>(base, 58) != 0 || ctLen > MAX_CONTENT_TYPE_BYTES) return null;
  if (entrySize(ctLen, 0) + bodyLen != <i64>size) return null;
  const ct = base + <usize>ENTRY_HEADER_BYTES;
  for (let i = 0; i < ctLen; i++) {
    if (!isContentTypeChar(<u32>load<u8>(ct + <usize>i))) return null;
  }
  const key = new ArrayBuffer(ENTRY_KEY_BYTES);
  memory.copy(changetype<usize>(key), base + 8, ENTRY_KEY_BYTES);
  const contentType = String.UTF8.decodeUnsafe(ct, <usize>ctLen);
  return new CacheEntry(key, storedAt, expiresAt, <u16>status, <BodyKind>kind, contentType, bytes, ENTRY_HEADER_BYTES + ctLen, <i32>bodyLen);
}

/** What a read of a slot found for a key. */
export enum SlotState {
  /** No record (an empty value, or no value). */
  Empty,
  /** Bytes that are not a record of this format. */
  Malformed,
  /** A record of another key (two keys share the slot). */
  OtherKey,
  /** A record of this key past its expiry. */
  Expired,
  /** A record of this key, still fresh. */
  Fresh,
}

/** The outcome of `readSlot`: the state, the entry when Fresh, and the time it read (0: none). */
export class SlotRead {
  state: SlotState = SlotState.Empty;
  entry: CacheEntry | null = null;
  /** The clock's reading when the record was this key's (Expired, Fresh), for the caller to reuse. */
  nowMs: u64 = 0;
}

/**
 * Dates a record (as encoded, at `base`) `storedAtMs`: a shared-tier record copied into a slot,
 * stored ahead of this clock by another machine's, is this Envoy's from now (its age 0 here).
 */
export function restampEntry(base: usize, storedAtMs: u64): void {
  store<u64>(base, storedAtMs, 40);
}

/**
 * How far ahead of the reader's clock a slot's record may have been stored: the workers read one
 * clock, so only a step back puts a record well ahead of it, but a reading taken while another
 * worker wrote may lag that worker's by a little.
 */
const CLOCK_STEP_MS: u64 = 1000;

/**
 * Reads a slot's value (null: none) for `key`, at the time `clock` gives. The key is compared in
 * full before the expiry is trusted; `out.entry` is set only when Fresh. The clock is read only
 * for a record of this key: the usual miss (an empty slot, another key's record) needs no time,
 * and a clock reading is a host call. A record is Expired past its own expiry, once it is
 * `maxAgeMs` old (`entryExpired`), and when it was stored more than CLOCK_STEP_MS after the
 * clock's now: the slots are this Envoy's own, written with this clock, so the clock stepped
 * back, and the record would otherwise be served for its ttl plus the step.
 */
export function readSlot(bytes: ArrayBuffer | null, key: ArrayBuffer, clock: () => u64, maxAgeMs: u64, out: SlotRead = new SlotRead()): SlotRead {
  out.entry = null;
  out.nowMs = 0;
  if (bytes === null || bytes.byteLength == 0) {
    out.state = SlotState.Empty;
    return out;
  }
  // Another key's record (the usual miss in a full table) is told without decoding it.
  const base = changetype<usize>(bytes);
  if (bytes.byteLength >= ENTRY_HEADER_BYTES && key.byteLength == ENTRY_KEY_BYTES && load<u32>(base) == MAGIC &&
    load<u8>(base, 4) == ENTRY_FORMAT && memory.compare(base + 8, changetype<usize>(key), ENTRY_KEY_BYTES) != 0) {
    out.state = SlotState.OtherKey;
    return out;
  }
  const entry = decodeEntry(bytes);
  if (entry === null) {
    out.state = SlotState.Malformed;
    return out;
  }
  if (key.byteLength != ENTRY_KEY_BYTES || memory.compare(changetype<usize>(entry.key), changetype<usize>(key), ENTRY_KEY_BYTES) != 0) {
    out.state = SlotState.OtherKey;
    return out;
  }
  const now = clock();
  out.nowMs = now;
  if (entryExpired(entry, now, maxAgeMs) || entry.storedAtMs > now + CLOCK_STEP_MS) {
    out.state = SlotState.Expired;
    return out;
  }
  out.state = SlotState.Fresh;
  out.entry = entry;
  return out;
}

/**
 * Whether `entry` is past serving at `now`: past its own expiry (what its writer allowed), or
 * `maxAgeMs` old, the reader's own `ttl_ms`: a shared-tier record written by an Envoy with a
 * longer `ttl_ms` (before an operator shortened it, or on another route) is not served longer
 * than the reader's configuration says. A record stored "in the future" (another Envoy's clock
 * ahead of this one) is of age 0.
 */
export function entryExpired(entry: CacheEntry, now: u64, maxAgeMs: u64): bool {
  return now >= entry.expiresAtMs || (now > entry.storedAtMs && now - entry.storedAtMs >= maxAgeMs);
}

/** The slot of `key` among `slots`: its first four bytes as a big-endian u32, modulo `slots`. */
export function slotOf(key: ArrayBuffer, slots: u32): u32 {
  if (slots == 0 || key.byteLength < 4) return 0;
  return bswap<u32>(load<u32>(changetype<usize>(key))) % slots;
}

/** Shared-data key of slot `slot`: `aigw/inference-cache/<slot>`. */
export function slotKey(slot: u32): string {
  return SLOT_KEY_PREFIX + slot.toString();
}

/** Most bytes of a slot key (`writeSlotKey`): the prefix and a u32's ten digits. */
export const SLOT_KEY_ROOM: i32 = 32;
const SLOT_KEY_PREFIX_UTF8 = String.UTF8.encode(SLOT_KEY_PREFIX);

/** Writes `slotKey(slot)` as UTF-8 at `ptr` (room for SLOT_KEY_ROOM bytes); returns its length. */
export function writeSlotKey(slot: u32, ptr: usize): i32 {
  const n = SLOT_KEY_PREFIX_UTF8.byteLength;
  // The prefix in words (memory.copy is a call out of the module).
  const src = changetype<usize>(SLOT_KEY_PREFIX_UTF8);
  let i = 0;
  for (; i + 8 <= n; i += 8) store<u64>(ptr + <usize>i, load<u64>(src + <usize>i));
  for (; i < n; i++) store<u8>(ptr + <usize>i, load<u8>(src + <usize>i));
  return n + writeDecimal(<i64>slot, ptr + <usize>n);
}

/** The shared tier's partition segment for a shared model. */
export const SHARED_PARTITION = "shared";
/** The segment for a request without a tenant. */
export const NO_TENANT_PARTITION = "_";

/**
 * The shared tier's key: `<prefix><tenant or "shared">:<64 hex digits>` ("_" for no tenant). A
 * tenant is the router's `x-ai-tenant` (hex digits or the anonymous name); it is cut at 128
 * characters, and characters other than letters, digits, '.', '_', '-' become '_', so the key
 * stays one URL path segment for Webdis. Cutting and replacing can only make two tenants share a
 * segment, never an entry: the hex key covers the exact tenant.
 */
export function redisKey(prefix: string, tenant: string, shared: bool, hexKey: string): string {
  let segment: string;
  if (shared) segment = SHARED_PARTITION;
  else if (tenant.length == 0) segment = NO_TENANT_PARTITION;
  else segment = safeSegment(tenant);
  return prefix + segment + ":" + hexKey;
}

function safeSegment(s: string): string {
  const n = s.length < 128 ? s.length : 128;
  let clean = n == s.length;
  for (let i = 0; i < n && clean; i++) clean = isSegmentChar(<u32>s.charCodeAt(i));
  if (clean) return s;
  const out = changetype<string>(__new(<usize>n << 1, idof<String>()));
  for (let i = 0; i < n; i++) {
    const ch = <u32>s.charCodeAt(i);
    store<u16>(changetype<usize>(out) + (<usize>i << 1), <u16>(isSegmentChar(ch) ? ch : 0x5F));
  }
  return out;
}

// @ts-ignore: decorator
@inline
function isSegmentChar(ch: u32): bool {
  return (ch - 0x30 < 10) || ((ch | 0x20) - 0x61 < 26) || ch == 0x2E || ch == 0x5F || ch == 0x2D;
}

// @ts-ignore: decorator
@inline
function isContentTypeChar(ch: u32): bool {
  return (ch >= 0x20 && ch <= 0x7E) || ch == 0x09;
}
