// TypeScript readings of warmup-health's shared-data formats, written from the format comments
// of assembly/health/target.ts and assembly/health/lease.ts, so tests can read and plant records
// in the emulator's shared data and check the AssemblyScript codecs against an independent one.
// The per-version record the router reads has its own in host-tests/model-router/health-record.ts.

export const STATES = ["unknown", "loading", "warming", "ready", "failing"] as const;
export type StateName = (typeof STATES)[number];

export const TARGET_KEY_PREFIX = "aigw/warmup-health/target/";
export const LEASE_KEY_PREFIX = "aigw/warmup-health/lease/";

export interface TargetRecord {
  state: StateName;
  /** 0..10,000. */
  ramp: number;
  since: bigint;
  nextDue: bigint;
  checked: bigint;
  latencyMs: number;
  successes: number;
  failures: number;
  warmupDone: number;
  /** bit 0: ramps in when ready. */
  flags: number;
  reason: string;
}

export function targetKey(model: string, version: string, cluster: string): string {
  return `${TARGET_KEY_PREFIX}${model}/${version}@${cluster}`;
}

export function encodeTarget(r: TargetRecord): Uint8Array {
  const reason = new TextEncoder().encode(r.reason);
  const out = new Uint8Array(42 + reason.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint8(1, STATES.indexOf(r.state));
  v.setUint16(2, r.ramp, true);
  v.setBigUint64(4, r.since, true);
  v.setBigUint64(12, r.nextDue, true);
  v.setBigUint64(20, r.checked, true);
  v.setUint32(28, r.latencyMs, true);
  v.setUint16(32, r.successes, true);
  v.setUint16(34, r.failures, true);
  v.setUint16(36, r.warmupDone, true);
  v.setUint8(38, r.flags);
  v.setUint16(40, reason.length, true);
  out.set(reason, 42);
  return out;
}

/** Null for anything the format calls malformed. */
export function decodeTarget(bytes: Uint8Array): TargetRecord | null {
  if (bytes.length < 42) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = v.getUint8(0);
  const state = v.getUint8(1);
  const ramp = v.getUint16(2, true);
  const reasonLen = v.getUint16(40, true);
  if (format === 0 || state > 4 || ramp > 10_000 || reasonLen > 1024 || 42 + reasonLen > bytes.length) return null;
  if (format === 1 && 42 + reasonLen !== bytes.length) return null;
  return {
    state: STATES[state],
    ramp,
    since: v.getBigUint64(4, true),
    nextDue: v.getBigUint64(12, true),
    checked: v.getBigUint64(20, true),
    latencyMs: v.getUint32(28, true),
    successes: v.getUint16(32, true),
    failures: v.getUint16(34, true),
    warmupDone: v.getUint16(36, true),
    flags: v.getUint8(38),
    reason: new TextDecoder().decode(bytes.subarray(42, 42 + reasonLen)),
  };
}

export interface Lease {
  holder: bigint;
  expires: bigint;
}

export function encodeLease(l: Lease): Uint8Array {
  const out = new Uint8Array(17);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setBigUint64(1, l.holder, true);
  v.setBigUint64(9, l.expires, true);
  return out;
}

export function decodeLease(bytes: Uint8Array): Lease | null {
  if (bytes.length < 17) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = v.getUint8(0);
  const holder = v.getBigUint64(1, true);
  if (format === 0 || holder === 0n) return null;
  if (format === 1 && bytes.length !== 17) return null;
  return { holder, expires: v.getBigUint64(9, true) };
}
