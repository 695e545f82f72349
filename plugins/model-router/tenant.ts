// The tenant of a request: the lower-case hex SHA-256 of its identity header value. Requests
// from one API key come in runs, so each worker keeps the last few identities and their digests
// in a small direct-mapped table, and a repeat costs a hash of the identity and a string
// comparison instead of a SHA-256 and two allocations. Pure: no host calls.

import { sha256, toHex } from "../../assembly/crypto/sha256";
import { FNV64_OFFSET, fnv1a64String } from "../../assembly/hash/fnv";

/** Slots in the table (a power of two). */
const SLOTS: i32 = 64;

export class TenantDigests {
  private identities: StaticArray<string> = new StaticArray<string>(SLOTS);
  private digests: StaticArray<string> = new StaticArray<string>(SLOTS);

  /** Hex SHA-256 (64 digits) of the UTF-8 of `identity`. */
  digestOf(identity: string): string {
    const slot = <i32>(fnv1a64String(FNV64_OFFSET, identity) & <u64>(SLOTS - 1));
    if (unchecked(this.identities[slot]) == identity) return unchecked(this.digests[slot]);
    const digest = toHex(sha256(String.UTF8.encode(identity)));
    unchecked((this.identities[slot] = identity));
    unchecked((this.digests[slot] = digest));
    return digest;
  }
}
