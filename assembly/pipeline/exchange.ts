// What the stages of one request share: the request headers read from Envoy in one host call
// when a stage first asks (lookups then compare bytes in place; writes go to Envoy and make the
// next read fetch the map again), the request body read from Envoy once, when a stage first asks
// for it, and parsed at most once, the model and version once a stage resolved them, and the
// digest of an identity header once a stage asked for it.
// Between separate filter entries the same facts travel as the router's x-ai-* request headers.

import { BufferType, HeaderMapType, WasmResult } from "../abi/types";
import { getBuffer, setBuffer } from "../host/buffers";
import { hasPropertyRaw, setPropertyRaw } from "../host/properties";
import { requestHeaders, responseHeaders } from "../host/headers";
import { httpCall, HttpCallHandler } from "../host/http-call";
import { HeaderPair } from "../host/pairs";
import { HeaderEdit, PairsView } from "../host/pairs-view";
import { RepeatedValue } from "../host/repeated-value";
import { keepForLoan } from "../runtime/memory";
import { scratchA, scratchLengthA, scratchLengthB, scratchPtrB } from "../runtime/scratch";
import { parseDecimalAt } from "../http/decimal";
import { JsonLimits, JsonResult, JsonValue, parseJsonReusing, parseJsonText } from "../json/index";
import { TenantDigests } from "../tenant/digests";
import { Resumable, StageAction } from "./action";

/** Largest node buffer an idle exchange keeps for its next parse (a 16 KiB body's worth). */
const KEEP_NODES_BYTES: i32 = 16 << 10;
/**
 * Largest body or response chunk whose buffer an exchange keeps for the next copy from Envoy
 * (the host writes into it instead of a new allocation; nothing holds a body past its request).
 */
const KEEP_COPY_BYTES: i32 = 4 << 10;
const NO_BYTES = new ArrayBuffer(0);
// Values most requests repeat, made into strings once (one VM runs one call at a time).
const METHODS = new RepeatedValue();
const MODELS = new RepeatedValue();
const VERSIONS = new RepeatedValue();
/** The body's `model`, read through one reused value object. */
const EMPTY_TREE = (parseJsonText("null").value as JsonValue).tree;
const MODEL_VALUE = new JsonValue(EMPTY_TREE, 0);

/** Set by the router for later separate entries (DESIGN.md's contract); read by routedModel/routedVersion. */
export const MODEL_HEADER = "x-ai-model";
export const VERSION_HEADER = "x-ai-model-version";
/** The router's tenant header: a hash of the identity, for later entries and access logs. */
export const TENANT_HEADER = "x-ai-tenant";
// The three as UTF-8, for the router's writes on every request (no encoding on the request path).
export const MODEL_HEADER_BYTES = String.UTF8.encode(MODEL_HEADER);
export const VERSION_HEADER_BYTES = String.UTF8.encode(VERSION_HEADER);
export const TENANT_HEADER_BYTES = String.UTF8.encode(TENANT_HEADER);
/**
 * Property the router sets when it sets the headers above (Envoy filter state
 * `wasm.ai_model_routed`, which a client cannot send): a later separate entry trusts the headers
 * only with it, and removes a client's copies without it.
 */
export const ROUTED_PROPERTY = "ai_model_routed";
const ROUTED_PATH = String.UTF8.encode(ROUTED_PROPERTY);
const ROUTED_VALUE = String.UTF8.encode("1");
const ACCEPT_ENCODING = "accept-encoding";

export class Exchange {
  /** The request headers ended the stream: there is no body (or it is a tunnel's: `tunnel`). */
  headersEndStream: bool = false;
  /** An upgrade (WebSocket) or a CONNECT: what follows the headers is a tunnel's bytes, unread. */
  tunnel: bool = false;
  /** Bytes of request body received so far (cumulative while the pipeline buffers); a stage's `replaceBody` sets it to the new body's. */
  bodySize: u32 = 0;
  /** The whole body's size as the client sent it, before any stage replaced it (0 until complete). */
  clientBodySize: u32 = 0;
  /** A stage answered the request itself (local response); the response hooks see that reply. */
  localReply: bool = false;
  /** Resolved by the router (or read from its headers by a later separate entry); "" until then. */
  model: string = "";
  version: string = "";
  /** How often this request's body was parsed (the contract: at most once, unless replaced). */
  parses: u32 = 0;
  /** The stream's context id (for http calls that answer on this stream). */
  streamId: u32 = 0;
  /** The response's `:status` once its headers arrived (0 before, and for an unreadable one). */
  responseStatus: u32 = 0;

  /** The pipeline, while a stage of this request is paused. */
  resumer: Resumable | null = null;

  private pathValue: string | null = null;
  // The identity header a stage asked `identity` for last (null: none yet) and its digest.
  private identityOf: string | null = null;
  private identityDigest: string = "";
  private methodValue: string | null = null;
  private headers: PairsView = new PairsView(HeaderMapType.RequestHeaders);
  private responseHeaders: PairsView = new PairsView(HeaderMapType.ResponseHeaders);
  /** The whole body is in Envoy's buffer (or there is none). */
  private bodyDone: bool = false;
  /** `bodyValue` was read from Envoy (it is null when Envoy refused). */
  private bodyRead: bool = false;
  private bodyValue: ArrayBuffer | null = null;
  private parsed: JsonResult | null = null;
  private chunkRead: bool = false;
  private chunk: ArrayBuffer | null = null;
  // Buffers of the last body and response chunk, lent for the next copies (pooled exchange).
  private bodyStore: ArrayBuffer | null = null;
  private chunkStore: ArrayBuffer | null = null;
  /** The last request's parse, kept for its objects and node buffer (the exchange is pooled). */
  private spent: JsonResult | null = null;

  /** Back to a new request's state (the pipeline reuses exchanges). */
  reset(): void {
    this.headersEndStream = false;
    this.tunnel = false;
    this.bodySize = 0;
    this.clientBodySize = 0;
    this.localReply = false;
    this.model = "";
    this.version = "";
    this.identityOf = null;
    this.identityDigest = "";
    this.parses = 0;
    this.responseStatus = 0;
    this.resumer = null;
    this.pathValue = null;
    this.methodValue = null;
    this.headers.clear();
    this.responseHeaders.clear();
    this.bodyDone = false;
    this.bodyRead = false;
    this.bodyValue = null;
    this.forgetChunk();
    // No stage holds this request's values any more: the next parse may take them over, unless
    // its node buffer is large (a pooled exchange must not pin a big body's worth of memory).
    const parsed = this.parsed;
    if (parsed !== null) {
      const root = parsed.value;
      if (root !== null) root.tree.source = NO_BYTES;
      this.spent = root !== null && root.tree.nodes.byteLength <= KEEP_NODES_BYTES ? parsed : null;
    }
    this.parsed = null;
  }

  /**
   * Lower-case hex SHA-256 (64 digits) of request header `name`'s value, "" when absent or empty:
   * the identity stages key tenants by, never the value itself. The last header asked for is
   * remembered with its digest, so stages keying by the same header (the router, the cache and
   * token-bucket use `authorization` unless configured otherwise) hash it once per request
   * instead of once each (a table lookup, or a SHA-256 for an identity the worker has not seen
   * lately). `digests`: the asking stage's table of recent identities, used when it is not known.
   */
  identity(name: string, digests: TenantDigests): string {
    if (this.knowsIdentity(name)) return this.identityDigest;
    return this.knowIdentity(name, digests.ofHeader(this.headerView(), name));
  }

  /** `identity(name)` is known: an earlier stage of this request worked it out, and no stage edited the header since. */
  knowsIdentity(name: string): bool {
    const known = this.identityOf;
    return known !== null && known == name;
  }

  /** Records `digest` as `identity(name)` for the later stages (a stage that hashed it itself); returns it. */
  knowIdentity(name: string, digest: string): string {
    this.identityOf = name;
    this.identityDigest = digest;
    return digest;
  }

  /** An edit of request header `name`: a digest of its old value is no longer its identity. */
  private edited(name: string): void {
    if (this.knowsIdentity(name)) this.identityOf = null;
  }

  /** Marks the stream as routed by the router (ROUTED_PROPERTY), for later separate entries. */
  markRouted(): void {
    setPropertyRaw(changetype<usize>(ROUTED_PATH), <usize>ROUTED_PATH.byteLength, changetype<usize>(ROUTED_VALUE), <usize>ROUTED_VALUE.byteLength);
  }

  /**
   * For a separate entry without the router: removes the request's x-ai-model, x-ai-model-version
   * and x-ai-tenant unless a router before it marked the stream (`markRouted`). Without them no
   * host call beyond the header read.
   */
  dropUnroutedModelHeaders(): void {
    const view = this.headerView();
    if (!view.has(MODEL_HEADER) && !view.has(VERSION_HEADER) && !view.has(TENANT_HEADER)) return;
    if (hasPropertyRaw(changetype<usize>(ROUTED_PATH), <usize>ROUTED_PATH.byteLength)) return;
    this.removeModelHeaders();
  }

  /** Removes the request's x-ai-model, x-ai-model-version and x-ai-tenant (each only when present). */
  removeModelHeaders(): void {
    this.removeRequestHeader(MODEL_HEADER);
    this.removeRequestHeader(VERSION_HEADER);
    this.removeRequestHeader(TENANT_HEADER);
  }

  /** The first value of request header `name` (lower-case), or null when absent. */
  requestHeader(name: string): string | null {
    return this.headerView().get(name);
  }

  /** Whether the client sent request header `name` more than once (a name no stage writes). */
  requestHeaderRepeats(name: string): bool {
    return this.headerView().repeats(name);
  }

  hasRequestHeader(name: string): bool {
    return this.headerView().has(name);
  }

  /** Sets request header `name` (replacing every value) in Envoy. */
  setRequestHeader(name: string, value: string): WasmResult {
    // The value's UTF-8 is still in the scratch slot the write encoded it into.
    this.edited(name);
    return this.headers.wrote(requestHeaders.replace(name, value), HeaderEdit.Replace, name, scratchPtrB(), <i32>scratchLengthB());
  }

  /** `addRequestHeader` with the value as UTF-8 bytes (no string on the way). */
  addRequestHeaderBytes(name: string, value: ArrayBuffer): WasmResult {
    this.edited(name);
    return this.headers.wrote(requestHeaders.addBytes(name, value), HeaderEdit.Add, name, changetype<usize>(value), value.byteLength);
  }

  /**
   * Appends a value to request header `name` (`nameBytes` its UTF-8), both encoded once (e.g. from
   * configuration), for a header the stage removed at its request headers (`removeRequestHeader`):
   * with none left to join, the header view records the write without looking the name up.
   */
  addRequestHeaderRaw(name: string, nameBytes: ArrayBuffer, value: ArrayBuffer): WasmResult {
    this.edited(name);
    return this.headers.wrote(requestHeaders.addRaw(nameBytes, value), HeaderEdit.AddNew, name, changetype<usize>(value), value.byteLength);
  }

  /**
   * Appends a value to request header `name` in Envoy. Cheaper for Envoy than `setRequestHeader`
   * (no search for values to replace), so for headers the stage knows are absent.
   */
  addRequestHeader(name: string, value: string): WasmResult {
    this.edited(name);
    return this.headers.wrote(requestHeaders.add(name, value), HeaderEdit.Add, name, scratchPtrB(), <i32>scratchLengthB());
  }

  /**
   * Removes request header `name` from Envoy; no host call when the request has none (when the
   * headers could not be read, the removal goes to Envoy all the same).
   */
  removeRequestHeader(name: string): WasmResult {
    const view = this.headerView();
    if (!view.has(name) && view.readable) return WasmResult.Ok;
    this.edited(name);
    return this.headers.wrote(requestHeaders.remove(name), HeaderEdit.Remove, name, 0, 0);
  }


  /**
   * Asks the upstream for an uncompressed response body: removes the client's `accept-encoding`.
   * For a stage that reads the response body (token-bucket's usage, the cache's record), which a
   * compressed body would hide. Envoy's compressor filter, placed before the gateway's filters,
   * still compresses the response for the client.
   */
  askForIdentityBody(): void {
    this.removeRequestHeader(ACCEPT_ENCODING);
  }

  /** The request headers as Envoy holds them now, for byte-level lookups (`find`, `valuePtr`). */
  headerView(): PairsView {
    return this.headers.fresh();
  }

  /**
   * The request's model for a stage after the router: the router's (resolved on this exchange
   * inside one pipeline, or its `x-ai-model` header when the router is a separate entry before
   * this one), else the body's `model` string, else "".
   */
  routedModel(doc: JsonValue | null): string {
    if (this.model.length > 0) return this.model;
    const view = this.headerView();
    if (view.find(MODEL_HEADER) && view.valueLength > 0) return MODELS.ofBytes(view.valuePtr, view.valueLength);
    if (doc === null || !doc.isObject() || !doc.getInto("model", MODEL_VALUE)) return "";
    const m = MODEL_VALUE;
    // Without escapes and non-ASCII the content bytes are the string: read in place.
    const model = m.isPlainAsciiString() ? MODELS.ofBytes(m.contentPtr, m.contentLength) : m.isString() ? m.asString() : "";
    // The shared value object must not keep this request's document alive.
    m.bind(EMPTY_TREE, 0);
    return model;
  }

  /** The router's version (this exchange's, or its `x-ai-model-version` header), else "". */
  routedVersion(): string {
    if (this.version.length > 0) return this.version;
    const header = VERSIONS.of(this.headerView(), VERSION_HEADER);
    return header !== null ? header : "";
  }

  /** `:path` ("" when absent), decoded once. */
  path(): string {
    const cached = this.pathValue;
    if (cached !== null) return cached;
    return (this.pathValue = this.requestHeaderOrEmpty(":path"));
  }

  /** `:method` ("" when absent), read once (the same string as the last request's when the same). */
  method(): string {
    const cached = this.methodValue;
    if (cached !== null) return cached;
    const found = METHODS.of(this.headerView(), ":method");
    const method = found !== null ? found : "";
    this.methodValue = method;
    return method;
  }

  private requestHeaderOrEmpty(name: string): string {
    const h = this.requestHeader(name);
    return h === null ? "" : h;
  }

  /** Whether the whole request body is in (or there is none). */
  get bodyComplete(): bool {
    return this.bodyDone;
  }

  /**
   * The request body's length as the client sent it, for a stage's `max_body_bytes`: once the
   * body is complete, its size before any stage replaced it (a router's rewrite of `model` also
   * rewrites content-length, and must not push a body at a later stage's limit over it); before,
   * the client's content-length, or -1 when it sent none.
   */
  clientBodyLength(): i64 {
    if (this.bodyDone) return <i64>this.clientBodySize;
    const view = this.headerView();
    return view.find("content-length") ? parseDecimalAt(view.valuePtr, view.valueLength) : -1;
  }

  /**
   * The whole request body, read from Envoy the first time a stage asks once it is complete;
   * empty when the request has none. Null before the body is complete, or when Envoy would not
   * hand it over.
   */
  body(): ArrayBuffer | null {
    if (!this.bodyDone) return null;
    if (!this.bodyRead) {
      this.bodyRead = true;
      const copy = this.bodySize == 0 ? new ArrayBuffer(0) : getBuffer(BufferType.HttpRequestBody, 0, this.bodySize, this.bodyStore);
      this.bodyStore = keepForLoan(copy, this.bodyStore, KEEP_COPY_BYTES);
      this.bodyValue = copy;
    }
    return this.bodyValue;
  }

  /**
   * The body parsed as JSON, at most once per request: the first stage that asks decides the
   * limits (depth, size), later stages get the same result.
   */
  json(limits: JsonLimits): JsonResult {
    const cached = this.parsed;
    if (cached !== null) return cached;
    const body = this.body();
    if (body !== null) this.parses++;
    // The stages' size limits hold the body the client sent: one an earlier stage made longer (the
    // router's rewrite of `model`) is parsed by the limit's measure of the client's.
    const grown = this.bodySize > this.clientBodySize ? <i32>(this.bodySize - this.clientBodySize) : 0;
    const r = body === null ? new JsonResult(false, null, "no request body", 0) : parseJsonReusing(body, limits, this.spent, grown);
    this.parsed = r;
    this.spent = null;
    return r;
  }

  /** Replaces the whole request body in Envoy and here; a later parse sees the new bytes. */
  replaceBody(newBody: ArrayBuffer): void {
    setBuffer(BufferType.HttpRequestBody, 0, this.bodySize, newBody);
    this.bodyRead = true;
    this.bodyValue = newBody;
    this.bodySize = <u32>newBody.byteLength;
    // Stages may still hold values of the old parse: it is not reused.
    this.parsed = null;
  }

  /**
   * Starts an `http_call` whose answer reaches `handler` with this stream effective (a stage that
   * returns Pause waits for it). If the stream ends first, the answer is ignored, unless the
   * handler adopts it (`HttpCallHandler.adoptiveContext`). Returns the token, 0 if refused.
   */
  httpCall(cluster: string, headers: HeaderPair[], body: ArrayBuffer | null, timeoutMs: u32, handler: HttpCallHandler): u32 {
    return httpCall(this.streamId, cluster, headers, body, null, timeoutMs, handler);
  }

  /** Ends the wait of the stage that returned Pause: Continue the chain, or Stop after it answered. */
  resume(action: StageAction): void {
    const r = this.resumer;
    if (r === null) return;
    this.resumer = null;
    r.resume(action);
  }

  // ---- response (from the response headers on; the pipeline never holds the response)

  /**
   * The response headers as Envoy holds them now, fetched in one host call the first time a
   * response hook asks, for byte-level lookups (`find`, `valuePtr`) as `headerView()`.
   */
  responseHeaderView(): PairsView {
    return this.responseHeaders.fresh();
  }

  /** The first value of response header `name`, or null when absent. */
  responseHeader(name: string): string | null {
    return this.responseHeaderView().get(name);
  }

  /** Reads `:status` into `responseStatus` (the pipeline does, before the response hooks). */
  loadResponseStatus(): void {
    const view = this.responseHeaderView();
    let code: u32 = 0;
    if (view.find(":status") && view.valueLength == 3) {
      const p = view.valuePtr;
      for (let i = 0; i < 3; i++) {
        const d = <u32>load<u8>(p + <usize>i) - 48;
        if (d > 9) return;
        code = code * 10 + d;
      }
    }
    this.responseStatus = code;
  }

  /**
   * Sets response header `name` to one value. When the response headers were read already and
   * show no `name`, the value is added, which spares Envoy the search for values to replace.
   */
  setResponseHeader(name: string, value: string): WasmResult {
    const status = this.responseHeaders.absent(name) ? responseHeaders.add(name, value) : responseHeaders.replace(name, value);
    return this.responseHeaders.wrote(status, HeaderEdit.Replace, name, scratchPtrB(), <i32>scratchLengthB());
  }

  /** `setResponseHeader` with the value as UTF-8 bytes (no string on the way). */
  setResponseHeaderBytes(name: string, value: ArrayBuffer): WasmResult {
    return this.setResponseHeaderRaw(name, null, changetype<usize>(value), value.byteLength);
  }

  /**
   * `setResponseHeader` with the value's `valueLength` UTF-8 bytes at `valuePtr`, and the name
   * also as UTF-8 bytes when the caller has them (`nameBytes`, e.g. encoded once at configuration).
   */
  setResponseHeaderRaw(name: string, nameBytes: ArrayBuffer | null, valuePtr: usize, valueLength: i32): WasmResult {
    const n = nameBytes !== null ? changetype<usize>(nameBytes) : scratchA(name);
    const nLen = nameBytes !== null ? <usize>nameBytes.byteLength : scratchLengthA();
    const status = this.responseHeaders.absent(name)
      ? responseHeaders.addAt(n, nLen, valuePtr, <usize>valueLength)
      : responseHeaders.replaceRaw(n, nLen, valuePtr, <usize>valueLength);
    return this.responseHeaders.wrote(status, HeaderEdit.Replace, name, valuePtr, valueLength);
  }

  removeResponseHeader(name: string): WasmResult {
    return this.responseHeaders.wrote(responseHeaders.remove(name), HeaderEdit.Remove, name, 0, 0);
  }

  /**
   * The response body chunk the current onResponseBody call is about (`size` bytes), or null;
   * read from Envoy once per call, however many stages ask (the pipeline forgets it between calls).
   */
  responseChunk(size: u32): ArrayBuffer | null {
    if (this.chunkRead) return this.chunk;
    this.chunkRead = true;
    const copy = size == 0 ? new ArrayBuffer(0) : getBuffer(BufferType.HttpResponseBody, 0, size, this.chunkStore);
    this.chunkStore = keepForLoan(copy, this.chunkStore, KEEP_COPY_BYTES);
    return (this.chunk = copy);
  }

  /** A new response body call: `responseChunk` reads afresh. */
  forgetChunk(): void {
    this.chunkRead = false;
    this.chunk = null;
  }

  /** The body is complete at `size` bytes (the pipeline says so once); it is read when asked for. */
  completeBody(size: u32): void {
    this.bodySize = size;
    this.clientBodySize = size;
    this.bodyDone = true;
  }
}
