// The per-target state machine and probe schedule. Pure: it works on a TargetRecord (the state
// kept in shared data) with the time passed in, so tables of cases test it with a fake clock.
//
//   unknown ──probe fails──▶ loading ──probe passes──▶ warming ──warmup passes──▶ ready
//      └──────────probe passes (no warmup: straight to ready)─────────────────────▲  │
//   ready ──N consecutive failures──▶ failing ──M consecutive passes──▶ warming / ready
//   warming ──N consecutive failed warmup requests──▶ loading
//
// As Envoy's active health checks do, one passing probe is enough at start (unknown, loading);
// `healthy_threshold` applies when coming back from failing.
//
// Ramp: a target that was seen not serving (loading, or failing) ramps in when it becomes ready:
// the ramp grows from 0 to 1 over `ramp_ms` from entering ready. A target found ready by its first
// probe (Envoy or the configuration started while the server was already serving) is fully ramped
// at once: it did not just start, and ramping every version from 0 at a gateway restart would
// push traffic onto fallbacks that may be starting too.

import { HealthRecord, HealthState, RAMP_SCALE, rampToPermyriad } from "../../assembly/health/record";
import { FLAG_RAMPS, TargetRecord } from "../../assembly/health/target";
import { Target } from "./config";
import { Outcome, Reason } from "./probe";

/** What is due for a target. */
export enum Work { None, Probe, Warmup }

/** What applying an answer did (for metrics and logs). */
export class Step {
  /** The state before. */
  from: HealthState = HealthState.Unknown;
  /** The state after (equal to `from` when it did not change). */
  to: HealthState = HealthState.Unknown;
  /** Milliseconds spent warming when this answer made the target ready after warmup; -1 otherwise. */
  warmupMs: i64 = -1;

  get changed(): bool {
    return this.from != this.to;
  }
}

/** A target nobody has probed yet: unknown, due at once. */
export function newRecord(): TargetRecord {
  const r = new TargetRecord();
  r.reason = "not probed yet";
  return r;
}

/** The work due for `r` at `nowMs`. */
export function dueWork(r: TargetRecord, t: Target, nowMs: u64): Work {
  if (nowMs < r.nextDueMs) return Work.None;
  return r.state == HealthState.Warming && t.warmup !== null ? Work.Warmup : Work.Probe;
}

/** Applies the outcome of a readiness probe answered at `nowMs` after `latencyMs`. */
export function applyProbe(r: TargetRecord, t: Target, o: Outcome, latencyMs: u32, nowMs: u64): Step {
  const step = new Step();
  step.from = r.state;
  step.to = r.state;
  // Warming runs warmup requests, not probes: a late probe answer changes nothing. Unless this
  // configuration has no warmup: it took over a target that another one (an older configuration,
  // another listener's) left warming, and probes it as loading.
  if (r.state == HealthState.Warming && t.warmup !== null) return step;
  r.checkedMs = nowMs;
  r.latencyMs = latencyMs;
  r.nextDueMs = nowMs + <u64>t.intervalMs;
  switch (r.state) {
    case HealthState.Unknown:
    case HealthState.Loading:
    case HealthState.Warming:
      if (o.ok) {
        passed(r, t, nowMs, o.detail);
      } else {
        if (r.state != HealthState.Loading) enter(r, HealthState.Loading, nowMs, t);
        r.failures = sat(r.failures + 1);
        r.reason = o.detail;
      }
      break;
    case HealthState.Ready:
      if (o.ok) {
        r.failures = 0;
        r.reason = o.detail;
      } else {
        r.failures = sat(r.failures + 1);
        if (r.failures >= t.unhealthyThreshold) {
          enter(r, HealthState.Failing, nowMs, t);
          r.reason = o.detail;
        } else {
          r.reason = "failure " + r.failures.toString() + " of " + t.unhealthyThreshold.toString() + ": " + o.detail;
        }
      }
      break;
    case HealthState.Failing:
      if (o.ok) {
        r.successes = sat(r.successes + 1);
        if (r.successes >= t.healthyThreshold) passed(r, t, nowMs, o.detail);
        else r.reason = "pass " + r.successes.toString() + " of " + t.healthyThreshold.toString() + ": " + o.detail;
      } else {
        r.successes = 0;
        r.reason = o.detail;
      }
      break;
  }
  step.to = r.state;
  return step;
}

/** Applies the outcome of warmup request number `r.warmupDone` answered at `nowMs`. */
export function applyWarmup(r: TargetRecord, t: Target, o: Outcome, latencyMs: u32, nowMs: u64): Step {
  const step = new Step();
  step.from = r.state;
  step.to = r.state;
  const warmup = t.warmup;
  if (r.state != HealthState.Warming || warmup === null) return step;
  r.checkedMs = nowMs;
  r.latencyMs = latencyMs;
  const total = warmup.total;
  if (o.ok) {
    r.failures = 0;
    r.warmupDone = sat(r.warmupDone + 1);
    if (r.warmupDone >= total) {
      const warmingSince = r.sinceMs;
      enter(r, HealthState.Ready, nowMs, t);
      r.reason = "warmed up: " + total.toString() + " of " + total.toString() + " requests within " + warmup.maxLatencyMs.toString() + " ms";
      r.nextDueMs = nowMs + <u64>t.intervalMs;
      step.warmupMs = nowMs >= warmingSince ? <i64>(nowMs - warmingSince) : 0;
    } else {
      r.reason = "warmup " + r.warmupDone.toString() + " of " + total.toString() + ": " + o.detail;
      r.nextDueMs = nowMs;
    }
  } else if (o.reason == Reason.Slow) {
    // Slow is not a failure: the server answers, it is just not warm yet. The round starts over.
    r.warmupDone = 0;
    r.reason = o.detail;
    r.nextDueMs = nowMs + <u64>t.intervalMs;
  } else {
    r.warmupDone = 0;
    r.failures = sat(r.failures + 1);
    r.nextDueMs = nowMs + <u64>t.intervalMs;
    if (r.failures >= t.unhealthyThreshold) {
      enter(r, HealthState.Loading, nowMs, t);
      r.reason = o.detail;
    } else {
      r.reason = "failure " + r.failures.toString() + " of " + t.unhealthyThreshold.toString() + ": " + o.detail;
    }
  }
  step.to = r.state;
  return step;
}

/** Sets the ramp of a ready target for `nowMs`; true when the record changed. */
export function refreshRamp(r: TargetRecord, t: Target, nowMs: u64): bool {
  const ramp = r.state == HealthState.Ready ? rampOf(r, t, nowMs) : 0;
  // Fully ramped in: a later ready (after loading or failing) ramps again from 0.
  const flags = r.state == HealthState.Ready && ramp >= RAMP_SCALE ? r.flags & ~FLAG_RAMPS : r.flags;
  if (ramp == r.rampPermyriad && flags == r.flags) return false;
  r.rampPermyriad = ramp;
  r.flags = flags;
  return true;
}

/** The ramp of ready target `r` at `nowMs`: from 0 over ramp_ms if it ramps, else full. */
function rampOf(r: TargetRecord, t: Target, nowMs: u64): u32 {
  return (r.flags & FLAG_RAMPS) != 0 ? rampAt(r.sinceMs, t.rampMs, nowMs) : RAMP_SCALE;
}

/** The ramp (1/10,000) `nowMs` into a ramp that started at `sinceMs` and lasts `rampMs`. */
export function rampAt(sinceMs: u64, rampMs: u32, nowMs: u64): u32 {
  if (rampMs == 0) return RAMP_SCALE;
  if (nowMs <= sinceMs) return 0;
  return rampToPermyriad(<f64>(nowMs - sinceMs) / <f64>rampMs);
}

/** The probe passed where it moves the target on: to warming (with warmup) or ready. */
function passed(r: TargetRecord, t: Target, nowMs: u64, detail: string): void {
  if (t.warmup !== null) {
    enter(r, HealthState.Warming, nowMs, t);
    r.reason = "ready, warming up: " + detail;
    // The first warmup request goes out at once.
    r.nextDueMs = nowMs;
  } else {
    enter(r, HealthState.Ready, nowMs, t);
    r.reason = detail;
  }
}

function enter(r: TargetRecord, state: HealthState, nowMs: u64, t: Target): void {
  r.state = state;
  r.sinceMs = nowMs;
  r.successes = 0;
  r.failures = 0;
  r.warmupDone = 0;
  if (state == HealthState.Loading || state == HealthState.Failing) r.flags |= FLAG_RAMPS;
  r.rampPermyriad = state == HealthState.Ready ? rampOf(r, t, nowMs) : 0;
}

function sat(n: u32): u32 {
  return n > 0xffff ? 0xffff : n;
}

/** How far along a state is, for picking a version's representative target. */
function rank(state: HealthState): i32 {
  switch (state) {
    case HealthState.Ready: return 4;
    case HealthState.Warming: return 3;
    case HealthState.Loading: return 2;
    case HealthState.Failing: return 1;
    default: return 0;
  }
}

/**
 * A version's record from its targets' records (in config order; null: no record yet): the
 * furthest state any of its targets is in (ready, warming, loading, failing, unknown), the largest
 * ramp among its ready targets, and that target's since and reason. With several targets the
 * reason names the target's cluster and how many are ready: the version takes traffic while any
 * endpoint is ready; Envoy balances within its cluster.
 */
export function versionRecord(records: Array<TargetRecord | null>, clusters: string[]): HealthRecord {
  let best: TargetRecord | null = null;
  let bestAt = -1;
  let ready = 0;
  for (let i = 0; i < records.length; i++) {
    const r = unchecked(records[i]);
    if (r === null) continue;
    if (r.state == HealthState.Ready) ready++;
    if (best === null) {
      best = r;
      bestAt = i;
      continue;
    }
    const b = best as TargetRecord;
    const better = rank(r.state) > rank(b.state) ||
      (r.state == HealthState.Ready && b.state == HealthState.Ready && r.rampPermyriad > b.rampPermyriad);
    if (better) {
      best = r;
      bestAt = i;
    }
  }
  if (best === null) return new HealthRecord(HealthState.Unknown, 0, 0, "not probed yet");
  const b = best as TargetRecord;
  let reason = b.reason;
  if (records.length > 1) reason = ready.toString() + " of " + records.length.toString() + " targets ready; " + unchecked(clusters[bestAt]) + ": " + reason;
  return new HealthRecord(b.state, b.sinceMs, b.state == HealthState.Ready ? b.rampPermyriad : 0, reason);
}
