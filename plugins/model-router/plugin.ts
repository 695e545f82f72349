// model-router: finds the model a request names (header, path template or JSON body), resolves
// the version (explicit, alias or sticky weighted split, skipping versions that warmup-health
// reports not ready) and sets the cluster header for Envoy's `cluster_header` route, plus
// x-ai-model, x-ai-model-version and x-ai-tenant for later filters. Answers GET /v1/models.
//
// ABI contract for body routing (needs `allow_on_headers_stop_iteration: true`): the headers
// are held with StopIteration, the body is buffered with StopIterationAndBuffer until end of
// stream (or the trailers), the route headers are written while the headers are still held, and
// Continue releases both. A request whose headers end the stream never waits.

import {
  BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, HeaderPair, HttpContext,
  RootContext, bufferLength, getBuffer, logCritical, nowMillis, randomBelow, registerRootContext,
  requestHeaders, sendLocalResponse, setBuffer,
} from "../../assembly/index";
import { JsonValue, parseJson, quoteJsonString } from "../../assembly/json/index";
import { sha256, toHex } from "../../assembly/crypto/sha256";
import {
  MODEL_HEADER, RouterConfig, STICKY_HEADER, STICKY_TENANT, TENANT_HEADER, VERSION_HEADER, parseConfig,
} from "./config";
import { echo, sendError } from "./errors";
import { HealthCache } from "./health";
import {
  ERR_BODY_TOO_LARGE, ERR_INTERNAL, ERR_INVALID_BODY, ERR_INVALID_MODEL, ERR_MODEL_MISSING,
  ERR_MODEL_NOT_FOUND, ERR_NO_READY_VERSION, ERR_VERSION_NOT_FOUND, RouterMetrics,
} from "./metrics";
import { modelList } from "./models-endpoint";
import {
  BUCKETS, ModelEntry, RESOLVE_NO_READY_VERSION, RESOLVE_UNKNOWN_VERSION, VersionEntry, resolveVersion, stickyBucket,
} from "./resolve";
import {
  ModelRef, SRC_BODY, SRC_DEFAULT, SRC_HEADER, SRC_PATH, isJsonContentType, parseDecimal,
  parseModelRef, pathOnly, pathRef,
} from "./sources";

export const ROOT_ID = "model-router";

// What a stream waits for after its headers.
const WAIT_NONE: u8 = 0;
/** The body source: the model may be in the body. */
const WAIT_MODEL: u8 = 1;
/** Routed already; the body's `model` is to be rewritten. */
const WAIT_REWRITE: u8 = 2;

class RouterRoot extends RootContext {
  config: RouterConfig | null = null;
  metrics: RouterMetrics | null = null;
  health: HealthCache | null = null;

  onConfigure(configuration: ArrayBuffer): bool {
    const result = parseConfig(configuration);
    const cfg = result.config;
    if (cfg === null) {
      logCritical("model-router: " + result.error);
      return false;
    }
    this.config = cfg;
    this.metrics = new RouterMetrics(cfg.models);
    this.health = new HealthCache(cfg.models, cfg.absentStateReady, <u64>cfg.healthRefreshMs);
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    const cfg = this.config;
    const metrics = this.metrics;
    const health = this.health;
    // Unconfigured (Envoy never sends traffic then): pass everything through.
    if (cfg === null || metrics === null || health === null) return new HttpContext(id, this);
    return new RouterStream(id, this, cfg, metrics, health);
  }
}

class RouterStream extends HttpContext {
  private waiting: u8 = WAIT_NONE;
  /** Sources after the body's, tried when the body names no model. */
  private resumeAt: i32 = 0;
  private tenant: string = "";
  private identified: bool = false;
  private routedModel: ModelEntry | null = null;
  private routedVersion: VersionEntry | null = null;
  /** Set once an error response has been sent. */
  private failed: bool = false;
  /** `:path`, read at most once (null until read, then "" when absent). */
  private path: string | null = null;

  constructor(id: u32, root: RootContext, private cfg: RouterConfig, private metrics: RouterMetrics, private health: HealthCache) {
    super(id, root);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const cfg = this.cfg;
    // Client-sent copies of the output headers go first, whatever happens next.
    requestHeaders.remove(cfg.clusterHeader);
    requestHeaders.remove(MODEL_HEADER);
    requestHeaders.remove(VERSION_HEADER);
    requestHeaders.remove(TENANT_HEADER);

    if (cfg.listModelsPath.length > 0 && this.isListRequest()) {
      this.metrics.modelLists.increment(1);
      const body = modelList(cfg, this.health, nowMillis());
      sendLocalResponse(200, "model_router.model_list", body, [new HeaderPair("content-type", "application/json")]);
      return FilterHeadersStatus.StopIteration;
    }
    if (cfg.tenantHeader.length > 0) this.identifyTenant();

    const bodyMayCarryJson = !endOfStream && isJsonContentType(requestHeaders.get("content-type"));
    const sources = cfg.sources;
    for (let i = 0; i < sources.length; i++) {
      const source = unchecked(sources[i]);
      if (source == SRC_BODY) {
        if (!bodyMayCarryJson) continue;
        if (this.declaredTooLarge()) return FilterHeadersStatus.StopIteration;
        this.waiting = WAIT_MODEL;
        this.resumeAt = i + 1;
        return FilterHeadersStatus.StopIteration;
      }
      const ref = this.fromHeaders(source);
      if (this.failed) return FilterHeadersStatus.StopIteration;
      if (ref !== null) return this.routeAtHeaders(ref, bodyMayCarryJson);
    }
    const ref = this.defaultRef();
    if (ref === null) return FilterHeadersStatus.StopIteration;
    return this.routeAtHeaders(ref, bodyMayCarryJson);
  }

  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (this.waiting == WAIT_NONE) return FilterDataStatus.Continue;
    if (bodySize > this.cfg.maxBodyBytes) {
      this.tooLarge(<i64>bodySize);
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    return this.finishBody(bodySize) ? FilterDataStatus.Continue : FilterDataStatus.StopIterationNoBuffer;
  }

  /** A body followed by trailers ends here: the last body call had no end of stream. */
  onRequestTrailers(numTrailers: u32): FilterTrailersStatus {
    if (this.waiting == WAIT_NONE) return FilterTrailersStatus.Continue;
    const size = bufferLength(BufferType.HttpRequestBody);
    if (size > <i64>this.cfg.maxBodyBytes) {
      this.tooLarge(size);
      return FilterTrailersStatus.StopIteration;
    }
    return this.finishBody(size < 0 ? 0 : <u32>size) ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  /** Answers the request with an error and stops waiting for the body. */
  private fail(kind: i32, message: string): void {
    this.failed = true;
    this.waiting = WAIT_NONE;
    this.metrics.error(kind);
    sendError(kind, message, kind == ERR_NO_READY_VERSION ? this.cfg.retryAfterS : 0);
  }

  // ---- sources ----

  /** The header or path source; null when it names no model (or after an error). */
  private fromHeaders(source: i32): ModelRef | null {
    if (source == SRC_HEADER) {
      const value = requestHeaders.get(this.cfg.modelHeader);
      if (value === null || value.length == 0) return null;
      const ref = parseModelRef(value, SRC_HEADER);
      if (ref === null) this.fail(ERR_INVALID_MODEL, this.cfg.modelHeader + ": expected \"name\" or \"name@version\"");
      return ref;
    }
    if (source == SRC_PATH) return pathRef(this.cfg.templates, this.requestPath());
    return null;
  }

  /** The default model, or an error response when there is none. */
  private defaultRef(): ModelRef | null {
    const m = this.cfg.defaultModel;
    if (m >= 0 && m < this.cfg.models.length) return new ModelRef(unchecked(this.cfg.models[m]).name, "", SRC_DEFAULT);
    this.fail(ERR_MODEL_MISSING, "The request names no model (header " + this.cfg.modelHeader +
      ", a model path, or the body's \"model\") and there is no default model");
    return null;
  }

  private routeAtHeaders(ref: ModelRef, bodyMayCarryJson: bool): FilterHeadersStatus {
    if (!this.route(ref)) return FilterHeadersStatus.StopIteration;
    if (!this.cfg.rewriteBodyModel || !bodyMayCarryJson) return FilterHeadersStatus.Continue;
    if (this.declaredTooLarge()) return FilterHeadersStatus.StopIteration;
    this.waiting = WAIT_REWRITE;
    return FilterHeadersStatus.StopIteration;
  }

  /** Answers 413 at the headers when content-length already exceeds the limit. */
  private declaredTooLarge(): bool {
    const declared = parseDecimal(requestHeaders.get("content-length"));
    if (declared <= <i64>this.cfg.maxBodyBytes) return false;
    this.tooLarge(declared);
    return true;
  }

  private tooLarge(size: i64): void {
    this.fail(ERR_BODY_TOO_LARGE, "The request body (" + size.toString() + " bytes or more) exceeds the limit of " +
      this.cfg.maxBodyBytes.toString() + " bytes");
  }

  /** The whole body is here: route by it if needed, rewrite its model if configured. */
  private finishBody(size: u32): bool {
    const waiting = this.waiting;
    this.waiting = WAIT_NONE;
    const body = size == 0 ? new ArrayBuffer(0) : getBuffer(BufferType.HttpRequestBody, 0, size);
    if (body === null) {
      this.fail(ERR_INTERNAL, "The request body could not be read");
      return false;
    }
    let modelValue: JsonValue | null = null;
    let doc: JsonValue | null = null;
    if (waiting == WAIT_MODEL) {
      // An empty body counts as no body: the model comes from a later source or the default.
      let ref: ModelRef | null = null;
      if (body.byteLength > 0) {
        const parsed = parseJson(body, this.cfg.bodyLimits);
        doc = parsed.value;
        if (!parsed.ok || doc === null) {
          this.fail(ERR_INVALID_BODY, "The request body is not valid JSON: " + parsed.error + " at byte " + parsed.offset.toString());
          return false;
        }
        if (!(doc as JsonValue).isObject()) {
          this.fail(ERR_INVALID_BODY, "The request body must be a JSON object");
          return false;
        }
        modelValue = (doc as JsonValue).get("model");
        if (modelValue !== null) {
          ref = modelValue.isString() ? parseModelRef(modelValue.asString(), SRC_BODY) : null;
          if (ref === null) {
            this.fail(ERR_INVALID_MODEL, "model: expected a string \"name\" or \"name@version\"");
            return false;
          }
        }
      }
      const sources = this.cfg.sources;
      for (let i = this.resumeAt; ref === null && i < sources.length; i++) {
        ref = this.fromHeaders(unchecked(sources[i]));
        if (this.failed) return false;
      }
      if (ref === null) ref = this.defaultRef();
      if (ref === null || !this.route(ref as ModelRef)) return false;
    } else if (body.byteLength > 0) {
      // Routed by a header or the path: rewrite only a body that parses as a JSON object.
      const parsed = parseJson(body, this.cfg.bodyLimits);
      if (parsed.ok && parsed.value !== null && (parsed.value as JsonValue).isObject()) {
        doc = parsed.value;
        modelValue = (doc as JsonValue).get("model");
      }
    }
    if (this.cfg.rewriteBodyModel && doc !== null) {
      // A body without `model` gets one: OpenAI-compatible servers require it.
      if (modelValue === null) this.insertModel(body, doc as JsonValue);
      else if (modelValue.isString()) this.rewriteModel(body, modelValue as JsonValue);
    }
    return true;
  }

  // ---- resolution and outputs ----

  /** Resolves `ref` and writes the route headers; false after an error response. */
  private route(ref: ModelRef): bool {
    const cfg = this.cfg;
    const m = cfg.findModel(ref.name);
    if (m < 0) {
      this.fail(ERR_MODEL_NOT_FOUND, "The model " + echo(ref.name) + " does not exist");
      return false;
    }
    const model = unchecked(cfg.models[m]);
    let requested = ref.version;
    if (requested.length == 0 && cfg.versionHeader.length > 0) {
      const v = requestHeaders.get(cfg.versionHeader);
      if (v !== null) requested = v;
    }
    const bucket = requested.length == 0 ? this.bucketFor(model) : 0;
    const readiness = this.health.readinessOf(m, nowMillis());
    const res = resolveVersion(model, requested, bucket, readiness);
    if (res.status == RESOLVE_UNKNOWN_VERSION) {
      this.fail(ERR_VERSION_NOT_FOUND, "The model " + echo(model.name) + " has no version or alias " + echo(requested));
      return false;
    }
    if (res.picked >= 0 && res.version != res.picked) this.metrics.fellBack(m, res.picked);
    if (res.status == RESOLVE_NO_READY_VERSION) {
      this.fail(ERR_NO_READY_VERSION, "No version of the model " + echo(model.name) + " is ready");
      return false;
    }
    const version = unchecked(model.versions[res.version]);
    requestHeaders.replace(cfg.clusterHeader, version.cluster);
    requestHeaders.replace(MODEL_HEADER, model.name);
    requestHeaders.replace(VERSION_HEADER, version.name);
    if (this.tenant.length > 0) requestHeaders.replace(TENANT_HEADER, this.tenant);
    this.metrics.routed(m, res.version, ref.source);
    this.routedModel = model;
    this.routedVersion = version;
    return true;
  }

  /** The sticky bucket when the request carries the configured key, else a random one. */
  private bucketFor(model: ModelEntry): u32 {
    const cfg = this.cfg;
    if (cfg.stickyKey == STICKY_TENANT && this.identified) return stickyBucket(model.name, this.tenant);
    if (cfg.stickyKey == STICKY_HEADER) {
      const key = requestHeaders.get(cfg.stickyHeader);
      if (key !== null && key.length > 0) return stickyBucket(model.name, key);
    }
    return randomBelow(BUCKETS);
  }

  /** x-ai-tenant: hex SHA-256 of the identity header, truncated; never the identity itself. */
  private identifyTenant(): void {
    const identity = requestHeaders.get(this.cfg.tenantHeader);
    if (identity === null || identity.length == 0) {
      this.tenant = this.cfg.anonymousTenant;
      return;
    }
    this.identified = true;
    this.tenant = toHex(sha256(String.UTF8.encode(identity))).substring(0, this.cfg.tenantHexChars);
  }

  /** The model name the routed version's server expects, or "" before routing. */
  private upstreamName(): string {
    const model = this.routedModel;
    const version = this.routedVersion;
    if (model === null || version === null) return "";
    return version.upstreamModel.length > 0 ? version.upstreamModel : model.name;
  }

  /** Replaces the body's `model` string (spliced at its byte span). */
  private rewriteModel(body: ArrayBuffer, value: JsonValue): void {
    const name = this.upstreamName();
    if (name.length == 0 || value.stringEquals(name)) return;
    this.spliceBody(body, value.start, value.end, quoteJsonString(name));
  }

  /** Adds `"model":"<name>"` as the object's first member. */
  private insertModel(body: ArrayBuffer, doc: JsonValue): void {
    const name = this.upstreamName();
    if (name.length == 0) return;
    const member = "\"model\":" + quoteJsonString(name) + (doc.length > 0 ? "," : "");
    this.spliceBody(body, doc.start + 1, doc.start + 1, member);
  }

  /** Replaces bytes [start, end) of the body with `text` and keeps content-length right. */
  private spliceBody(body: ArrayBuffer, start: i32, end: i32, text: string): void {
    const insert = String.UTF8.encode(text);
    const tail = body.byteLength - end;
    const out = new ArrayBuffer(start + insert.byteLength + tail);
    const dst = changetype<usize>(out);
    const src = changetype<usize>(body);
    memory.copy(dst, src, <usize>start);
    memory.copy(dst + <usize>start, changetype<usize>(insert), <usize>insert.byteLength);
    memory.copy(dst + <usize>(start + insert.byteLength), src + <usize>end, <usize>tail);
    setBuffer(BufferType.HttpRequestBody, 0, body.byteLength, out);
    if (requestHeaders.get("content-length") !== null) requestHeaders.replace("content-length", out.byteLength.toString());
  }

  private isListRequest(): bool {
    const method = requestHeaders.get(":method");
    if (method === null || (method != "GET" && method != "HEAD")) return false;
    return pathOnly(this.requestPath()) == this.cfg.listModelsPath;
  }

  private requestPath(): string {
    const cached = this.path;
    if (cached !== null) return cached;
    const value = requestHeaders.get(":path");
    const path = value === null ? "" : value;
    this.path = path;
    return path;
  }
}

export function register(): void {
  registerRootContext(ROOT_ID, (id: u32, rootId: string): RootContext => new RouterRoot(id, rootId));
}
