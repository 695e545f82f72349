// The tenant of a request: the lower-case hex SHA-256 of its identity header value (shared by the
// router, which shows it as x-ai-tenant, and the cache, which partitions its entries by it). Requests
// from one API key come in runs, so each worker keeps the last few identities and their digests
// in a small direct-mapped table, and a repeat costs a hash and a comparison of the identity's
// bytes (read in place from the request headers) instead of a SHA-256 and two allocations.
// Pure: no host calls.

import { Sha256, toHex } from "../crypto/sha256";
import { PairsView } from "../host/pairs-view";
import { sameBytes } from "../runtime/bytes";

/** Slots in the table (a power of two, at most 64: `slotOf` takes six bits). */
const SLOTS: i32 = 64;

export class TenantDigests {
  private identities: StaticArray<ArrayBuffer> = new StaticArray<ArrayBuffer>(SLOTS);
  private digests: StaticArray<string> = new StaticArray<string>(SLOTS);
  /** Per slot: its x-ai-tenant as UTF-8, made when the router first asks (null until then). */
  private tenants: StaticArray<ArrayBuffer> = new StaticArray<ArrayBuffer>(SLOTS);
  private hasher: Sha256 = new Sha256();
  private slot: i32 = 0;

  /** `tenantHexChars`: how many digits of the digest x-ai-tenant shows. */
  constructor(private tenantHexChars: i32) {}

  /**
   * Looks up (or hashes and remembers) the identity's `len` bytes at `ptr` (a header value in
   * place); then `digest` and `tenantBytes` describe it.
   */
  find(ptr: usize, len: i32): void {
    const slot = slotOf(ptr, len);
    this.slot = slot;
    const known = changetype<ArrayBuffer | null>(changetype<usize>(unchecked(this.identities[slot])));
    if (known !== null && known.byteLength == len && sameBytes(changetype<usize>(known), ptr, len)) return;
    const copy = new ArrayBuffer(len);
    memory.copy(changetype<usize>(copy), ptr, <usize>len);
    const digest = toHex(this.hasher.update(copy).final());
    unchecked((this.identities[slot] = copy));
    unchecked((this.digests[slot] = digest));
    // Made when first asked for: only the router writes x-ai-tenant.
    unchecked((this.tenants[slot] = changetype<ArrayBuffer>(0)));
  }

  /** Hex SHA-256 (64 digits) of header `name`'s value in `headers`, "" when absent or empty. */
  ofHeader(headers: PairsView, name: string): string {
    if (!headers.find(name) || headers.valueLength == 0) return "";
    this.find(headers.valuePtr, headers.valueLength);
    return this.digest;
  }

  /** Hex SHA-256 (64 digits) of the identity `find` looked up last. */
  get digest(): string {
    return unchecked(this.digests[this.slot]);
  }

  /**
   * Its x-ai-tenant, the digest's first `tenantHexChars` digits, as UTF-8 (as the router writes
   * it): made once per identity, not per request.
   */
  get tenantBytes(): ArrayBuffer {
    const slot = this.slot;
    let bytes = changetype<ArrayBuffer | null>(changetype<usize>(unchecked(this.tenants[slot])));
    if (bytes === null) {
      bytes = String.UTF8.encode(unchecked(this.digests[slot]).substring(0, this.tenantHexChars));
      unchecked((this.tenants[slot] = bytes));
    }
    return bytes;
  }
}

// The slot and the comparison take eight bytes a step: every request looks its identity up (an
// API key of 30 to 60 bytes), and a byte-serial hash (FNV-1a) and compare cost it some 300
// instructions more. The slot hash is this table's alone (nothing persists it), so any good mix
// serves; unaligned loads are fine in Wasm.

const MIX: u64 = 0x9E3779B97F4A7C15;

function slotOf(ptr: usize, len: i32): i32 {
  let x: u64 = <u64>len * MIX;
  let i = 0;
  for (; i + 8 <= len; i += 8) x = (x ^ load<u64>(ptr + <usize>i)) * MIX;
  for (; i < len; i++) x = (x ^ <u64>load<u8>(ptr + <usize>i)) * MIX;
  // The high bits have seen every byte; the low bits of a product only the low bits of its inputs.
  return <i32>(x >>> 58) & (SLOTS - 1);
}
