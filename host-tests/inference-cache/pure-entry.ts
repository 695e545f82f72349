// Test entry for inference-cache's pure logic and assembly/cache/entry.ts, compiled by
// host-tests/inference-cache-logic.test.ts into build/pure/inference-cache.wasm (bytes cross the
// boundary as in host-tests/pure/io.ts). Everything here calls the plugin's own functions; the
// only state is the configuration set by `setConfig`.
import {
  BodyKind, decodeEntry, encodeEntry, readSlot, redisKey, slotKey, slotOf,
} from "../../assembly/cache/entry";
import { toHex } from "../../assembly/crypto/sha256";
import { JsonResult, JsonValue, JsonWriter, parseJson, parseJsonText } from "../../assembly/json/index";
import { CacheConfig, ModelPolicy, parseConfig } from "../../plugins/inference-cache/config";
import { canonicalBody, computeKey, KeyRequest } from "../../plugins/inference-cache/key";
import {
  ageHeaderMs, bodyKindOf, isEmbeddingsPath, cacheStatusName, decideRequest, decideResponse, freshnessLimitMs, remainingLifetimeMs, hasDirective, REASONS, reasonName, RequestDecision,
  RequestFacts, ResponseFacts,
} from "../../plugins/inference-cache/policy";
import { jsonToSse, replayFor, SseReader, sseToJson } from "../../plugins/inference-cache/sse";
import { input, output, outputString } from "../pure/io";

export { alloc, byteLength, release } from "../pure/io";

function text(ptr: usize): string {
  return String.UTF8.decode(input(ptr));
}

let current: CacheConfig = new CacheConfig();

function writeModel(w: JsonWriter, m: ModelPolicy): void {
  w.beginObject()
    .boolField("shared", m.shared)
    .boolField("cache_nondeterministic", m.cacheNondeterministic)
    .integerField("ttl_ms", m.ttlMs)
    .endObject();
}

/** Sets the configuration the other functions use; returns `{"error":...}` or the derived config. */
export function setConfig(data: usize): usize {
  const r = parseConfig(input(data));
  const w = new JsonWriter();
  if (r.config === null) return output(w.beginObject().stringField("error", r.error).endObject().toArrayBuffer());
  const cfg = r.config as CacheConfig;
  current = cfg;
  w.beginObject()
    .integerField("slots", cfg.slots)
    .integerField("max_entry_bytes", cfg.maxEntryBytes)
    .integerField("ttl_ms", cfg.ttlMs)
    .integerField("max_body_bytes", cfg.maxBodyBytes)
    .integerField("max_json_depth", cfg.maxJsonDepth)
    .boolField("key_only", cfg.keyOnly)
    .boolField("vary_on_tenant", cfg.varyOnTenant);
  w.key("drop_fields").beginArray();
  for (let i = 0; i < cfg.rules.dropFields.length; i++) w.string(cfg.rules.dropFields[i]);
  w.endArray();
  w.key("defaults").beginArray();
  for (let i = 0; i < cfg.rules.defaultNames.length; i++) {
    w.beginArray().string(cfg.rules.defaultNames[i]).string(String.UTF8.decode(cfg.rules.defaultValues[i])).endArray();
  }
  w.endArray();
  w.key("models").beginObject();
  for (let i = 0; i < cfg.models.length; i++) {
    w.key(cfg.models[i].name);
    writeModel(w, cfg.models[i]);
  }
  w.endObject();
  w.key("other_models");
  writeModel(w, cfg.otherModels);
  w.key("shared_tier");
  const tier = cfg.sharedTier;
  if (tier === null) {
    w.null();
  } else {
    w.beginObject()
      .stringField("cluster", tier.cluster)
      .integerField("timeout_ms", tier.timeoutMs)
      .stringField("key_prefix", tier.keyPrefix)
      .endObject();
  }
  return output(w.endObject().toArrayBuffer());
}

/**
 * The key of a request under the current configuration: `{"ok":true,"hex":..,"canonical":..}`, or
 * `{"ok":false,"error":..}` when the body does not parse. An empty body is no body.
 */
export function key(body: usize, method: usize, path: usize, model: usize, version: usize, tenant: usize, shared: i32, authority: usize): usize {
  const req = new KeyRequest();
  req.method = text(method);
  req.authority = text(authority);
  req.path = text(path);
  req.model = text(model);
  req.version = text(version);
  req.tenant = text(tenant);
  req.shared = shared != 0;
  const bytes = input(body);
  const w = new JsonWriter().beginObject();
  if (bytes.byteLength == 0) {
    const k = computeKey(current.rules, req, null);
    return output(w.boolField("ok", k.byteLength == 32).stringField("hex", toHex(k)).nullField("canonical").endObject().toArrayBuffer());
  }
  const parsed = parseJson(bytes, current.bodyLimits);
  if (!parsed.ok) return output(w.boolField("ok", false).stringField("error", parsed.error).endObject().toArrayBuffer());
  const root = parsed.value as JsonValue;
  const k = computeKey(current.rules, req, root);
  w.boolField("ok", k.byteLength == 32).stringField("hex", toHex(k));
  w.stringField("canonical", String.UTF8.decode(canonicalBody(root, current.rules)));
  return output(w.endObject().toArrayBuffer());
}

function optionalString(facts: JsonValue, name: string): string | null {
  const v = facts.get(name);
  return v === null || !v.isString() ? null : v.asString();
}

/**
 * The request decision for `facts` (`{"method","path","content_type","cache_control","pragma",
 * "body_bytes","model"}`, absent or null headers as null) and `body` (parsed with the current
 * limits; empty means none): `{"action","reason","status","stream"}`.
 */
export function decide(factsData: usize, body: usize): usize {
  const facts = parseJsonText(text(factsData)).value as JsonValue;
  const f = new RequestFacts();
  const method = optionalString(facts, "method");
  f.method = method === null ? "POST" : method;
  f.contentType = optionalString(facts, "content_type");
  f.cacheControl = optionalString(facts, "cache_control");
  f.pragma = optionalString(facts, "pragma");
  const path = optionalString(facts, "path");
  if (path !== null) {
    const bytes = String.UTF8.encode(path);
    f.samplingFree = isEmbeddingsPath(changetype<usize>(bytes), bytes.byteLength);
  }
  const size = facts.get("body_bytes");
  const bytes = input(body);
  f.bodyBytes = size !== null ? size.asInteger() : <i64>bytes.byteLength;
  const model = optionalString(facts, "model");
  const policy = current.modelPolicy(model === null ? "" : model);
  const parsed: JsonResult | null = bytes.byteLength == 0 ? null : parseJson(bytes, current.bodyLimits);
  const d = decideRequest(current, policy, f, parsed, new RequestDecision());
  const actions = ["lookup", "refresh", "bypass", "key-only"];
  return output(new JsonWriter().beginObject()
    .stringField("action", actions[d.action])
    .stringField("reason", reasonName(d.reason))
    .stringField("status", cacheStatusName(d.status))
    .boolField("stream", d.stream)
    .endObject().toArrayBuffer());
}

/**
 * Whether a response may be stored (`{"status","content_type","set_cookie","cache_control",
 * "content_encoding","content_length"}`): "" or the reason's name.
 */
export function storable(factsData: usize): usize {
  const facts = parseJsonText(text(factsData)).value as JsonValue;
  const f = new ResponseFacts();
  const status = facts.get("status");
  if (status !== null) f.status = <i32>status.asInteger();
  f.contentType = optionalString(facts, "content_type");
  const cookie = facts.get("set_cookie");
  f.setCookie = cookie !== null && cookie.asBool();
  f.cacheControl = optionalString(facts, "cache_control");
  f.contentEncoding = optionalString(facts, "content_encoding");
  const length = facts.get("content_length");
  if (length !== null) f.contentLength = length.asInteger();
  const age = optionalString(facts, "age");
  if (age !== null) {
    const bytes = String.UTF8.encode(age);
    f.ageMs = ageHeaderMs(changetype<usize>(bytes), bytes.byteLength);
  }
  return outputString(reasonName(decideResponse(current, f)));
}

/**
 * remainingLifetimeMs for a model's `ttl_ms`, a cache-control value ("" for none) and an `age`
 * header value ("" for none), as a double.
 */
export function lifetime(ttlMs: u32, cacheControl: usize, age: usize): f64 {
  const f = new ResponseFacts();
  const cc = text(cacheControl);
  if (cc.length > 0) f.cacheControl = cc;
  f.freshMs = freshnessLimitMs(f.cacheControl);
  const bytes = String.UTF8.encode(text(age));
  f.ageMs = ageHeaderMs(changetype<usize>(bytes), bytes.byteLength);
  return <f64>remainingLifetimeMs(ttlMs, f);
}

/** `[[name, status], ...]`: the reason table. */
export function reasons(): usize {
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < REASONS.length; i++) w.beginArray().string(REASONS[i].name).string(cacheStatusName(REASONS[i].status)).endArray();
  return output(w.endArray().toArrayBuffer());
}

export function bodyKind(contentType: usize): i32 {
  return bodyKindOf(text(contentType));
}

export function directive(value: usize, name: usize): i32 {
  return hasDirective(text(value), text(name)) ? 1 : 0;
}

/** freshnessLimitMs of a cache-control value, as a double (-1: no limit). */
export function freshness(value: usize): f64 {
  return <f64>freshnessLimitMs(text(value));
}

/** The record, or an empty buffer when encodeEntry refuses the fields. */
export function encode(keyData: usize, storedAt: u64, expiresAt: u64, status: i32, kind: i32, contentType: usize, body: usize): usize {
  const r = encodeEntry(input(keyData), storedAt, expiresAt, status, <BodyKind>kind, text(contentType), input(body));
  return output(r === null ? new ArrayBuffer(0) : r);
}

/** `{"key","stored_at","expires_at","status","kind","content_type","body"}` (hex key, body as hex) or null. */
export function decode(data: usize): usize {
  const e = decodeEntry(input(data));
  const w = new JsonWriter();
  if (e === null) return output(w.null().toArrayBuffer());
  w.beginObject()
    .stringField("key", toHex(e.key))
    // as strings: u64 milliseconds may exceed 2^53
    .stringField("stored_at", e.storedAtMs.toString())
    .stringField("expires_at", e.expiresAtMs.toString())
    .integerField("status", e.status)
    .integerField("kind", e.kind)
    .stringField("content_type", e.contentType)
    .stringField("body", toHex(e.body()));
  return output(w.endObject().toArrayBuffer());
}

// The time `slotState`'s clock gives, and how often `readSlot` read it.
let slotNow: u64 = 0;
let slotClockReads: i32 = 0;
function slotClock(): u64 {
  slotClockReads++;
  return slotNow;
}

/** SlotState of a slot's bytes for a key at a time, for a reader serving records up to `maxAgeMs` old. */
export function slotState(data: usize, keyData: usize, nowMs: u64, maxAgeMs: u64): i32 {
  slotNow = nowMs;
  return readSlot(input(data), input(keyData), slotClock, maxAgeMs).state;
}

/** Clock readings by `slotState` so far. */
export function slotStateClockReads(): i32 {
  return slotClockReads;
}

export function slot(keyData: usize, slots: u32): u32 {
  return slotOf(input(keyData), slots);
}

export function slotKeyOf(slotNumber: u32): usize {
  return outputString(slotKey(slotNumber));
}

export function redisKeyOf(prefix: usize, tenant: usize, shared: i32, hex: usize): usize {
  return outputString(redisKey(text(prefix), text(tenant), shared != 0, text(hex)));
}

/**
 * Feeds `data` to an SseReader in pieces cut at the u32 positions in `cuts`:
 * `{"events":[[type, data], ...],"done","failed","count"}`.
 */
export function sseRead(data: usize, cuts: usize, maxBytes: i32, keepEvents: i32): usize {
  const bytes = input(data);
  const at = input(cuts);
  const reader = new SseReader(<i64>maxBytes, keepEvents != 0);
  let from = 0;
  for (let i = 0; i + 4 <= at.byteLength; i += 4) {
    const cut = <i32>load<u32>(changetype<usize>(at) + <usize>i);
    if (cut < from || cut > bytes.byteLength) continue;
    reader.feed(bytes.slice(from, cut));
    from = cut;
  }
  reader.feed(bytes.slice(from));
  const events = reader.take();
  const w = new JsonWriter().beginObject();
  w.key("events").beginArray();
  for (let i = 0; i < events.length; i++) w.beginArray().string(events[i].type).string(events[i].text).endArray();
  w.endArray();
  return output(w.boolField("done", reader.done).boolField("failed", reader.failed).integerField("count", reader.count).endObject().toArrayBuffer());
}

function conversion(body: ArrayBuffer | null, reason: i32, detail: string): usize {
  const w = new JsonWriter().beginObject();
  if (body === null) w.nullField("body");
  else w.stringField("body", String.UTF8.decode(body));
  return output(w.stringField("reason", reasonName(reason)).stringField("detail", detail).endObject().toArrayBuffer());
}

export function toJson(data: usize, maxOut: i32): usize {
  const bytes = input(data);
  const c = sseToJson(bytes, 0, bytes.byteLength, maxOut);
  return conversion(c.body, c.reason, c.detail);
}

export function toSse(data: usize, maxOut: i32): usize {
  const bytes = input(data);
  const c = jsonToSse(bytes, 0, bytes.byteLength, maxOut);
  return conversion(c.body, c.reason, c.detail);
}

/** What a hit on the record `data` sends: `{"body","content_type","converted","reason","detail"}`. */
export function replay(data: usize, stream: i32, maxOut: i32): usize {
  const e = decodeEntry(input(data));
  const w = new JsonWriter().beginObject();
  if (e === null) return output(w.nullField("body").stringField("reason", "no entry").endObject().toArrayBuffer());
  const r = replayFor(e, stream != 0, maxOut);
  if (r.reason != 0) w.nullField("body");
  else w.stringField("body", String.UTF8.decode(r.source.slice(r.offset, r.offset + r.length)));
  return output(w.stringField("content_type", r.contentType).boolField("converted", r.converted)
    .stringField("reason", reasonName(r.reason)).stringField("detail", r.detail).endObject().toArrayBuffer());
}

/** A full collection (the minimal runtime collects only when told); call between test calls. */
export function collect(): void {
  __collect();
}
