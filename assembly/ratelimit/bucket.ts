// Token-bucket arithmetic, exact in integers, with time as an input (no host calls).
//
// A level is kept in 1/60,000 of a unit (a request or an LLM token), so that a rate of P units
// per minute refills exactly P level units per millisecond: no rounding ever accumulates, and
// what a bucket admits over any span of time is at most `burst + P × span / 60,000` units,
// whoever updates it and however often. Levels may go below zero (debt: a response used more
// tokens than were reserved) down to minus the capacity.

/** Level units per unit (milliseconds per minute). */
export const UNIT: i64 = 60_000;
/** Largest rate per minute and burst a limit may have (keeps every level within i64). */
export const MAX_LIMIT: i64 = 1_000_000_000_000;

/** One dimension's limit: `perMinute` units refilled per minute, at most `burst` held. */
export class Limit {
  /** Level when full: burst × UNIT. */
  readonly capacity: i64;

  constructor(
    public readonly perMinute: i64,
    public readonly burst: i64,
  ) {
    this.capacity = burst * UNIT;
  }

  /** The level after `elapsedMs` of refill from `level` (never above the capacity). */
  refill(level: i64, elapsedMs: i64): i64 {
    const cap = this.capacity;
    if (level >= cap) return cap;
    if (elapsedMs <= 0) return level;
    const need = cap - level;
    // elapsed × perMinute < need here, so the product cannot overflow.
    if (elapsedMs >= ceilDiv(need, this.perMinute)) return cap;
    return level + elapsedMs * this.perMinute;
  }

  /** Milliseconds until `level` refills to `target` (0 when it is there; -1 if never: above the capacity). */
  msUntil(level: i64, target: i64): i64 {
    if (level >= target) return 0;
    if (target > this.capacity) return -1;
    return ceilDiv(target - level, this.perMinute);
  }

  /** Milliseconds until the bucket is full again. */
  msUntilFull(level: i64): i64 {
    return this.msUntil(level, this.capacity);
  }

  /** `level` plus `delta` level units, kept within [-capacity, capacity]. */
  add(level: i64, delta: i64): i64 {
    const cap = this.capacity;
    // |level| and |delta| stay far below 2^62, so the sum cannot overflow.
    const sum = level + delta;
    return sum > cap ? cap : sum < -cap ? -cap : sum;
  }
}

/** Whole units in `level` (0 for a level in debt). */
export function wholeUnits(level: i64): i64 {
  return level <= 0 ? 0 : level / UNIT;
}

/** ceil(a / b) for a >= 0, b > 0. */
export function ceilDiv(a: i64, b: i64): i64 {
  return (a + b - 1) / b;
}
