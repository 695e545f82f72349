// A TypeScript reading of the warmup-health record layout (assembly/health/record.ts), written
// from its format comment, so tests can publish records into shared data and check that the
// AssemblyScript encoder and decoder agree with an independent implementation.

export const HEALTH_KEY_PREFIX = "aigw/warmup-health/state/";
export const STATES = ["unknown", "loading", "warming", "ready", "failing"] as const;
export type HealthStateName = (typeof STATES)[number];

export interface HealthRecord {
  state: HealthStateName;
  sinceMs: bigint;
  /** 0..10,000 (1/10,000 of full ramp). */
  rampPermyriad: number;
  reason: string;
  /** Format 2's fresh_until_ms; 0 (or absent when encoding): stands for ever. */
  freshUntilMs?: bigint;
}

export function healthKey(model: string, version: string): string {
  return `${HEALTH_KEY_PREFIX}${model}/${version}`;
}

export function encodeHealthRecord(r: HealthRecord): Uint8Array {
  const reason = new TextEncoder().encode(r.reason);
  const out = new Uint8Array(14 + reason.length + 8);
  const view = new DataView(out.buffer);
  view.setUint8(0, 2);
  view.setBigUint64(14 + reason.length, r.freshUntilMs ?? 0n, true);
  view.setUint8(1, STATES.indexOf(r.state));
  view.setUint16(2, r.rampPermyriad, true);
  view.setBigUint64(4, r.sinceMs, true);
  view.setUint16(12, reason.length, true);
  out.set(reason, 14);
  return out;
}

/** Null for anything the format calls malformed (the router then treats the version as unknown). */
export function decodeHealthRecord(bytes: Uint8Array): HealthRecord | null {
  if (bytes.length < 14) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = view.getUint8(0);
  const state = view.getUint8(1);
  const ramp = view.getUint16(2, true);
  const reasonLen = view.getUint16(12, true);
  if (format === 0 || state > 4 || ramp > 10_000 || reasonLen > 1024 || 14 + reasonLen > bytes.length) return null;
  const end = 14 + reasonLen;
  if (format === 1 && end !== bytes.length) return null;
  if (format === 2 && end + 8 !== bytes.length) return null;
  if (format > 2 && end + 8 > bytes.length) return null;
  return {
    state: STATES[state],
    sinceMs: view.getBigUint64(4, true),
    rampPermyriad: ramp,
    reason: new TextDecoder().decode(bytes.subarray(14, end)),
    // Left out when 0 (format 1, or a record that stands for ever), so such records compare as before.
    ...(format >= 2 && view.getBigUint64(end, true) !== 0n ? { freshUntilMs: view.getBigUint64(end, true) } : {}),
  };
}
