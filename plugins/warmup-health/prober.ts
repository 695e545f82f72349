// The prober: one per Envoy instance for a configuration, chosen by a lease in shared data.
//
// Envoy ticks every worker's VM. On each tick a root takes or renews the lease (CAS on
// `aigw/warmup-health/lease/<digest>`, lease.ts); only the holder probes. The holder renews every
// tick; when it stops (its VM closed, its root torn down, its ticks stopped) the lease expires
// after `lease_ms` and the next worker to tick takes it over, continuing from the target records
// in shared data (their state, counters and schedule), so a handover changes no state.
//
// Probes never start from onConfigure (Envoy also runs it in a throw-away canary VM that may make
// no HTTP calls): only from ticks and from the answers of earlier calls. Every call is an
// `http_call` from the stage's root context with a timeout. An answer is applied only while this
// root still holds the lease, onto the record as it is in shared data (read, apply, CAS write,
// again on a conflict), so a late answer of an old holder cannot undo a newer one.
//
// Two configurations (two listeners' entries, or the old and new one while Envoy drains a
// listener after an update) each have a lease of their own. Each target has an owner key naming
// the configuration that probes it: the one configured last takes it, and another takes it over
// once the owner's lease lapses.

import {
  HttpCallHandler, HttpCallResponse, SharedValue, getSharedData, httpCall, logEnabled, logInfo, nowMillis, randomU64, setSharedData,
  LogLevel, WasmResult,
} from "../../assembly/index";
import { decodeHealthRecord, encodeHealthRecord, HEALTH_FORMAT, HEALTH_TRAILER_BYTES, healthStateName } from "../../assembly/health/record";
import { configuredKey, decodeLease, encodeLease, Lease, leaseKey, mayHold } from "../../assembly/health/lease";
import { decodeTargetRecord, encodeTargetRecord, TargetRecord } from "../../assembly/health/target";
import { HealthConfig, Target, VersionGroup } from "./config";
import { applyProbe, applyWarmup, dueWork, newRecord, refreshRamp, Step, versionRecord, Work } from "./machine";
import { HealthMetrics } from "./metrics";
import { sameAscii, sameBytes } from "../../assembly/runtime/bytes";
import { Answer, judgeStep, judgeWarmup, Outcome, readsBody, stepHeaders, warmupHeaders } from "./probe";

/** Tries of read-apply-write when another writer changed a record in between. */
const CAS_TRIES: i32 = 3;

export class Prober {
  /** This root's id in the lease (random, never 0). */
  readonly me: u64;
  readonly leaseKey: string;
  /** The root context the calls are made for (set once configured). */
  contextId: u32 = 0;
  /** Whether this root held the lease at its last tick. */
  holding: bool = false;
  /** Per target: a probe or warmup request of this root is waiting for its answer. */
  private inFlight: bool[] = [];
  /** Per target: another configuration's prober had it at the last tick (logged on change). */
  private elsewhere: bool[] = [];
  /** Per target: this configuration probed it at the last tick. */
  private owned: bool[] = [];
  /** Per version group: another configuration wrote its record at the last tick (logged on change). */
  private versionElsewhere: bool[] = [];
  /** This configuration's lease digest, the value of the owner key of each target it probes. */
  private readonly ownerValue: ArrayBuffer;

  constructor(private cfg: HealthConfig, private metrics: HealthMetrics) {
    let id = randomU64();
    if (id == 0) id = 1;
    this.me = id;
    this.leaseKey = leaseKey(cfg.digest);
    this.ownerValue = String.UTF8.encode(cfg.digest);
    for (let i = 0; i < cfg.targets.length; i++) {
      this.inFlight.push(false);
      this.elsewhere.push(false);
      this.owned.push(false);
    }
    for (let g = 0; g < cfg.versions.length; g++) this.versionElsewhere.push(false);
  }

  /**
   * Before any probe (also in Envoy's canary): targets and versions without a record get
   * `unknown`, so the router sends them nothing until they are probed ready; existing records (a
   * reload, another worker) are kept. Sets the gauges to the published states.
   */
  publishInitial(): void {
    const cfg = this.cfg;
    this.markConfigured(nowMillis());
    for (let i = 0; i < cfg.targets.length; i++) {
      const t = unchecked(cfg.targets[i]);
      const sv = getSharedData(t.key);
      let r = sv.found ? decodeTargetRecord(sv.value) : null;
      if (r === null && (!sv.found || sv.value.byteLength == 0)) {
        r = newRecord();
        setSharedData(t.key, encodeTargetRecord(r));
      }
      if (r !== null) this.metrics.show(i, r.state, r.rampPermyriad, r.latencyMs);
    }
    const now = nowMillis();
    for (let g = 0; g < cfg.versions.length; g++) {
      const group = unchecked(cfg.versions[g]);
      const sv = getSharedData(group.key);
      // A lapsed record (its target removed by an earlier update, now back) is as good as none:
      // the router would read it so until the first tick, and `unknown` is what stands now.
      const kept = sv.found && sv.value.byteLength > 0 ? decodeHealthRecord(sv.value) : null;
      if (kept === null || !kept.standsAt(now)) this.publishVersion(g, now, this.provisionalWindowMs);
      // One that stands, but not until this configuration's first tick could renew it (another
      // configuration's `unknown` published at configure, which never ticked: a rejected update,
      // or settings with a shorter lease and tick), would lapse before that tick, and the router
      // would read a version nobody probed yet as having no record (ready, by default). When it
      // says what this configuration's would, it stands a lease and a tick from now.
      else this.extendVersion(g, now);
    }
  }

  onTick(): void {
    const now = nowMillis();
    if (!this.holdLease(now)) return;
    const cfg = this.cfg;
    for (let i = 0; i < cfg.targets.length; i++) {
      const t = unchecked(cfg.targets[i]);
      const owner = this.ownTarget(i, t, now);
      const ours = owner != Owner.Other;
      unchecked((this.owned[i] = ours));
      const sv = getSharedData(t.key);
      const read = sv.found ? decodeTargetRecord(sv.value) : null;
      if (!ours) {
        // Probed by another configuration: its record, as that prober writes it, is shown.
        if (read !== null) this.metrics.show(i, read.state, read.rampPermyriad, read.latencyMs);
        continue;
      }
      const r = read !== null ? read : newRecord();
      // Taken over from another configuration: its settings start now, with a probe at once
      // rather than at the end of the old interval.
      if (owner == Owner.TookOver && r.nextDueMs > now) r.nextDueMs = now;
      if (refreshRamp(r, t, now)) {
        // Its version's record follows in the loop below.
        if (setSharedData(t.key, encodeTargetRecord(r), sv.found ? sv.cas : 0) == WasmResult.Ok) {
          this.metrics.show(i, r.state, r.rampPermyriad, r.latencyMs);
        }
      }
      if (!unchecked(this.inFlight[i])) this.start(i, r, now);
    }
    // Each version record is written when a ramp step changed it, and renewed before its
    // deadline, changed or not: a record that nobody renews (its target gone after a reload,
    // every prober gone) stops steering the router.
    // Only versions with a target of this configuration's, and of those only the ones whose
    // record this configuration writes (`ownVersion`): two configurations that list other targets
    // for one version (an update that moves it to another cluster, the old listener draining)
    // would otherwise each write their own view of it, in turn.
    for (let g = 0; g < cfg.versions.length; g++) {
      const group = unchecked(cfg.versions[g]);
      if (!this.ownsOneOf(group.targets)) this.releaseVersion(group);
      else if (this.ownVersion(g, group, now)) this.publishVersion(g, now);
    }
  }

  /**
   * Empties version `group`'s owner key if it still names this configuration, which owns none of
   * the version's targets now: the one that owns them cannot take it from a live configuration
   * configured in the same millisecond (`claim`), and this one no longer writes the record, so it
   * would lapse. Its targets are taken with the key in one tick, but ticks of two workers
   * interleave: a lease that lapsed at the target's claim can be renewed by the version's.
   */
  private releaseVersion(group: VersionGroup): void {
    const sv = getSharedData(group.ownerKey);
    if (sv.found && sameBuffer(sv.value, this.ownerValue)) setSharedData(group.ownerKey, new ArrayBuffer(0), sv.cas);
  }

  private ownsOneOf(targets: i32[]): bool {
    for (let k = 0; k < targets.length; k++) if (unchecked(this.owned[unchecked(targets[k])])) return true;
    return false;
  }

  /** Takes or renews the lease at `nowMs`; true while this root holds it. */
  private holdLease(nowMs: u64): bool {
    const key = this.leaseKey;
    const sv = readCreating(key);
    const was = this.holding;
    if (!sv.found) return (this.holding = false);
    const lease = decodeLease(sv.value);
    if (!mayHold(lease, this.me, nowMs) ||
      setSharedData(key, encodeLease(new Lease(this.me, nowMs + <u64>this.cfg.leaseMs)), sv.cas) != WasmResult.Ok) {
      if (was && logEnabled(LogLevel.Info)) logInfo("warmup-health: another worker probes now (lease " + this.cfg.digest + ")");
      return (this.holding = false);
    }
    if (!was) {
      if (lease !== null && lease.holder != this.me) this.metrics.leaseTakeovers.increment(1);
      if (logEnabled(LogLevel.Info)) logInfo("warmup-health: this worker probes now (lease " + this.cfg.digest + ")");
    }
    return (this.holding = true);
  }

  /** Raises this configuration's configured time (`configuredKey`) to `nowMs`, with CAS. */
  private markConfigured(nowMs: u64): void {
    const key = configuredKey(this.cfg.digest);
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const sv = getSharedData(key);
      if (sv.found && configuredAt(sv.value) >= nowMs) return;
      const value = new ArrayBuffer(8);
      store<u64>(changetype<usize>(value), nowMs);
      const w = setSharedData(key, value, sv.found ? sv.cas : 0);
      if (w != WasmResult.CasMismatch) return;
    }
  }

  /**
   * Whether this configuration probes target `t` (index `i`) at `nowMs`: its owner key names this
   * configuration, or nobody, or a configuration whose lease has lapsed (it is gone, or was
   * drained), or one configured before this one (an update's old configuration, while Envoy
   * drains its listener); this one then takes it with compare-and-swap. Otherwise the owner keeps
   * it: two configurations never both probe (and warm up) one server.
   */
  private ownTarget(i: i32, t: Target, nowMs: u64): Owner {
    const owner = this.claim(t.ownerKey, nowMs);
    if (owner == Owner.Other) {
      if (!unchecked(this.elsewhere[i]) && logEnabled(LogLevel.Info)) {
        logInfo("warmup-health: " + t.name + " is probed by another configuration (lease " + this.lastClaimant + "), not this one (lease " + this.cfg.digest + ")");
      }
      unchecked((this.elsewhere[i] = true));
      return owner;
    }
    return this.notElsewhere(i, t, owner);
  }

  /**
   * Whether this configuration writes version group `g`'s record at `nowMs`: as for a target
   * (`ownTarget`), the configuration configured last among those with a live lease.
   */
  private ownVersion(g: i32, group: VersionGroup, nowMs: u64): bool {
    const ours = this.claim(group.ownerKey, nowMs) != Owner.Other;
    const was = unchecked(this.versionElsewhere[g]);
    if (ours == was && logEnabled(LogLevel.Info)) {
      const name = group.model + "/" + group.version;
      logInfo(ours
        ? "warmup-health: " + name + "'s record is written by this configuration now (lease " + this.cfg.digest + ")"
        : "warmup-health: " + name + "'s record is written by another configuration (lease " + this.lastClaimant + "), not this one (lease " + this.cfg.digest + ")");
    }
    unchecked((this.versionElsewhere[g] = !ours));
    return ours;
  }

  /** The lease digest `claim` last found holding a key it could not take ("" when none). */
  private lastClaimant: string = "";

  /**
   * Takes owner key `key` for this configuration when it names nobody, this configuration, one
   * whose lease has lapsed, or one configured before this one (compare-and-swap); Other when
   * another live, newer or equal configuration holds it (`lastClaimant` names it).
   */
  private claim(key: string, nowMs: u64): Owner {
    const sv = readCreating(key);
    if (!sv.found) {
      this.lastClaimant = "";
      return Owner.Other;
    }
    const owner = sv.value;
    if (sameBuffer(owner, this.ownerValue)) return Owner.This;
    if (owner.byteLength > 0 && !leaseLapsed(owner, nowMs) && !this.newerThan(owner)) {
      this.lastClaimant = String.UTF8.decode(owner);
      return Owner.Other;
    }
    if (setSharedData(key, this.ownerValue, sv.cas) != WasmResult.Ok) {
      // Another configuration's prober wrote the key since it was read: name the one it wrote.
      const won = getSharedData(key);
      this.lastClaimant = won.found ? String.UTF8.decode(won.value) : "";
      return Owner.Other;
    }
    return owner.byteLength > 0 ? Owner.TookOver : Owner.This;
  }

  /** Whether this configuration was configured after the one `owner` (a lease digest) names. */
  private newerThan(owner: ArrayBuffer): bool {
    const theirs = getSharedData(configuredKey(String.UTF8.decode(owner)));
    const mine = getSharedData(configuredKey(this.cfg.digest));
    return mine.found && configuredAt(mine.value) > (theirs.found ? configuredAt(theirs.value) : 0);
  }

  private notElsewhere(i: i32, t: Target, owner: Owner): Owner {
    if (unchecked(this.elsewhere[i]) && logEnabled(LogLevel.Info)) logInfo("warmup-health: " + t.name + " is probed by this configuration now (lease " + this.cfg.digest + ")");
    unchecked((this.elsewhere[i] = false));
    return owner;
  }

  /** Whether target `t` is still this configuration's (read afresh: answers arrive between ticks). */
  private stillOwns(t: Target): bool {
    return this.stillNamed(t.ownerKey);
  }

  /** Whether owner key `key` names this configuration (read afresh: answers arrive between ticks). */
  private stillNamed(key: string): bool {
    const sv = getSharedData(key);
    return sv.found && sameBuffer(sv.value, this.ownerValue);
  }

  /** Whether this root still holds the lease (read afresh: answers arrive between ticks). */
  private stillHolds(nowMs: u64): bool {
    const sv = getSharedData(this.leaseKey);
    const lease = sv.found ? decodeLease(sv.value) : null;
    return lease !== null && lease.holder == this.me && nowMs < lease.expiresMs;
  }

  /** Starts the work due for target `i` (record `r`), if any. */
  private start(i: i32, r: TargetRecord, nowMs: u64): void {
    const t = unchecked(this.cfg.targets[i]);
    const work = dueWork(r, t, nowMs);
    if (work == Work.None) return;
    if (work == Work.Probe) this.sendStep(i, t, 0, nowMs);
    else this.sendWarmup(i, t, r.warmupDone, nowMs);
  }

  private sendStep(i: i32, t: Target, stepIndex: i32, startedMs: u64): void {
    const step = unchecked(t.probe.steps[stepIndex]);
    const handler = new Call(this, i, stepIndex, -1, startedMs, nowMillis(), t.timeoutMs);
    const token = httpCall(this.contextId, t.cluster, stepHeaders(t.probe, step), step.body, null, t.timeoutMs, handler);
    // A later step may be refused after an earlier one was answered: nothing is in flight then.
    unchecked((this.inFlight[i] = token != 0));
    if (token != 0) return;
    const a = new Answer();
    a.refused = true;
    this.finishProbe(i, judgeStep(step, t.upstreamModel, a, this.cfg.maxResponseBytes, t.timeoutMs), startedMs);
  }

  private sendWarmup(i: i32, t: Target, n: u32, startedMs: u64): void {
    const warmup = t.warmup;
    if (warmup === null) return;
    const request = warmup.requestAt(n);
    const handler = new Call(this, i, -1, <i32>n, startedMs, startedMs, warmup.timeoutMs);
    const token = httpCall(this.contextId, t.cluster, warmupHeaders(t.probe.authority, request), request.body, null, warmup.timeoutMs, handler);
    unchecked((this.inFlight[i] = token != 0));
    if (token != 0) return;
    const a = new Answer();
    a.refused = true;
    this.finishWarmup(i, judgeWarmup(request, a, warmup.maxLatencyMs, warmup.timeoutMs), 0);
  }

  /** An answer to call `c` arrived. */
  answered(c: Call, response: HttpCallResponse): void {
    const t = unchecked(this.cfg.targets[c.target]);
    const now = nowMillis();
    const a = new Answer();
    a.failed = response.failed;
    a.status = a.failed ? 0 : response.status();
    a.latencyMs = now > c.startedMs ? <u32>min<u64>(now - c.startedMs, 0xffffffff) : 0;
    a.bodySize = response.bodySize;
    // Envoy answers a call's own timeout with a 504 of its own, "upstream request timeout". Told
    // by its body too: the reply can come a few ms before `timeoutMs` by this clock (Envoy's
    // timers fire against its event loop's cached time).
    a.timedOut = a.status == 504 && (now >= c.sentMs + <u64>c.timeoutMs ||
      (a.bodySize <= MAX_ENVOY_REPLY_BYTES && startsWithAscii(response.body(), ENVOY_TIMEOUT_REPLY)));
    // A server that is down is Envoy's own 503, not the server's: its router answers a failed
    // connection "upstream connect error or disconnect/reset before headers. reset reason: ..."
    // and a cluster without a healthy host "no healthy upstream" (a server's own 503, loading,
    // says something else). An answer that is not HTTP gets the same text with 502 ("... reset
    // reason: protocol error"): no status the server sent. Told apart, they are `reset` and
    // `refused`, as the README says.
    if ((a.status == 503 || a.status == 502) && a.bodySize <= MAX_ENVOY_REPLY_BYTES) {
      const body = response.body();
      if (startsWithAscii(body, ENVOY_RESET_REPLY)) a.failed = true;
      else if (a.status == 503 && startsWithAscii(body, ENVOY_NO_HOST_REPLY)) a.refused = true;
    }
    if (c.step >= 0) {
      const step = unchecked(t.probe.steps[c.step]);
      if (!a.failed && readsBody(step) && a.bodySize <= this.cfg.maxResponseBytes) a.body = response.body();
      const o = judgeStep(step, t.upstreamModel, a, this.cfg.maxResponseBytes, t.timeoutMs);
      if (o.ok && c.step + 1 < t.probe.steps.length) {
        this.sendStep(c.target, t, c.step + 1, c.startedMs);
        return;
      }
      unchecked((this.inFlight[c.target] = false));
      this.finishProbe(c.target, o, c.startedMs);
      return;
    }
    const warmup = t.warmup;
    unchecked((this.inFlight[c.target] = false));
    if (warmup === null) return;
    this.finishWarmup(c.target, judgeWarmup(warmup.requestAt(<u32>c.warmup), a, warmup.maxLatencyMs, warmup.timeoutMs), a.latencyMs);
  }

  private finishProbe(i: i32, o: Outcome, startedMs: u64): void {
    const now = nowMillis();
    if (!this.stillHolds(now) || !this.stillOwns(unchecked(this.cfg.targets[i]))) return;
    this.metrics.probed(o.reason);
    const latency = now > startedMs ? <u32>min<u64>(now - startedMs, 0xffffffff) : 0;
    this.apply(i, o, latency, now, false);
  }

  private finishWarmup(i: i32, o: Outcome, latencyMs: u32): void {
    const now = nowMillis();
    if (!this.stillHolds(now) || !this.stillOwns(unchecked(this.cfg.targets[i]))) return;
    this.metrics.warmedUp(o.reason);
    this.apply(i, o, latencyMs, now, true);
  }

  /** Applies an outcome onto target `i`'s record as stored (CAS), publishes, and goes on. */
  private apply(i: i32, o: Outcome, latencyMs: u32, nowMs: u64, warmup: bool): void {
    const t = unchecked(this.cfg.targets[i]);
    let r: TargetRecord | null = null;
    let step: Step | null = null;
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const sv = getSharedData(t.key);
      const read = sv.found ? decodeTargetRecord(sv.value) : null;
      const rec = read !== null ? read : newRecord();
      const s = warmup ? applyWarmup(rec, t, o, latencyMs, nowMs) : applyProbe(rec, t, o, latencyMs, nowMs);
      refreshRamp(rec, t, nowMs);
      const result = setSharedData(t.key, encodeTargetRecord(rec), sv.found ? sv.cas : 0);
      if (result == WasmResult.Ok) {
        r = rec;
        step = s;
        break;
      }
      if (result != WasmResult.CasMismatch) return;
    }
    if (r === null || step === null) return;
    const rec = r as TargetRecord;
    const s = step as Step;
    if (s.changed) {
      this.metrics.entered(s.to);
      if (s.warmupMs >= 0) this.metrics.warmupMs.record(<u64>s.warmupMs);
      if (logEnabled(LogLevel.Info)) {
        logInfo("warmup-health: " + t.name + " " + healthStateName(s.from) + " -> " + healthStateName(s.to) + " (" + rec.reason + ")");
      }
    }
    this.metrics.show(i, rec.state, rec.rampPermyriad, rec.latencyMs);
    if (this.stillNamed(unchecked(this.cfg.versions[t.version]).ownerKey)) this.publishVersion(t.version, nowMs);
    // Warmup requests follow one another at once.
    if (!unchecked(this.inFlight[i])) this.start(i, rec, nowMs);
  }

  /**
   * Writes version group `g`'s record from its targets' records, standing until `nowMs` plus
   * `window` (0: `freshWindowMs`): when it changed, or when less than half its window is left.
   */
  publishVersion(g: i32, nowMs: u64, window: u64 = 0): void {
    if (window == 0) window = this.freshWindowMs;
    const bytes = this.versionBytes(g, nowMs + window);
    const key = unchecked(this.cfg.versions[g]).key;
    const current = getSharedData(key);
    if (current.found && sameButDeadline(current.value, bytes) && deadlineOf(current.value) > nowMs + window / 2) return;
    setSharedData(key, bytes);
  }

  /**
   * At configure: gives version group `g`'s standing record `provisionalWindowMs` from `nowMs`
   * when it says what this configuration's would (but for its deadline) and lapses sooner. A
   * record that says something else (another configuration's view) is left as it is.
   */
  private extendVersion(g: i32, nowMs: u64): void {
    const until = nowMs + this.provisionalWindowMs;
    const bytes = this.versionBytes(g, until);
    const key = unchecked(this.cfg.versions[g]).key;
    const current = getSharedData(key);
    if (!current.found || !sameButDeadline(current.value, bytes)) return;
    const deadline = deadlineOf(current.value);
    if (deadline == 0 || deadline >= until) return;
    setSharedData(key, bytes, current.cas);
  }

  /** Version group `g`'s record as this configuration makes it from its targets' records, encoded, standing until `untilMs`. */
  private versionBytes(g: i32, untilMs: u64): ArrayBuffer {
    const cfg = this.cfg;
    const group = unchecked(cfg.versions[g]);
    const records = new Array<TargetRecord | null>();
    const clusters = new Array<string>();
    for (let k = 0; k < group.targets.length; k++) {
      const t = unchecked(cfg.targets[unchecked(group.targets[k])]);
      const sv = getSharedData(t.key);
      records.push(sv.found ? decodeTargetRecord(sv.value) : null);
      clusters.push(t.cluster);
    }
    const record = versionRecord(records, clusters);
    record.freshUntilMs = untilMs;
    return encodeHealthRecord(record);
  }

  /**
   * How long a version record stands without renewal: three times a lease and a tick, so a
   * holder that stops is taken over (after `lease_ms`) and the new one renews with time to
   * spare, while a record nobody renews stops steering the router within seconds.
   */
  get freshWindowMs(): u64 {
    return 3 * (<u64>this.cfg.leaseMs + <u64>this.cfg.tickMs);
  }

  /**
   * How long a record published at configure stands (`publishInitial`): a lease and a tick. The
   * first ticks of a configuration Envoy accepted renew it long before (a tick is at most half a
   * lease), with the full window. One that Envoy rejects after configure never ticks (another
   * filter's bad configuration in the same listener, say), and its `unknown` must not hold a
   * version back from the running configuration's router for long.
   */
  get provisionalWindowMs(): u64 {
    return <u64>this.cfg.leaseMs + <u64>this.cfg.tickMs;
  }
}

/** A configured-time value (`configuredKey`): 0 when it is not one. */
function configuredAt(value: ArrayBuffer): u64 {
  return value.byteLength == 8 ? load<u64>(changetype<usize>(value)) : 0;
}

/** Whether `a` and `b` hold the same bytes. */
function sameBuffer(a: ArrayBuffer, b: ArrayBuffer): bool {
  return a.byteLength == b.byteLength && sameBytes(changetype<usize>(a), changetype<usize>(b), a.byteLength);
}

/**
 * `key`'s value, the key created empty first when absent: creating a key always succeeds, so
 * writers race with CAS on the empty value instead.
 */
function readCreating(key: string): SharedValue {
  const sv = getSharedData(key);
  if (sv.status != WasmResult.NotFound) return sv;
  setSharedData(key, new ArrayBuffer(0));
  return getSharedData(key);
}

/** Who probes a target, as `ownTarget` finds it. */
enum Owner { Other, This, TookOver }

/**
 * Whether the configuration an owner key names (its lease digest, `owner`) has no live prober at
 * `nowMs`: its lease is absent, unreadable or expired. A value that is not a lease digest names
 * nobody.
 */
function leaseLapsed(owner: ArrayBuffer, nowMs: u64): bool {
  if (owner.byteLength != 16) return true;
  const sv = getSharedData(leaseKey(String.UTF8.decode(owner)));
  const lease = sv.found ? decodeLease(sv.value) : null;
  return lease === null || nowMs >= lease.expiresMs;
}

/** Whether two encoded version records (format 2) are the same but for their deadlines. */
function sameButDeadline(a: ArrayBuffer, b: ArrayBuffer): bool {
  const n = a.byteLength;
  if (n != b.byteLength || n < HEALTH_TRAILER_BYTES || load<u8>(changetype<usize>(a)) != HEALTH_FORMAT) return false;
  return memory.compare(changetype<usize>(a), changetype<usize>(b), <usize>(n - HEALTH_TRAILER_BYTES)) == 0;
}

/** An encoded format 2 record's deadline (its last 8 bytes). */
function deadlineOf(a: ArrayBuffer): u64 {
  return load<u64>(changetype<usize>(a) + <usize>(a.byteLength - HEALTH_TRAILER_BYTES));
}

/** One probe step or warmup request in flight. */
export class Call extends HttpCallHandler {
  constructor(
    private prober: Prober,
    public target: i32,
    /** Probe step index, or -1 for a warmup request. */
    public step: i32,
    /** Warmup request number in the round, or -1 for a probe step. */
    public warmup: i32,
    /** When the probe (its first step) or the warmup request started. */
    public startedMs: u64,
    /** When this call was sent. */
    public sentMs: u64,
    public timeoutMs: u32,
  ) {
    super();
  }

  onHttpCallResponse(response: HttpCallResponse): void {
    this.prober.answered(this, response);
  }
}

/** Envoy's router's local replies to a call it could not deliver (source/common/router/router.cc). */
const ENVOY_RESET_REPLY = "upstream connect error or disconnect/reset before headers";
const ENVOY_NO_HOST_REPLY = "no healthy upstream";
const ENVOY_TIMEOUT_REPLY = "upstream request timeout";
/** Longer 503 bodies are a server's own (Envoy's replies above are under 300 bytes). */
const MAX_ENVOY_REPLY_BYTES: u32 = 512;

function startsWithAscii(body: ArrayBuffer, prefix: string): bool {
  return body.byteLength >= prefix.length && sameAscii(changetype<usize>(body), prefix);
}
