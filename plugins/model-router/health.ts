// Per-worker cache of the warmup-health records (assembly/health/record.ts) of every configured
// version. A request reads its model's entry; the entry is re-read from shared data when a tick
// (every `health_refresh_ms`, on each worker) has marked it stale, or on every request when that
// is 0. So the usual request costs neither a shared-data read nor a clock read (with 0, a read
// of each version's record and of the clock for its deadline), and a state change reaches every
// worker's next request at most one refresh interval after it is written.

import { getSharedData, nowMillis, WasmResult } from "../../assembly/index";
import { decodeHealthRecord, healthKey, HealthState, RAMP_SCALE } from "../../assembly/health/record";
import { ModelEntry, Readiness } from "./resolve";

/** What the cache knows about one version; an absent record reads as ready or unknown per `absent_state_ready`. */
export class VersionHealth {
  state: HealthState = HealthState.Unknown;
  constructor(public readonly key: string, public readiness: Readiness) {}
}

export class HealthCache {
  private versions: VersionHealth[][] = [];
  private readiness: Readiness[][] = [];
  private fresh: bool[] = [];

  constructor(models: ModelEntry[], private absentReady: bool, private refreshMs: u32) {
    for (let m = 0; m < models.length; m++) {
      const model = unchecked(models[m]);
      const row = new Array<VersionHealth>();
      const ready = new Array<Readiness>();
      for (let v = 0; v < model.versions.length; v++) {
        const r = new Readiness(absentReady, RAMP_SCALE);
        row.push(new VersionHealth(healthKey(model.name, unchecked(model.versions[v]).name), r));
        ready.push(r);
      }
      this.versions.push(row);
      this.readiness.push(ready);
      this.fresh.push(false);
    }
  }

  /** The tick period the cache needs (ms; 0: no ticks, every request reads). */
  get tickPeriodMs(): u32 {
    return this.refreshMs;
  }

  /** At a tick: every entry is read again at its model's next request. */
  markStale(): void {
    const fresh = this.fresh;
    for (let m = 0; m < fresh.length; m++) unchecked((fresh[m] = false));
  }

  /** Readiness of model `m`'s versions (by version index), read again when stale. */
  readinessOf(m: i32): Readiness[] {
    if (m < 0 || m >= this.readiness.length) return new Array<Readiness>();
    this.refreshIfStale(m);
    return unchecked(this.readiness[m]);
  }

  /** Full health of model `m`'s versions, read again when stale. */
  healthOf(m: i32): VersionHealth[] {
    if (m < 0 || m >= this.versions.length) return new Array<VersionHealth>();
    this.refreshIfStale(m);
    return unchecked(this.versions[m]);
  }

  private refreshIfStale(m: i32): void {
    if (unchecked(this.fresh[m])) return;
    const row = unchecked(this.versions[m]);
    for (let v = 0; v < row.length; v++) this.load(unchecked(row[v]));
    // With no refresh interval there are no ticks: every request reads.
    unchecked((this.fresh[m] = this.refreshMs > 0));
  }

  private load(entry: VersionHealth): void {
    const shared = getSharedData(entry.key);
    const r = entry.readiness;
    // A record past its deadline is one nobody renews any more (its target was removed, its
    // prober is gone): the version reads as if it had none.
    const record = shared.found && shared.value.byteLength > 0 ? decodeHealthRecord(shared.value) : null;
    const lapsed = record !== null && record.freshUntilMs != 0 && !record.standsAt(nowMillis());
    if (shared.status == WasmResult.NotFound || (shared.found && shared.value.byteLength == 0) || lapsed) {
      entry.state = this.absentReady ? HealthState.Ready : HealthState.Unknown;
      r.ready = this.absentReady;
      r.rampPermyriad = RAMP_SCALE;
      return;
    }
    // A malformed record, or a host error, reads as unknown: not ready.
    if (record === null) {
      entry.state = HealthState.Unknown;
      r.ready = false;
      r.rampPermyriad = 0;
      return;
    }
    entry.state = record.state;
    r.ready = record.state == HealthState.Ready;
    r.rampPermyriad = record.rampPermyriad;
  }
}
