// model-router as a pipeline stage: finds the model a request names (header, path template or
// JSON body), resolves the version (explicit, alias or sticky weighted split, skipping versions
// that warmup-health reports not ready) and sets the cluster header for Envoy's `cluster_header`
// route, plus x-ai-model, x-ai-model-version and x-ai-tenant for later filters (and, inside one
// pipeline, the same on the Exchange). Answers GET /v1/models.
//
// The pipeline (assembly/pipeline) owns the ABI contract: when the model may be in the body the
// stage asks for it (NeedBody) and routes once it is complete, while Envoy still holds the
// headers, so the route headers it writes take effect.

import { regionEqualsIgnoreCase } from "../../assembly/runtime/bytes";
import { HeaderPair, randomBelow, sendLocalResponse } from "../../assembly/index";
import { JsonValue, parseJsonText, quoteJsonString } from "../../assembly/json/index";
import { Exchange, Stage, StageAction, StageConfigResult, StageKind, StageRoot, registerStage } from "../../assembly/pipeline/index";
import { MODEL_HEADER, RouterConfig, StickyKey, TENANT_HEADER, VERSION_HEADER, parseRouterConfig } from "./config";
import { MODEL_HEADER_BYTES, TENANT_HEADER_BYTES, VERSION_HEADER_BYTES } from "../../assembly/pipeline/exchange";
import { ErrorKind, bodyErrorMessage, echo, sendError } from "./errors";
import { HealthCache } from "./health";
import { RouterMetrics } from "./metrics";
import { modelList, modelObject } from "./models-endpoint";
import { BUCKETS, ModelEntry, Resolution, ResolveStatus, VersionEntry, resolveVersion, stickyBucket, stickyBucketOfBytes } from "./resolve";
import { TenantDigests } from "../../assembly/tenant/digests";
import { MAX_REF_CHARS, ModelRef, Source, isJsonContentType, parseModelRef, pathOnly, pathRef } from "./sources";

export const ROOT_ID = "model-router";

const NO_BYTES = new ArrayBuffer(0);
// A parsed `null`, for value objects before their first bind.
const EMPTY_TREE = (parseJsonText("null").value as JsonValue).tree;
export const SECTION = "model_router";

/** What the stage waits for in the body. */
enum BodyUse {
  None,
  /** The body source: the model may be in the body. */
  Model,
  /** Routed already; the body's `model` is to be rewritten. */
  Rewrite,
}

class RouterKind extends StageKind {
  configure(config: JsonValue): StageConfigResult {
    const result = parseRouterConfig(config);
    const cfg = result.config;
    if (cfg === null) return new StageConfigResult(null, result.error);
    return new StageConfigResult(new RouterRoot(cfg), "");
  }

  resolvesModel(): bool {
    return true;
  }
}

class RouterRoot extends StageRoot {
  readonly metrics: RouterMetrics;
  readonly health: HealthCache;
  readonly digests: TenantDigests;
  readonly resolution: Resolution = new Resolution(ResolveStatus.Ok, -1, -1);
  /** The body's `model` of the request being routed: bound and read within one call, never kept. */
  readonly modelValue: JsonValue = new JsonValue(EMPTY_TREE, 0);
  /** The body's model reference when read in place (`refInPlace`): filled and read within one call. */
  readonly bodyRef: ModelRef = new ModelRef("", "", Source.Body);
  /** A stage as `newStage` makes it, the state `renewStage` copies (made at the first renewal). */
  private pristine: RouterStage | null = null;

  constructor(readonly cfg: RouterConfig) {
    super();
    this.metrics = new RouterMetrics(cfg.models);
    this.health = new HealthCache(cfg.models, cfg.absentStateReady, cfg.healthRefreshMs);
    this.digests = new TenantDigests(cfg.tenantHexChars);
  }

  routesTo(model: string, version: string): bool {
    const m = this.cfg.findModel(model);
    return m >= 0 && (version.length == 0 || unchecked(this.cfg.models[m]).find(version) >= 0);
  }

  newStage(): Stage {
    return new RouterStage(this.cfg, this.metrics, this.health, this.digests, this);
  }

  /**
   * `previous` back in its constructor's state, copied field for field from a stage that never
   * ran: nothing outlives a router stage's request (no http_call, no pause), and a copy forgets
   * no field a reset could. The copied references are this root's own (configuration, metrics,
   * tables), as in any new stage. A plain copy is right for `--runtime minimal` (asconfig.json),
   * whose collector has no write barrier to tell.
   */
  renewStage(previous: Stage): Stage {
    let pristine = this.pristine;
    if (pristine === null) this.pristine = pristine = changetype<RouterStage>(this.newStage());
    // `previous` is a RouterStage: this root made it (StageRoot.renewStage).
    memory.copy(changetype<usize>(previous), changetype<usize>(pristine), offsetof<RouterStage>());
    return previous;
  }

  tickPeriodMs(): u32 {
    return this.health.tickPeriodMs;
  }

  onTick(): void {
    this.health.markStale();
  }
}

class RouterStage extends Stage {
  private bodyUse: BodyUse = BodyUse.None;
  /** Sources after the body's, tried when the body names no model. */
  private resumeAt: i32 = 0;
  /** Lower-case hex SHA-256 of the identity header; "" when the request has none. */
  private identityDigest: string = "";
  /**
   * x-ai-tenant as UTF-8 (the configuration's or the digest table's bytes, not made per request):
   * the digest's first `tenant_hex_chars` digits, `anonymous_tenant` without an identity, empty
   * without `tenant_header`.
   */
  private tenantBytes: ArrayBuffer = NO_BYTES;
  /** `identify` ran: the two above are this request's. */
  private identified: bool = false;
  private routedModel: ModelEntry | null = null;
  private routedVersion: VersionEntry | null = null;
  /** Set once an error response has been sent. */
  private failed: bool = false;
  /** `pathMatch` ran for this request: `pathMatched` is its answer. */
  private pathTried: bool = false;
  private pathMatched: ModelRef | null = null;

  constructor(
    private cfg: RouterConfig, private metrics: RouterMetrics, private health: HealthCache, private digests: TenantDigests,
    private shared: RouterRoot,
  ) {
    super();
  }

  onRequestHeaders(ex: Exchange, endOfStream: bool): StageAction {
    const cfg = this.cfg;
    // Client-sent copies of the output headers go first, whatever happens next.
    ex.removeRequestHeader(cfg.clusterHeader);
    ex.removeModelHeaders();

    if (cfg.listModelsPath.length > 0) {
      const list = this.listRequest(ex);
      if (list == ListRequest.Read) {
        this.metrics.modelLists.increment(1);
        const body = modelList(cfg, this.health);
        sendLocalResponse(200, "model_router.model_list", body, [new HeaderPair("content-type", "application/json")]);
        return StageAction.Stop;
      }
      if (list == ListRequest.ReadOne) return this.answerModel(ex);
      if (list == ListRequest.OtherMethod) {
        this.fail(ErrorKind.MethodNotAllowed, "The model list (" + cfg.listModelsPath + ") answers GET and HEAD only");
        return StageAction.Stop;
      }
    }
    const headers = ex.headerView();
    const bodyMayCarryJson = !endOfStream && (!headers.find("content-type") || isJsonContentType(headers.valuePtr, headers.valueLength));
    const sources = cfg.sources;
    for (let i = 0; i < sources.length; i++) {
      const source = unchecked(sources[i]);
      if (source == Source.Body) {
        if (!bodyMayCarryJson) continue;
        if (this.declaredTooLarge(ex)) return StageAction.Stop;
        this.bodyUse = BodyUse.Model;
        this.resumeAt = i + 1;
        return StageAction.NeedBody;
      }
      const ref = this.fromHeaders(ex, source);
      if (this.failed) return StageAction.Stop;
      if (ref !== null) return this.routeAtHeaders(ex, ref, bodyMayCarryJson);
    }
    const ref = this.defaultRef();
    if (ref === null) return StageAction.Stop;
    return this.routeAtHeaders(ex, ref, bodyMayCarryJson);
  }

  maxBodyBytes(): u32 {
    return this.cfg.maxBodyBytes;
  }

  onBodyTooLarge(ex: Exchange, size: i64): StageAction {
    this.tooLarge(size);
    return StageAction.Stop;
  }

  onRequestBody(ex: Exchange): StageAction {
    const action = this.routeByBody(ex);
    // The shared value object must not keep this request's document (and body) alive.
    this.shared.modelValue.bind(EMPTY_TREE, 0);
    return action;
  }

  /** The whole body is here: route by it if needed, rewrite its model if configured. */
  private routeByBody(ex: Exchange): StageAction {
    const use = this.bodyUse;
    this.bodyUse = BodyUse.None;
    const body = ex.body();
    if (body === null) {
      this.fail(ErrorKind.Internal, "The request body could not be read");
      return StageAction.Stop;
    }
    let modelValue: JsonValue | null = null;
    let doc: JsonValue | null = null;
    let keepBody = false;
    if (use == BodyUse.Model) {
      // An empty body counts as no body: the model comes from a later source or the default.
      let ref: ModelRef | null = null;
      if (body.byteLength > 0) {
        const parsed = ex.json(this.cfg.bodyLimits);
        doc = parsed.value;
        if (!parsed.ok || doc === null) {
          this.fail(ErrorKind.InvalidBody, bodyErrorMessage(parsed.error, parsed.offset) + encodedBodyHint(ex));
          return StageAction.Stop;
        }
        if (!(doc as JsonValue).isObject()) {
          this.fail(ErrorKind.InvalidBody, "The request body must be a JSON object");
          return StageAction.Stop;
        }
        modelValue = (doc as JsonValue).getInto("model", this.shared.modelValue) ? this.shared.modelValue : null;
        if (this.refusedTwiceNamed(doc as JsonValue)) return StageAction.Stop;
        if (modelValue !== null) {
          ref = modelValue.isPlainAsciiString() ? this.refInPlace(modelValue) : null;
          if (ref === null) ref = modelValue.isString() ? parseModelRef(modelValue.asString(), Source.Body) : null;
          if (ref === null) {
            this.fail(ErrorKind.InvalidModel, "model: expected a string \"name\" or \"name@version\" of at most " + MAX_REF_CHARS.toString() + " characters");
            return StageAction.Stop;
          }
        }
      }
      const sources = this.cfg.sources;
      for (let i = this.resumeAt; ref === null && i < sources.length; i++) {
        ref = this.fromHeaders(ex, unchecked(sources[i]));
        if (this.failed) return StageAction.Stop;
      }
      if (ref === null) ref = this.defaultRef();
      if (ref === null) return StageAction.Stop;
      // The body source came first but found no model, and a built-in template's path named it.
      keepBody = (ref as ModelRef).keepsBody;
      if (!this.route(ex, ref as ModelRef)) return StageAction.Stop;
    } else if (use == BodyUse.Rewrite && body.byteLength > 0) {
      // Routed by a header or the path: rewrite only a body that parses as a JSON object. One
      // that starts as an object but is not one the reader takes (malformed, too deep, a lone
      // surrogate) is refused as the body source refuses it: passed on, it would reach the
      // upstream with its model unrewritten, and with a second `model` unnoticed.
      const parsed = ex.json(this.cfg.bodyLimits);
      if (parsed.ok && parsed.value !== null && (parsed.value as JsonValue).isObject()) {
        doc = parsed.value;
        modelValue = (doc as JsonValue).get("model");
        if (this.refusedTwiceNamed(doc as JsonValue)) return StageAction.Stop;
      } else if (!parsed.ok && startsAsObject(body)) {
        this.fail(ErrorKind.InvalidBody, bodyErrorMessage(parsed.error, parsed.offset) + encodedBodyHint(ex));
        return StageAction.Stop;
      }
    }
    if (this.cfg.rewriteBodyModel && doc !== null && !keepBody) {
      // A body without `model` gets one: OpenAI-compatible servers require it.
      if (modelValue === null) this.insertModel(ex, body, doc as JsonValue);
      else if (modelValue.isString()) this.rewriteModel(ex, body, modelValue as JsonValue);
    }
    return StageAction.Continue;
  }

  /**
   * Refuses a body whose `model` the last `get` found more than once: we would route by (or
   * rewrite) the last, and an upstream's parser may read the first.
   */
  private refusedTwiceNamed(doc: JsonValue): bool {
    if (doc.lastMatches <= 1) return false;
    this.fail(ErrorKind.InvalidModel, "model: given more than once in the request body");
    return true;
  }

  /** Answers the request with an error. */
  private fail(kind: ErrorKind, message: string): void {
    this.failed = true;
    this.bodyUse = BodyUse.None;
    this.metrics.error(kind);
    sendError(kind, message, kind == ErrorKind.NoReadyVersion ? this.cfg.retryAfterS : 0);
  }

  // ---- sources ----

  /** The header or path source; null when it names no model (or after an error). */
  private fromHeaders(ex: Exchange, source: Source): ModelRef | null {
    if (source == Source.Header) {
      const value = ex.requestHeader(this.cfg.modelHeader);
      if (value === null) return null;
      // Two values: we would route by the first, and whatever reads the request after us (the
      // upstream, a header matcher) may take the other or both; refused, as a body naming
      // `model` twice is (an empty first value too).
      if (ex.requestHeaderRepeats(this.cfg.modelHeader)) {
        this.fail(ErrorKind.InvalidModel, this.cfg.modelHeader + ": given more than once");
        return null;
      }
      if (value.length == 0) return null;
      // Bytes that are not UTF-8 come as U+FFFD: answered, never matched to a model by a guess.
      const ref: ModelRef | null = isReplaced(value) ? null : parseModelRef(value, Source.Header);
      if (ref === null) this.fail(ErrorKind.InvalidModel, this.cfg.modelHeader + ": expected \"name\" or \"name@version\" in UTF-8, of at most " + MAX_REF_CHARS.toString() + " characters");
      return ref;
    }
    if (source == Source.Path) return this.pathMatch(ex);
    return null;
  }

  /** The model a path template names in `:path`, matched once a request (the list check may ask first). */
  private pathMatch(ex: Exchange): ModelRef | null {
    if (!this.pathTried) {
      this.pathTried = true;
      this.pathMatched = this.mayMatchTemplate(ex) ? pathRef(this.cfg.templates, ex.path(), this.cfg.names, this.cfg.models) : null;
    }
    return this.pathMatched;
  }

  /** Whether `:path` starts as some template does (checked in place, before decoding the path). */
  private mayMatchTemplate(ex: Exchange): bool {
    const prefixes = this.cfg.templatePrefixes;
    const headers = ex.headerView();
    if (!headers.find(":path")) return false;
    for (let i = 0; i < prefixes.length; i++) {
      if (headers.valueStartsWith(unchecked(prefixes[i]))) return true;
    }
    return false;
  }

  /**
   * The body's `model` (a plain ASCII string) read in place: the configured model and version or
   * alias it names, in the stage's one ModelRef. Null when it names none of them, or is not a
   * well-formed reference; the caller then decodes it, which gives the same answer or the error's
   * words. Most requests name a configured model, and this way they route without a string made.
   */
  private refInPlace(value: JsonValue): ModelRef | null {
    const ptr = value.contentPtr;
    const len = value.contentLength;
    if (len == 0 || len > MAX_REF_CHARS) return null;
    let at = len - 1;
    while (at >= 0 && load<u8>(ptr + <usize>at) != 0x40) at--; // the last '@'
    if (at == 0 || at == len - 1) return null;
    const m = this.cfg.findModelAt(ptr, at < 0 ? len : at);
    if (m < 0) return null;
    const model = unchecked(this.cfg.models[m]);
    let version = "";
    if (at > 0) {
      const v = model.findAt(ptr + <usize>(at + 1), len - at - 1);
      if (v === null) return null;
      version = v;
    }
    const ref = this.shared.bodyRef;
    ref.name = model.name;
    ref.version = version;
    ref.source = Source.Body;
    ref.model = m;
    return ref;
  }

  /** The default model, or an error response when there is none. */
  private defaultRef(): ModelRef | null {
    const m = this.cfg.defaultModel;
    if (m >= 0 && m < this.cfg.models.length) return new ModelRef(unchecked(this.cfg.models[m]).name, "", Source.Default);
    this.fail(ErrorKind.ModelMissing, "The request names no model (header " + this.cfg.modelHeader +
      ", a model path, or the body's \"model\") and there is no default model");
    return null;
  }

  private routeAtHeaders(ex: Exchange, ref: ModelRef, bodyMayCarryJson: bool): StageAction {
    // A built-in template's path (KServe V2, TorchServe) names the model for an API whose bodies
    // do not: its body is left alone, so a large tensor is never held (nor refused with 413) for
    // a rewrite, and no `model` member is slipped into it. A custom template may be an
    // OpenAI-style path whose server wants `model` in the body: rewritten as configured.
    const keepsBody = ref.keepsBody;
    if (!this.route(ex, ref)) return StageAction.Stop;
    if (!this.cfg.rewriteBodyModel || !bodyMayCarryJson || keepsBody) return StageAction.Continue;
    if (this.declaredTooLarge(ex)) return StageAction.Stop;
    this.bodyUse = BodyUse.Rewrite;
    return StageAction.NeedBody;
  }

  /** Answers 413 at the headers when content-length already exceeds the limit. */
  private declaredTooLarge(ex: Exchange): bool {
    const declared = ex.clientBodyLength();
    if (declared <= <i64>this.cfg.maxBodyBytes) return false;
    this.tooLarge(declared);
    return true;
  }

  private tooLarge(size: i64): void {
    this.fail(ErrorKind.BodyTooLarge, "The request body (" + size.toString() + " bytes or more) exceeds the limit of " +
      this.cfg.maxBodyBytes.toString() + " bytes");
  }

  // ---- resolution and outputs ----

  /** Resolves `ref` and writes the route headers; false after an error response. */
  private route(ex: Exchange, ref: ModelRef): bool {
    const cfg = this.cfg;
    const m = ref.model >= 0 ? ref.model : cfg.findModel(ref.name);
    if (m < 0) {
      this.fail(ErrorKind.ModelNotFound, "The model " + echo(ref.name) + " does not exist");
      return false;
    }
    const model = unchecked(cfg.models[m]);
    let requested = ref.version;
    if (requested.length == 0 && cfg.versionHeader.length > 0) {
      const v = ex.requestHeader(cfg.versionHeader);
      if (v !== null && isReplaced(v)) {
        this.fail(ErrorKind.InvalidModel, cfg.versionHeader + ": expected a version or alias in UTF-8");
        return false;
      }
      if (v !== null && ex.requestHeaderRepeats(cfg.versionHeader)) {
        this.fail(ErrorKind.InvalidModel, cfg.versionHeader + ": given more than once");
        return false;
      }
      if (v !== null) requested = v;
    }
    const bucket = requested.length == 0 ? this.bucketFor(ex, model) : 0;
    const readiness = this.health.readinessOf(m);
    // The root's one Resolution: filled and read within this call, never kept.
    const res = resolveVersion(model, requested, bucket, readiness, this.shared.resolution);
    if (res.status == ResolveStatus.UnknownVersion) {
      this.fail(ErrorKind.VersionNotFound, "The model " + echo(model.name) + " has no version or alias " + echo(requested));
      return false;
    }
    if (res.picked >= 0 && res.version != res.picked) this.metrics.fellBack(m, res.picked);
    if (res.status == ResolveStatus.NoReadyVersion) {
      this.fail(ErrorKind.NoReadyVersion, "No version of the model " + echo(model.name) + " is ready");
      return false;
    }
    const version = unchecked(model.versions[res.version]);
    // Every client-sent copy was removed at the headers: appending is enough.
    ex.addRequestHeaderRaw(cfg.clusterHeader, cfg.clusterHeaderBytes, version.clusterBytes);
    if (cfg.modelHeaders) {
      // Names and values as UTF-8 made once (configuration, digest table): no encoding per request.
      ex.addRequestHeaderRaw(MODEL_HEADER, MODEL_HEADER_BYTES, model.nameBytes);
      ex.addRequestHeaderRaw(VERSION_HEADER, VERSION_HEADER_BYTES, version.nameBytes);
      this.identify(ex);
      if (this.tenantBytes.byteLength > 0) ex.addRequestHeaderRaw(TENANT_HEADER, TENANT_HEADER_BYTES, this.tenantBytes);
      // Later separate entries trust these headers only on a stream the router marked.
      ex.markRouted();
    }
    this.metrics.routed(m, res.version, ref.source);
    ex.model = model.name;
    ex.version = version.name;
    this.routedModel = model;
    this.routedVersion = version;
    return true;
  }

  /**
   * The sticky bucket when the request carries the configured key, else a random one. The
   * tenant key hashes the identity's full digest, so `tenant_hex_chars` (how much of it
   * x-ai-tenant shows) never moves a client to another version.
   */
  private bucketFor(ex: Exchange, model: ModelEntry): u32 {
    const cfg = this.cfg;
    if (cfg.stickyKey == StickyKey.Tenant) {
      this.identify(ex);
      if (this.identityDigest.length > 0) return stickyBucket(model.name, this.identityDigest);
    }
    if (cfg.stickyKey == StickyKey.Header) {
      const headers = ex.headerView();
      if (headers.find(cfg.stickyHeader) && headers.valueLength > 0) return stickyBucketOfBytes(model.name, headers.valuePtr, headers.valueLength);
    }
    return randomBelow(BUCKETS);
  }

  /**
   * The identity's digest and x-ai-tenant (hex SHA-256 of the identity header, truncated; never
   * the identity itself), worked out when first needed: a sticky split by tenant or x-ai-tenant.
   * A router that needs neither (in a pipeline, `model_headers: false`) hashes nothing; the
   * digest it does work out is the Exchange's `identity` for the later stages.
   */
  private identify(ex: Exchange): void {
    if (this.identified) return;
    this.identified = true;
    const name = this.cfg.tenantHeader;
    if (name.length == 0) return;
    const headers = ex.headerView();
    if (!headers.find(name) || headers.valueLength == 0) {
      this.tenantBytes = this.cfg.anonymousTenantBytes;
      ex.knowIdentity(name, "");
      return;
    }
    const digests = this.digests;
    digests.find(headers.valuePtr, headers.valueLength);
    this.identityDigest = ex.knowIdentity(name, digests.digest);
    this.tenantBytes = digests.tenantBytes;
  }

  /** The model name the routed version's server expects, or "" before routing. */
  private upstreamName(): string {
    const model = this.routedModel;
    const version = this.routedVersion;
    if (model === null || version === null) return "";
    return version.upstreamModel.length > 0 ? version.upstreamModel : model.name;
  }

  /** Replaces the body's `model` string (spliced at its byte span). */
  private rewriteModel(ex: Exchange, body: ArrayBuffer, value: JsonValue): void {
    const name = this.upstreamName();
    if (name.length == 0 || value.stringEquals(name)) return;
    this.spliceBody(ex, body, value.start, value.end, quoteJsonString(name));
  }

  /** Adds `"model":"<name>"` as the object's first member. */
  private insertModel(ex: Exchange, body: ArrayBuffer, doc: JsonValue): void {
    const name = this.upstreamName();
    if (name.length == 0) return;
    const member = "\"model\":" + quoteJsonString(name) + (doc.length > 0 ? "," : "");
    this.spliceBody(ex, body, doc.start + 1, doc.start + 1, member);
  }

  /** Replaces bytes [start, end) of the body with `text` and keeps content-length right. */
  private spliceBody(ex: Exchange, body: ArrayBuffer, start: i32, end: i32, text: string): void {
    const insert = String.UTF8.encode(text);
    const tail = body.byteLength - end;
    const out = new ArrayBuffer(start + insert.byteLength + tail);
    const dst = changetype<usize>(out);
    const src = changetype<usize>(body);
    memory.copy(dst, src, <usize>start);
    memory.copy(dst + <usize>start, changetype<usize>(insert), <usize>insert.byteLength);
    memory.copy(dst + <usize>(start + insert.byteLength), src + <usize>end, <usize>tail);
    ex.replaceBody(out);
    if (ex.requestHeader("content-length") !== null) ex.setRequestHeader("content-length", out.byteLength.toString());
  }

  /**
   * Whether the request is for the model list: read it (GET, HEAD), or another method, which the
   * router refuses 405 rather than route a POST or DELETE of the list path to a model server as
   * if it were an inference (OPTIONS passes: a CORS filter or the server answers it).
   */
  private listRequest(ex: Exchange): ListRequest {
    const headers = ex.headerView();
    // The path's bytes decide most requests (inference paths) before a string is made.
    const list = this.cfg.listModelsPath;
    if (!headers.find(":path") || !headers.valueStartsWith(list)) return ListRequest.No;
    const path = pathOnly(ex.path());
    let read = ListRequest.Read;
    if (path != list) {
      // `{list}/{id}`: one model (OpenAI's retrieve); the id is the rest, '/' and all (one
      // trailing '/' aside, as for templates). `{list}/` is the list.
      if (path.length < list.length + 1 || path.charCodeAt(list.length) != 0x2f) return ListRequest.No;
      if (path.length > list.length + 1) read = ListRequest.ReadOne;
    }
    if (!headers.find(":method")) return ListRequest.No;
    const n = headers.valueLength;
    const get = (n == 3 && headers.valueStartsWith("GET")) || (n == 4 && headers.valueStartsWith("HEAD"));
    if (read == ListRequest.ReadOne) {
      // Only a read is ours: other methods on one model (OpenAI's DELETE of a fine-tune, KServe
      // V1's `:predict`) are requests like any other, and so is a path a template routes (KServe
      // V1's `GET /v1/models/{model}` status, with that template configured).
      if (!get || (this.cfg.sources.includes(Source.Path) && this.pathMatch(ex) !== null)) return ListRequest.No;
      // A model header routes it (KServe V1's status of one model, asked of its server).
      if (this.cfg.sources.includes(Source.Header) && headers.find(this.cfg.modelHeader)) return ListRequest.No;
      return read;
    }
    if (get) return read;
    if (n == 7 && headers.valueStartsWith("OPTIONS")) return ListRequest.No;
    return ListRequest.OtherMethod;
  }

  /** `GET {list_models_path}/{id}`: the model's object as the list has it, or 404. */
  private answerModel(ex: Exchange): StageAction {
    const cfg = this.cfg;
    let id = pathOnly(ex.path()).substring(cfg.listModelsPath.length + 1);
    if (id.length > 1 && id.charCodeAt(id.length - 1) == 0x2f) id = id.substring(0, id.length - 1);
    const m = cfg.findModel(id);
    const body = m >= 0 ? modelObject(cfg, this.health, m) : null;
    if (body === null) {
      // A configured model the list hides (list_models_hide_not_ready) is not said not to exist:
      // a request for it is answered 503 model_not_ready.
      this.fail(ErrorKind.ModelNotFound, "The model " + echo(id) + (m >= 0 ? " has no version that is ready" : " does not exist"));
      return StageAction.Stop;
    }
    this.metrics.modelLists.increment(1);
    sendLocalResponse(200, "model_router.model", body, [new HeaderPair("content-type", "application/json")]);
    return StageAction.Stop;
  }
}

/** What a request is to the model list path (`listRequest`): the list, one model, another method, or neither. */
enum ListRequest { No, Read, ReadOne, OtherMethod }

export function register(): void {
  registerStage(new RouterKind(SECTION, ROOT_ID, 10, "a JSON object with \"models\""));
}

/**
 * Whether the body's first byte past a UTF-8 byte order mark and JSON whitespace is `{`. The mark
 * is not JSON (RFC 8259 8.1), but parsers upstream skip it (Python's json.loads of bytes does).
 */
function startsAsObject(body: ArrayBuffer): bool {
  const base = changetype<usize>(body);
  const n = body.byteLength;
  let i = 0;
  if (n >= 3 && load<u8>(base) == 0xEF && load<u8>(base, 1) == 0xBB && load<u8>(base, 2) == 0xBF) i = 3;
  for (; i < n; i++) {
    const c = load<u8>(base + <usize>i);
    if (c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D) continue;
    return c == 0x7B;
  }
  return false;
}

/**
 * For a body that did not parse: when the client compressed it (`content-encoding` other than
 * identity), the reason, which the JSON error alone hides. Envoy's decompressor filter, placed
 * before the gateway's filters, hands them the decoded body.
 */
function encodedBodyHint(ex: Exchange): string {
  const encoding = ex.requestHeader("content-encoding");
  if (encoding !== null && encoding.length > 0 && !isIdentity(encoding)) {
    return ". It was sent with content-encoding " + echo(encoding) + ", which this gateway does not decode: send it uncompressed, or decompress it in Envoy first";
  }
  // JSON is UTF-8 (RFC 8259): a body declared in another charset fails on its first byte.
  const type = ex.requestHeader("content-type");
  const charset = type !== null ? charsetOf(type) : "";
  if (charset.length == 0 || isUtf8Name(charset)) return "";
  return ". It was declared charset=" + echo(charset) + ": JSON bodies must be UTF-8";
}

/** The `charset` parameter of a media type, unquoted ("" when none). By code units, ASCII case ignored. */
function charsetOf(type: string): string {
  const n = type.length;
  for (let i = type.indexOf(";"); i >= 0 && i < n; i = type.indexOf(";", i + 1)) {
    let j = i + 1;
    while (j < n && (type.charCodeAt(j) == 0x20 || type.charCodeAt(j) == 0x09)) j++;
    if (j + 8 > n || !regionEqualsIgnoreCase(type, j, "charset=")) continue;
    let start = j + 8;
    let end = type.indexOf(";", start);
    if (end < 0) end = n;
    while (end > start && (type.charCodeAt(end - 1) == 0x20 || type.charCodeAt(end - 1) == 0x09)) end--;
    if (end - start >= 2 && type.charCodeAt(start) == 0x22 && type.charCodeAt(end - 1) == 0x22) {
      start++;
      end--;
    }
    return type.substring(start, end);
  }
  return "";
}

function isUtf8Name(charset: string): bool {
  return (charset.length == 5 && regionEqualsIgnoreCase(charset, 0, "utf-8")) || (charset.length == 4 && regionEqualsIgnoreCase(charset, 0, "utf8"));
}

/**
 * `value` is the coding `identity` in any letter case (coding names are case-insensitive). By code
 * units: String#toLowerCase would bring Unicode's case tables into the module for one word.
 */
function isIdentity(value: string): bool {
  const want = "identity";
  if (value.length != want.length) return false;
  for (let i = 0; i < want.length; i++) if ((value.charCodeAt(i) | 0x20) != want.charCodeAt(i)) return false;
  return true;
}

/** A header value with U+FFFD: bytes that were not UTF-8 (decodeUtf8Lossy), or that character. */
function isReplaced(value: string): bool {
  return value.indexOf("\uFFFD") >= 0;
}
