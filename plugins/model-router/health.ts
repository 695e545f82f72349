// Per-worker cache of the warmup-health records (assembly/health/record.ts) of every configured
// version. A request reads its model's entry; the entry is re-read from shared data only when it
// is older than `health_refresh_ms`, so the usual request costs one clock read and no shared-data
// read. Each worker VM keeps its own cache, so a state change reaches every worker within one
// refresh interval after its next request.

import { getSharedData, WasmResult } from "../../assembly/index";
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
  private refreshedAt: u64[] = [];
  private fresh: bool[] = [];

  constructor(models: ModelEntry[], private absentReady: bool, private refreshMs: u64) {
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
      this.refreshedAt.push(0);
      this.fresh.push(false);
    }
  }

  /** Readiness of model `m`'s versions (by version index), refreshed when stale at `nowMs`. */
  readinessOf(m: i32, nowMs: u64): Readiness[] {
    if (m < 0 || m >= this.readiness.length) return new Array<Readiness>();
    this.refreshIfStale(m, nowMs);
    return unchecked(this.readiness[m]);
  }

  /** Full health of model `m`'s versions, refreshed when stale. */
  healthOf(m: i32, nowMs: u64): VersionHealth[] {
    if (m < 0 || m >= this.versions.length) return new Array<VersionHealth>();
    this.refreshIfStale(m, nowMs);
    return unchecked(this.versions[m]);
  }

  private refreshIfStale(m: i32, nowMs: u64): void {
    const last = unchecked(this.refreshedAt[m]);
    // A clock that went backwards counts as stale too.
    if (unchecked(this.fresh[m]) && nowMs >= last && nowMs - last < this.refreshMs) return;
    const row = unchecked(this.versions[m]);
    for (let v = 0; v < row.length; v++) this.load(unchecked(row[v]));
    unchecked((this.refreshedAt[m] = nowMs));
    unchecked((this.fresh[m] = true));
  }

  private load(entry: VersionHealth): void {
    const shared = getSharedData(entry.key);
    const r = entry.readiness;
    if (shared.status == WasmResult.NotFound || (shared.found && shared.value.byteLength == 0)) {
      entry.state = this.absentReady ? HealthState.Ready : HealthState.Unknown;
      r.ready = this.absentReady;
      r.rampPermyriad = RAMP_SCALE;
      return;
    }
    // A malformed record, or a host error, reads as unknown: not ready.
    const record = shared.found ? decodeHealthRecord(shared.value) : null;
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
