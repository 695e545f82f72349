// The per-version health record that warmup-health publishes in shared data and model-router
// reads. One record per model version under `aigw/warmup-health/state/<model>/<version>` (a
// version name never contains '/', so the last segment is always the version).
//
// Binary layout, little-endian, 14 bytes plus the reason, plus 8 from format 2:
//   offset 0   u8   format       2 (readers accept any format >= 1; later formats only append)
//   offset 1   u8   state        0 unknown, 1 loading, 2 warming, 3 ready, 4 failing
//   offset 2   u16  ramp         ramp fraction in 1/10,000 (0..10,000; 10,000 = fully ramped)
//   offset 4   u64  since_ms     wall-clock ms since the epoch when the state was entered
//   offset 12  u16  reason_len   bytes of reason (<= MAX_REASON_BYTES)
//   offset 14  reason_len bytes  UTF-8 reason, free text
//   then       u64  fresh_until_ms  (format >= 2) wall-clock ms after which the record no longer
//                                   stands: its prober renews it well before, so a record nobody
//                                   renews (its target gone from the configuration, its prober
//                                   gone) stops steering the router. 0: stands for ever (format 1,
//                                   records written by hand or by tests).
// Format 1 records (14 bytes plus the reason) are still read, as standing for ever.
// An empty value means "no record" (shared data has no delete, so a publisher frees a key by
// writing ""). Anything shorter, with format 0, an unknown state, a ramp over 10,000 or a reason
// running past the end is malformed and decodes to null.

export const HEALTH_KEY_PREFIX = "aigw/warmup-health/state/";
export const HEALTH_FORMAT: u8 = 2;
/** Bytes format 2 appends after the reason (fresh_until_ms). */
export const HEALTH_TRAILER_BYTES: i32 = 8;
export const HEALTH_HEADER_BYTES: i32 = 14;
export const RAMP_SCALE: u32 = 10_000;
export const MAX_REASON_BYTES: i32 = 1024;

export enum HealthState {
  Unknown = 0,
  Loading = 1,
  Warming = 2,
  Ready = 3,
  Failing = 4,
}

export class HealthRecord {
  constructor(
    public state: HealthState = HealthState.Unknown,
    public sinceMs: u64 = 0,
    /** Ramp in 1/10,000 (RAMP_SCALE is fully ramped). */
    public rampPermyriad: u32 = RAMP_SCALE,
    public reason: string = "",
    /** Wall-clock ms after which the record no longer stands; 0: for ever. */
    public freshUntilMs: u64 = 0,
  ) {}

  /** Whether the record still stands at `nowMs` (its prober renewed it in time). */
  standsAt(nowMs: u64): bool {
    return this.freshUntilMs == 0 || nowMs <= this.freshUntilMs;
  }

  /** Ramp as a fraction 0..1. */
  get ramp(): f64 {
    return <f64>this.rampPermyriad / <f64>RAMP_SCALE;
  }
}

/** Shared-data key of one version's record. */
export function healthKey(model: string, version: string): string {
  return HEALTH_KEY_PREFIX + model + "/" + version;
}

/** Lower-case name of a state ("unknown", "loading", "warming", "ready", "failing"). */
export function healthStateName(state: HealthState): string {
  switch (state) {
    case HealthState.Loading: return "loading";
    case HealthState.Warming: return "warming";
    case HealthState.Ready: return "ready";
    case HealthState.Failing: return "failing";
    default: return "unknown";
  }
}

/** The state named `name`, or -1. */
export function parseHealthState(name: string): i32 {
  if (name == "unknown") return HealthState.Unknown;
  if (name == "loading") return HealthState.Loading;
  if (name == "warming") return HealthState.Warming;
  if (name == "ready") return HealthState.Ready;
  if (name == "failing") return HealthState.Failing;
  return -1;
}

/** Ramp fraction (clamped to 0..1, NaN as 0) to 1/10,000, rounded to nearest. */
export function rampToPermyriad(fraction: f64): u32 {
  if (!(fraction > 0)) return 0;
  if (fraction >= 1) return RAMP_SCALE;
  return <u32>Math.round(fraction * <f64>RAMP_SCALE);
}

/** Encodes a record; a reason longer than MAX_REASON_BYTES is cut at a character boundary. */
export function encodeHealthRecord(record: HealthRecord): ArrayBuffer {
  let reason = String.UTF8.encode(record.reason);
  if (reason.byteLength > MAX_REASON_BYTES) reason = truncateUtf8(reason, MAX_REASON_BYTES);
  const out = new ArrayBuffer(HEALTH_HEADER_BYTES + reason.byteLength + HEALTH_TRAILER_BYTES);
  const base = changetype<usize>(out);
  store<u8>(base, HEALTH_FORMAT);
  store<u64>(base + <usize>(HEALTH_HEADER_BYTES + reason.byteLength), record.freshUntilMs);
  store<u8>(base, <u8>(<u32>record.state <= 4 ? <u32>record.state : 0), 1);
  store<u16>(base, <u16>min<u32>(record.rampPermyriad, RAMP_SCALE), 2);
  store<u64>(base, record.sinceMs, 4);
  store<u16>(base, <u16>reason.byteLength, 12);
  memory.copy(base + <usize>HEALTH_HEADER_BYTES, changetype<usize>(reason), <usize>reason.byteLength);
  return out;
}

/** Decodes a record; null when `bytes` is empty or malformed. */
export function decodeHealthRecord(bytes: ArrayBuffer): HealthRecord | null {
  const size = bytes.byteLength;
  if (size < HEALTH_HEADER_BYTES) return null;
  const base = changetype<usize>(bytes);
  const format = load<u8>(base);
  const state = <u32>load<u8>(base, 1);
  const ramp = <u32>load<u16>(base, 2);
  const since = load<u64>(base, 4);
  const reasonLen = <i32>load<u16>(base, 12);
  if (format == 0 || state > 4 || ramp > RAMP_SCALE) return null;
  if (reasonLen > MAX_REASON_BYTES || HEALTH_HEADER_BYTES + reasonLen > size) return null;
  const end = HEALTH_HEADER_BYTES + reasonLen;
  if (format == 1 && end != size) return null;
  if (format == HEALTH_FORMAT && end + HEALTH_TRAILER_BYTES != size) return null;
  if (format > HEALTH_FORMAT && end + HEALTH_TRAILER_BYTES > size) return null;
  const freshUntil = format >= 2 ? load<u64>(base + <usize>end) : 0;
  const reason = String.UTF8.decodeUnsafe(base + <usize>HEALTH_HEADER_BYTES, <usize>reasonLen);
  return new HealthRecord(<HealthState>state, since, ramp, reason, freshUntil);
}

/** The first `max` bytes of UTF-8 text or fewer, never splitting a character. */
function truncateUtf8(bytes: ArrayBuffer, max: i32): ArrayBuffer {
  let end = max;
  // Back up over continuation bytes (10xxxxxx) so the cut lands before a character's first byte.
  while (end > 0 && (load<u8>(changetype<usize>(bytes) + <usize>end) & 0xc0) == 0x80) end--;
  return bytes.slice(0, end);
}
