// What the stages of one request share: request headers read lazily (and the few every stage
// asks for cached), the request body read from Envoy once and parsed at most once, the model,
// version and tenant once a stage resolved them, and the response status. Between separate
// filter entries the same facts travel as the router's x-ai-* request headers instead.

import { BufferType } from "../abi/types";
import { getBuffer, setBuffer } from "../host/buffers";
import { requestHeaders } from "../host/headers";
import { JsonLimits, JsonResult, parseJson } from "../json/index";

export class Exchange {
  /** The request headers ended the stream: there is no body. */
  headersEndStream: bool = false;
  /** Bytes of request body received so far (cumulative while the pipeline buffers). */
  bodySize: u32 = 0;
  /** A stage answered the request itself (local response); the response hooks see that reply. */
  localReply: bool = false;
  /** Resolved by the router (or read from its headers by a later separate entry); "" until then. */
  model: string = "";
  version: string = "";
  /** Hashed tenant (x-ai-tenant); never the raw identity. */
  tenant: string = "";
  /** `:status` of the response, 0 before the response headers. */
  responseStatus: u32 = 0;

  private pathValue: string | null = null;
  private methodValue: string | null = null;
  private bodyValue: ArrayBuffer | null = null;
  private parsed: JsonResult | null = null;

  /** `:path` ("" when absent), read from Envoy once. */
  path(): string {
    const cached = this.pathValue;
    if (cached !== null) return cached;
    const h = requestHeaders.get(":path");
    const v = h === null ? "" : h;
    this.pathValue = v;
    return v;
  }

  /** `:method` ("" when absent), read from Envoy once. */
  method(): string {
    const cached = this.methodValue;
    if (cached !== null) return cached;
    const h = requestHeaders.get(":method");
    const v = h === null ? "" : h;
    this.methodValue = v;
    return v;
  }

  /** Whether the whole request body has been read (or there is none). */
  get bodyComplete(): bool {
    return this.bodyValue !== null;
  }

  /**
   * The whole request body, read from Envoy once the pipeline has it complete; empty when the
   * request has none. Null before the body is complete, or when Envoy would not hand it over.
   */
  body(): ArrayBuffer | null {
    return this.bodyValue;
  }

  /**
   * The body parsed as JSON, at most once per request: the first stage that asks decides the
   * limits (depth, size), later stages get the same result.
   */
  json(limits: JsonLimits): JsonResult {
    const cached = this.parsed;
    if (cached !== null) return cached;
    const body = this.bodyValue;
    const r = body === null ? new JsonResult(false, null, "no request body", 0) : parseJson(body, limits);
    this.parsed = r;
    return r;
  }

  /** Replaces the whole request body in Envoy and here; a later parse sees the new bytes. */
  replaceBody(newBody: ArrayBuffer): void {
    const old = this.bodyValue;
    setBuffer(BufferType.HttpRequestBody, 0, old === null ? this.bodySize : <u32>old.byteLength, newBody);
    this.bodyValue = newBody;
    this.bodySize = <u32>newBody.byteLength;
    this.parsed = null;
  }

  /** Reads the complete body from Envoy (the pipeline calls this once); false when Envoy refused. */
  loadBody(size: u32): bool {
    this.bodySize = size;
    if (size == 0) {
      this.bodyValue = new ArrayBuffer(0);
      return true;
    }
    const body = getBuffer(BufferType.HttpRequestBody, 0, size);
    if (body === null) return false;
    this.bodyValue = body;
    return true;
  }
}
