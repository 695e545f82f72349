// Test entry for warmup-health's pure logic and its record formats (assembly/health/target.ts,
// lease.ts), compiled by host-tests/warmup-health-logic.test.ts into build/pure/warmup-health.wasm
// (bytes cross the boundary as in host-tests/pure/io.ts). Everything here calls the plugin's own
// functions; the only state is the configuration set by `setConfig` and one target record the
// machine functions work on (the test's fake clock passes the time in).
import { HealthRecord, HealthState, healthStateName, encodeHealthRecord } from "../../assembly/health/record";
import { decodeLease, encodeLease, Lease, leaseKey, mayHold } from "../../assembly/health/lease";
import { decodeTargetRecord, encodeTargetRecord, TargetRecord, targetKey } from "../../assembly/health/target";
import { HeaderPair } from "../../assembly/host/pairs";
import { JsonValue, JsonWriter, parseJsonText } from "../../assembly/json/index";
import { HealthConfig, parseConfig, PROBE_KINDS } from "../../plugins/warmup-health/config";
import { isoTime, matchPath, reply } from "../../plugins/warmup-health/endpoints";
import { applyProbe, applyWarmup, dueWork, newRecord, refreshRamp, Step, versionRecord } from "../../plugins/warmup-health/machine";
import { Answer, judgeStep, judgeWarmup, Outcome, REASON_NAMES, Reason, reasonName } from "../../plugins/warmup-health/probe";
import { input, output, outputString } from "../pure/io";

export { alloc, byteLength, release } from "../pure/io";

function text(ptr: usize): string {
  return String.UTF8.decode(input(ptr));
}

function json(ptr: usize): JsonValue {
  return parseJsonText(text(ptr)).value as JsonValue;
}

let current: HealthConfig = new HealthConfig();

function writeHeaders(w: JsonWriter, name: string, pairs: Array<HeaderPair>): void {
  w.key(name).beginArray();
  for (let i = 0; i < pairs.length; i++) w.beginArray().string(pairs[i].name).string(pairs[i].value).endArray();
  w.endArray();
}

function bodyText(b: ArrayBuffer | null): string | null {
  return b === null ? null : String.UTF8.decode(b as ArrayBuffer);
}

/** Sets the configuration the other functions use; returns `{"error":...}` or the derived config. */
export function setConfig(data: usize): usize {
  const r = parseConfig(input(data));
  const w = new JsonWriter();
  if (r.config === null) return output(w.beginObject().stringField("error", r.error).endObject().toArrayBuffer());
  const cfg = r.config as HealthConfig;
  current = cfg;
  w.beginObject()
    .integerField("tick_ms", cfg.tickMs)
    .integerField("lease_ms", cfg.leaseMs)
    .integerField("max_response_bytes", cfg.maxResponseBytes)
    .stringField("path_prefix", cfg.pathPrefix)
    .stringField("digest", cfg.digest);
  w.key("targets").beginArray();
  for (let i = 0; i < cfg.targets.length; i++) {
    const t = cfg.targets[i];
    w.beginObject()
      .stringField("model", t.model)
      .stringField("version", t.versionName)
      .stringField("cluster", t.cluster)
      .stringField("upstream_model", t.upstreamModel)
      .stringField("key", t.key)
      .integerField("version_group", t.version)
      .integerField("interval_ms", t.intervalMs)
      .integerField("timeout_ms", t.timeoutMs)
      .integerField("unhealthy_threshold", t.unhealthyThreshold)
      .integerField("healthy_threshold", t.healthyThreshold)
      .integerField("ramp_ms", t.rampMs);
    w.key("probe").beginObject()
      .stringField("kind", PROBE_KINDS[t.probe.kind])
      .stringField("authority", t.probe.authority);
    writeHeaders(w, "headers", t.probe.headers);
    w.key("steps").beginArray();
    for (let s = 0; s < t.probe.steps.length; s++) {
      const step = t.probe.steps[s];
      w.beginObject().stringField("method", step.method).stringField("path", step.path);
      const b = bodyText(step.body);
      if (b === null) w.nullField("body");
      else w.stringField("body", b);
      w.key("expected").beginArray();
      for (let k = 0; k < step.expected.length; k++) w.integer(step.expected[k]);
      w.endArray();
      w.integerField("check", step.check).stringField("contains", step.contains).endObject();
    }
    w.endArray().endObject();
    const warmup = t.warmup;
    if (warmup === null) {
      w.nullField("warmup");
    } else {
      w.key("warmup").beginObject()
        .integerField("total", warmup.total)
        .integerField("max_latency_ms", warmup.maxLatencyMs)
        .integerField("timeout_ms", warmup.timeoutMs);
      w.key("requests").beginArray();
      for (let k = 0; k < warmup.requests.length; k++) {
        const q = warmup.requests[k];
        w.beginObject().stringField("method", q.method).stringField("path", q.path);
        writeHeaders(w, "headers", q.headers);
        const b = bodyText(q.body);
        if (b === null) w.nullField("body");
        else w.stringField("body", b);
        w.integerField("count", q.count).endObject();
      }
      w.endArray().endObject();
    }
    w.endObject();
  }
  w.endArray();
  w.key("versions").beginArray();
  for (let g = 0; g < cfg.versions.length; g++) {
    const v = cfg.versions[g];
    w.beginObject().stringField("model", v.model).stringField("version", v.version).stringField("key", v.key);
    w.key("targets").beginArray();
    for (let k = 0; k < v.targets.length; k++) w.integer(v.targets[k]);
    w.endArray().endObject();
  }
  w.endArray();
  return output(w.endObject().toArrayBuffer());
}

function answerOf(a: JsonValue, body: ArrayBuffer): Answer {
  const out = new Answer();
  const status = a.get("status");
  if (status !== null) out.status = <u32>status.asInteger();
  const failed = a.get("failed");
  out.failed = failed !== null && failed.asBool();
  const timedOut = a.get("timed_out");
  out.timedOut = timedOut !== null && timedOut.asBool();
  const refused = a.get("refused");
  out.refused = refused !== null && refused.asBool();
  const size = a.get("body_size");
  out.bodySize = size !== null ? <u32>size.asInteger() : <u32>body.byteLength;
  const latency = a.get("latency_ms");
  if (latency !== null) out.latencyMs = <u32>latency.asInteger();
  out.body = body;
  return out;
}

function outcome(o: Outcome): usize {
  return output(new JsonWriter().beginObject().stringField("reason", reasonName(o.reason)).stringField("detail", o.detail).endObject().toArrayBuffer());
}

/** Judges an answer (`{"status","failed","timed_out","refused","body_size"}` + body) to target `t`'s step `s`. */
export function judge(t: i32, s: i32, answer: usize, body: usize): usize {
  const target = current.targets[t];
  return outcome(judgeStep(target.probe.steps[s], target.upstreamModel, answerOf(json(answer), input(body)), current.maxResponseBytes, target.timeoutMs));
}

/** Judges an answer to target `t`'s warmup request number `n`. */
export function judgeWarmupAnswer(t: i32, n: u32, answer: usize): usize {
  const target = current.targets[t];
  const warmup = target.warmup!;
  return outcome(judgeWarmup(warmup.requestAt(n), answerOf(json(answer), new ArrayBuffer(0)), warmup.maxLatencyMs, warmup.timeoutMs));
}

/** `[[name], ...]`: the reason table in code order. */
export function reasons(): usize {
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < REASON_NAMES.length; i++) w.string(REASON_NAMES[i]);
  return output(w.endArray().toArrayBuffer());
}

// ---- the state machine on one record, time passed in

let record: TargetRecord = newRecord();
let machineTarget: i32 = 0;

/** Starts over with a new record for target `t`. */
export function machineReset(t: i32): void {
  record = newRecord();
  machineTarget = t;
}

/** Goes on with the same record as target `t`: another configuration taking the target over. */
export function machineUse(t: i32): void {
  machineTarget = t;
}

function recordJson(w: JsonWriter, r: TargetRecord): void {
  w.beginObject()
    .stringField("state", healthStateName(r.state))
    .integerField("ramp", r.rampPermyriad)
    .stringField("since", r.sinceMs.toString())
    .stringField("next_due", r.nextDueMs.toString())
    .stringField("checked", r.checkedMs.toString())
    .integerField("latency_ms", r.latencyMs)
    .integerField("successes", r.successes)
    .integerField("failures", r.failures)
    .integerField("warmup_done", r.warmupDone)
    .integerField("flags", r.flags)
    .stringField("reason", r.reason)
    .endObject();
}

function stepJson(s: Step): usize {
  const w = new JsonWriter().beginObject()
    .stringField("from", healthStateName(s.from))
    .stringField("to", healthStateName(s.to))
    .integerField("warmup_ms", s.warmupMs);
  w.key("record");
  recordJson(w, record);
  return output(w.endObject().toArrayBuffer());
}

function reasonOf(name: string): Reason {
  const i = REASON_NAMES.indexOf(name);
  return i < 0 ? Reason.Status : <Reason>i;
}

/** A probe answered at `now` with reason `reason` (a REASON_NAMES entry) after `latency` ms. */
export function machineProbe(reason: usize, latency: u32, now: u64): usize {
  const r = text(reason);
  return stepJson(applyProbe(record, current.targets[machineTarget], new Outcome(reasonOf(r), "probe " + r), latency, now));
}

/** A warmup request answered at `now`. */
export function machineWarmup(reason: usize, latency: u32, now: u64): usize {
  const r = text(reason);
  return stepJson(applyWarmup(record, current.targets[machineTarget], new Outcome(reasonOf(r), "warmup " + r), latency, now));
}

/** A tick at `now`: the ramp is refreshed; returns `{"changed","due","record"}` (due: none, probe, warmup). */
export function machineTick(now: u64): usize {
  const changed = refreshRamp(record, current.targets[machineTarget], now);
  const works = ["none", "probe", "warmup"];
  const w = new JsonWriter().beginObject().boolField("changed", changed).stringField("due", works[dueWork(record, current.targets[machineTarget], now)]);
  w.key("record");
  recordJson(w, record);
  return output(w.endObject().toArrayBuffer());
}

/** The current record, encoded. */
export function machineBytes(): usize {
  return output(encodeTargetRecord(record));
}

// ---- records

/** Encodes `{"state","ramp","since","next_due","checked","latency_ms","successes","failures","warmup_done","reason"}`. */
export function encodeTarget(data: usize): usize {
  const v = json(data);
  const r = new TargetRecord();
  r.state = <HealthState>v.get("state")!.asInteger();
  r.rampPermyriad = <u32>v.get("ramp")!.asInteger();
  r.sinceMs = U64.parseInt(v.get("since")!.asString());
  r.nextDueMs = U64.parseInt(v.get("next_due")!.asString());
  r.checkedMs = U64.parseInt(v.get("checked")!.asString());
  r.latencyMs = <u32>v.get("latency_ms")!.asInteger();
  r.successes = <u32>v.get("successes")!.asInteger();
  r.failures = <u32>v.get("failures")!.asInteger();
  r.warmupDone = <u32>v.get("warmup_done")!.asInteger();
  r.flags = <u32>v.get("flags")!.asInteger();
  r.reason = v.get("reason")!.asString();
  return output(encodeTargetRecord(r));
}

export function decodeTarget(data: usize): usize {
  const r = decodeTargetRecord(input(data));
  const w = new JsonWriter();
  if (r === null) return output(w.null().toArrayBuffer());
  recordJson(w, r);
  return output(w.toArrayBuffer());
}

export function targetKeyOf(model: usize, version: usize, cluster: usize): usize {
  return outputString(targetKey(text(model), text(version), text(cluster)));
}

export function encodeLeaseOf(holder: u64, expires: u64): usize {
  return output(encodeLease(new Lease(holder, expires)));
}

export function decodeLeaseOf(data: usize): usize {
  const l = decodeLease(input(data));
  const w = new JsonWriter();
  if (l === null) return output(w.null().toArrayBuffer());
  return output(w.beginObject().stringField("holder", l.holder.toString()).stringField("expires", l.expiresMs.toString()).endObject().toArrayBuffer());
}

/** Whether `me` may hold the lease in `data` at `now`. */
export function mayHoldLease(data: usize, me: u64, now: u64): i32 {
  return mayHold(decodeLease(input(data)), me, now) ? 1 : 0;
}

export function leaseKeyOf(digest: usize): usize {
  return outputString(leaseKey(text(digest)));
}

function targetOf(v: JsonValue): TargetRecord | null {
  if (v.isNull()) return null;
  const r = new TargetRecord();
  const names = ["unknown", "loading", "warming", "ready", "failing"];
  r.state = <HealthState>names.indexOf(v.get("state")!.asString());
  const ramp = v.get("ramp");
  if (ramp !== null) r.rampPermyriad = <u32>ramp.asInteger();
  const since = v.get("since");
  if (since !== null) r.sinceMs = <u64>since.asInteger();
  const checked = v.get("checked");
  if (checked !== null) r.checkedMs = <u64>checked.asInteger();
  const latency = v.get("latency_ms");
  if (latency !== null) r.latencyMs = <u32>latency.asInteger();
  const done = v.get("warmup_done");
  if (done !== null) r.warmupDone = <u32>done.asInteger();
  const reason = v.get("reason");
  r.reason = reason !== null ? reason.asString() : "";
  return r;
}

/**
 * The version record from target records (`[{"state","ramp","since","reason"} | null, ...]`) and
 * their clusters: `{"state","ramp","since","reason","bytes"}` (bytes: the encoded record as hex).
 */
export function aggregate(recordsData: usize, clustersData: usize): usize {
  const list = json(recordsData);
  const names = json(clustersData);
  const records = new Array<TargetRecord | null>();
  const clusters = new Array<string>();
  for (let i = 0; i < list.length; i++) {
    records.push(targetOf(list.at(i)!));
    clusters.push(names.at(i)!.asString());
  }
  const h: HealthRecord = versionRecord(records, clusters);
  const bytes = Uint8Array.wrap(encodeHealthRecord(h));
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return output(new JsonWriter().beginObject()
    .stringField("state", healthStateName(h.state))
    .integerField("ramp", h.rampPermyriad)
    .stringField("since", h.sinceMs.toString())
    .stringField("reason", h.reason)
    .stringField("bytes", hex)
    .endObject().toArrayBuffer());
}

// ---- endpoints

/**
 * The endpoint answer for `path` under the current configuration with version records
 * (`[{"state","ramp","since","reason","fresh_until"?} | null]`, by version group) and target
 * records (by target) at `nowMs`: `{"scope","status","body"}` (body as text; null when the path
 * is not an endpoint).
 */
export function endpoint(path: usize, versionsData: usize, targetsData: usize, nowMs: u64): usize {
  const m = matchPath(current, text(path));
  const scopes = ["none", "all", "model", "version", "unknown-model", "unknown-version"];
  const w = new JsonWriter().beginObject().stringField("scope", scopes[m.scope]);
  if (m.scope == 0) return output(w.nullField("status").nullField("body").endObject().toArrayBuffer());
  const vs = json(versionsData);
  const ts = json(targetsData);
  const versions = new Array<HealthRecord | null>();
  for (let i = 0; i < vs.length; i++) {
    const t = targetOf(vs.at(i)!);
    const v = vs.at(i)!;
    const until: JsonValue | null = v.isNull() ? null : v.get("fresh_until");
    versions.push(t === null ? null : new HealthRecord(t.state, t.sinceMs, t.rampPermyriad, t.reason, until !== null ? <u64>until.asInteger() : 0));
  }
  const targets = new Array<TargetRecord | null>();
  for (let i = 0; i < ts.length; i++) targets.push(targetOf(ts.at(i)!));
  const r = reply(current, m, versions, targets, nowMs);
  return output(w.integerField("status", r.status).stringField("body", String.UTF8.decode(r.body)).endObject().toArrayBuffer());
}

export function iso(ms: u64): usize {
  const s = isoTime(ms);
  return outputString(s === null ? "null" : s);
}

/** A full collection (the minimal runtime collects only when told); call between test calls. */
export function collect(): void {
  __collect();
}
