// Test entry for token-bucket's pure logic (assembly/ratelimit and plugins/token-bucket's config,
// estimate, usage scanner and headers), compiled by host-tests/token-bucket/build.ts into
// build/pure/token-bucket.wasm. Bytes cross the boundary as in host-tests/pure/io.ts. Besides
// env.proxy_log (reached only through abort) it imports the test's shared data:
// env.tb_store_read and env.tb_store_write, so that several instances of this module (the
// workers) race on one JavaScript store, which can interleave them and inject conflicts.
import { Limit, wholeUnits } from "../../assembly/ratelimit/bucket";
import {
  BucketId, BucketIds, BucketScope, RECORD_BYTES, SlotRecord, SlotState, decodeRecord, encodeRecordBuffer, slotKey, writeSlotKey,
} from "../../assembly/ratelimit/record";
import { BucketLimits, BucketTable, ReadStatus, SlotStore, TakeResult, Want, WriteStatus } from "../../assembly/ratelimit/table";
import { toHex } from "../../assembly/crypto/sha256";
import { JsonValue, JsonWriter, parseJson } from "../../assembly/json/index";
import { ModelLimits, TokenBucketConfig, parseConfig } from "../../plugins/token-bucket/config";
import { ERRORS, ErrorKind, errorBody } from "../../plugins/token-bucket/errors";
import { Fault, LimitField, TokenRequest, apiOfPath, readOpaqueRequest, readTokenRequest, rewriteMaxTokens } from "../../plugins/token-bucket/estimate";
import { decimalText, durationText, retryAfterSeconds } from "../../plugins/token-bucket/headers";
import { STATS } from "../../plugins/token-bucket/metrics";
import { UsageScanner } from "../../plugins/token-bucket/usage";
import { input, output, outputString } from "../pure/io";

export { alloc, byteLength, release } from "../pure/io";

function text(ptr: usize): string {
  return String.UTF8.decode(input(ptr));
}

/** A full collection (the minimal runtime collects only when told); call between test calls. */
export function collect(): void {
  __collect();
}

// ---- configuration

let current: TokenBucketConfig = new TokenBucketConfig();

function writeLimit(w: JsonWriter, name: string, l: Limit | null): void {
  w.key(name);
  if (l === null) {
    w.null();
    return;
  }
  w.beginObject().integerField("per_minute", l.perMinute).integerField("burst", l.burst).endObject();
}

function writeBuckets(w: JsonWriter, name: string, b: BucketLimits | null): void {
  w.key(name);
  if (b === null) {
    w.null();
    return;
  }
  w.beginObject();
  writeLimit(w, "requests", b.requests);
  writeLimit(w, "tokens", b.tokens);
  w.endObject();
}

function writeModel(w: JsonWriter, m: ModelLimits, isDefault: bool = false): void {
  w.beginObject();
  if (isDefault) w.boolField("per_model", m.perModel);
  w.boolField("per_version", m.perVersion);
  writeBuckets(w, "tenant", m.tenant);
  writeBuckets(w, "total", m.total);
  w.endObject();
}

/** Sets the configuration the other functions use; returns `{"error":...}` or the derived config. */
export function setConfig(data: usize): usize {
  const r = parseConfig(input(data));
  const w = new JsonWriter();
  if (r.config === null) return output(w.beginObject().stringField("error", r.error).endObject().toArrayBuffer());
  const cfg = r.config as TokenBucketConfig;
  current = cfg;
  w.beginObject()
    .stringField("tenant_header", cfg.tenantHeader)
    .boolField("shadow", cfg.shadow)
    .boolField("failure_mode_deny", cfg.failureModeDeny)
    .integerField("slots", cfg.slots)
    .integerField("cas_retries", cfg.casRetries)
    .integerField("max_body_bytes", cfg.maxBodyBytes)
    .integerField("max_json_depth", cfg.maxJsonDepth)
    .integerField("bytes_per_token", cfg.bytesPerToken)
    .integerField("default_max_tokens", cfg.defaultMaxTokens)
    .boolField("clamp_max_tokens", cfg.clampMaxTokens)
    .integerField("clamp_min_tokens", cfg.clampMinTokens);
  w.key("prompt_fields").beginArray();
  for (let i = 0; i < cfg.promptFields.length; i++) w.string(cfg.promptFields[i]);
  w.endArray();
  w.key("models").beginObject();
  for (let i = 0; i < cfg.models.length; i++) {
    w.key(cfg.models[i].name);
    writeModel(w, cfg.models[i]);
  }
  w.endObject();
  w.key("default");
  const other = cfg.otherModels;
  if (other === null) w.null();
  else writeModel(w, other, true);
  return output(w.endObject().toArrayBuffer());
}

/** The model whose limits apply to `name`: its name, "*" for the default, "" for none. */
export function limitsOf(name: usize): usize {
  const m = current.limitsOf(text(name));
  return outputString(m === null ? "" : m.name.length == 0 ? "*" : m.name);
}

// ---- bucket arithmetic

export function refill(perMinute: i64, burst: i64, level: i64, elapsedMs: i64): i64 {
  return new Limit(perMinute, burst).refill(level, elapsedMs);
}

export function msUntil(perMinute: i64, burst: i64, level: i64, target: i64): i64 {
  return new Limit(perMinute, burst).msUntil(level, target);
}

export function addLevel(perMinute: i64, burst: i64, level: i64, delta: i64): i64 {
  return new Limit(perMinute, burst).add(level, delta);
}

export function whole(level: i64): i64 {
  return wholeUnits(level);
}

// ---- record and ids

/** Encodes a record from `{"owner":"<32 hex>","updated_ms","full_at_ms","requests","tokens"}` (numbers as strings). */
export function encodeRecordOf(data: usize): usize {
  const doc = (parseJson(input(data)).value as JsonValue);
  const rec = new SlotRecord();
  const owner = (doc.get("owner") as JsonValue).asString();
  rec.owner0 = hexU64(owner, 0);
  rec.owner1 = hexU64(owner, 16);
  rec.updatedMs = U64.parseInt((doc.get("updated_ms") as JsonValue).asString());
  rec.fullAtMs = U64.parseInt((doc.get("full_at_ms") as JsonValue).asString());
  rec.requests = I64.parseInt((doc.get("requests") as JsonValue).asString());
  rec.tokens = I64.parseInt((doc.get("tokens") as JsonValue).asString());
  return output(encodeRecordBuffer(rec));
}

/** Decodes bytes: `{"state":"free|owned|malformed", ...fields as strings}`. */
export function decodeRecordOf(data: usize): usize {
  const bytes = input(data);
  const rec = new SlotRecord();
  const state = decodeRecord(changetype<usize>(bytes), bytes.byteLength, rec);
  const w = new JsonWriter().beginObject();
  w.stringField("state", state == SlotState.Free ? "free" : state == SlotState.Owned ? "owned" : "malformed");
  w.stringField("owner", u64Hex(rec.owner0) + u64Hex(rec.owner1));
  w.stringField("updated_ms", rec.updatedMs.toString());
  w.stringField("full_at_ms", rec.fullAtMs.toString());
  w.stringField("requests", rec.requests.toString());
  w.stringField("tokens", rec.tokens.toString());
  return output(w.endObject().toArrayBuffer());
}

export function recordBytes(): i32 {
  return RECORD_BYTES;
}

/** Slot key as the string helper and as the byte writer give it (must agree): "a|b". */
export function slotKeys(slot: u32): usize {
  const buf = new ArrayBuffer(32);
  const n = writeSlotKey(slot, changetype<usize>(buf));
  return outputString(slotKey(slot) + "|" + String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>n));
}

const ids = new BucketIds();

/** Hex of a bucket id (32 digits, owner bytes in order). Limits 0: dimension not limited. */
export function bucketIdOf(scope: i32, model: usize, version: usize, tenant: usize, rpm: i64, rburst: i64, tpm: i64, tburst: i64): usize {
  const out = new BucketId();
  ids.compute(<BucketScope>scope, text(model), text(version), text(tenant),
    rpm > 0 ? new Limit(rpm, rburst) : null, tpm > 0 ? new Limit(tpm, tburst) : null, out);
  return outputString(u64Hex(out.lo) + u64Hex(out.hi));
}

const FIXED_REQUESTS = new Limit(60, 60);
const FIXED_TOKENS = new Limit(1000, 1000);

/** `bucketIdOf` with one pair of limit objects for every call, as a configured filter has (the ids' cache applies). */
export function bucketIdFixed(scope: i32, model: usize, version: usize, tenant: usize): usize {
  const out = new BucketId();
  ids.compute(<BucketScope>scope, text(model), text(version), text(tenant), FIXED_REQUESTS, FIXED_TOKENS, out);
  return outputString(u64Hex(out.lo) + u64Hex(out.hi));
}

/** Little-endian bytes of `v` as hex. */
function u64Hex(v: u64): string {
  const b = new ArrayBuffer(8);
  store<u64>(changetype<usize>(b), v);
  return toHex(b);
}

function hexU64(hex: string, at: i32): u64 {
  let v: u64 = 0;
  for (let i = 7; i >= 0; i--) {
    const hiNib = hexDigit(hex.charCodeAt(at + 2 * i));
    const loNib = hexDigit(hex.charCodeAt(at + 2 * i + 1));
    v = (v << 8) | <u64>((hiNib << 4) | loNib);
  }
  return v;
}

function hexDigit(c: i32): i32 {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

// ---- the table over the test's store (several instances race on it)

// @ts-ignore: decorator
@external("env", "tb_store_read")
declare function storeRead(slot: u32, into: usize, room: i32, out: usize): i32;
// @ts-ignore: decorator
@external("env", "tb_store_write")
declare function storeWrite(slot: u32, from: usize, len: i32, cas: u32): i32;

const OUT = memory.data(8, 8);

class TestStore extends SlotStore {
  read(slot: u32, into: usize): ReadStatus {
    const st = storeRead(slot, into, RECORD_BYTES, OUT);
    if (st != 0) return st == 1 ? ReadStatus.Absent : ReadStatus.Error;
    this.cas = load<u32>(OUT);
    this.length = load<i32>(OUT, 4);
    return ReadStatus.Ok;
  }

  write(slot: u32, from: usize, cas: u32): WriteStatus {
    const st = storeWrite(slot, from, RECORD_BYTES, cas);
    return st == 0 ? WriteStatus.Ok : st == 1 ? WriteStatus.Conflict : WriteStatus.Error;
  }
}

let table: BucketTable = new BucketTable(new TestStore(), 1, 0);
let limits: BucketLimits = new BucketLimits(null, null);
const result = new TakeResult();
const want = new Want();
const id = new BucketId();

/** A table of `slots` slots over the test's store, and the limits takes use (per minute 0: none). */
export function tableConfigure(slots: u32, retries: i32, rpm: i64, rburst: i64, tpm: i64, tburst: i64): void {
  table = new BucketTable(new TestStore(), slots, retries);
  limits = new BucketLimits(rpm > 0 ? new Limit(rpm, rburst) : null, tpm > 0 ? new Limit(tpm, tburst) : null);
}

export function tableCreate(): i32 {
  return table.createSlots() ? 1 : 0;
}

/** Takes from bucket (lo, hi); returns the Take status; `takeResult` says the rest. */
export function tableTake(lo: u64, hi: u64, requests: i64, tokens: i64, minTokens: i64, base: i64, step: i64, nowMs: u64): i32 {
  id.lo = lo;
  id.hi = hi;
  want.set(requests, tokens, minTokens, base, step);
  return <i32>table.take(id, limits, want, nowMs, result).status;
}

/** The last take: [slot, granted, requestsLevel, tokensLevel, refusedRequests, refusedTokens, retryAfterMs, conflicts]. */
export function takeResult(field: i32): i64 {
  switch (field) {
    case 0: return <i64>result.slot;
    case 1: return result.granted;
    case 2: return result.requestsLevel;
    case 3: return result.tokensLevel;
    case 4: return result.refusedRequests ? 1 : 0;
    case 5: return result.refusedTokens ? 1 : 0;
    case 6: return result.retryAfterMs;
    default: return <i64>result.conflicts;
  }
}

export function tableGive(slot: u32, lo: u64, hi: u64, requests: i64, tokens: i64, nowMs: u64): i32 {
  id.lo = lo;
  id.hi = hi;
  return <i32>table.give(slot, id, limits, requests, tokens, nowMs);
}

export function giveConflicts(): i32 {
  return table.giveConflicts;
}

export function homeOf(lo: u64, hi: u64): u32 {
  id.lo = lo;
  id.hi = hi;
  return table.home(id);
}

// ---- estimate and rewrite

function writeRequest(w: JsonWriter, req: TokenRequest): void {
  w.integerField("prompt", req.prompt)
    .integerField("max_tokens", req.maxTokens)
    .boolField("explicit", req.explicit)
    .integerField("given_field", req.givenField)
    .integerField("choices", req.choices)
    .integerField("reservation", req.reservation)
    .stringField("fault", req.fault == Fault.None ? "" : req.fault == Fault.NotInteger ? "not_integer" : req.fault == Fault.BelowMinimum ? "below_minimum" : "above_maximum")
    .stringField("fault_field", req.faultField)
    .stringField("fault_value", req.faultValue);
}

/** The reservation of a body under the current configuration (`{"parsed":false,...}` when it is read as opaque). */
export function estimate(body: usize, api: i32): usize {
  const bytes = input(body);
  const req = new TokenRequest();
  const parsed = parseJson(bytes, current.bodyLimits);
  const w = new JsonWriter().beginObject();
  if (!parsed.ok || parsed.value === null) {
    readOpaqueRequest(bytes.byteLength, current.bytesPerToken, current.defaultMaxTokens, req);
    w.boolField("parsed", false);
  } else {
    readTokenRequest(parsed.value as JsonValue, bytes.byteLength, current.promptFields, current.bytesPerToken, current.defaultMaxTokens, <LimitField>api, req);
    w.boolField("parsed", true);
  }
  writeRequest(w, req);
  return output(w.endObject().toArrayBuffer());
}

/** The API a request path calls, by its limit field (0 max_tokens, 2 max_output_tokens). */
export function limitFieldForPath(path: usize): i32 {
  const bytes = input(path);
  return <i32>apiOfPath(changetype<usize>(bytes), bytes.byteLength);
}

/**
 * The body, read as a request to `api` (a LimitField), with its completion limit lowered to
 * `maxTokens`, or the API's field added; the body itself when nothing changes, "" when not an object.
 */
export function rewrite(body: usize, maxTokens: i64, api: i32): usize {
  const bytes = input(body);
  const req = new TokenRequest();
  const parsed = parseJson(bytes, current.bodyLimits);
  if (!parsed.ok || parsed.value === null) return outputString("");
  readTokenRequest(parsed.value as JsonValue, bytes.byteLength, current.promptFields, current.bytesPerToken, current.defaultMaxTokens, <LimitField>api, req);
  const out = rewriteMaxTokens(bytes, req, maxTokens, <LimitField>api);
  return out === null ? outputString("") : output(out.slice(0));
}

// ---- usage

/**
 * Feeds `data` to a scanner in pieces cut at the u32 offsets in `cuts`; returns
 * `{"found","tokens","prompt","completion","rejected"}`.
 */
export function scanUsage(data: usize, cuts: usize): usize {
  const bytes = input(data);
  const c = input(cuts);
  const scanner = new UsageScanner();
  let at = 0;
  const n = c.byteLength >> 2;
  for (let i = 0; i <= n; i++) {
    const end = i < n ? <i32>load<u32>(changetype<usize>(c) + (<usize>i << 2)) : bytes.byteLength;
    if (end > at) scanner.feedRaw(changetype<usize>(bytes) + <usize>at, end - at);
    if (end > at) at = end;
  }
  const w = new JsonWriter().beginObject()
    .boolField("found", scanner.found)
    .integerField("tokens", scanner.tokens)
    .integerField("prompt", scanner.promptTokens)
    .integerField("completion", scanner.completionTokens)
    .integerField("rejected", scanner.rejected);
  return output(w.endObject().toArrayBuffer());
}

// ---- headers, errors, stats

export function duration(ms: i64): usize {
  return outputString(durationText(ms));
}

export function decimal(v: i64): usize {
  return outputString(decimalText(v));
}

export function retryAfter(ms: i64): i64 {
  return retryAfterSeconds(ms);
}

/** `[[name, status, type, code, body], ...]` for every ErrorKind. */
export function errors(): usize {
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < ERRORS.length; i++) {
    const e = ERRORS[i];
    w.beginArray().string(e.name).integer(e.status).string(e.type).string(e.code);
    w.string(String.UTF8.decode(errorBody(<ErrorKind>i, "msg", i == <i32>ErrorKind.InvalidCount ? "max_tokens" : "", "")));
    w.endArray();
  }
  return output(w.endArray().toArrayBuffer());
}

export function stats(): usize {
  const w = new JsonWriter().beginArray();
  for (let i = 0; i < STATS.length; i++) w.beginArray().string(STATS[i].name).string(STATS[i].meaning).endArray();
  return output(w.endArray().toArrayBuffer());
}
