// Test entry for model-router's pure logic and assembly/health/record.ts, compiled by the model-
// router suites into build/pure/model-router.wasm (bytes cross the boundary as in
// host-tests/pure/io.ts). Everything here calls the plugin's own functions; nothing is re-written.
import {
  decodeHealthRecord, encodeHealthRecord, healthKey, HealthRecord, healthStateName,
} from "../../assembly/health/record";
import { JsonWriter } from "../../assembly/json/index";
import { parseConfig, RouterConfig } from "../../plugins/model-router/config";
import { matchTemplate, parseTemplate } from "../../plugins/model-router/path-template";
import { Readiness, resolveVersion, stickyBucket } from "../../plugins/model-router/resolve";
import { parseModelRef, SOURCE_NAMES } from "../../plugins/model-router/sources";
import { input, output, outputString } from "../pure/io";

export { alloc, byteLength, release } from "../pure/io";

function text(ptr: usize): string {
  return String.UTF8.decode(input(ptr));
}

/** `{"error":...}` or the derived routing table as JSON. */
export function config(data: usize): usize {
  const r = parseConfig(input(data));
  const w = new JsonWriter();
  if (r.config === null) return output(w.beginObject().stringField("error", r.error).endObject().toArrayBuffer());
  const cfg = r.config as RouterConfig;
  w.beginObject();
  w.key("sources").beginArray();
  for (let i = 0; i < cfg.sources.length; i++) w.string(SOURCE_NAMES[cfg.sources[i]]);
  w.endArray();
  w.key("templates").beginArray();
  for (let i = 0; i < cfg.templates.length; i++) w.string(cfg.templates[i].text);
  w.endArray();
  w.integerField("default_model", cfg.defaultModel);
  w.key("models").beginArray();
  for (let m = 0; m < cfg.models.length; m++) {
    const model = cfg.models[m];
    w.beginObject().stringField("name", model.name).stringField("owned_by", model.ownedBy).integerField("created", model.created);
    w.key("versions").beginArray();
    for (let v = 0; v < model.versions.length; v++) {
      const ver = model.versions[v];
      w.beginObject()
        .stringField("name", ver.name)
        .stringField("cluster", ver.cluster)
        .stringField("upstream_model", ver.upstreamModel)
        .integerField("weight", ver.weight)
        .integerField("range_start", ver.rangeStart)
        .integerField("range_end", ver.rangeEnd);
      w.key("fallback").beginArray();
      for (let f = 0; f < ver.fallback.length; f++) w.string(model.versions[ver.fallback[f]].name);
      w.endArray().endObject();
    }
    w.endArray();
    w.key("aliases").beginObject();
    for (let a = 0; a < model.aliasNames.length; a++) w.stringField(model.aliasNames[a], model.versions[model.aliasTargets[a]].name);
    w.endObject().endObject();
  }
  w.endArray().endObject();
  return output(w.toArrayBuffer());
}

/** The sticky bucket of (model, key), both UTF-8. */
export function bucket(model: usize, key: usize): u32 {
  return stickyBucket(text(model), text(key));
}

/**
 * Resolves with the routing table of `configData`: `readiness` holds 3 bytes per version of the
 * model (ready 0/1, ramp u16 LE in 1/10,000). Returns `{"status":..,"version":..,"picked":..}`
 * with version names ("" for none), or `{"error":...}` for a bad config or unknown model.
 */
export function resolve(configData: usize, model: usize, requested: usize, bucketValue: u32, readiness: usize): usize {
  const r = parseConfig(input(configData));
  const w = new JsonWriter().beginObject();
  if (r.config === null) return output(w.stringField("error", r.error).endObject().toArrayBuffer());
  const cfg = r.config as RouterConfig;
  const m = cfg.findModel(text(model));
  if (m < 0) return output(w.stringField("error", "unknown model").endObject().toArrayBuffer());
  const entry = cfg.models[m];
  const raw = input(readiness);
  const list = new Array<Readiness>();
  for (let i = 0; i + 3 <= raw.byteLength; i += 3) {
    const base = changetype<usize>(raw) + <usize>i;
    list.push(new Readiness(load<u8>(base) != 0, <u32>load<u16>(base, 1)));
  }
  const res = resolveVersion(entry, text(requested), bucketValue, list);
  w.integerField("status", res.status);
  w.stringField("version", res.version >= 0 ? entry.versions[res.version].name : "");
  w.stringField("picked", res.picked >= 0 ? entry.versions[res.picked].name : "");
  return output(w.endObject().toArrayBuffer());
}

/** `{"error":...}` for a bad template, null when the path does not match, else the captures. */
export function matchPath(template: usize, path: usize): usize {
  const parsed = parseTemplate(text(template));
  const w = new JsonWriter();
  if (parsed.template === null) return output(w.beginObject().stringField("error", parsed.error).endObject().toArrayBuffer());
  const m = matchTemplate(parsed.template!, text(path));
  if (m === null) return output(w.null().toArrayBuffer());
  return output(w.beginObject().stringField("model", m.model).stringField("version", m.version).endObject().toArrayBuffer());
}

/** `name@version` parsing: `{"name","version"}` or null. */
export function modelRef(ref: usize): usize {
  const r = parseModelRef(text(ref), 0);
  const w = new JsonWriter();
  if (r === null) return output(w.null().toArrayBuffer());
  return output(w.beginObject().stringField("name", r.name).stringField("version", r.version).endObject().toArrayBuffer());
}

export function encodeHealth(state: i32, sinceMs: u64, rampPermyriad: u32, reason: usize): usize {
  return encodeHealthUntil(state, sinceMs, rampPermyriad, reason, 0);
}

export function encodeHealthUntil(state: i32, sinceMs: u64, rampPermyriad: u32, reason: usize, freshUntilMs: u64): usize {
  return output(encodeHealthRecord(new HealthRecord(state, sinceMs, rampPermyriad, text(reason), freshUntilMs)));
}

/** `{"state","state_name","since_ms","ramp_permyriad","ramp","reason","fresh_until_ms"}` or null for a malformed record. */
export function decodeHealth(data: usize): usize {
  const r = decodeHealthRecord(input(data));
  const w = new JsonWriter();
  if (r === null) return output(w.null().toArrayBuffer());
  w.beginObject()
    .integerField("state", r.state)
    .stringField("state_name", healthStateName(r.state))
    // as a string: u64 milliseconds may exceed 2^53
    .stringField("since_ms", r.sinceMs.toString())
    .integerField("ramp_permyriad", r.rampPermyriad)
    .numberField("ramp", r.ramp)
    .stringField("reason", r.reason)
    .stringField("fresh_until_ms", r.freshUntilMs.toString());
  return output(w.endObject().toArrayBuffer());
}

export function healthKeyOf(model: usize, version: usize): usize {
  return outputString(healthKey(text(model), text(version)));
}
