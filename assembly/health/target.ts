// The per-target record of warmup-health: the full state of one probed target (a model version
// at one Envoy cluster), kept in shared data so that whichever worker holds the probing lease
// continues where the last one stopped, and every worker can answer the health endpoints. The
// router never reads it; it reads the per-version record (record.ts) that warmup-health derives
// from the targets of a version.
//
// Key: `aigw/warmup-health/target/<model>/<version>@<cluster>`. Model names contain no '@' and
// version names no '/' or '@', so two different targets never share a key.
//
// Binary layout, little-endian, 42 bytes plus the reason:
//   offset 0   u8   format        1 (readers accept any format >= 1; later formats only append
//                                 before the reason, and say where the reason starts)
//   offset 1   u8   state         as record.ts: 0 unknown, 1 loading, 2 warming, 3 ready, 4 failing
//   offset 2   u16  ramp          published ramp in 1/10,000 (0..10,000)
//   offset 4   u64  since_ms      wall-clock ms when the state was entered (0: never probed)
//   offset 12  u64  next_due_ms   when the next probe or warmup request is due
//   offset 20  u64  checked_ms    when the last probe or warmup answer arrived (0: none yet)
//   offset 28  u32  latency_ms    latency of that answer
//   offset 32  u16  successes     consecutive successful probes (failing -> ready hysteresis)
//   offset 34  u16  failures      consecutive failed probes or warmup requests
//   offset 36  u16  warmup_done   warmup requests passed in the current round
//   offset 38  u8   flags         bit 0 RAMPS: the target was seen not serving (loading, failing)
//                                 since it last ramped fully in, so being ready ramps it in
//   offset 39  u8   reserved      0
//   offset 40  u16  reason_len    bytes of reason (<= MAX_REASON_BYTES)
//   offset 42  reason_len bytes   UTF-8 reason, free text
// An empty value means "no record". Anything shorter, with format 0, an unknown state, a ramp over
// 10,000 or a reason running past the end is malformed and decodes to null.

import { HealthState, MAX_REASON_BYTES, RAMP_SCALE } from "./record";

export const TARGET_KEY_PREFIX = "aigw/warmup-health/target/";
export const TARGET_FORMAT: u8 = 1;
export const TARGET_HEADER_BYTES: i32 = 42;
/** flags bit 0: ready ramps in from 0 (see the layout above). */
export const FLAG_RAMPS: u32 = 1;

export class TargetRecord {
  state: HealthState = HealthState.Unknown;
  rampPermyriad: u32 = 0;
  sinceMs: u64 = 0;
  nextDueMs: u64 = 0;
  checkedMs: u64 = 0;
  latencyMs: u32 = 0;
  successes: u32 = 0;
  failures: u32 = 0;
  warmupDone: u32 = 0;
  flags: u32 = 0;
  reason: string = "";

  clone(): TargetRecord {
    const r = new TargetRecord();
    r.state = this.state;
    r.rampPermyriad = this.rampPermyriad;
    r.sinceMs = this.sinceMs;
    r.nextDueMs = this.nextDueMs;
    r.checkedMs = this.checkedMs;
    r.latencyMs = this.latencyMs;
    r.successes = this.successes;
    r.failures = this.failures;
    r.warmupDone = this.warmupDone;
    r.flags = this.flags;
    r.reason = this.reason;
    return r;
  }
}

/** Shared-data key of one target's record. */
export function targetKey(model: string, version: string, cluster: string): string {
  return TARGET_KEY_PREFIX + model + "/" + version + "@" + cluster;
}

export const OWNER_KEY_PREFIX = "aigw/warmup-health/owner/";

/**
 * Shared-data key naming which configuration probes one target: its value is that
 * configuration's lease digest (16 hex digits, lease.ts), so two configurations that list the
 * same target (two listeners, or the old and new configuration while Envoy drains a listener)
 * do not both probe it. Empty or absent: nobody yet.
 */
export function ownerKey(model: string, version: string, cluster: string): string {
  return OWNER_KEY_PREFIX + model + "/" + version + "@" + cluster;
}

export const VERSION_OWNER_KEY_PREFIX = "aigw/warmup-health/version-owner/";

/**
 * Shared-data key naming which configuration writes one version's record (its lease digest, as
 * `ownerKey`): two configurations that list other targets for one version (an update that moves
 * it to another cluster, while Envoy drains the old listener) would otherwise each write their
 * own view of it, in turn.
 */
export function versionOwnerKey(model: string, version: string): string {
  return VERSION_OWNER_KEY_PREFIX + model + "/" + version;
}

/** Encodes a record; counters saturate at 65,535 and a long reason is cut at a character boundary. */
export function encodeTargetRecord(r: TargetRecord): ArrayBuffer {
  let reason = String.UTF8.encode(r.reason);
  if (reason.byteLength > MAX_REASON_BYTES) reason = cutUtf8(reason, MAX_REASON_BYTES);
  const out = new ArrayBuffer(TARGET_HEADER_BYTES + reason.byteLength);
  const base = changetype<usize>(out);
  store<u8>(base, TARGET_FORMAT);
  store<u8>(base, <u8>(<u32>r.state <= 4 ? <u32>r.state : 0), 1);
  store<u16>(base, <u16>min<u32>(r.rampPermyriad, RAMP_SCALE), 2);
  store<u64>(base, r.sinceMs, 4);
  store<u64>(base, r.nextDueMs, 12);
  store<u64>(base, r.checkedMs, 20);
  store<u32>(base, r.latencyMs, 28);
  store<u16>(base, <u16>min<u32>(r.successes, 0xffff), 32);
  store<u16>(base, <u16>min<u32>(r.failures, 0xffff), 34);
  store<u16>(base, <u16>min<u32>(r.warmupDone, 0xffff), 36);
  store<u8>(base, <u8>(r.flags & 0xff), 38);
  store<u8>(base, 0, 39);
  store<u16>(base, <u16>reason.byteLength, 40);
  memory.copy(base + <usize>TARGET_HEADER_BYTES, changetype<usize>(reason), <usize>reason.byteLength);
  return out;
}

/** Decodes a record; null when `bytes` is empty or malformed. */
export function decodeTargetRecord(bytes: ArrayBuffer): TargetRecord | null {
  const size = bytes.byteLength;
  if (size < TARGET_HEADER_BYTES) return null;
  const base = changetype<usize>(bytes);
  const format = load<u8>(base);
  const state = <u32>load<u8>(base, 1);
  const ramp = <u32>load<u16>(base, 2);
  const reasonLen = <i32>load<u16>(base, 40);
  if (format == 0 || state > 4 || ramp > RAMP_SCALE) return null;
  if (reasonLen > MAX_REASON_BYTES || TARGET_HEADER_BYTES + reasonLen > size) return null;
  if (format == TARGET_FORMAT && TARGET_HEADER_BYTES + reasonLen != size) return null;
  const r = new TargetRecord();
  r.state = <HealthState>state;
  r.rampPermyriad = ramp;
  r.sinceMs = load<u64>(base, 4);
  r.nextDueMs = load<u64>(base, 12);
  r.checkedMs = load<u64>(base, 20);
  r.latencyMs = load<u32>(base, 28);
  r.successes = <u32>load<u16>(base, 32);
  r.failures = <u32>load<u16>(base, 34);
  r.warmupDone = <u32>load<u16>(base, 36);
  r.flags = <u32>load<u8>(base, 38);
  r.reason = String.UTF8.decodeUnsafe(base + <usize>TARGET_HEADER_BYTES, <usize>reasonLen);
  return r;
}

/** The first `max` bytes of UTF-8 text or fewer, never splitting a character. */
function cutUtf8(bytes: ArrayBuffer, max: i32): ArrayBuffer {
  let end = max;
  while (end > 0 && (load<u8>(changetype<usize>(bytes) + <usize>end) & 0xc0) == 0x80) end--;
  return bytes.slice(0, end);
}
