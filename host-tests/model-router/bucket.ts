// Reference implementation of model-router's sticky bucket (plugins/model-router/resolve.ts
// stickyBucket, assembly/hash/fnv.ts): FNV-1a 64 over UTF-8(model) + NUL + UTF-8(key), then the
// SplitMix64 finaliser, modulo 10,000. Written from the documented definition with BigInt.

import { createHash } from "node:crypto";

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
 * Who a request is, for the sticky split: the sticky header's value (sticky_key "header"), or the
 * tenant identity, e.g. the authorization header (sticky_key "tenant").
 */
export type StickyIdentity = { kind: "header"; value: string } | { kind: "tenant"; identity: string; hexChars?: number };

/**
 * The string the router hashes into a bucket for `identity`: the header value as sent, or the
 * lower-case hex SHA-256 of the tenant identity, all 64 digits, whatever `hexChars` x-ai-tenant
 * shows (so changing tenant_hex_chars moves no client). Tests compute expected versions only
 * through this and stickyVersion, so a change in what the router hashes is a change here alone.
 */
export function stickyInput(identity: StickyIdentity): string {
  if (identity.kind === "header") return identity.value;
  return tenantHash(identity.identity, 64);
}

/** The sticky bucket of a tenant-keyed request that sends `identity` (e.g. `Bearer sk-1`). */
export function identityBucket(model: string, identity: string): number {
  return stickyBucket(model, stickyInput({ kind: "tenant", identity }));
}

/** x-ai-tenant for an identity: the first `hexChars` hex digits of its SHA-256. */
export function tenantHash(identity: string, hexChars = 16): string {
  return createHash("sha256").update(identity).digest("hex").slice(0, hexChars);
}

/**
 * The version a sticky identity lands on: versions in configured order take consecutive bucket
 * ranges of weight × 100 buckets each (all ready, fully ramped).
 */
export function stickyVersion(model: string, identity: StickyIdentity, weights: ReadonlyArray<readonly [version: string, weight: number]>): string {
  const bucket = stickyBucket(model, stickyInput(identity));
  let end = 0;
  for (const [version, weight] of weights) {
    end += weight * 100;
    if (bucket < end) return version;
  }
  throw new Error(`weights ${JSON.stringify(weights)} do not cover bucket ${bucket}`);
}

/** The first of `candidates` whose sticky identity lands on `version`. */
export function keyLandingOn(model: string, version: string, weights: ReadonlyArray<readonly [string, number]>, candidates: Iterable<string>): string {
  for (const key of candidates) if (stickyVersion(model, { kind: "header", value: key }, weights) === version) return key;
  throw new Error(`no candidate key lands on ${model} ${version}`);
}
