// token-bucket as a pipeline stage: per model (optionally per version) and tenant, a bucket of
// requests and one of LLM tokens, and optionally the model's total across tenants, all in one
// table of Envoy shared data updated with compare-and-swap (assembly/ratelimit). A request
// reserves its estimate (estimate.ts) before it goes upstream; the response's `usage`, found as
// the body passes (usage.ts), settles the difference. Refusals are OpenAI's 429; every response
// of a limited model carries the x-ratelimit-* headers (headers.ts).
//
// Inside one pipeline it reads the model and version the router resolved from the Exchange; as a
// separate entry after the router, the router's x-ai-model and x-ai-model-version; without a
// router, the body's `model`. The tenant is the SHA-256 of `tenant_header`, hashed here, so a
// client cannot pick another tenant's bucket by sending x-ai-tenant.
//
// For fleet limits through Envoy's rate-limit filter, the request's token count is written to
// filter state `wasm.llm_tokens` on every path: the reservation at admission, the real count when
// the response settles, 0 when the request is refused.

import { HeaderPair, nowMillis, sendLocalResponse } from "../../assembly/index";
import { shortened } from "../../assembly/runtime/text";
import { setPropertyRaw } from "../../assembly/host/properties";
import { JsonValue } from "../../assembly/json/index";
import { Exchange, NamedModel, Stage, StageAction, StageConfigResult, StageKind, StageRoot, registerStage } from "../../assembly/pipeline/index";
import { Limit, UNIT, wholeUnits } from "../../assembly/ratelimit/bucket";
import { BucketId, BucketIds, BucketScope } from "../../assembly/ratelimit/record";
import { BucketLimits, BucketTable, Give, Take, TakeResult, Want } from "../../assembly/ratelimit/table";
import { TenantDigests } from "../../assembly/tenant/digests";
import { BLANK_EXPECTATION, ModelLimits, TokenBucketConfig, parseTokenBucketConfig } from "./config";
import { ErrorKind, errorBody, errorSpec } from "./errors";
import { Fault, LimitField, TokenRequest, apiOfPath, limitFieldName, readOpaqueRequest, readTokenRequest, rewriteMaxTokens } from "./estimate";
import {
  LIMIT_REQUESTS, LIMIT_TOKENS, REMAINING_REQUESTS, REMAINING_TOKENS, RESET_REQUESTS, RESET_TOKENS, RETRY_AFTER,
  VALUE_BYTES, decimalText, durationText, retryAfterSeconds, writeDecimal, writeDuration,
} from "./headers";
import { Stat, TokenBucketMetrics } from "./metrics";
import { SharedDataSlots } from "./store";
import { UsageScanner } from "./usage";

export const ROOT_ID = "token-bucket";
export const SECTION = "token_bucket";
/** Position in the chain: after model-router (10) and inference-cache (20), so a cache hit costs nothing. */
export const ORDER: i32 = 30;
/** Filter state `wasm.llm_tokens`: the request's token count, for Envoy's rate-limit filter. */
export const LLM_TOKENS_PROPERTY = "llm_tokens";

// Header names and the property path as bytes, encoded once.
const LLM_TOKENS_PATH = String.UTF8.encode(LLM_TOKENS_PROPERTY);
const H_LIMIT_REQUESTS = String.UTF8.encode(LIMIT_REQUESTS);
const H_LIMIT_TOKENS = String.UTF8.encode(LIMIT_TOKENS);
const H_REMAINING_REQUESTS = String.UTF8.encode(REMAINING_REQUESTS);
const H_REMAINING_TOKENS = String.UTF8.encode(REMAINING_TOKENS);
const H_RESET_REQUESTS = String.UTF8.encode(RESET_REQUESTS);
const H_RESET_TOKENS = String.UTF8.encode(RESET_TOKENS);
/** Most settled responses' usage scanners a root keeps for reuse. */
const SCANNERS_KEPT: i32 = 64;
/** One value being written (the ABI is single-threaded: one buffer serves every stream). */
const VALUE = new ArrayBuffer(VALUE_BYTES);

class TokenBucketKind extends StageKind {
  fixedAcrossRoutes(): string[] {
    return ["slots"];
  }

  configure(config: JsonValue): StageConfigResult {
    const result = parseTokenBucketConfig(config);
    const cfg = result.config;
    if (cfg === null) return new StageConfigResult(null, result.error);
    const root = new TokenBucketRoot(cfg);
    if (!root.table.createSlots()) return new StageConfigResult(null, "slots: expected shared data to hold the bucket table, got an error creating it");
    return new StageConfigResult(root, "");
  }
}

export class TokenBucketRoot extends StageRoot {
  readonly metrics: TokenBucketMetrics = new TokenBucketMetrics();
  readonly digests: TenantDigests = new TenantDigests(64);
  readonly ids: BucketIds = new BucketIds();
  readonly table: BucketTable;
  // Scratch of one request's admission: filled and read within one call.
  readonly want: Want = new Want();
  readonly result: TakeResult = new TakeResult();
  readonly request: TokenRequest = new TokenRequest();
  readonly id: BucketId = new BucketId();
  // What one response's headers show, filled and read within one call (`TokenBucketStage.view`).
  readonly requests: DimView = new DimView();
  readonly tokens: DimView = new DimView();
  /** Scanners of settled responses, for the next ones. */
  private scanners: UsageScanner[] = [];

  constructor(readonly cfg: TokenBucketConfig) {
    super();
    this.table = new BucketTable(new SharedDataSlots(), cfg.slots, cfg.casRetries);
  }

  newStage(): Stage {
    return new TokenBucketStage(this);
  }

  withoutRouterWarning(): string {
    const other = this.cfg.otherModels;
    if (other === null) {
      return "without model_router, a request whose model the stage cannot read (a body over max_body_bytes, deeper than " +
        "max_json_depth, not JSON, or without \"model\") has no limits; set \"default\", or add model_router, which refuses such bodies";
    }
    if (other.perModel && other.limited) {
      return "without model_router, a body that names a model not in \"models\" gets fresh \"default\" buckets for each new name; " +
        "set \"default\": {\"per_model\": false, ...}, or add model_router, which answers unknown models 404";
    }
    return "";
  }

  namedModels(): NamedModel[] {
    const out = new Array<NamedModel>();
    const models = this.cfg.models;
    for (let i = 0; i < models.length; i++) {
      const name = unchecked(models[i]).name;
      if (name.length > 0) out.push(new NamedModel("models." + name, name, ""));
    }
    return out;
  }

  /** A usage scanner for a response, reused from a settled one when there is one. */
  takeScanner(): UsageScanner {
    const free = this.scanners;
    return free.length > 0 ? free.pop().reset() : new UsageScanner();
  }

  /** Takes back the scanner of a settled response. */
  putScanner(scanner: UsageScanner): void {
    if (this.scanners.length < SCANNERS_KEPT) this.scanners.push(scanner);
  }

  seesResponse(): bool {
    return true;
  }
}

/** The numbers one dimension's headers show: of the bucket with the least left. */
class DimView {
  present: bool = false;
  limit: Limit | null = null;
  level: i64 = 0;

  note(limit: Limit | null, level: i64): void {
    if (limit === null) return;
    if (this.present && wholeUnits(level) >= wholeUnits(this.level)) return;
    this.present = true;
    this.limit = limit;
    this.level = level;
  }

  get remaining(): i64 {
    return wholeUnits(this.level);
  }

  get resetMs(): i64 {
    const l = this.limit;
    return l === null ? 0 : l.msUntilFull(this.level);
  }

  get burst(): i64 {
    const l = this.limit;
    return l === null ? 0 : l.burst;
  }
}

export class TokenBucketStage extends Stage {
  private limits: ModelLimits | null = null;
  private model: string = "";
  /** Tokens the request asked to reserve (its estimate). */
  private wanted: i64 = 0;
  /** Tokens reserved on the buckets below (0: nothing to settle). */
  private reserved: i64 = 0;
  private inTenant: bool = false;
  private tenantSlot: u32 = 0;
  /** The tenant bucket's id (BucketId's lo and hi, kept here: one object less per request). */
  private tenantLo: u64 = 0;
  private tenantHi: u64 = 0;
  private inTotal: bool = false;
  private totalSlot: u32 = 0;
  private totalLo: u64 = 0;
  private totalHi: u64 = 0;
  /** Levels the buckets were left at (after the reservation or a refund), when read. */
  private tenantSeen: bool = false;
  private tenantRequests: i64 = 0;
  private tenantTokens: i64 = 0;
  private totalSeen: bool = false;
  private totalRequests: i64 = 0;
  private totalTokens: i64 = 0;
  /** The filter answered the request itself (its reply carries its own headers). */
  private answered: bool = false;
  private settled: bool = false;
  /** The request opened a tunnel: its 101 is the upstream's yes, not a failure settled to 0. */
  private tunnel: bool = false;
  /** Its limit field was lowered (clamp_max_tokens): the answer is not the request's as sent. */
  private clamped: bool = false;
  private scanner: UsageScanner | null = null;

  constructor(private root: TokenBucketRoot) {
    super();
  }

  onRequestHeaders(ex: Exchange, endOfStream: bool): StageAction {
    if (!endOfStream) {
      // A body declared larger than max_body_bytes is estimated now and never held: Envoy answers
      // 413 itself when a held body outgrows its buffer limit, before this stage could let it go.
      const declared = ex.clientBodyLength();
      if (declared <= <i64>this.root.cfg.maxBodyBytes) return StageAction.NeedBody;
      return this.admitUnread(ex, declared);
    }
    // A tunnel (a realtime WebSocket session) may carry any amount of inference this stage cannot
    // read: it reserves default_max_tokens, as a body it cannot read would, not the nothing of a GET.
    if (ex.tunnel) {
      this.tunnel = true;
      // A WebSocket handshake or a CONNECT has no content (RFC 6455 4.1, RFC 9110 9.3.6). One that
      // declares some would have its body pass as the tunnel's bytes, unread: its max_tokens
      // uncounted, on a route whose upstream might answer it as a request.
      if (declaresBody(ex)) {
        const cfg = this.root.cfg;
        const limits = cfg.limitsOf(ex.routedModel(null));
        if (limits !== null && limits.limited && !cfg.shadow) {
          this.root.metrics.add(Stat.Invalid);
          this.reply(ErrorKind.BodyOnTunnel, "An upgrade or CONNECT request carries no body, and this one declares one: send the request without the upgrade, or the upgrade without a body.", "", "", 0);
          return StageAction.Stop;
        }
      }
      return this.admitUnread(ex, 0);
    }
    const req = this.root.request.reset();
    return this.admit(ex, req, ex.routedModel(null), false, null);
  }

  maxBodyBytes(): u32 {
    return this.root.cfg.maxBodyBytes;
  }

  onBodyTooLarge(ex: Exchange, size: i64): StageAction {
    // Not read: its length (as declared, when more than has arrived) estimates it.
    const declared = ex.clientBodyLength();
    return this.admitUnread(ex, declared > size ? declared : size);
  }

  /** Admits a body that is not read, estimated from its length. */
  private admitUnread(ex: Exchange, bytes: i64): StageAction {
    const cfg = this.root.cfg;
    const req = readOpaqueRequest(bytes, cfg.bytesPerToken, cfg.defaultMaxTokens, this.root.request);
    return this.admit(ex, req, ex.routedModel(null), false, null);
  }

  onRequestBody(ex: Exchange): StageAction {
    const root = this.root;
    const cfg = root.cfg;
    const req = root.request;
    if (ex.bodySize == 0) return this.admit(ex, req.reset(), ex.routedModel(null), false, null);
    const parsed = ex.json(cfg.bodyLimits);
    const doc = parsed.ok ? parsed.value : null;
    if (doc === null) {
      readOpaqueRequest(<i64>ex.bodySize, cfg.bytesPerToken, cfg.defaultMaxTokens, req);
      return this.admit(ex, req, ex.routedModel(null), false, null);
    }
    readTokenRequest(doc, <i64>ex.bodySize, cfg.promptFields, cfg.bytesPerToken, cfg.defaultMaxTokens, apiOf(ex), req);
    return this.admit(ex, req, ex.routedModel(doc), doc.isObject(), ex.body());
  }

  // ---- admission

  private admit(ex: Exchange, req: TokenRequest, model: string, isObject: bool, body: ArrayBuffer | null): StageAction {
    const root = this.root;
    const cfg = root.cfg;
    const m = root.metrics;
    const reservation = req.reservation;
    this.wanted = reservation;
    this.model = model;
    if (req.fault != Fault.None && !cfg.shadow) {
      m.add(Stat.Invalid);
      return this.invalid(req);
    }
    const limits = cfg.limitsOf(model);
    if (limits === null || !limits.limited) {
      m.add(Stat.Unlimited);
      setTokens(reservation);
      // No local bucket, but the usage still settles `wasm.llm_tokens` (fleet mode charges it):
      // a compressed answer would leave the estimate standing.
      ex.askForIdentityBody();
      return StageAction.Continue;
    }
    this.limits = limits;
    const version = limits.perVersion ? ex.routedVersion() : "";
    const bucketModel = limits.bucketModel(model);
    let least = reservation;
    if (cfg.clampMaxTokens && !cfg.shadow && isObject) {
      const smallest = req.prompt + cfg.clampMinTokens * req.choices;
      if (smallest < reservation) least = smallest;
    }
    const want = root.want.set(1, reservation, least, req.prompt, req.choices);
    const now = nowMillis();
    const table = root.table;
    const r = root.result;
    let granted = reservation;

    const tenantLimits = limits.tenant;
    if (tenantLimits !== null) {
      // Two identities: the bucket would be the first's, while the upstream may authenticate the
      // other (or both): a fresh bucket per request for a client that adds a made-up key.
      const tenantHeader = cfg.tenantHeader;
      if (!cfg.shadow && tenantHeader.length > 0 && ex.requestHeaderRepeats(tenantHeader)) {
        m.add(Stat.Invalid);
        this.reply(ErrorKind.RepeatedIdentity, "The header '" + tenantHeader + "' was given more than once: send one identity.", "", "", 0);
        return StageAction.Stop;
      }
      const id = root.ids.compute(BucketScope.Tenant, bucketModel, version, this.identify(ex), tenantLimits.requests, tenantLimits.tokens, root.id);
      this.tenantLo = id.lo;
      this.tenantHi = id.hi;
      table.take(id, tenantLimits, want, now, r);
      m.add(Stat.CasRetries, r.conflicts);
      this.tenantSeen = r.status == Take.Taken || r.status == Take.Refused || r.status == Take.TooLarge;
      this.tenantRequests = r.requestsLevel;
      this.tenantTokens = r.tokensLevel;
      if (r.status != Take.Taken) return this.notTaken(ex, r, req, tenantLimits, false);
      this.inTenant = true;
      this.tenantSlot = r.slot;
      granted = r.granted;
    }
    const totalLimits = limits.total;
    if (totalLimits !== null) {
      want.set(1, granted, least < granted ? least : granted, req.prompt, req.choices);
      const id = root.ids.compute(BucketScope.Total, bucketModel, version, "", totalLimits.requests, totalLimits.tokens, root.id);
      this.totalLo = id.lo;
      this.totalHi = id.hi;
      table.take(id, totalLimits, want, now, r);
      m.add(Stat.CasRetries, r.conflicts);
      this.totalSeen = r.status == Take.Taken || r.status == Take.Refused || r.status == Take.TooLarge;
      this.totalRequests = r.requestsLevel;
      this.totalTokens = r.tokensLevel;
      if (r.status != Take.Taken) {
        // The tenant's reservation goes back: the request is not admitted.
        if (this.inTenant) this.giveBack(1, granted, now, true);
        this.inTenant = false;
        return this.notTaken(ex, r, req, totalLimits, true);
      }
      this.inTotal = true;
      this.totalSlot = r.slot;
      if (r.granted < granted) {
        if (this.inTenant) this.giveBack(0, granted - r.granted, now, true);
        granted = r.granted;
      }
    }
    this.reserved = granted;
    m.add(Stat.Admitted);
    m.add(Stat.TokensReserved, granted);
    // Settlement reads the response's usage as it passes: in a compressed body the whole
    // reservation would stand.
    ex.askForIdentityBody();
    if (granted < reservation && body !== null) this.clamp(ex, body, req, granted);
    setTokens(granted);
    return StageAction.Continue;
  }

  /** Serves the request smaller: its completion limit lowered to what was granted. */
  private clamp(ex: Exchange, body: ArrayBuffer, req: TokenRequest, granted: i64): void {
    const maxTokens = (granted - req.prompt) / req.choices;
    const out = rewriteMaxTokens(body, req, maxTokens, apiOf(ex));
    if (out === null || out === body) return;
    ex.replaceBody(out);
    if (ex.requestHeader("content-length") !== null) ex.setRequestHeader("content-length", out.byteLength.toString());
    this.clamped = true;
    this.root.metrics.add(Stat.Clamps);
  }

  /** A bucket did not reserve: refuse (429), pass in shadow mode, or apply the failure mode. */
  private notTaken(ex: Exchange, r: TakeResult, req: TokenRequest, limits: BucketLimits, total: bool): StageAction {
    const cfg = this.root.cfg;
    const m = this.root.metrics;
    const status = r.status;
    if (status == Take.Refused || status == Take.TooLarge) {
      const tooLarge = status == Take.TooLarge;
      const byRequests = !tooLarge && r.refusedRequests;
      if (cfg.shadow) {
        m.add(tooLarge ? Stat.ShadowLimitedTooLarge : byRequests ? Stat.ShadowLimitedRequests : Stat.ShadowLimitedTokens);
        setTokens(this.wanted);
        return StageAction.Continue;
      }
      m.add(tooLarge ? Stat.LimitedTooLarge : byRequests ? Stat.LimitedRequests : Stat.LimitedTokens);
      const kind = tooLarge ? ErrorKind.TooLarge : byRequests ? ErrorKind.RequestsLimited : ErrorKind.TokensLimited;
      const field = req.givenField >= 0 ? <LimitField>req.givenField : apiOf(ex);
      const shared = !(this.limits as ModelLimits).perModel;
      const message = refusalMessage(kind, this.model, total, shared, limits, req, limitFieldName(field), r);
      this.reply(kind, message, "", "", tooLarge ? 0 : retryAfterSeconds(r.retryAfterMs));
      return StageAction.Stop;
    }
    m.add(status == Take.Contention ? Stat.UnavailableContention : status == Take.TableFull ? Stat.UnavailableTableFull : Stat.UnavailableSharedData);
    // No headers for what could not be read.
    this.tenantSeen = false;
    this.totalSeen = false;
    if (cfg.failureModeDeny && !cfg.shadow) {
      this.reply(ErrorKind.Unavailable, "The rate limit could not be checked; please try again.", "", "", 1);
      return StageAction.Stop;
    }
    // Fail open: admitted, uncharged.
    setTokens(this.wanted);
    return StageAction.Continue;
  }

  private invalid(req: TokenRequest): StageAction {
    const code = req.fault == Fault.NotInteger ? "invalid_type" : req.fault == Fault.BelowMinimum ? "integer_below_min_value" : "integer_above_max_value";
    const what = req.fault == Fault.NotInteger ? "an integer" : req.fault == Fault.BelowMinimum ? "a larger value" : "a smaller value";
    const value = shortened(req.faultValue, 64);
    this.reply(ErrorKind.InvalidCount, "Invalid '" + req.faultField + "': expected " + what + ", got " + value + ".", req.faultField, code, 0);
    return StageAction.Stop;
  }

  /** Answers the request: the error document, the rate-limit headers so far, retry-after. */
  private reply(kind: ErrorKind, message: string, param: string, code: string, retryAfterS: i64): void {
    const headers = [new HeaderPair("content-type", "application/json")];
    if (retryAfterS > 0) headers.push(new HeaderPair(RETRY_AFTER, retryAfterS.toString()));
    this.view();
    const rq = this.root.requests;
    if (rq.present) {
      headers.push(new HeaderPair(LIMIT_REQUESTS, decimalText(rq.burst)));
      headers.push(new HeaderPair(REMAINING_REQUESTS, decimalText(rq.remaining)));
      headers.push(new HeaderPair(RESET_REQUESTS, durationText(rq.resetMs)));
    }
    const tk = this.root.tokens;
    if (tk.present) {
      headers.push(new HeaderPair(LIMIT_TOKENS, decimalText(tk.burst)));
      headers.push(new HeaderPair(REMAINING_TOKENS, decimalText(tk.remaining)));
      headers.push(new HeaderPair(RESET_TOKENS, durationText(tk.resetMs)));
    }
    const spec = errorSpec(kind);
    sendLocalResponse(spec.status, "token_bucket." + spec.name, errorBody(kind, message, param, code), headers);
    this.answered = true;
    setTokens(0);
  }

  /** Adds tokens (and requests) back to a bucket this request took from; false if it could not. */
  private giveBack(requests: i64, tokens: i64, now: u64, tenant: bool): bool {
    const root = this.root;
    const table = root.table;
    const limits = this.limits as ModelLimits;
    const id = root.id;
    id.lo = tenant ? this.tenantLo : this.totalLo;
    id.hi = tenant ? this.tenantHi : this.totalHi;
    const g = tenant
      ? table.give(this.tenantSlot, id, limits.tenant as BucketLimits, requests, tokens, now)
      : table.give(this.totalSlot, id, limits.total as BucketLimits, requests, tokens, now);
    root.metrics.add(Stat.CasRetries, table.giveConflicts);
    if (g != Give.Done) {
      root.metrics.add(Stat.SettlementsLost);
      return false;
    }
    if (tenant) {
      this.tenantRequests = table.givenRequestsLevel;
      this.tenantTokens = table.givenTokensLevel;
    } else {
      this.totalRequests = table.givenRequestsLevel;
      this.totalTokens = table.givenTokensLevel;
    }
    return true;
  }

  /** Per dimension, the numbers of the bucket with the least left. */
  private view(): void {
    const limits = this.limits;
    const rq = this.root.requests;
    const tk = this.root.tokens;
    rq.present = false;
    tk.present = false;
    if (limits === null) return;
    const t = limits.tenant;
    if (this.tenantSeen && t !== null) {
      rq.note(t.requests, this.tenantRequests);
      tk.note(t.tokens, this.tenantTokens);
    }
    const a = limits.total;
    if (this.totalSeen && a !== null) {
      rq.note(a.requests, this.totalRequests);
      tk.note(a.tokens, this.totalTokens);
    }
  }

  // ---- response

  onResponseHeaders(ex: Exchange, endOfStream: bool): void {
    if (this.answered) return;
    this.writeHeaders(ex);
    // A cache keys the request as the client sent it (the inference cache runs before this
    // stage): an answer to the smaller copy would be served, cut short, to that request later.
    if (this.clamped) ex.setResponseHeader("cache-control", "no-store");
    // A tunnel's bytes are not a response to read for usage (a realtime session's frames, each
    // response's usage its own): without a scanner its reservation stands.
    if (!this.tunnel) this.scanner = this.root.takeScanner();
    if (endOfStream) this.settle(ex.responseStatus);
  }

  onResponseBody(ex: Exchange, chunkSize: u32, endOfStream: bool): void {
    if (this.answered || this.settled) return;
    const scanner = this.scanner;
    if (scanner === null) return;
    if (chunkSize > 0) {
      const chunk = ex.responseChunk(chunkSize);
      if (chunk !== null) scanner.feed(chunk);
    }
    if (endOfStream) this.settle(ex.responseStatus);
  }

  onLog(ex: Exchange): void {
    // A response that never ended (reset, client gone): settled by what is known.
    if (!this.answered && !this.settled) this.settle(ex.responseStatus);
  }

  private writeHeaders(ex: Exchange): void {
    this.view();
    const v = changetype<usize>(VALUE);
    // The Exchange adds a header the upstream did not send (Envoy then has no values to search
    // for and replace) and records each write, so later stages read them without a new read.
    const rq = this.root.requests;
    if (rq.present) {
      ex.setResponseHeaderRaw(LIMIT_REQUESTS, H_LIMIT_REQUESTS, v, writeDecimal(rq.burst, v));
      ex.setResponseHeaderRaw(REMAINING_REQUESTS, H_REMAINING_REQUESTS, v, writeDecimal(rq.remaining, v));
      ex.setResponseHeaderRaw(RESET_REQUESTS, H_RESET_REQUESTS, v, writeDuration(rq.resetMs, v));
    }
    const tk = this.root.tokens;
    if (tk.present) {
      ex.setResponseHeaderRaw(LIMIT_TOKENS, H_LIMIT_TOKENS, v, writeDecimal(tk.burst, v));
      ex.setResponseHeaderRaw(REMAINING_TOKENS, H_REMAINING_TOKENS, v, writeDecimal(tk.remaining, v));
      ex.setResponseHeaderRaw(RESET_TOKENS, H_RESET_TOKENS, v, writeDuration(tk.resetMs, v));
    }
  }

  /**
   * The request is over (or its response is): the tokens it used are the usage the response
   * reported; without one, 0 for a status other than 2xx (no model work), else the reservation
   * stands. The difference goes back to (or is taken from) the buckets; after a 401, the
   * tenant's request too.
   */
  private settle(status: u32): void {
    this.settled = true;
    const scanner = this.scanner;
    const m = this.root.metrics;
    let used: i64;
    const charged = this.inTenant || this.inTotal;
    if (scanner !== null && scanner.found) {
      used = scanner.tokens;
    } else {
      const failed = status != 0 && (status < 200 || status >= 300) && !(this.tunnel && status == 101);
      used = failed ? 0 : charged ? this.reserved : this.wanted;
      // `unsettled` counts reservations that stand, not failures settled to 0.
      if (charged && !failed) m.add(Stat.Unsettled);
    }
    // The response is read: its scanner can serve another one.
    if (scanner !== null) {
      this.scanner = null;
      this.root.putScanner(scanner);
    }
    setTokens(used);
    if (!charged) return;
    m.add(Stat.TokensSettled, used);
    const delta = this.reserved - used;
    // The upstream refused the identity (401): the tenant's request goes back as well. A client
    // sending made-up keys would otherwise leave a bucket a request short, and so held in its
    // slot, for each key until it refills: enough of them fill the table, and every tenant after
    // them goes unlimited (or is refused with failure_mode_deny). The model's total keeps it: it
    // is what still caps a flood of made-up keys. (403 does not: the identity is known, its
    // bucket real.)
    const requests: i64 = status == 401 && this.inTenant ? 1 : 0;
    if (delta == 0 && requests == 0) return;
    if (delta != 0) m.add(delta > 0 ? Stat.Refunds : Stat.Debits);
    const now = nowMillis();
    if (this.inTenant) this.giveBack(requests, delta, now, true);
    if (this.inTotal && delta != 0) this.giveBack(0, delta, now, false);
  }

  // ---- what the request is

  /** Hex SHA-256 of the identity header, "" without one (the anonymous tenant). */
  private identify(ex: Exchange): string {
    return ex.identity(this.root.cfg.tenantHeader, this.root.digests);
  }

}

/** The request's `content-length` (read in place), -1 when absent or not a decimal. */
/**
 * Most tokens one request may charge through Envoy's rate-limit filter: its `hits_addend` refuses
 * a larger value (MAX_HITS_ADDEND in source/common/router/ratelimit_config.cc, 10^9) and then
 * charges nothing at all, so a larger count is charged as this much.
 */
export const MAX_FLEET_TOKENS: i64 = 1_000_000_000;

/** Writes filter state `wasm.llm_tokens` (decimal), at most MAX_FLEET_TOKENS. */
function setTokens(n: i64): void {
  const v = changetype<usize>(VALUE);
  const len = writeDecimal(n > MAX_FLEET_TOKENS ? MAX_FLEET_TOKENS : n, v);
  setPropertyRaw(changetype<usize>(LLM_TOKENS_PATH), <usize>LLM_TOKENS_PATH.byteLength, v, <usize>len);
}

/** The API the request's `:path` calls, read as bytes in place (Chat Completions' without one). */
function apiOf(ex: Exchange): LimitField {
  const view = ex.headerView();
  return view.find(":path") ? apiOfPath(view.valuePtr, view.valueLength) : LimitField.MaxTokens;
}

/**
 * The 429's message: which limit, of what, and when to try again. A shared `default`'s limit
 * (`shared`) is every model's without limits of their own: the message says so, or a client
 * would take it for the named model's and try another name.
 */
function refusalMessage(kind: ErrorKind, model: string, total: bool, shared: bool, limits: BucketLimits, req: TokenRequest, limitName: string, r: TakeResult): string {
  const scope = shared
    ? (total ? " (all tenants, and every model without limits of its own: one shared limit)" : " (and every model without limits of its own: one shared limit)")
    : (total ? " (all tenants)" : "");
  const who = "model " + echo(model) + scope;
  const needs = req.reservation.toString() + " tokens (prompt estimate " + req.prompt.toString() + " + " + limitName + " " +
    req.maxTokens.toString() + (req.choices > 1 ? " × n " + req.choices.toString() : "") + ")";
  if (kind == ErrorKind.TooLarge) {
    const tl = limits.tokens as Limit;
    return "Request too large for " + who + ": it needs " + needs + ", more than the limit's burst of " + tl.burst.toString() +
      " tokens. Lower " + limitName + " or shorten the prompt.";
  }
  const wait = " Please try again in " + durationText(r.retryAfterMs) + ".";
  if (kind == ErrorKind.RequestsLimited) {
    const rl = limits.requests as Limit;
    return "Rate limit reached for requests to " + who + ": " + rl.perMinute.toString() + " per minute, burst " + rl.burst.toString() + "." + wait;
  }
  const tl = limits.tokens as Limit;
  return "Rate limit reached for tokens of " + who + ": " + tl.perMinute.toString() + " per minute, burst " + tl.burst.toString() +
    "; the request needs " + needs + ", " + (r.tokensLevel / UNIT > 0 ? (r.tokensLevel / UNIT).toString() : "0") + " are left." + wait;
}

/** Client input quoted in a message, shortened (the JSON writer escapes it). */
function echo(text: string): string {
  return "'" + shortened(text, 128) + "'";
}

export function register(): void {
  registerStage(new TokenBucketKind(SECTION, ROOT_ID, ORDER, BLANK_EXPECTATION));
}

/**
 * Whether the request declares a body: a content-length above 0. (Envoy removes an HTTP/1.1
 * transfer-encoding before filters run; chunked bytes after an upgrade's headers travel as the
 * tunnel's, as any bytes a client writes after a 101 do.)
 */
function declaresBody(ex: Exchange): bool {
  return ex.clientBodyLength() > 0;
}
