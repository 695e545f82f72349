// The filter's Envoy stats, defined in onConfigure. Labels are `.<label>=<value>` name segments
// (bootstrap `stats_tags` turn them into tags); values come from the configuration (model,
// version, cluster) and fixed lists (states, reasons), never from a request or an answer, so the
// number of stats is fixed by the configuration. Stats are process-wide: only the lease holder
// counts probes, and gauges are set to the published state, so every worker agrees.

import { Metric, defineCounter, metricLabel, defineGauge, defineHistogram } from "../../assembly/index";
import { HealthState } from "../../assembly/health/record";
import { HealthConfig } from "./config";
import { REASON_NAMES, Reason } from "./probe";

export const PREFIX = "warmup_health.";

export const STATE_NAMES: string[] = ["unknown", "loading", "warming", "ready", "failing"];

/** Results a warmup request can have (the others never come from a warmup request). */
export const WARMUP_RESULTS: Reason[] = [Reason.Ok, Reason.Slow, Reason.Status, Reason.Timeout, Reason.Reset, Reason.Refused];

/** Statuses the endpoints answer with. */
export const ENDPOINT_STATUSES: u32[] = [200, 404, 405, 503];

export class HealthMetrics {
  /** [target][state]: 1 while the target is in that state, else 0. */
  targetState: Metric[][] = [];
  /** [target]: the published ramp in 1/10,000. */
  ramp: Metric[] = [];
  /** [target]: latency of the last probe or warmup answer, ms. */
  latency: Metric[] = [];
  probeSuccesses: Metric;
  /** By Reason (failure reasons; Ok and Slow keep a placeholder). */
  probeFailures: Metric[] = [];
  /** By Reason (WARMUP_RESULTS only; others keep a placeholder). */
  warmupRequests: Metric[] = [];
  /** From entering warming to ready, ms. */
  warmupMs: Metric;
  /** By HealthState: transitions into that state. */
  transitions: Metric[] = [];
  leaseTakeovers: Metric;
  /** By ENDPOINT_STATUSES index. */
  endpointRequests: Metric[] = [];

  constructor(cfg: HealthConfig) {
    this.probeSuccesses = defineCounter(PREFIX + "probe_successes");
    this.warmupMs = defineHistogram(PREFIX + "warmup_ms");
    this.leaseTakeovers = defineCounter(PREFIX + "lease_takeovers");
    for (let i = 0; i < cfg.targets.length; i++) {
      const t = unchecked(cfg.targets[i]);
      const labels = ".model=" + metricLabel(t.model) + ".version=" + metricLabel(t.versionName) + ".cluster=" + metricLabel(t.cluster);
      const row = new Array<Metric>();
      for (let s = 0; s < STATE_NAMES.length; s++) row.push(defineGauge(PREFIX + "target_state" + labels + ".state=" + unchecked(STATE_NAMES[s])));
      this.targetState.push(row);
      this.ramp.push(defineGauge(PREFIX + "ramp" + labels));
      this.latency.push(defineGauge(PREFIX + "latency_ms" + labels));
    }
    for (let r = 0; r < REASON_NAMES.length; r++) {
      const failure = r != <i32>Reason.Ok && r != <i32>Reason.Slow;
      this.probeFailures.push(failure ? defineCounter(PREFIX + "probe_failures.reason=" + unchecked(REASON_NAMES[r])) : this.probeSuccesses);
      const warmup = WARMUP_RESULTS.includes(<Reason>r);
      this.warmupRequests.push(warmup ? defineCounter(PREFIX + "warmup_requests.result=" + unchecked(REASON_NAMES[r])) : this.probeSuccesses);
    }
    for (let s = 0; s < STATE_NAMES.length; s++) this.transitions.push(defineCounter(PREFIX + "transitions.to=" + unchecked(STATE_NAMES[s])));
    for (let i = 0; i < ENDPOINT_STATUSES.length; i++) {
      this.endpointRequests.push(defineCounter(PREFIX + "endpoint_requests.status=" + unchecked(ENDPOINT_STATUSES[i]).toString()));
    }
  }

  probed(reason: Reason): void {
    if (reason == Reason.Ok) {
      this.probeSuccesses.increment(1);
      return;
    }
    const r = <i32>reason;
    if (r > 0 && r < this.probeFailures.length && reason != Reason.Slow) unchecked(this.probeFailures[r]).increment(1);
  }

  warmedUp(reason: Reason): void {
    const r = <i32>reason;
    if (r >= 0 && r < this.warmupRequests.length && WARMUP_RESULTS.includes(reason)) unchecked(this.warmupRequests[r]).increment(1);
  }

  entered(state: HealthState): void {
    const s = <i32>state;
    if (s >= 0 && s < this.transitions.length) unchecked(this.transitions[s]).increment(1);
  }

  /** Sets target `i`'s gauges to its published state. */
  show(i: i32, state: HealthState, rampPermyriad: u32, latencyMs: u32): void {
    if (i < 0 || i >= this.targetState.length) return;
    const row = unchecked(this.targetState[i]);
    for (let s = 0; s < row.length; s++) unchecked(row[s]).record(s == <i32>state ? 1 : 0);
    unchecked(this.ramp[i]).record(rampPermyriad);
    unchecked(this.latency[i]).record(latencyMs);
  }

  answered(status: u32): void {
    const i = ENDPOINT_STATUSES.indexOf(status);
    if (i >= 0) unchecked(this.endpointRequests[i]).increment(1);
  }
}

