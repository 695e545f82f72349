// The token-bucket slot record that every worker reads and writes (compare-and-swap) in shared
// data, and the bucket id that says whose bucket a slot holds. Pure: no host calls.
//
// The table is `slots` keys `aigw/token-bucket/<slot>` (decimal, from 0), created before any
// request races on them. A bucket lives in the first slot of its probe sequence that it owns,
// or claims; see table.ts.
//
// Binary layout, little-endian, RECORD_BYTES (56) bytes:
//   offset 0   u8    format        1 (another format reads as malformed: the slot is taken over)
//   offset 1   u8    reserved      0
//   offset 2   u16   reserved      0
//   offset 4   u32   reserved      0
//   offset 8   16 B  owner         bucket id; all zero: a free slot that was never claimed
//   offset 24  u64   updated_ms    wall-clock ms of the last refill (never moves backwards)
//   offset 32  u64   full_at_ms    from then on every limited dimension is full again, and
//                                  another bucket may claim the slot (it holds nothing then)
//   offset 40  i64   requests      requests level, in 1/60,000 request (bucket.ts)
//   offset 48  i64   tokens        tokens level, in 1/60,000 token
//
// Bucket id: the first 16 bytes of SHA-256 over
//   "aigw-token-bucket" 0x01, scope (u8: 1 tenant, 2 model total), lp(model), lp(version),
//   lp(tenant), then requests per_minute, requests burst, tokens per_minute, tokens burst
//   (u64 little-endian each, 0 for a dimension without a limit)
// where lp(s) is the u32 little-endian byte length of s then its UTF-8 bytes; the version is ""
// unless the model counts versions apart, the tenant "" for a model total. Different limits are
// different buckets, so a changed configuration starts from full buckets.

import { Sha256 } from "../crypto/sha256";
import { Limit } from "./bucket";

export const RECORD_FORMAT: u8 = 1;
export const RECORD_BYTES: i32 = 56;
export const SLOT_KEY_PREFIX = "aigw/token-bucket/";
const ID_TAG = "aigw-token-bucket";

/** Which bucket of a model: one tenant's, or the model's total across tenants. */
export enum BucketScope { Tenant = 1, Total = 2 }

/** What a slot's bytes hold. */
export enum SlotState { Free, Owned, Malformed }

/** One decoded slot. */
export class SlotRecord {
  /** Owner id: bytes 0..8 and 8..16 as little-endian u64s (both 0: free). */
  owner0: u64 = 0;
  owner1: u64 = 0;
  updatedMs: u64 = 0;
  fullAtMs: u64 = 0;
  requests: i64 = 0;
  tokens: i64 = 0;

  clear(): SlotRecord {
    this.owner0 = 0;
    this.owner1 = 0;
    this.updatedMs = 0;
    this.fullAtMs = 0;
    this.requests = 0;
    this.tokens = 0;
    return this;
  }

  ownedBy(id: BucketId): bool {
    return this.owner0 == id.lo && this.owner1 == id.hi;
  }
}

/** A bucket's 16-byte id (never all zero). */
export class BucketId {
  lo: u64 = 0;
  hi: u64 = 0;
}

/** Decodes `len` bytes at `ptr` into `out`. */
export function decodeRecord(ptr: usize, len: i32, out: SlotRecord): SlotState {
  out.clear();
  if (len != RECORD_BYTES || load<u8>(ptr) != RECORD_FORMAT) return SlotState.Malformed;
  out.owner0 = load<u64>(ptr, 8);
  out.owner1 = load<u64>(ptr, 16);
  out.updatedMs = load<u64>(ptr, 24);
  out.fullAtMs = load<u64>(ptr, 32);
  out.requests = load<i64>(ptr, 40);
  out.tokens = load<i64>(ptr, 48);
  return out.owner0 == 0 && out.owner1 == 0 ? SlotState.Free : SlotState.Owned;
}

/** Writes `rec` as RECORD_BYTES bytes at `ptr`. */
export function encodeRecord(rec: SlotRecord, ptr: usize): void {
  store<u64>(ptr, <u64>RECORD_FORMAT);
  store<u64>(ptr, rec.owner0, 8);
  store<u64>(ptr, rec.owner1, 16);
  store<u64>(ptr, rec.updatedMs, 24);
  store<u64>(ptr, rec.fullAtMs, 32);
  store<i64>(ptr, rec.requests, 40);
  store<i64>(ptr, rec.tokens, 48);
}

/** `rec` as a new buffer (for tests and tools). */
export function encodeRecordBuffer(rec: SlotRecord): ArrayBuffer {
  const out = new ArrayBuffer(RECORD_BYTES);
  encodeRecord(rec, changetype<usize>(out));
  return out;
}

/** The shared-data key of slot `slot`. */
export function slotKey(slot: u32): string {
  return SLOT_KEY_PREFIX + slot.toString();
}

/** Writes slot `slot`'s key as UTF-8 at `ptr` (room for 32 bytes); returns its length. */
export function writeSlotKey(slot: u32, ptr: usize): i32 {
  const prefix = SLOT_KEY_PREFIX;
  const n = prefix.length;
  for (let i = 0; i < n; i++) store<u8>(ptr + <usize>i, <u8>prefix.charCodeAt(i));
  let digits = 1;
  for (let v = slot; v >= 10; v /= 10) digits++;
  let v = slot;
  for (let i = digits - 1; i >= 0; i--) {
    store<u8>(ptr + <usize>(n + i), <u8>(0x30 + v % 10));
    v /= 10;
  }
  return n + digits;
}

/**
 * Computes bucket ids. Keeps one hasher and one preimage buffer, so an id costs no allocation
 * but the model, version and tenant strings' UTF-8 encoding into the buffer.
 */
export class BucketIds {
  private hasher: Sha256 = new Sha256();
  private buf: ArrayBuffer = new ArrayBuffer(512);
  private len: i32 = 0;

  // The last id of each scope: requests come in runs from one tenant to one model, and a repeat
  // then costs string comparisons instead of a SHA-256.
  private lastModel: StaticArray<string> = new StaticArray<string>(3);
  private lastVersion: StaticArray<string> = new StaticArray<string>(3);
  private lastTenant: StaticArray<string> = new StaticArray<string>(3);
  private lastRequests: StaticArray<Limit | null> = new StaticArray<Limit | null>(3);
  private lastTokens: StaticArray<Limit | null> = new StaticArray<Limit | null>(3);
  private lastLo: StaticArray<u64> = new StaticArray<u64>(3);
  private lastHi: StaticArray<u64> = new StaticArray<u64>(3);

  /** The id of `scope`'s bucket of (model, version, tenant) under the two limits, into `out`. */
  compute(scope: BucketScope, model: string, version: string, tenant: string, requests: Limit | null, tokens: Limit | null, out: BucketId): BucketId {
    const k = <i32>scope;
    if (
      unchecked(this.lastLo[k]) != 0 && unchecked(this.lastRequests[k]) === requests && unchecked(this.lastTokens[k]) === tokens &&
      unchecked(this.lastTenant[k]) == tenant && unchecked(this.lastModel[k]) == model && unchecked(this.lastVersion[k]) == version
    ) {
      out.lo = unchecked(this.lastLo[k]);
      out.hi = unchecked(this.lastHi[k]);
      return out;
    }
    this.hash(scope, model, version, tenant, requests, tokens, out);
    unchecked((this.lastModel[k] = model));
    unchecked((this.lastVersion[k] = version));
    unchecked((this.lastTenant[k] = tenant));
    unchecked((this.lastRequests[k] = requests));
    unchecked((this.lastTokens[k] = tokens));
    unchecked((this.lastLo[k] = out.lo));
    unchecked((this.lastHi[k] = out.hi));
    return out;
  }

  private hash(scope: BucketScope, model: string, version: string, tenant: string, requests: Limit | null, tokens: Limit | null, out: BucketId): void {
    this.len = 0;
    this.ascii(ID_TAG);
    this.byte(1);
    this.byte(<u8>scope);
    this.lp(model);
    this.lp(version);
    this.lp(tenant);
    this.u64(requests === null ? 0 : <u64>requests.perMinute);
    this.u64(requests === null ? 0 : <u64>requests.burst);
    this.u64(tokens === null ? 0 : <u64>tokens.perMinute);
    this.u64(tokens === null ? 0 : <u64>tokens.burst);
    const digest = this.hasher.reset().updateRange(this.buf, 0, this.len).final();
    const p = changetype<usize>(digest);
    out.lo = load<u64>(p);
    out.hi = load<u64>(p, 8);
    // All zero marks a free slot; a digest that starts with 16 zero bytes is not going to happen,
    // but must still not read as free.
    if (out.lo == 0 && out.hi == 0) out.lo = 1;
  }

  private room(n: i32): usize {
    if (this.len + n > this.buf.byteLength) {
      let size = this.buf.byteLength << 1;
      while (size < this.len + n) size <<= 1;
      const grown = new ArrayBuffer(size);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.buf), <usize>this.len);
      this.buf = grown;
    }
    const at = changetype<usize>(this.buf) + <usize>this.len;
    this.len += n;
    return at;
  }

  private byte(b: u8): void {
    store<u8>(this.room(1), b);
  }

  private u64(v: u64): void {
    store<u64>(this.room(8), v);
  }

  private ascii(s: string): void {
    const at = this.room(s.length);
    for (let i = 0; i < s.length; i++) store<u8>(at + <usize>i, <u8>s.charCodeAt(i));
  }

  private lp(s: string): void {
    const n = String.UTF8.byteLength(s);
    store<u32>(this.room(4), <u32>n);
    const at = this.room(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, at);
  }
}
