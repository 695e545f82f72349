import { createHash } from "node:crypto";
// Reference implementation of model-router's sticky bucket (plugins/model-router/resolve.ts
// stickyBucket, assembly/hash/fnv.ts): FNV-1a 64 over UTF-8(model) + NUL + UTF-8(key), then the
// SplitMix64 finaliser, modulo 10,000. Written from the documented definition with BigInt.

const MASK = (1n << 64n) - 1n;
const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;

function fnv(h: bigint, bytes: Uint8Array): bigint {
  for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK;
  return h;
}

function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

export function stickyBucket(model: string, key: string): number {
  const enc = new TextEncoder();
  let h = fnv(OFFSET, enc.encode(model));
  h = fnv(h, new Uint8Array([0]));
  h = fnv(h, enc.encode(key));
  return Number(mix64(h) % 10_000n);
}

/**
 * The key that `sticky_key: "tenant"` hashes for an identity header value: the lower-case hex
 * SHA-256 of the identity, all 64 digits (x-ai-tenant shows only `tenant_hex_chars` of them, and
 * that display length must not move a client).
 */
export function identityKey(identity: string): string {
  return createHash("sha256").update(identity).digest("hex");
}

/** The sticky bucket of a tenant-keyed request that sends `identity` (e.g. `Bearer sk-1`). */
export function identityBucket(model: string, identity: string): number {
  return stickyBucket(model, identityKey(identity));
}
