// The health endpoints: which requests are theirs and the JSON they answer. Pure: the stage
// (plugin.ts) reads the records from shared data and passes them in, so every worker answers the
// same, whichever one probes.
//
//   GET <prefix>                     200, every version and target
//   GET <prefix>/<model>             200 when a version of the model is ready, else 503
//   GET <prefix>/<model>/<version>   200 when the version is ready, else 503
// A model or version no target names is 404; a method other than GET or HEAD is 405.

import { HealthRecord, HealthState, healthStateName, RAMP_SCALE } from "../../assembly/health/record";
import { TargetRecord } from "../../assembly/health/target";
import { JsonWriter } from "../../assembly/json/index";
import { HealthConfig, PROBE_KINDS } from "./config";

export enum Scope { None, All, Model, Version, UnknownModel, UnknownVersion }

/** What a request path asks for. */
export class Match {
  scope: Scope = Scope.None;
  model: string = "";
  /** Index into HealthConfig.versions (Scope.Version). */
  version: i32 = -1;
  /** The version name asked for (Scope.UnknownVersion). */
  versionName: string = "";
}

/**
 * Matches `path` (query ignored, one trailing '/' too) against the endpoints under
 * `cfg.pathPrefix`. A model name may contain '/', so the whole rest is tried as a model first,
 * then split at its last '/' into model and version (version names never contain '/').
 */
export function matchPath(cfg: HealthConfig, path: string): Match {
  const m = new Match();
  const prefix = cfg.pathPrefix;
  if (prefix.length == 0 || !path.startsWith(prefix)) return m;
  let end = path.indexOf("?");
  if (end < 0) end = path.length;
  if (end == prefix.length || (end == prefix.length + 1 && path.charCodeAt(prefix.length) == 0x2f)) {
    m.scope = Scope.All;
    return m;
  }
  if (path.charCodeAt(prefix.length) != 0x2f) return m;
  let rest = path.substring(prefix.length + 1, end);
  // One trailing '/' is the same endpoint (`/llama/` is `/llama`), as for the prefix itself.
  if (rest.length > 1 && rest.charCodeAt(rest.length - 1) == 0x2f && !cfg.hasModel(rest)) rest = rest.substring(0, rest.length - 1);
  if (cfg.hasModel(rest)) {
    m.scope = Scope.Model;
    m.model = rest;
    return m;
  }
  const slash = rest.lastIndexOf("/");
  if (slash > 0) {
    const model = rest.substring(0, slash);
    const version = rest.substring(slash + 1);
    const g = cfg.versionIndex(model, version);
    if (g >= 0) {
      m.scope = Scope.Version;
      m.model = model;
      m.version = g;
      return m;
    }
    if (cfg.hasModel(model)) {
      m.scope = Scope.UnknownVersion;
      m.model = model;
      m.versionName = version;
      return m;
    }
  }
  m.scope = Scope.UnknownModel;
  m.model = rest;
  return m;
}

/** The answer: status and JSON body. */
export class Reply {
  constructor(public status: u32, public body: ArrayBuffer) {}
}

/**
 * The answer to `m` (not None) from the records at `nowMs`: `versions[g]` is version group g's
 * record, `targets[i]` target i's (null where there is none yet). A version record past its
 * deadline is one no prober renews any more, which the router no longer obeys: it shows as
 * `unknown`, since the deadline, not as the state it last had.
 */
export function reply(cfg: HealthConfig, m: Match, versions: Array<HealthRecord | null>, targets: Array<TargetRecord | null>, nowMs: u64): Reply {
  if (m.scope == Scope.UnknownModel) return notFound("No target for model '" + m.model + "'", "model_not_found");
  if (m.scope == Scope.UnknownVersion) {
    return notFound("No target for version '" + m.versionName + "' of model '" + m.model + "'", "model_version_not_found");
  }
  const w = new JsonWriter(256 + cfg.targets.length * 256);
  let ready = m.scope != Scope.Model;
  w.beginObject();
  w.key("versions").beginArray();
  for (let g = 0; g < cfg.versions.length; g++) {
    const group = unchecked(cfg.versions[g]);
    if (!inScope(m, group.model, g)) continue;
    let r = g < versions.length ? unchecked(versions[g]) : null;
    if (r !== null && !r.standsAt(nowMs)) r = lapsed(r);
    const state = r !== null ? r.state : HealthState.Unknown;
    const isReady = state == HealthState.Ready;
    // The whole list and a version: ready when every listed version is; a model: when any is.
    if (m.scope == Scope.Model) ready = ready || isReady;
    else ready = ready && isReady;
    w.beginObject()
      .stringField("model", group.model)
      .stringField("version", group.version)
      .stringField("state", healthStateName(state))
      .boolField("ready", isReady)
      .numberField("ramp", r !== null && isReady ? <f64>r.rampPermyriad / <f64>RAMP_SCALE : 0);
    time(w, "since", r !== null ? r.sinceMs : 0);
    w.stringField("reason", r !== null ? r.reason : "no record")
      .endObject();
  }
  w.endArray();
  w.key("targets").beginArray();
  for (let i = 0; i < cfg.targets.length; i++) {
    const t = unchecked(cfg.targets[i]);
    if (!inScope(m, t.model, t.version)) continue;
    const r = i < targets.length ? unchecked(targets[i]) : null;
    // The prober that stopped renewing the version's record stopped probing its targets too: their
    // rows say so, and keep only when they were last checked.
    const group = t.version < versions.length ? unchecked(versions[t.version]) : null;
    const stale = group !== null && !group.standsAt(nowMs);
    const state = r !== null && !stale ? r.state : HealthState.Unknown;
    w.beginObject()
      .stringField("model", t.model)
      .stringField("version", t.versionName)
      .stringField("cluster", t.cluster)
      .stringField("probe", unchecked(PROBE_KINDS[<i32>t.probe.kind]))
      .stringField("state", healthStateName(state))
      .boolField("ready", state == HealthState.Ready)
      .numberField("ramp", r !== null && state == HealthState.Ready ? <f64>r.rampPermyriad / <f64>RAMP_SCALE : 0);
    if (stale) {
      time(w, "since", (group as HealthRecord).freshUntilMs);
      w.stringField("reason", LAPSED_REASON);
    } else {
      time(w, "since", r !== null ? r.sinceMs : 0);
      w.stringField("reason", r !== null ? r.reason : "no record");
    }
    if (r !== null && r.checkedMs > 0) w.integerField("latency_ms", r.latencyMs);
    else w.key("latency_ms").null();
    time(w, "checked", r !== null ? r.checkedMs : 0);
    const warmup = t.warmup;
    if (warmup !== null) {
      w.key("warmup").beginObject()
        .integerField("done", r !== null && state == HealthState.Warming ? r.warmupDone : state == HealthState.Ready ? warmup.total : 0)
        .integerField("of", warmup.total)
        .endObject();
    }
    w.endObject();
  }
  w.endArray();
  w.boolField("ready", ready);
  w.endObject();
  const status: u32 = m.scope == Scope.All || ready ? 200 : 503;
  return new Reply(status, w.toArrayBuffer());
}

const LAPSED_REASON = "record not renewed: no prober is running";

function lapsed(r: HealthRecord): HealthRecord {
  return new HealthRecord(HealthState.Unknown, r.freshUntilMs, 0, LAPSED_REASON, r.freshUntilMs);
}

function inScope(m: Match, model: string, version: i32): bool {
  if (m.scope == Scope.All) return true;
  if (m.scope == Scope.Model) return model == m.model;
  return version == m.version;
}

/** `"<name>": "<ISO 8601>"` and `"<name>_ms": <ms>`, or nulls for 0 (never). */
function time(w: JsonWriter, name: string, ms: u64): void {
  const iso = ms > 0 ? isoTime(ms) : null;
  if (iso !== null) w.stringField(name, iso);
  else w.key(name).null();
  if (ms > 0) w.integerField(name + "_ms", <i64>ms);
  else w.key(name + "_ms").null();
}

/** `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, or null past the year 9999. */
export function isoTime(ms: u64): string | null {
  if (ms > 253_402_300_799_999) return null;
  const days = <i64>(ms / 86_400_000);
  const rem = <i64>(ms % 86_400_000);
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, days >= 0 here).
  const z = days + 719_468;
  const era = z / 146_097;
  const doe = z - era * 146_097;
  const yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(rem / 3_600_000, 2) + ":" +
    pad((rem / 60_000) % 60, 2) + ":" + pad((rem / 1000) % 60, 2) + "." + pad(rem % 1000, 3) + "Z";
}

function pad(n: i64, width: i32): string {
  let s = n.toString();
  while (s.length < width) s = "0" + s;
  return s;
}

/** 404 in the OpenAI error shape the other filters use. */
function notFound(message: string, code: string): Reply {
  const w = new JsonWriter(128 + message.length);
  w.beginObject().key("error").beginObject()
    .stringField("message", message)
    .stringField("type", "invalid_request_error")
    .nullField("param")
    .stringField("code", code)
    .endObject().endObject();
  return new Reply(404, w.toArrayBuffer());
}

/** 405 for a method other than GET and HEAD. */
export function methodNotAllowed(method: string): Reply {
  const w = new JsonWriter(160);
  w.beginObject().key("error").beginObject()
    .stringField("message", "Method '" + method + "' is not allowed here; use GET or HEAD")
    .stringField("type", "invalid_request_error")
    .nullField("param")
    .stringField("code", "method_not_allowed")
    .endObject().endObject();
  return new Reply(405, w.toArrayBuffer());
}
