// inference-cache as a pipeline stage: keys a request by its canonical form (key.ts), answers a
// fresh entry from the local tier (a fixed table of slots in Envoy shared data) or the shared tier
// (Redis through Webdis, shared.ts), and stores a storable miss once its whole response has passed
// through, chunk by chunk, without holding it. Every response says what happened: `x-ai-cache`
// (HIT, MISS, BYPASS, REFRESH) and `x-ai-cache-reason`; looked-up requests also carry
// `x-ai-cache-key`, upstream and back to the client.
//
// Inside one pipeline it reads the model and version the router resolved from the Exchange; as a
// separate entry after the router, from the router's x-ai-model and x-ai-model-version headers;
// without a router, the body's `model`. The tenant partition is the SHA-256 of `tenant_header`,
// hashed here, so a client cannot choose it by sending x-ai-tenant.

import { localReplyHeaders, nowMillis, sendLocalResponseRaw, SharedValue, WasmResult } from "../../assembly/index";
import { BodyKind, CacheEntry, SLOT_KEY_ROOM, SlotRead, SlotState, entrySize, readSlot, slotOf, restampEntry, writeEntryHead, writeSlotKey } from "../../assembly/cache/entry";
import { hexInto } from "../../assembly/crypto/sha256";
import { parseDecimalAt, writeDecimal } from "../../assembly/http/decimal";
import { RepeatedValue } from "../../assembly/host/repeated-value";
import { getSharedDataAt, setSharedDataRaw } from "../../assembly/host/shared-data";
import { keepForLoan } from "../../assembly/runtime/memory";
import { allAscii } from "../../assembly/runtime/bytes";
import { JsonCheck, JsonLimits, JsonValue, checkJsonAt } from "../../assembly/json/index";
import { ByteSink } from "../../assembly/json/sink";
import { Exchange, NamedModel, Stage, StageAction, StageConfigResult, StageKind, StageRoot, registerStage } from "../../assembly/pipeline/index";
import { TenantDigests } from "../../assembly/tenant/digests";
import { CacheConfig, ModelPolicy, parseCacheConfig } from "./config";
import { KEY_BYTES, KeyRequest, computeKeyInto } from "./key";
import { CacheMetrics, Tier } from "./metrics";
import {
  CACHE_STATUS_NAMES, CacheStatus, ERROR_MEMBER, REASONS, Reason, ReasonInfo, RequestAction, RequestDecision, RequestFacts, ResponseFacts,
  bodyKindOf, decideOnHeaders, decideRequest, ageHeaderMs, decideResponse, isEmbeddingsPath, maxStoredBodyBytes, remainingLifetimeMs, reasonName, releaseMemberScratch, sharedRecordUsable,
} from "./policy";
import { SharedReadTarget, SharedTierClient } from "./shared";
import { isJsonEventStream, Replay, SseReader, replayFor } from "./sse";

export const ROOT_ID = "inference-cache";
export const SECTION = "inference_cache";

export const CACHE_HEADER = "x-ai-cache";
export const REASON_HEADER = "x-ai-cache-reason";
export const KEY_HEADER = "x-ai-cache-key";
/** `x-ai-cache` and `x-ai-cache-reason` values as UTF-8, by CacheStatus and by Reason. */
const STATUS_BYTES = utf8Table(CACHE_STATUS_NAMES);
const REASON_BYTES = utf8Table(REASONS.map<string>((info: ReasonInfo) => info.name));
const NO_BYTES = new ArrayBuffer(0);
/**
 * How a JSON response is checked before it is stored: nesting up to 1024 (the most any stage's
 * max_json_depth allows; the walk's stack of open containers grows to it and stays), any size the
 * entry allows (max_entry_bytes bounds it before this).
 */
const RESPONSE_LIMITS = responseLimits();
// Header names as UTF-8, encoded once.
const H_CACHE = String.UTF8.encode(CACHE_HEADER);
const H_REASON = String.UTF8.encode(REASON_HEADER);
const H_KEY = String.UTF8.encode(KEY_HEADER);

function utf8Table(names: string[]): StaticArray<ArrayBuffer> {
  const out = new StaticArray<ArrayBuffer>(names.length);
  for (let i = 0; i < names.length; i++) unchecked((out[i] = String.UTF8.encode(unchecked(names[i]))));
  return out;
}

/** Record buffers kept for reuse, and the largest one kept. */
const KEEP_RECORDS: i32 = 4;
const KEEP_RECORD_BYTES: i32 = 16 << 10;
/** Largest slot record whose buffer a worker keeps for the next slot read. */
const KEEP_SLOT_BYTES: i32 = 16 << 10;

class CacheKind extends StageKind {
  fixedAcrossRoutes(): string[] {
    return ["slots", "max_entry_bytes"];
  }

  configure(config: JsonValue): StageConfigResult {
    const result = parseCacheConfig(config);
    const cfg = result.config;
    if (cfg === null) return new StageConfigResult(null, result.error);
    return new StageConfigResult(new CacheRoot(cfg), "");
  }
}

export class CacheRoot extends StageRoot {
  readonly metrics: CacheMetrics = new CacheMetrics();
  readonly digests: TenantDigests = new TenantDigests(64);
  readonly shared: SharedTierClient | null;
  /** Scratch of one request's decision and slot read: filled and read within one call. */
  readonly decision: RequestDecision = new RequestDecision();
  readonly slotRead: SlotRead = new SlotRead();
  /** The buffer the last slot read was copied into, lent for the next (`KEEP_SLOT_BYTES` at most). */
  slotBuffer: ArrayBuffer | null = null;
  readonly replay: Replay = new Replay();
  readonly responseFacts: ResponseFacts = new ResponseFacts();
  readonly keyRequest: KeyRequest = new KeyRequest();
  /** The content types of the last request and response, as strings made once for repeats. */
  readonly requestContentType: RepeatedValue = new RepeatedValue();
  readonly responseContentType: RepeatedValue = new RepeatedValue();
  /** The key of the request being handled as 64 ASCII hex digits, for header values. */
  readonly hexScratch: ArrayBuffer = new ArrayBuffer(64);
  /** The last slot read's result, filled again by the next. */
  readonly slotValue: SharedValue = new SharedValue(WasmResult.NotFound, NO_BYTES, 0);
  /** Shared-data key of the slot being read or written (`slotKeyAt`). */
  private readonly slotKeyBytes: ArrayBuffer = new ArrayBuffer(SLOT_KEY_ROOM);
  private slotKeyLength: i32 = 0;
  /** The key of the request being handled (a stage keeps its own as words: `CacheStage.keyBytes`). */
  readonly keyScratch: ArrayBuffer = new ArrayBuffer(KEY_BYTES);
  /** Record buffers of stored responses, for the next ones (at most KEEP_RECORDS). */
  private sinks: ByteSink[] = [];

  constructor(readonly cfg: CacheConfig) {
    super();
    const tier = cfg.sharedTier;
    this.shared = tier !== null ? new SharedTierClient(tier, this.metrics, this) : null;
  }

  namedModels(): NamedModel[] {
    const out = new Array<NamedModel>();
    const models = this.cfg.models;
    for (let i = 0; i < models.length; i++) {
      const name = unchecked(models[i]).name;
      out.push(new NamedModel("models." + name, name, ""));
    }
    return out;
  }

  /** Address of slot `slot`'s shared-data key as UTF-8 (`slotKeyBytesLength` bytes), until the next call. */
  slotKeyAt(slot: u32): usize {
    const p = changetype<usize>(this.slotKeyBytes);
    // A miss reads its slot and later writes it: the key is still here then.
    if (this.slotKeyLength == 0 || slot != this.slotKeySlot) {
      this.slotKeyLength = writeSlotKey(slot, p);
      this.slotKeySlot = slot;
    }
    return p;
  }

  // The slot whose key slotKeyBytes holds (once slotKeyLength > 0).
  private slotKeySlot: u32 = 0;

  get slotKeyBytesLength(): usize {
    return <usize>this.slotKeyLength;
  }

  /** Digits of a hit's `age` (a u64 of seconds has at most 20). */
  readonly ageScratch: ArrayBuffer = new ArrayBuffer(24);

  /** `key` (KEY_BYTES) as hex in hexScratch (valid until the next call). */
  hexOf(key: ArrayBuffer): ArrayBuffer {
    // A miss writes its key's hex twice, upstream and back: the second time it is still here.
    const p = changetype<usize>(key);
    if (this.hexHeld && load<u64>(p) == this.hexKey0 && load<u64>(p, 8) == this.hexKey1 &&
      load<u64>(p, 16) == this.hexKey2 && load<u64>(p, 24) == this.hexKey3) return this.hexScratch;
    hexInto(key, this.hexScratch);
    this.hexKey0 = load<u64>(p);
    this.hexKey1 = load<u64>(p, 8);
    this.hexKey2 = load<u64>(p, 16);
    this.hexKey3 = load<u64>(p, 24);
    this.hexHeld = true;
    return this.hexScratch;
  }

  // The key whose hex hexScratch holds, once `hexHeld`.
  private hexHeld: bool = false;
  private hexKey0: u64 = 0;
  private hexKey1: u64 = 0;
  private hexKey2: u64 = 0;
  private hexKey3: u64 = 0;

  /** A record buffer holding at least `capacity` bytes, empty: a returned one when there is one. */
  takeSink(capacity: i32): ByteSink {
    const pool = this.sinks;
    if (pool.length == 0) return new ByteSink(capacity);
    const sink = pool.pop();
    sink.length = 0;
    sink.reserve(capacity);
    return sink;
  }

  /** Gives a record buffer back once its record is stored (or given up); big ones are let go. */
  returnSink(sink: ByteSink): void {
    if (sink.buffer.byteLength <= KEEP_RECORD_BYTES && this.sinks.length < KEEP_RECORDS) this.sinks.push(sink);
  }

  newStage(): Stage {
    return new CacheStage(this);
  }

  seesResponse(): bool {
    return true;
  }
}

export class CacheStage extends Stage {
  private action: RequestAction = RequestAction.Bypass;
  /** The request's reason: a BYPASS reason, or the MISS reason of the lookup. */
  private reason: Reason = Reason.None;
  private stream: bool = false;
  /** The request's header facts, read at its headers: its own, as decisions span its headers and body. */
  private readonly facts: RequestFacts = new RequestFacts();
  private policy: ModelPolicy | null = null;
  private tenant: string = "";
  /** The request's key, once computed, as four words (no buffer of its own: see `keyBytes`). */
  private keyed: bool = false;
  private k0: u64 = 0;
  private k1: u64 = 0;
  private k2: u64 = 0;
  private k3: u64 = 0;
  private hexString: string = "";
  private slot: u32 = 0;
  /** The lookup found another key's entry in the slot: a store evicts it. */
  private slotTaken: bool = false;
  /** Answered from the cache (the local reply passes through the response hooks too). */
  private served: bool = false;
  // The response being stored.
  private storing: bool = false;
  private sink: ByteSink | null = null;
  private sse: SseReader | null = null;
  private limit: i32 = 0;
  // How long the entry being gathered lives: the model's ttl_ms, or less when the upstream's
  // cache-control says so.
  /** How long the response being stored stays fresh from its arrival (`remainingLifetimeMs`). */
  private ttlMs: u32 = 0;
  /** The `age` it arrived with: its entry counts its age from that much earlier. */
  private ageMs: u32 = 0;
  private kind: BodyKind = BodyKind.None;
  private contentType: string = "";
  private status: i32 = 0;
  /** Bytes of the record's head and content type before the body in `sink`. */
  private headBytes: i32 = 0;

  constructor(private root: CacheRoot) {
    super();
  }

  /** The key as 64 hex digits (made once, when a string is needed: hits, the shared tier). */
  get hex(): string {
    if (this.hexString.length == 0 && this.keyed) this.hexString = String.UTF8.decode(this.root.hexOf(this.keyBytes()));
    return this.hexString;
  }

  /** The key in the root's `keyScratch`: valid within the current call, until another stage's. */
  private keyBytes(): ArrayBuffer {
    const out = this.root.keyScratch;
    const p = changetype<usize>(out);
    store<u64>(p, this.k0);
    store<u64>(p, this.k1, 8);
    store<u64>(p, this.k2, 16);
    store<u64>(p, this.k3, 24);
    return out;
  }

  onRequestHeaders(ex: Exchange, endOfStream: bool): StageAction {
    // Client-sent copies never reach the upstream (nor masquerade as ours).
    ex.removeRequestHeader(CACHE_HEADER);
    ex.removeRequestHeader(REASON_HEADER);
    ex.removeRequestHeader(KEY_HEADER);
    // Read once, kept for the body: another stream's headers may come between.
    const facts = this.facts;
    const headers = ex.headerView();
    facts.method = ex.method();
    facts.contentType = this.root.requestContentType.of(headers, "content-type");
    facts.cacheControl = headers.get("cache-control");
    facts.pragma = headers.get("pragma");
    facts.samplingFree = headers.find(":path") && isEmbeddingsPath(headers.valuePtr, headers.valueLength);
    facts.bodyBytes = endOfStream ? 0 : ex.clientBodyLength();
    const early = decideOnHeaders(this.root.cfg, facts);
    if (early != Reason.None) return this.bypass(early);
    return StageAction.NeedBody;
  }

  maxBodyBytes(): u32 {
    return this.root.cfg.maxBodyBytes;
  }

  onBodyTooLarge(ex: Exchange, size: i64): StageAction {
    return this.bypass(Reason.BodyTooLarge);
  }

  onRequestBody(ex: Exchange): StageAction {
    const root = this.root;
    const cfg = root.cfg;
    const facts = this.facts;
    // The limit is on what the client sent: a router's rewrite of `model` before us must not
    // move it by the length of an upstream model name.
    facts.bodyBytes = <i64>ex.clientBodySize;
    const parsed = ex.json(cfg.bodyLimits);
    const doc = parsed.ok ? parsed.value : null;
    const model = ex.routedModel(doc);
    const policy = cfg.modelPolicy(model);
    this.policy = policy;
    const d = decideRequest(cfg, policy, facts, ex.bodySize == 0 ? null : parsed, root.decision);
    releaseMemberScratch();
    this.stream = d.stream;
    if (d.action == RequestAction.Bypass) return this.bypass(d.reason);
    this.action = d.action;
    this.reason = d.reason;
    // A compressed response is not stored (its body is not the record's JSON or SSE).
    if (d.action != RequestAction.KeyOnly) ex.askForIdentityBody();

    const req = root.keyRequest;
    req.method = ex.method();
    req.model = model;
    req.version = ex.routedVersion();
    req.shared = policy.shared;
    req.tenant = policy.shared ? "" : this.identify(ex);
    this.tenant = req.tenant;
    // The authority and path are read in place, after every other read of the headers (a read
    // may reload them).
    const headers = ex.headerView();
    if (headers.find(":authority")) {
      req.authorityPtr = headers.valuePtr;
      req.authorityLength = headers.valueLength;
    } else {
      req.authorityPtr = 0;
      req.authorityLength = 0;
    }
    if (!headers.find(":path")) {
      req.pathPtr = 0;
      req.pathLength = 0;
    } else if (allAscii(headers.valuePtr, headers.valueLength)) {
      req.pathPtr = headers.valuePtr;
      req.pathLength = headers.valueLength;
    } else {
      req.pathLength = -1;
      req.path = ex.path();
    }
    const key = root.keyScratch;
    computeKeyInto(cfg.rules, req, doc, changetype<usize>(key));
    req.pathLength = -1;
    req.authorityLength = -1;
    this.keepKey(key);
    ex.addRequestHeaderRaw(KEY_HEADER, H_KEY, root.hexOf(key));
    this.slot = slotOf(key, cfg.slots);
    if (d.action != RequestAction.Lookup) return StageAction.Continue; // KeyOnly, Refresh

    // Local tier: the key's slot, compared in full.
    // The host copies the slot's record into the last one's buffer when it fits (nothing holds
    // the last record any more: a hit was answered from it within its own call).
    const value = getSharedDataAt(root.slotKeyAt(this.slot), root.slotKeyBytesLength, root.slotBuffer, root.slotValue);
    root.slotBuffer = keepForLoan(value.found ? value.value : null, root.slotBuffer, KEEP_SLOT_BYTES);
    const read = readSlot(value.found ? value.value : null, key, nowMillis, <u64>policy.ttlMs, root.slotRead);
    if (read.state == SlotState.Fresh && this.serve(read.entry as CacheEntry, Tier.Local, read.nowMs)) return StageAction.Stop;
    this.slotTaken = read.state == SlotState.OtherKey;
    this.reason = read.state == SlotState.Fresh ? Reason.NotConvertible
      : read.state == SlotState.Expired ? Reason.Expired
      : read.state == SlotState.OtherKey ? Reason.SlotCollision
      : read.state == SlotState.Malformed ? Reason.UnreadableEntry
      : Reason.NotFound;
    // The record is read: a larger one than the slot buffer keeps is not held until the next lookup.
    value.value = NO_BYTES;
    read.entry = null;

    // Shared tier: asked only on a local miss; its answer resumes the request.
    const shared = root.shared;
    if (shared !== null && read.state != SlotState.Fresh) {
      if (shared.read(ex, req.tenant, policy.shared, policy.ttlMs, key, this.hex, new AnswerToStage(this, ex))) return StageAction.Pause;
      // Envoy refused the call (no such cluster, say): the same answer as a failed one.
      this.reason = Reason.SharedTierError;
    }
    root.metrics.misses.increment(1);
    return StageAction.Continue;
  }

  /** The shared tier answered (or failed: `entry` null, `reason` why). Resumes the request. */
  sharedAnswer(ex: Exchange, entry: CacheEntry | null, failure: Reason): void {
    if (entry !== null && (!sharedRecordUsable(this.root.cfg, entry, RESPONSE_LIMITS) ||
      (entry.kind == BodyKind.Sse && !isJsonEventStream(entry.bodyPtr, entry.bodyLength, RESPONSE_LIMITS)))) {
      entry = null;
      failure = Reason.UnreadableEntry;
    }
    if (entry !== null) {
      // A shared hit also fills the local slot, so this worker's next request stays local.
      const now = nowMillis();
      if (this.serve(entry, Tier.Shared, now)) {
        // Another machine's clock may run ahead of this one: a slot's record stored after this
        // clock's now reads as a clock stepped back (readSlot), so the copy is dated now.
        if (entry.storedAtMs > now) restampEntry(changetype<usize>(entry.source), now);
        this.storeLocal(changetype<usize>(entry.source), entry.source.byteLength, this.slotTaken);
        ex.resume(StageAction.Stop);
        return;
      }
      this.reason = Reason.NotConvertible;
    } else if (failure != Reason.None) {
      this.reason = failure;
    }
    this.root.metrics.misses.increment(1);
    ex.resume(StageAction.Continue);
  }

  /**
   * Answers the request from `entry` at time `now` (the local tier's slot read has the clock's
   * reading already); false when its body cannot be replayed in the form asked.
   */
  private serve(entry: CacheEntry, tier: Tier, now: u64): bool {
    const root = this.root;
    const replay = replayFor(entry, this.stream, <i32>root.cfg.maxEntryBytes << 2, root.replay);
    if (replay.reason != Reason.None) return false;
    const age = now > entry.storedAtMs ? (now - entry.storedAtMs) / 1000 : 0;
    // Headers laid out in a reused buffer and the body sent from where the replay holds it:
    // Envoy copies both before the call returns.
    const hex = root.hexOf(this.keyBytes());
    const ageDigits = changetype<usize>(root.ageScratch);
    const headers = localReplyHeaders.begin()
      .add("content-type", replay.contentType)
      .add(CACHE_HEADER, "HIT")
      .add(REASON_HEADER, reasonName(tier == Tier.Local ? Reason.LocalHit : Reason.SharedHit))
      .addBytes(KEY_HEADER, changetype<usize>(hex), hex.byteLength)
      .addBytes("age", ageDigits, writeDecimal(<i64>age, ageDigits));
    sendLocalResponseRaw(entry.status, "inference_cache.hit", changetype<usize>(replay.source) + <usize>replay.offset, replay.length, headers);
    root.metrics.hits[tier].increment(1);
    this.served = true;
    return true;
  }

  onResponseHeaders(ex: Exchange, endOfStream: bool): void {
    // Our own hit carries its headers. A later stage's local reply (token-bucket's 429) is
    // described as the response to a request with a key, as the separate entries describe it:
    // Envoy passes a later entry's local reply through this entry's response callbacks.
    if (this.served) return;
    const action = this.action;
    const root = this.root;
    if (action == RequestAction.Bypass || action == RequestAction.KeyOnly) {
      this.label(ex, CacheStatus.Bypass, this.reason);
      if (action == RequestAction.KeyOnly) this.setKeyHeader(ex);
      // Only a response to a request with a key carries one: an upstream's own copy goes.
      else ex.removeResponseHeader(KEY_HEADER);
      return;
    }
    const cfg = root.cfg;
    const facts = root.responseFacts;
    const view = ex.responseHeaderView();
    facts.status = <i32>ex.responseStatus;
    facts.contentType = root.responseContentType.of(view, "content-type");
    facts.setCookie = view.has("set-cookie");
    facts.cacheControl = view.get("cache-control");
    facts.contentEncoding = view.get("content-encoding");
    facts.vary = view.get("vary");
    facts.varyRepeated = facts.vary !== null && view.repeats("vary");
    facts.contentLength = view.find("content-length") ? parseDecimalAt(view.valuePtr, view.valueLength) : -1;
    facts.ageMs = view.find("age") ? ageHeaderMs(view.valuePtr, view.valueLength) : 0;
    let refused = decideResponse(cfg, facts);
    const remaining = refused == Reason.None ? remainingLifetimeMs((this.policy as ModelPolicy).ttlMs, facts) : 0;
    // Older on arrival than the model's ttl_ms allows: stale at once, as for max-age=0.
    if (refused == Reason.None && remaining <= 0) refused = Reason.UpstreamNoCache;
    const status = action == RequestAction.Refresh ? CacheStatus.Refresh : CacheStatus.Miss;
    this.label(ex, status, refused != Reason.None ? refused : this.reason);
    this.setKeyHeader(ex);
    if (refused != Reason.None) {
      this.root.metrics.notStoredBecause(refused);
      return;
    }
    if (action == RequestAction.Refresh) this.root.metrics.refreshes.increment(1);
    const ct = facts.contentType as string;
    this.storing = true;
    this.ttlMs = <u32>remaining;
    this.ageMs = <u32>facts.ageMs;
    this.status = facts.status;
    this.contentType = ct;
    this.kind = bodyKindOf(ct);
    this.limit = maxStoredBodyBytes(cfg, ct);
    // The record is gathered in place: room for its head and content type, then the body.
    this.headBytes = <i32>entrySize(ct.length, 0);
    const expected = facts.contentLength > 0 && facts.contentLength <= <i64>this.limit ? <i32>facts.contentLength : 4096;
    const sink = root.takeSink(this.headBytes + expected);
    sink.length = this.headBytes;
    this.sink = sink;
    // The reader checks each event's JSON as the stream passes, so the end needs no second scan.
    if (this.kind == BodyKind.Sse) this.sse = new SseReader(this.limit, false, RESPONSE_LIMITS);
    if (endOfStream) this.finish();
  }

  onResponseBody(ex: Exchange, chunkSize: u32, endOfStream: bool): void {
    if (!this.storing) return;
    const sink = this.sink as ByteSink;
    if (<i64>(sink.length - this.headBytes) + <i64>chunkSize > <i64>this.limit) return this.giveUp(Reason.ResponseTooLarge);
    const chunk = ex.responseChunk(chunkSize);
    if (chunk === null) return this.giveUp(Reason.ResponseTooLarge);
    sink.bytes(changetype<usize>(chunk), chunk.byteLength);
    const sse = this.sse;
    if (sse !== null) sse.feed(chunk);
    if (endOfStream) this.finish();
  }

  onLog(ex: Exchange): void {
    if (!this.storing) return;
    // A stream whose data: [DONE] passed is whole, even if the client left (and Envoy reset the
    // stream) before the upstream's end of the body: clients commonly stop reading at [DONE].
    const sse = this.sse;
    if (sse !== null && sse.done && !sse.failed) return this.finish();
    // Any other response that never ended (reset, client gone) is not stored.
    this.giveUp(Reason.StreamIncomplete);
  }

  // ---- helpers

  private bypass(reason: Reason): StageAction {
    this.action = RequestAction.Bypass;
    this.reason = reason;
    this.root.metrics.bypassed(reason);
    return StageAction.Continue;
  }

  private label(ex: Exchange, status: CacheStatus, reason: Reason): void {
    const s = unchecked(STATUS_BYTES[status]);
    ex.setResponseHeaderRaw(CACHE_HEADER, H_CACHE, changetype<usize>(s), s.byteLength);
    const r = <i32>reason >= 0 && <i32>reason < REASON_BYTES.length ? unchecked(REASON_BYTES[reason]) : NO_BYTES;
    ex.setResponseHeaderRaw(REASON_HEADER, H_REASON, changetype<usize>(r), r.byteLength);
  }

  private setKeyHeader(ex: Exchange): void {
    const hex = this.root.hexOf(this.keyBytes());
    ex.setResponseHeaderRaw(KEY_HEADER, H_KEY, changetype<usize>(hex), hex.byteLength);
  }

  /** Keeps the key just computed into `key` (KEY_BYTES bytes) as this stage's. */
  private keepKey(key: ArrayBuffer): void {
    const p = changetype<usize>(key);
    this.k0 = load<u64>(p);
    this.k1 = load<u64>(p, 8);
    this.k2 = load<u64>(p, 16);
    this.k3 = load<u64>(p, 24);
    this.keyed = true;
  }

  private giveUp(reason: Reason): void {
    this.storing = false;
    const sink = this.sink;
    if (sink !== null) this.root.returnSink(sink);
    this.sink = null;
    this.sse = null;
    this.root.metrics.notStoredBecause(reason);
  }

  /** The whole response is here: store it in both tiers, if it is complete. */
  private finish(): void {
    const sink = this.sink as ByteSink;
    const sse = this.sse;
    if (sse !== null && (!sse.done || sse.failed)) return this.giveUp(Reason.StreamIncomplete);
    // `data: [DONE]` and nothing before it (keep-alive comments at most): no answer to replay.
    if (sse !== null && sse.answers == 0) return this.giveUp(Reason.EmptyStream);
    // The body is checked before it is kept: a broken answer (cut short, an HTML error page
    // labelled JSON, a stream event that is not JSON) would otherwise be every client's answer
    // until the TTL ends.
    const body = sink.at(this.headBytes);
    const bodyLength = sink.length - this.headBytes;
    const check = sse !== null ? (sse.notJson ? JsonCheck.NotJson : sse.errorEvent ? JsonCheck.JsonWithMember : JsonCheck.Json)
      : checkJsonAt(body, bodyLength, RESPONSE_LIMITS, ERROR_MEMBER);
    if (check == JsonCheck.NotJson) return this.giveUp(Reason.ResponseNotJson);
    // An answer that is an error (an in-band error event, a 200 with `error`) is nobody's answer.
    if (check == JsonCheck.JsonWithMember) return this.giveUp(Reason.UpstreamErrorBody);
    this.storing = false;
    const now = nowMillis();
    const ttl = this.ttlMs;
    this.sink = null;
    this.sse = null;
    const base = changetype<usize>(sink.buffer);
    const size = sink.length;
    const madeAt = now > <u64>this.ageMs ? now - <u64>this.ageMs : 0;
    if (!writeEntryHead(base, this.keyBytes(), madeAt, now + <u64>ttl, this.status, this.kind, this.contentType, size - this.headBytes)) {
      this.root.returnSink(sink);
      return this.root.metrics.notStoredBecause(Reason.ContentTypeNotCacheable);
    }
    this.storeLocal(base, size, this.slotTaken);
    const shared = this.root.shared;
    if (shared !== null) shared.write(this.tenant, (this.policy as ModelPolicy).shared, this.hex, sink.buffer.slice(0, size), ttl);
    this.root.returnSink(sink);
  }

  /** Writes the record (`size` bytes at `ptr`) into this key's slot: the last writer wins. */
  private storeLocal(ptr: usize, size: i32, evicts: bool): void {
    const m = this.root.metrics;
    const root = this.root;
    if (setSharedDataRaw(root.slotKeyAt(this.slot), root.slotKeyBytesLength, ptr, <usize>size) != WasmResult.Ok) return;
    m.stores[Tier.Local].increment(1);
    m.storedBytes.increment(size);
    if (evicts) m.evictions.increment(1);
  }

  /** Hex SHA-256 of the identity header, "" without one (the anonymous tenant). */
  private identify(ex: Exchange): string {
    return ex.identity(this.root.cfg.tenantHeader, this.root.digests);
  }

}

/** Hands a shared-tier answer to the stage that waits for it. */
class AnswerToStage extends SharedReadTarget {
  constructor(private stage: CacheStage, private ex: Exchange) {
    super();
  }

  answer(entry: CacheEntry | null, failure: Reason): void {
    this.stage.sharedAnswer(this.ex, entry, failure);
  }
}

export function register(): void {
  registerStage(new CacheKind(SECTION, ROOT_ID, 20, "")); // blank is {}: every setting has a default
}

function responseLimits(): JsonLimits {
  const limits = new JsonLimits();
  limits.maxDepth = 1024;
  limits.maxBytes = i32.MAX_VALUE;
  return limits;
}
