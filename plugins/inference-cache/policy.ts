// What may be cached: the request decision (look up, refresh, bypass with a reason, or only emit
// the key) and whether a response may be stored. Pure: the stage passes header values, the parsed
// body and the configuration, and turns the outcome into `x-ai-cache` / `x-ai-cache-reason`.

import { BodyKind, CacheEntry, MAX_CONTENT_TYPE_BYTES, entrySize } from "../../assembly/cache/entry";
import { E_DEPTH, E_SIZE, E_VALUES, JsonCheck, JsonLimits, JsonResult, JsonValue, checkJsonAt, parseJsonText } from "../../assembly/json/index";

/**
 * The member of an answer that says it is an error: `{"error": {...}}`, as servers send it in a
 * 200 body or in a stream's event (vLLM when generation fails mid-stream). Never stored.
 */
export const ERROR_MEMBER = "error";
import { F_ESCAPED, F_NON_ASCII, nodeStringEquals } from "../../assembly/json/reader";
import { CacheConfig, ModelPolicy } from "./config";
import { KeyRules } from "./key";
import { regionEqualsIgnoreCase, sameAscii } from "../../assembly/runtime/bytes";

/** The value of `x-ai-cache`. */
export enum CacheStatus { Hit, Miss, Bypass, Refresh }

export const CACHE_STATUS_NAMES: string[] = ["HIT", "MISS", "BYPASS", "REFRESH"];

/** Why: the value of `x-ai-cache-reason` (names in REASONS, in this order). */
export enum Reason {
  /** Nothing to report (a storable response). */
  None,
  // HIT
  LocalHit,
  SharedHit,
  // MISS: the request was looked up and went upstream
  NotFound,
  Expired,
  SlotCollision,
  UnreadableEntry,
  NotConvertible,
  SharedTierError,
  // REFRESH: went upstream without a lookup; the response replaces the entry
  ClientNoCache,
  // BYPASS: neither looked up nor stored
  MethodNotCached,
  NoBody,
  NotJson,
  BodyTooLarge,
  MalformedJson,
  JsonTooDeep,
  ClientNoStore,
  Nondeterministic,
  StreamNotBoolean,
  KeyOnly,
  // Not stored (with MISS or REFRESH): the response may not be kept
  StatusNotCacheable,
  ContentTypeNotCacheable,
  UpstreamSetCookie,
  UpstreamNoStore,
  UpstreamPrivate,
  UpstreamNoCache,
  UpstreamContentEncoding,
  UpstreamVary,
  ResponseTooLarge,
  StreamIncomplete,
  /** A JSON response whose body is not one JSON document (an upstream's broken answer). */
  ResponseNotJson,
  /** An answer that is an error: a JSON body or a stream event with a top-level `error`, or an `error` event. */
  UpstreamErrorBody,
  /** A stream with nothing before its `data: [DONE]`. */
  EmptyStream,
}

/** One row of the reason table. */
export class ReasonInfo {
  constructor(
    /** `x-ai-cache-reason`: stable, kebab-case. */
    public name: string,
    /** The `x-ai-cache` it goes with (response reasons: MISS, or REFRESH after a refresh). */
    public status: CacheStatus,
  ) {}
}

/** The reason table, by Reason. The README's table lists the same rows. */
export const REASONS: ReasonInfo[] = [
  new ReasonInfo("", CacheStatus.Miss),
  new ReasonInfo("local-hit", CacheStatus.Hit),
  new ReasonInfo("shared-hit", CacheStatus.Hit),
  new ReasonInfo("not-found", CacheStatus.Miss),
  new ReasonInfo("expired", CacheStatus.Miss),
  new ReasonInfo("slot-collision", CacheStatus.Miss),
  new ReasonInfo("unreadable-entry", CacheStatus.Miss),
  new ReasonInfo("not-convertible", CacheStatus.Miss),
  new ReasonInfo("shared-tier-error", CacheStatus.Miss),
  new ReasonInfo("client-no-cache", CacheStatus.Refresh),
  new ReasonInfo("method-not-cached", CacheStatus.Bypass),
  new ReasonInfo("no-body", CacheStatus.Bypass),
  new ReasonInfo("not-json", CacheStatus.Bypass),
  new ReasonInfo("body-too-large", CacheStatus.Bypass),
  new ReasonInfo("malformed-json", CacheStatus.Bypass),
  new ReasonInfo("json-too-deep", CacheStatus.Bypass),
  new ReasonInfo("client-no-store", CacheStatus.Bypass),
  new ReasonInfo("nondeterministic", CacheStatus.Bypass),
  new ReasonInfo("stream-not-boolean", CacheStatus.Bypass),
  new ReasonInfo("key-only", CacheStatus.Bypass),
  new ReasonInfo("status-not-cacheable", CacheStatus.Miss),
  new ReasonInfo("content-type-not-cacheable", CacheStatus.Miss),
  new ReasonInfo("upstream-set-cookie", CacheStatus.Miss),
  new ReasonInfo("upstream-no-store", CacheStatus.Miss),
  new ReasonInfo("upstream-private", CacheStatus.Miss),
  new ReasonInfo("upstream-no-cache", CacheStatus.Miss),
  new ReasonInfo("upstream-content-encoding", CacheStatus.Miss),
  new ReasonInfo("upstream-vary", CacheStatus.Miss),
  new ReasonInfo("response-too-large", CacheStatus.Miss),
  new ReasonInfo("stream-incomplete", CacheStatus.Miss),
  new ReasonInfo("response-not-json", CacheStatus.Miss),
  new ReasonInfo("upstream-error-body", CacheStatus.Miss),
  new ReasonInfo("empty-stream", CacheStatus.Miss),
];

export function reasonName(r: Reason): string {
  return <i32>r >= 0 && <i32>r < REASONS.length ? REASONS[r].name : "";
}

export function cacheStatusName(s: CacheStatus): string {
  return CACHE_STATUS_NAMES[s];
}

// ---- requests ----

/** What the stage does with a request. */
export enum RequestAction {
  /** Look the key up; on a miss, go upstream and store a storable response. */
  Lookup,
  /** Go upstream without a lookup and store a storable response (client no-cache). */
  Refresh,
  /** Neither look up nor store; no key. */
  Bypass,
  /** Emit `x-ai-cache-key` for an external cache; neither look up nor store. */
  KeyOnly,
}

/** The request headers the decision reads (null: absent). */
export class RequestFacts {
  method: string = "POST";
  contentType: string | null = null;
  cacheControl: string | null = null;
  pragma: string | null = null;
  /** From content-length when known, else the body's size; -1 unknown; 0 no body. */
  bodyBytes: i64 = -1;
  /** The path is an embeddings API's (`isEmbeddingsPath`): nothing in the answer is sampled. */
  samplingFree: bool = false;
}

/**
 * Whether a request path (`len` bytes at `ptr`) is an embeddings API's: its last segment before
 * any query is `embeddings` (OpenAI's, Azure OpenAI's, vLLM's and llama.cpp's `/v1/embeddings`,
 * Ollama's `/api/embeddings`) or `embed` (Hugging Face TEI's `/embed`, Ollama's `/api/embed`).
 * An embedding is not sampled: no temperature or seed takes part, the same input gives the same
 * vector, so such a request is cached without temperature 0 or a seed.
 */
export function isEmbeddingsPath(ptr: usize, len: i32): bool {
  let end = 0;
  while (end < len && load<u8>(ptr + <usize>end) != 0x3F) end++; // ?
  // A trailing slash ends no segment of its own.
  if (end > 0 && load<u8>(ptr + <usize>(end - 1)) == 0x2F) end--;
  let start = end;
  while (start > 0 && load<u8>(ptr + <usize>(start - 1)) != 0x2F) start--;
  const n = end - start;
  const p = ptr + <usize>start;
  return (n == 10 && sameAscii(p, "embeddings")) || (n == 5 && sameAscii(p, "embed"));
}

export class RequestDecision {
  action: RequestAction = RequestAction.Bypass;
  reason: Reason = Reason.None;
  /** The body asks for a stream (`"stream": true`): answer hits as SSE. */
  stream: bool = false;

  set(action: RequestAction, reason: Reason): RequestDecision {
    this.action = action;
    this.reason = reason;
    return this;
  }

  /** The `x-ai-cache` value before any lookup (Lookup is reported once the lookup is done). */
  get status(): CacheStatus {
    if (this.action == RequestAction.Refresh) return CacheStatus.Refresh;
    if (this.action == RequestAction.Lookup) return CacheStatus.Miss;
    return CacheStatus.Bypass;
  }
}

/**
 * What the request headers alone decide: a Bypass reason, or None to read the body. Lets the
 * stage pass a request on without buffering its body.
 */
export function decideOnHeaders(cfg: CacheConfig, facts: RequestFacts): Reason {
  if (facts.method != "POST") return Reason.MethodNotCached;
  if (clientNoStore(facts)) return Reason.ClientNoStore;
  const ct = facts.contentType;
  if (ct !== null && !isJsonMediaType(ct)) return Reason.NotJson;
  if (facts.bodyBytes == 0) return Reason.NoBody;
  if (facts.bodyBytes > <i64>cfg.maxBodyBytes) return Reason.BodyTooLarge;
  return Reason.None;
}

/**
 * The whole request decision. `parsed` is the body parsed with `cfg.bodyLimits` (null when
 * there is no body). Order: method, client no-store, content type, size, JSON, a `stream` that
 * is not a boolean, determinism (an embeddings path needs none), then key-only, client no-cache
 * (Refresh), else Lookup.
 */
export function decideRequest(
  cfg: CacheConfig, model: ModelPolicy, facts: RequestFacts, parsed: JsonResult | null,
  out: RequestDecision = new RequestDecision(),
): RequestDecision {
  out.stream = false;
  const early = decideOnHeaders(cfg, facts);
  if (early != Reason.None) return out.set(RequestAction.Bypass, early);
  if (parsed === null) return out.set(RequestAction.Bypass, Reason.NoBody);
  if (!parsed.ok || parsed.value === null) {
    const e = parsed.error;
    const reason = e == E_DEPTH ? Reason.JsonTooDeep : e == E_SIZE || e == E_VALUES ? Reason.BodyTooLarge : Reason.MalformedJson;
    return out.set(RequestAction.Bypass, reason);
  }
  const body = parsed.value as JsonValue;
  findSampling(body);
  out.stream = streamFound(body);
  // `stream` as 1 or "true": a server in pydantic's lax mode (vLLM's) streams, a strict one
  // refuses, the cache's reader would take it as false; whichever answer was stored, another
  // client's request of the same key could be served the other kind.
  if (streamNode >= 0 && !streamNodeIsBoolOrNull(body)) return out.set(RequestAction.Bypass, Reason.StreamNotBoolean);
  if (!model.cacheNondeterministic && !facts.samplingFree && !deterministicFound(body, cfg.rules)) {
    return out.set(RequestAction.Bypass, Reason.Nondeterministic);
  }
  if (cfg.keyOnly) return out.set(RequestAction.KeyOnly, Reason.KeyOnly);
  if (clientNoCache(facts)) return out.set(RequestAction.Refresh, Reason.ClientNoCache);
  return out.set(RequestAction.Lookup, Reason.None);
}

/**
 * Temperature 0 (explicit, or absent with a configured default of 0), or a non-null `seed`.
 * Anything but an object is not deterministic: it has no sampling parameters to tell.
 */
export function isDeterministic(body: JsonValue, rules: KeyRules): bool {
  findSampling(body);
  return deterministicFound(body, rules);
}

/** `"stream": true` (the last `stream` member, as the upstream reads it). */
export function isStreamRequest(body: JsonValue): bool {
  findSampling(body);
  return streamFound(body);
}

// Value nodes of the last `seed`, `temperature` and `stream` members of the body `findSampling`
// read (-1: absent, or not an object), found in one pass over its members.
let seedNode: i32 = -1;
let temperatureNode: i32 = -1;
let streamNode: i32 = -1;

function findSampling(body: JsonValue): void {
  seedNode = -1;
  temperatureNode = -1;
  streamNode = -1;
  if (!body.isObject()) return;
  const tree = body.tree;
  const base = changetype<usize>(tree.source);
  const count = body.length;
  let n = body.node + 1;
  for (let i = 0; i < count; i++) {
    const from = tree.word(n, 1) + 1;
    const len = tree.word(n, 2) - 1 - from;
    if ((tree.word(n, 0) & (F_ESCAPED | F_NON_ASCII)) == 0) {
      // A plain ASCII name is one of the three only at its exact length: one comparison at most.
      const p = base + <usize>from;
      if (len == 4) {
        if (sameAscii(p, "seed")) seedNode = n + 1;
      } else if (len == 11) {
        if (sameAscii(p, "temperature")) temperatureNode = n + 1;
      } else if (len == 6) {
        if (sameAscii(p, "stream")) streamNode = n + 1;
      }
    } else if (len >= 4) {
      // Escapes make a name longer in the source, never shorter.
      if (nodeStringEquals(tree, n, "seed")) seedNode = n + 1;
      else if (nodeStringEquals(tree, n, "temperature")) temperatureNode = n + 1;
      else if (nodeStringEquals(tree, n, "stream")) streamNode = n + 1;
    }
    n = tree.skip(n + 1);
  }
}

function deterministicFound(body: JsonValue, rules: KeyRules): bool {
  if (!body.isObject()) return false;
  const v = memberScratch(body);
  // An integer seed: servers take another type as no seed (llama.cpp then draws one at random).
  if (seedNode >= 0 && v.bind(body.tree, seedNode).isNumber() && v.isInteger()) return true;
  if (temperatureNode >= 0) {
    v.bind(body.tree, temperatureNode);
    // A temperature spelt `0` is zero without converting it.
    if (v.end - v.start == 1 && v.isNumber() && load<u8>(changetype<usize>(body.tree.source) + <usize>v.start) == 0x30) return true;
    return v.isNumber() && v.asNumber() == 0;
  }
  const def = rules.defaultOf("temperature");
  // The canonical form of every spelling of zero is "0".
  return def !== null && def.byteLength == 1 && load<u8>(changetype<usize>(def)) == 0x30;
}

function streamNodeIsBoolOrNull(body: JsonValue): bool {
  const v = memberScratch(body).bind(body.tree, streamNode);
  return v.isBool() || v.isNull();
}

function streamFound(body: JsonValue): bool {
  return streamNode >= 0 && memberScratch(body).bind(body.tree, streamNode).asBool();
}

// One value object for the members the decision reads, bound to each in turn (no allocation).
let memberValue: JsonValue | null = null;

/** Lets go of the document the member value was last bound to (a pooled parse may be dropped). */
export function releaseMemberScratch(): void {
  const v = memberValue;
  if (v !== null) v.bind(RELEASED.tree, 0);
}

const RELEASED = (parseJsonText("null").value as JsonValue);

function memberScratch(body: JsonValue): JsonValue {
  const v = memberValue;
  if (v !== null) return v;
  const made = new JsonValue(body.tree, body.node);
  memberValue = made;
  return made;
}

function clientNoStore(facts: RequestFacts): bool {
  const cc = facts.cacheControl;
  return cc !== null && hasDirective(cc, "no-store");
}

/** `cache-control: no-cache`, or `pragma: no-cache` without a cache-control (RFC 9111 §5.4). */
function clientNoCache(facts: RequestFacts): bool {
  const cc = facts.cacheControl;
  if (cc !== null) return hasDirective(cc, "no-cache");
  const pragma = facts.pragma;
  return pragma !== null && hasDirective(pragma, "no-cache");
}

// ---- responses ----

/** The response headers the decision reads (null: absent). */
export class ResponseFacts {
  status: i32 = 200;
  contentType: string | null = null;
  setCookie: bool = false;
  cacheControl: string | null = null;
  contentEncoding: string | null = null;
  /** The first `vary` (null when absent), and whether there were more. */
  vary: string | null = null;
  varyRepeated: bool = false;
  /** -1 when unknown (chunked, or a stream). */
  contentLength: i64 = -1;
  /** The upstream's `age` (`ageHeaderMs`): how old the response already is, in ms; 0 without one. */
  ageMs: i64 = 0;
  /** `freshnessLimitMs` of `cacheControl`, worked out once by `decideResponse` for `remainingLifetimeMs`. */
  freshMs: i64 = -1;
}

/**
 * Whether a response may be stored, as far as its headers tell: None, or the reason it may not.
 * The body's size is checked again as it arrives (`maxStoredBodyBytes`).
 */
export function decideResponse(cfg: CacheConfig, facts: ResponseFacts): Reason {
  if (facts.status != 200) return Reason.StatusNotCacheable;
  const ct = facts.contentType;
  if (ct === null || bodyKindOf(ct) == BodyKind.None || ct.length > MAX_CONTENT_TYPE_BYTES) return Reason.ContentTypeNotCacheable;
  if (facts.setCookie) return Reason.UpstreamSetCookie;
  const cc = facts.cacheControl;
  facts.freshMs = freshnessLimitMs(cc);
  if (cc !== null) {
    if (hasDirective(cc, "no-store")) return Reason.UpstreamNoStore;
    if (hasDirective(cc, "private")) return Reason.UpstreamPrivate;
    // On an event stream `no-cache` is the SSE convention telling proxies not to hold the live
    // stream back, not a policy for replays (servers send it on every stream): only a whole
    // response's `no-cache` (reuse only after revalidating, which this filter cannot) refuses.
    if (hasDirective(cc, "no-cache") && bodyKindOf(ct) != BodyKind.Sse) return Reason.UpstreamNoCache;
    // Stale at once, as no-cache, for any body: max-age=0 (s-maxage, which a shared cache obeys
    // instead, when there is one), a value that is not a number of seconds (RFC 9111 4.2.1
    // encourages caches to take invalid freshness as stale), or an `age` the response has
    // already reached.
    const fresh = facts.freshMs;
    if (fresh == 0 || (fresh > 0 && facts.ageMs >= fresh)) return Reason.UpstreamNoCache;
  }
  const enc = facts.contentEncoding;
  if (enc !== null && !isIdentity(enc)) return Reason.UpstreamContentEncoding;
  const vary = facts.vary;
  if (vary !== null && (facts.varyRepeated || !varyKeepsBody(vary))) return Reason.UpstreamVary;
  if (facts.contentLength > <i64>maxStoredBodyBytes(cfg, ct)) return Reason.ResponseTooLarge;
  return Reason.None;
}

/**
 * Request headers a `vary` may name without refusing the store: those the answer's body does not
 * depend on here. `accept-encoding` (the filter removes the client's from every request whose
 * answer it may store, so each stored answer was made without one) and the CORS request headers
 * (`origin`, `access-control-request-method`, `-headers`: CORS layers such as tower-http's, in
 * front of TGI, name them on every answer; they change the `access-control-*` headers, which a
 * hit does not replay, not the body).
 */
const VARY_KEEPS_BODY: string[] = ["accept-encoding", "origin", "access-control-request-method", "access-control-request-headers"];

/**
 * Whether an upstream's `vary` names only request headers the stored body does not depend on
 * (VARY_KEEPS_BODY). Any other name, `*` included, means the same key could deserve another
 * answer (another `authorization`, say, where the key is shared or has no tenant): not stored.
 */
export function varyKeepsBody(vary: string): bool {
  const n = vary.length;
  let i = 0;
  while (i < n) {
    // One element of the comma-separated list, without optional whitespace around it.
    i = skipSpaces(vary, i);
    let end = i;
    while (end < n && vary.charCodeAt(end) != 0x2C) end++;
    let last = end;
    while (last > i && isSpace(vary.charCodeAt(last - 1))) last--;
    if (last > i && !namesBodyFreeHeader(vary, i, last - i)) return false;
    i = end + 1;
  }
  return true;
}

function namesBodyFreeHeader(vary: string, at: i32, length: i32): bool {
  for (let k = 0; k < VARY_KEEPS_BODY.length; k++) {
    const name = unchecked(VARY_KEEPS_BODY[k]);
    if (name.length == length && regionEqualsIgnoreCase(vary, at, name)) return true;
  }
  return false;
}

/** Largest body a record of `contentType` holds within max_entry_bytes. */
export function maxStoredBodyBytes(cfg: CacheConfig, contentType: string): i32 {
  const room = <i64>cfg.maxEntryBytes - entrySize(contentType.length, 0);
  return room > 0 ? <i32>room : 0;
}

/**
 * Whether a record read from the shared tier is one this configuration would have stored: any
 * writer can reach Redis (another gateway with a larger max_entry_bytes, a SETEX through
 * Webdis), so its status, size, content type and, for JSON, its body are checked as the local
 * tier's store checks them before it is served or copied into a slot.
 */
export function sharedRecordUsable(cfg: CacheConfig, entry: CacheEntry, limits: JsonLimits): bool {
  if (entry.status != 200 || <i64>entry.source.byteLength > <i64>cfg.maxEntryBytes) return false;
  if (bodyKindOf(entry.contentType) != entry.kind) return false;
  return entry.kind != BodyKind.Json || checkJsonAt(entry.bodyPtr, entry.bodyLength, limits, ERROR_MEMBER) == JsonCheck.Json;
}

/** JSON (`application/json`, `*+json`), SSE (`text/event-stream`), or None; parameters ignored. */
export function bodyKindOf(contentType: string): BodyKind {
  if (isJsonMediaType(contentType)) return BodyKind.Json;
  return mediaTypeIs(contentType, "text/event-stream") ? BodyKind.Sse : BodyKind.None;
}

// ---- header values ----

/** `application/json` or `<type>/<subtype>+json`, any case, parameters ignored. */
export function isJsonMediaType(value: string): bool {
  // The stage hands in the same string for a repeated content type (plugin.ts, RepeatedValue):
  // one for requests and one for responses, which alternate, so the last two are remembered.
  // Both are held, so no other string can have their addresses.
  if (changetype<usize>(value) == changetype<usize>(lastMediaType)) return lastMediaTypeIsJson;
  if (changetype<usize>(value) == changetype<usize>(otherMediaType)) return otherMediaTypeIsJson;
  const json = jsonMediaType(value);
  otherMediaType = lastMediaType;
  otherMediaTypeIsJson = lastMediaTypeIsJson;
  lastMediaType = value;
  lastMediaTypeIsJson = json;
  return json;
}

let lastMediaType: string | null = null;
let lastMediaTypeIsJson: bool = false;
let otherMediaType: string | null = null;
let otherMediaTypeIsJson: bool = false;

function jsonMediaType(value: string): bool {
  const start = skipSpaces(value, 0);
  const end = mediaTypeEnd(value);
  if (end - start == 16 && regionEqualsIgnoreCase(value, start, "application/json")) return true;
  const slash = indexOfUnit(value, 0x2F, start, end);
  return slash > start && end - slash > 6 && endsWithIgnoreCase(value, end, "+json");
}

function mediaTypeIs(value: string, type: string): bool {
  const start = skipSpaces(value, 0);
  const end = mediaTypeEnd(value);
  return end - start == type.length && regionEqualsIgnoreCase(value, start, type);
}

/** End of the media type: before parameters and trailing spaces. */
function mediaTypeEnd(value: string): i32 {
  let end = indexOfUnit(value, 0x3B, 0, value.length);
  if (end < 0) end = value.length;
  while (end > 0 && isSpace(<i32>load<u16>(changetype<usize>(value) + (<usize>(end - 1) << 1)))) end--;
  return end;
}

// The first code unit `unit` of `s` in [from, to) (within the string), or -1. String#indexOf
// compares a substring at every position, many times the cost for one unit.
function indexOfUnit(s: string, unit: u32, from: i32, to: i32): i32 {
  const p = changetype<usize>(s);
  if (to > s.length) to = s.length;
  for (let i = max(from, 0); i < to; i++) {
    if (<u32>load<u16>(p + (<usize>i << 1)) == unit) return i;
  }
  return -1;
}

function isIdentity(value: string): bool {
  const start = skipSpaces(value, 0);
  let end = value.length;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  return end == start || (end - start == 8 && regionEqualsIgnoreCase(value, start, "identity"));
}

/**
 * True if a comma-separated directive list (Cache-Control, Pragma) has directive `name`
 * (lower-case), with or without a value: `no-cache`, `No-Cache`, `private="set-cookie"`. Quoted
 * values may hold commas.
 */
export function hasDirective(value: string, name: string): bool {
  return directiveAt(value, name) >= 0;
}

/**
 * The upstream's `age` header (the `len` bytes at `ptr`) in ms: how old the response was when it
 * arrived, which its freshness counts from. The first member of a list; anything but a
 * non-negative integer is ignored, 0 (RFC 9111 5.1). Beyond MAX_FRESH_SECONDS it is that.
 */
export function ageHeaderMs(ptr: usize, len: i32): i64 {
  let seconds: i64 = 0;
  let i = 0;
  while (i < len) {
    const ch = <u32>load<u8>(ptr + <usize>i);
    if (ch - 0x30 > 9) break;
    if (seconds <= MAX_FRESH_SECONDS) seconds = seconds * 10 + <i64>(ch - 0x30);
    i++;
  }
  if (i == 0) return 0;
  if (i < len) {
    const ch = load<u8>(ptr + <usize>i);
    if (ch != 0x2c && ch != 0x20 && ch != 0x09) return 0;
  }
  return (seconds > MAX_FRESH_SECONDS ? MAX_FRESH_SECONDS : seconds) * 1000;
}

/**
 * How long from now a response stays fresh in the cache, in ms: the shorter of the model's
 * `ttlMs` and the upstream's `s-maxage`/`max-age` (`freshnessLimitMs`), both counted from when
 * the response was made, so less the `age` it arrived with. An entry's age on a hit (its `age`
 * header) counts from the same moment. 0 or less: stale on arrival, not stored. Reads
 * `facts.freshMs`, which `decideResponse` fills.
 */
export function remainingLifetimeMs(ttlMs: u32, facts: ResponseFacts): i64 {
  const fresh = facts.freshMs;
  const lifetime = fresh >= 0 && fresh < <i64>ttlMs ? fresh : <i64>ttlMs;
  return lifetime - facts.ageMs;
}

/**
 * How long the response's own `cache-control` lets a shared cache keep it, in ms: `s-maxage`
 * when there is one (a shared cache obeys it over `max-age`), else `max-age`, in whole seconds;
 * -1 when neither is there. 0 when the one that counts is 0 or not a number of seconds
 * (`max-age=abc`, `max-age=-5`, `max-age` alone): stale at once (`decideResponse` refuses
 * it). The entry lives for the shorter of this and the model's `ttl_ms`
 * (`remainingLifetimeMs`): an upstream that says its answer is good for a minute is not
 * replayed for ten. A number too large to matter (over MAX_FRESH_SECONDS) is no limit.
 */
export function freshnessLimitMs(value: string | null): i64 {
  if (value === null) return -1;
  const name = hasDirective(value, "s-maxage") ? "s-maxage" : "max-age";
  let i = directiveAt(value, name);
  if (i < 0) return -1;
  const n = value.length;
  let seconds: i64 = 0;
  const from = i;
  while (i < n) {
    const ch = value.charCodeAt(i);
    if (ch < 0x30 || ch > 0x39) break;
    if (seconds <= MAX_FRESH_SECONDS) seconds = seconds * 10 + <i64>(ch - 0x30);
    i++;
  }
  // `max-age=abc`, `max-age=5s`: no number of seconds, so no freshness to trust.
  if (i == from || (i < n && value.charCodeAt(i) != 0x2c && value.charCodeAt(i) != 0x22 && !isSpace(value.charCodeAt(i)))) return 0;
  return seconds > MAX_FRESH_SECONDS ? -1 : seconds * 1000;
}

/** Seconds past which a max-age cannot shorten any `ttl_ms` (7 days, MAX_TTL_MS, and then some). */
const MAX_FRESH_SECONDS: i64 = 1_000_000_000;

/**
 * Where directive `name`'s argument starts in `value` (after `=` and an opening quote; where the
 * directive ends when it has none), or -1 when `value` lacks the directive.
 */
function directiveAt(value: string, name: string): i32 {
  const n = value.length;
  let i = 0;
  while (i < n) {
    while (i < n && (isSpace(value.charCodeAt(i)) || value.charCodeAt(i) == 0x2c)) i++;
    const start = i;
    while (i < n) {
      const ch = value.charCodeAt(i);
      if (ch == 0x3d || ch == 0x2c || isSpace(ch)) break;
      i++;
    }
    const match = i - start == name.length && i > start && regionEqualsIgnoreCase(value, start, name);
    i = skipSpaces(value, i);
    let argument = i;
    if (i < n && value.charCodeAt(i) == 0x3d) {
      i = skipSpaces(value, i + 1);
      argument = i;
      if (i < n && value.charCodeAt(i) == 0x22) {
        i++;
        argument = i;
        while (i < n && value.charCodeAt(i) != 0x22) i += value.charCodeAt(i) == 0x5c ? 2 : 1;
        i++;
      }
    }
    if (match) return argument;
    while (i < n && value.charCodeAt(i) != 0x2c) i++;
  }
  return -1;
}

function skipSpaces(s: string, i: i32): i32 {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

function isSpace(ch: i32): bool {
  return ch == 0x20 || ch == 0x09;
}


function endsWithIgnoreCase(s: string, end: i32, lower: string): bool {
  return regionEqualsIgnoreCase(s, end - lower.length, lower);
}
