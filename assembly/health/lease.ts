// The probing lease of warmup-health: which root context (in which worker's VM) probes the
// targets of one configuration, and until when. Envoy runs ticks once per worker, so every
// worker's VM ticks; the one that holds the lease probes, the others only renew their view of it.
// The holder renews on each tick; when it stops (its VM closed, its root torn down, its ticks
// stopped), another worker takes the lease once it has expired.
//
// Key: `aigw/warmup-health/lease/<16 hex digits>`, the digits being a digest of the probing part of
// the configuration, so that roots configured alike (every worker's, per-route copies, a reload
// with the same targets) share one lease and one prober.
//
// Binary layout, little-endian, 17 bytes:
//   offset 0   u8   format       1 (readers accept any format >= 1; later formats only append)
//   offset 1   u64  holder       random id of the holding root context (never 0)
//   offset 9   u64  expires_ms   wall-clock ms after which another root may take the lease
// An empty value means "nobody holds it". Anything shorter, or with format 0 or holder 0, is
// malformed and decodes to null (and is treated as free).

export const LEASE_KEY_PREFIX = "aigw/warmup-health/lease/";
export const LEASE_FORMAT: u8 = 1;
export const LEASE_BYTES: i32 = 17;

export class Lease {
  constructor(public holder: u64 = 0, public expiresMs: u64 = 0) {}
}

export function leaseKey(digestHex: string): string {
  return LEASE_KEY_PREFIX + digestHex;
}

export function encodeLease(lease: Lease): ArrayBuffer {
  const out = new ArrayBuffer(LEASE_BYTES);
  const base = changetype<usize>(out);
  store<u8>(base, LEASE_FORMAT);
  store<u64>(base, lease.holder, 1);
  store<u64>(base, lease.expiresMs, 9);
  return out;
}

/** Decodes a lease; null when `bytes` is empty or malformed. */
export function decodeLease(bytes: ArrayBuffer): Lease | null {
  if (bytes.byteLength < LEASE_BYTES) return null;
  const base = changetype<usize>(bytes);
  const format = load<u8>(base);
  const holder = load<u64>(base, 1);
  if (format == 0 || holder == 0) return null;
  if (format == LEASE_FORMAT && bytes.byteLength != LEASE_BYTES) return null;
  return new Lease(holder, load<u64>(base, 9));
}

/** Whether `me` may take (or keep) `lease` at `nowMs`: it is free, mine, or expired. */
export function mayHold(lease: Lease | null, me: u64, nowMs: u64): bool {
  return lease === null || lease.holder == me || nowMs >= lease.expiresMs;
}

export const CONFIGURED_KEY_PREFIX = "aigw/warmup-health/configured/";

/**
 * Key of when a configuration (by its lease digest) was last configured: a u64 of wall-clock ms,
 * the latest of its roots' `onConfigure` (8 bytes, little-endian). Of two configurations that
 * list one target, the one configured later probes it (an update's new configuration at once,
 * not after Envoy has drained the old listener).
 */
export function configuredKey(digestHex: string): string {
  return CONFIGURED_KEY_PREFIX + digestHex;
}
